"""Reading a settings file (``--config``, a DeepR YAML): text only, bounded, no alias bombs.

- :func:`read_text`: the file as text, or a :class:`~xdeepr.errors.ConfigError` naming
  it when it is not a text file (a netCDF or zarr file given by mistake) or far larger
  than a configuration;
- :func:`load_yaml`: YAML read safely (``yaml.SafeLoader``), numbers as YAML 1.2 reads
  them (``1e-3`` is a number, not the text PyYAML's YAML 1.1 makes of it), and aliases
  refused when they expand to more than :data:`MAX_EXPANDED` values, *before* the
  document is built: a "billion laughs" file of a few hundred bytes cannot take the
  memory, neither while it is read nor when a message quotes a value of it;
- :data:`NUMBER_TEXT`: text YAML 1.1 leaves unread as a number.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_EXPANDED", "NUMBER_TEXT", "load_yaml", "read_text"]

#: A number with an exponent and no dot or no exponent sign (``1e-3``, ``5E4``,
#: ``1.0e3``): YAML 1.2 reads it as a number, PyYAML (YAML 1.1) as text.
NUMBER_TEXT = re.compile(r"[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+")
#: The largest file read as a configuration (a DeepR file is about 3 kB).
MAX_BYTES = 16 * 2**20
#: The most values a YAML document's aliases may expand to (a DeepR file holds ~150).
MAX_EXPANDED = 10_000

_MAGIC = {
    b"\x89HDF": "an HDF5 / netCDF-4 data file",
    b"CDF\x01": "a netCDF-3 data file",
    b"CDF\x02": "a netCDF-3 data file",
    b"PK\x03\x04": "a zip archive (a zipped store or an xdeepr model?)",
}


def read_text(path: str | os.PathLike[str], what: str, kind: str = "YAML") -> str:
    """The file at `path` as UTF-8 text; `what` names it in messages, `kind` its format.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ConfigError
        ``{what} {path!r} is not a {kind} text file (...)`` for a folder, binary data (a NUL byte
        or text that is not UTF-8), saying what the file looks like; or naming its size
        when it is over :data:`MAX_BYTES`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "era5.nc"
    >>> _ = p.write_bytes(b"\\x89HDF\\r\\n\\x1a\\n" + bytes(8))
    >>> read_text(p, "DeepR configuration")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: DeepR configuration '...era5.nc' is not a YAML text file: it starts like an HDF5 / netCDF-4 data file (byte 0x89 at offset 0 is not UTF-8 text); give the YAML configuration file, not a data file
    """  # noqa: E501
    p = Path(path)
    if p.is_dir():
        raise ConfigError(
            f"{what} {str(p)!r} is a folder (a zarr store?), not a {kind} text file; give the "
            f"{kind} configuration file, not a data store"
        )
    if not p.is_file():
        raise FileNotFoundError(f"{what} file {str(p)!r} does not exist")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(
            f"{what} {str(p)!r} is not a {kind} configuration file: it holds {size:,} bytes "
            f"(a configuration holds a few thousand, at most {MAX_BYTES:,} are read)"
        )
    data = p.read_bytes()
    looks = next((f"it starts like {v}" for k, v in _MAGIC.items() if data.startswith(k)), "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        why = f"byte 0x{data[err.start]:02x} at offset {err.start} is not UTF-8 text"
    else:
        if "\0" not in text:
            return text
        why = f"byte 0x00 at offset {data.find(bytes(1))}: binary data"
    detail = f"{looks} ({why})" if looks else why
    raise ConfigError(
        f"{what} {str(p)!r} is not a {kind} text file: {detail}; give the {kind} "
        "configuration file, not a data file"
    )


def load_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """The YAML document at `path`, read safely; `what` names the file in messages.

    Raises
    ------
    FileNotFoundError
        When `path` is not a file.
    ConfigError
        For a file that is not text or not valid YAML, nested too deeply, or whose
        aliases refer to themselves or expand to more than :data:`MAX_EXPANDED` values
        (naming the aliases and their lines); refused before any value is built.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yml"
    >>> _ = p.write_text("lr: 1e-3\\nsteps: 10\\n")
    >>> load_yaml(p, "config file")
    {'lr': 0.001, 'steps': 10}
    >>> rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
    ...     f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    >>> _ = p.write_text("\\n".join(rows))
    >>> load_yaml(p, "config file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: config file '...c.yml' is refused: its aliases (*a0 (line 2), ...) expand to more than 10000 values; ...
    """  # noqa: E501
    import yaml

    text = read_text(path, what)
    loader = _loader()(text)
    p = os.fspath(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if loader.aliases:
            _check_expansion(node, loader.aliases, what, p)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {p!r} is not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(
            f"{what} {p!r} is refused: it is nested too deeply for a configuration"
        ) from None
    finally:
        loader.dispose()


@functools.cache
def _loader() -> Any:
    """A SafeLoader that notes each alias used and reads numbers as YAML 1.2 does."""
    import yaml  # here: importing xdeepr does not import PyYAML

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.aliases: list[tuple[str, int, int]] = []  # anchor, line, id of its node

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                node = self.anchors.get(event.anchor)  # None: undefined, PyYAML says so
                self.aliases.append((event.anchor, event.start_mark.line + 1, id(node)))
            return super().compose_node(parent, index)

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(f"^{NUMBER_TEXT.pattern}$"), list("-+0123456789")
    )
    return Loader


class _SelfReference(Exception):
    """The node of id ``args[0]`` holds itself."""


def _named(aliases: list[tuple[str, int, int]]) -> str:
    used = sorted({(line, name) for name, line, _ in aliases})
    return ", ".join(f"*{name} (line {line})" for line, name in used[:5]) + (
        ", ..." if len(used) > 5 else ""
    )


def _check_expansion(root: Any, aliases: list[tuple[str, int, int]], what: str, path: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_EXPANDED values.

    Counted on the composed nodes, each shared node once (``memo``): nothing is expanded.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise _SelfReference(key)
        active.add(key)
        total = 1
        if isinstance(node.value, list):  # a sequence, or a mapping's (key, value) pairs
            for child in node.value:
                for part in child if isinstance(child, tuple) else (child,):
                    total += size(part)
                if total > MAX_EXPANDED:
                    break
        active.discard(key)
        memo[key] = total
        return total

    try:
        too_many = size(root) > MAX_EXPANDED
    except _SelfReference as err:
        names = _named([a for a in aliases if a[2] == err.args[0]])
        raise ConfigError(
            f"{what} {path!r} is refused: an alias refers to the value that holds it "
            f"({names}); write the values out"
        ) from None
    if too_many:
        raise ConfigError(
            f"{what} {path!r} is refused: its aliases ({_named(aliases)}) expand to more than "
            f"{MAX_EXPANDED} values; a configuration needs no such repetition: write the "
            "values out, or use fewer aliases"
        )
