"""Download registered data files with pooch: hash-checked, cached, opened.

The registry is ``registry.txt`` next to this module, in pooch's format: one file
a line, ``name hash url`` (``#`` starts a comment). A hash of ``none`` means "not
pinned yet": the file is downloaded without a check and :func:`fetch` warns,
printing the SHA256 it got so a maintainer can pin it.

Environment variables, read at each call (never at import):

``XDEEPR_DATA_DIR``
    Cache directory (default: ``pooch.os_cache("xdeepr")``).
``XDEEPR_DATA_MIRROR``
    Base URL of a mirror; when set, every file is fetched from ``{mirror}/{name}``
    instead of its registered URL.
"""

from __future__ import annotations

import os
import re
import shlex
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pooch is imported lazily, when something is fetched
    import pooch

__all__ = ["DataHashError", "fetch"]

_REGISTRY_FILE = Path(__file__).with_name("registry.txt")
_UNPINNED = frozenset({"none", "null", "-"})  # registry hash meaning "not pinned yet"
# Used only for entries without a URL column, when no mirror is set.
_DEFAULT_BASE_URL = "https://github.com/xdeepr/xdeepr-data/raw/main/"
_ENV_DIR = "XDEEPR_DATA_DIR"
_ENV_MIRROR = "XDEEPR_DATA_MIRROR"


class DataHashError(ValueError):
    """A downloaded file does not have the hash pinned in the registry."""


def _read_registry(path: str | os.PathLike[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parse a registry file into ``({name: hash or None}, {name: url})``."""
    hashes: dict[str, str | None] = {}
    urls: dict[str, str] = {}
    with open(path, encoding="utf-8") as fin:
        for lineno, line in enumerate(fin, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = shlex.split(line)
            if len(fields) not in (2, 3):
                raise ValueError(
                    f"invalid entry on line {lineno} of the data registry {path}: expected"
                    f" 'name hash [url]', got {line!r}"
                )
            name, known = fields[0], fields[1].lower()
            hashes[name] = None if known in _UNPINNED else known
            if len(fields) == 3:
                urls[name] = fields[2]
    return hashes, urls


def _make_pooch(
    registry: Mapping[str, str | None],
    urls: Mapping[str, str],
    base_url: str = _DEFAULT_BASE_URL,
) -> pooch.Pooch:
    """Build the Pooch, honouring ``XDEEPR_DATA_DIR`` and ``XDEEPR_DATA_MIRROR`` now."""
    import pooch

    mirror = os.environ.get(_ENV_MIRROR, "").strip()
    if mirror:  # every file from {mirror}/{name}
        base_url, urls = mirror.rstrip("/") + "/", {}
    return pooch.create(
        path=pooch.os_cache("xdeepr"),
        base_url=base_url,
        env=_ENV_DIR,
        registry=dict(registry),
        urls=dict(urls),
    )


def _registry() -> pooch.Pooch:
    """The Pooch over ``registry.txt``, built afresh so environment changes apply."""
    return _make_pooch(*_read_registry(_REGISTRY_FILE))


# --- openers: turn what pooch returns (a path, or a list of paths) into data -------


def _open_netcdf(path: str | list[str]) -> Any:
    import xarray as xr

    return xr.open_dataset(path if isinstance(path, str) else path[0])


def _open_deepr_archive(paths: str | list[str]) -> tuple[Any, Any]:
    """Open DeepR's test archive as ``(features, labels)``."""
    import xarray as xr

    files = [Path(p) for p in ([paths] if isinstance(paths, str) else paths)]
    result = []
    for part in ("features", "labels"):
        found = sorted(str(f) for f in files if f.suffix == ".nc" and part in f.parent.parts)
        if not found:
            raise OSError(
                f"the archive holds no {part}/*.nc file; found: {[str(f) for f in files]}"
            )
        result.append(xr.open_mfdataset(found, combine="by_coords"))
    return result[0], result[1]


def _processor(name: str) -> Callable[..., Any] | None:
    import pooch

    if name.endswith(".zip"):
        return pooch.Unzip()
    return None


def _opener(name: str) -> Callable[[Any], Any]:
    special: dict[str, Callable[[Any], Any]] = {"deepr-test-data.zip": _open_deepr_archive}
    if name in special:
        return special[name]
    if name.endswith(".nc"):
        return _open_netcdf
    return lambda path: path  # anything else: the path(s) themselves


def _fetch_with(pup: pooch.Pooch, name: str, *, progress: bool = False) -> Any:
    """Fetch `name` through `pup`, check it, and open it."""
    import pooch

    if name not in pup.registry:
        known = ", ".join(sorted(pup.registry)) or "(none)"
        raise ValueError(f"unknown dataset {name!r}; the registry knows: {known}")
    known_hash = pup.registry[name]
    url = pup.get_url(name)
    try:
        path = pup.fetch(name, processor=_processor(name), progressbar=progress)
    except ValueError as err:
        if "does not match the known hash" not in str(err):
            raise
        got = re.search(r"but got (\w+)", str(err))
        raise DataHashError(
            f"the download of {name!r} from {url} is corrupted or the file has changed:"
            f" expected {known_hash} but got sha256:{got.group(1) if got else '?'}."
            f" The bad copy was deleted and nothing was cached under {pup.abspath}."
            f" Retry xdeepr.datasets.fetch({name!r}); if it fails again, the file on the"
            " server differs from the registered one: check the source (or the mirror set"
            f" in {_ENV_MIRROR}) and update the hash in xdeepr/datasets/registry.txt."
        ) from err
    except OSError as err:
        raise OSError(
            f"could not download {name!r} from {url}: {err}. Check the network, or point"
            f" {_ENV_MIRROR} at a mirror holding {name!r}."
        ) from err
    if known_hash is None:
        actual = pooch.file_hash(str(pup.abspath / name))
        warnings.warn(
            f"the hash of {name!r} is not pinned in xdeepr's registry yet, so the download"
            f" was not verified. The file in the cache ({pup.abspath / name}) has"
            f" sha256:{actual}; pin it in xdeepr/datasets/registry.txt once checked.",
            UserWarning,
            stacklevel=3,
        )
    return _opener(name)(path)


def fetch(name: str, *, progress: bool = False) -> object:
    """Download a registered data file (once), check its hash and open it.

    Files are cached under ``pooch.os_cache("xdeepr")`` or ``$XDEEPR_DATA_DIR``
    and only downloaded when missing or changed. When ``$XDEEPR_DATA_MIRROR`` is
    set, every file is downloaded from ``{mirror}/{name}`` instead of its
    registered URL.

    Parameters
    ----------
    name : str
        A name from the registry (``xdeepr/datasets/registry.txt``), for instance
        ``"deepr-test-data.zip"``.
    progress : bool, default False
        Show a download progress bar (needs tqdm).

    Returns
    -------
    object
        What the file opens to: ``(features, labels)`` datasets for
        ``"deepr-test-data.zip"``, an :class:`xarray.Dataset` for a ``.nc`` file,
        the list of extracted paths for another ``.zip``, and the local path
        otherwise.

    Raises
    ------
    ValueError
        If `name` is not registered (the message lists the known names).
    DataHashError
        A :class:`ValueError`: the download does not match the registered hash.
        The bad copy is not kept.
    OSError
        If the file cannot be downloaded.

    Warns
    -----
    UserWarning
        If the registry has no hash pinned for `name` (``none``): the download is
        not verified, and the warning gives the SHA256 of the file received.

    Examples
    --------
    >>> from xdeepr.datasets import fetch
    >>> features, labels = fetch("deepr-test-data.zip")  # doctest: +SKIP
    """
    return _fetch_with(_registry(), name, progress=progress)
