"""What the ``xdeepr`` commands share: argument types, messages, opening inputs and models."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from ..errors import XdeeprError

if TYPE_CHECKING:  # pragma: no cover
    from ..model import DownscalingModel

PROG = "xdeepr"


class CLIError(XdeeprError, ValueError):
    """A user error of the command line: reported as one line on stderr, exit status 2."""


# ------------------------------------------------------------------------------ argument types


def positive_int(text: str) -> int:
    """Parse a positive integer option value (argparse ``type=``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Parse a positive number option value (argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_command(sub: Any, common: argparse.ArgumentParser, module: Any) -> argparse.ArgumentParser:
    """Add the subcommand of `module` (``xdeepr.cli.NAME``) to the subparsers `sub`.

    The module holds its help texts (``SUMMARY``, ``DESCRIPTION``, ``EPILOG``) and
    its ``run(args)``. Returns the subcommand's parser, for its own arguments.
    """
    name = module.__name__.rsplit(".", 1)[-1]
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        prog=f"{PROG} {name}",
        help=module.SUMMARY,
        description=module.DESCRIPTION,
        epilog=module.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    p.set_defaults(func=module.run)
    return p


def info(args: argparse.Namespace, message: str) -> None:
    """Print a progress message on stderr unless ``--quiet``."""
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ input


def expand_paths(patterns: Sequence[str], what: str) -> list[str]:
    """Expand files, stores and globs into a list of existing paths.

    Parameters
    ----------
    patterns : sequence of str
        Paths or glob patterns (``*``, ``?``, ``[...]``).
    what : str
        What the paths are, for error messages ("input", "labels"...).

    Returns
    -------
    list of str
        Each glob's matches sorted, in the order of `patterns`.

    Raises
    ------
    FileNotFoundError
        Naming the path or pattern that matches nothing.

    Examples
    --------
    >>> expand_paths(["missing.nc"], "input")
    Traceback (most recent call last):
    ...
    FileNotFoundError: input 'missing.nc' does not exist
    """
    files: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"no {what} file matches {pattern!r}")
            files.extend(matches)
        elif not os.path.exists(pattern):
            raise FileNotFoundError(f"{what} {pattern!r} does not exist")
        else:
            files.append(pattern)
    return files


def _engine(path: str) -> str | None:
    p = Path(path)
    if p.suffix == ".zarr" or (
        p.is_dir() and any((p / n).exists() for n in ("zarr.json", ".zgroup", ".zmetadata"))
    ):
        return "zarr"
    return None


def open_input(
    patterns: Sequence[str], what: str, chunks: dict[str, int] | None = None
) -> xr.Dataset:
    """Open netCDF files, zarr stores or globs lazily as one Dataset.

    Parameters
    ----------
    patterns : sequence of str
        Paths or glob patterns; several files are combined by coordinates
        (:func:`xarray.open_mfdataset`).
    what : str
        What the data are, for error messages.
    chunks : dict, optional
        Dask chunks of the dimensions present (e.g. ``{"time": 8}``).

    Returns
    -------
    xarray.Dataset
        Dask-backed.

    Raises
    ------
    FileNotFoundError
        When a path does not exist or a glob matches nothing.
    CLIError
        When a file cannot be opened as a dataset.
    """
    files = expand_paths(patterns, what)
    engines = {_engine(f) for f in files}
    if len(engines) > 1:
        raise CLIError(f"the {what} mix zarr stores and other files; convert them to one format")
    engine = engines.pop()
    try:
        if len(files) == 1:
            ds = xr.open_dataset(files[0], engine=engine, chunks={})
        else:
            ds = xr.open_mfdataset(files, engine=engine, chunks={}, combine="by_coords")
    except (OSError, ValueError, TypeError) as err:
        name = files[0] if len(files) == 1 else f"{files[0]!r} and {len(files) - 1} more"
        raise CLIError(f"cannot open the {what} {name!r} as a dataset: {err}") from err
    if chunks:
        present = {k: v for k, v in chunks.items() if k in ds.dims}
        if present:
            ds = ds.chunk(present)
    return ds


def load_model(path: str) -> DownscalingModel:
    """:func:`xdeepr.load_model`, with any failure turned into an error naming the file.

    A file that is damaged in a way the loader does not foresee (a missing entry, a
    tensor of the wrong shape, a truncated archive) raises whatever the code that
    tripped over it raises; here it becomes a :class:`CLIError` naming `path`.
    """
    import xdeepr

    try:
        return xdeepr.load_model(path)
    except FileNotFoundError:
        raise
    except XdeeprError as err:
        if path in str(err):
            raise
        raise CLIError(f"cannot load the model file {path!r}: {err}") from err
    except Exception as err:  # any other failure: the file is not a usable model
        text = str(err) or type(err).__name__
        raise CLIError(
            f"cannot load the model file {path!r}: it is damaged or not an xdeepr model "
            f"({type(err).__name__}: {text})"
        ) from err


# ------------------------------------------------------------------------------ errors


#: Exceptions that mean the input (a file, an option, the data) is wrong: exit status 2.
BAD_INPUT: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FileExistsError,
)


def exit_status(err: BaseException) -> int:
    """2 for bad input (a wrong file, option or data), 1 for a failure at run time.

    Examples
    --------
    >>> from xdeepr.errors import ModelFileError, TrainingError
    >>> [exit_status(e) for e in (ModelFileError("x"), TrainingError("x"), MemoryError())]
    [2, 1, 1]
    """
    return 2 if isinstance(err, BAD_INPUT) else 1


def one_line(err: BaseException) -> str:
    """The message of `err` on one line, without advice that is unsafe for xdeepr files.

    torch's loader suggests passing ``weights_only=False``, which would let a model
    file run code: that sentence is dropped.

    Examples
    --------
    >>> one_line(ValueError("bad file.\\nRe-running with `weights_only` set to False works."))
    'bad file.'
    >>> one_line(KeyError("schedule"))
    "KeyError: 'schedule'"
    """
    text = str(err)
    if not isinstance(err, XdeeprError | OSError | ValueError | TypeError) or not text:
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    lines = [line for line in text.splitlines() if "weights_only" not in line]
    sentences = " ".join(" ".join(lines).split()).split(". ")
    kept = [s for s in sentences if "weights_only" not in s and "can still be loaded" not in s]
    text = ". ".join(kept).strip() or type(err).__name__
    return text if len(text) <= 600 else text[:597] + "..."


# ------------------------------------------------------------------------------ output


def check_not_input(output: str | os.PathLike[str], inputs: Mapping[str, Sequence[str]]) -> None:
    """Refuse an output that is one of the inputs, lies inside one or holds one.

    Paths are compared resolved (symbolic links followed, the same file by any
    name), so ``-o ./in.nc`` or a link to ``in.nc`` is refused as ``in.nc`` is.
    A zarr store is a folder: an output inside an input store, or an input inside
    the output store (which ``--overwrite`` would delete), is refused too.

    Parameters
    ----------
    output : str or path-like
        The path a command is about to write.
    inputs : mapping of str to sequence of str
        What each input is (an option such as ``"--model"``, or ``"input"``) to its
        paths or glob patterns; patterns matching nothing are ignored.

    Raises
    ------
    CLIError
        Naming the output, the input it would replace and the option it came from.

    Examples
    --------
    >>> check_not_input("in.nc", {"input": ["./in.nc"]})
    Traceback (most recent call last):
    ...
    xdeepr.cli._common.CLIError: refusing to write the output 'in.nc' over the input './in.nc' (input): choose another --output
    """  # noqa: E501
    out = Path(os.path.realpath(output))
    for what, patterns in inputs.items():
        for pattern in patterns:
            paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for path in paths:
                real = Path(os.path.realpath(path))
                same = real == out or (
                    out.exists() and real.exists() and os.path.samefile(out, real)
                )
                if same or out in real.parents or real in out.parents:
                    how = "over" if same else ("around" if out in real.parents else "inside")
                    raise CLIError(
                        f"refusing to write the output {str(output)!r} {how} the input "
                        f"{path!r} ({what}): choose another --output"
                    )


def check_output_file(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Check that the file `path` (a model) can be written, before any work is done.

    The rule of every ``xdeepr`` command: an existing output is replaced only with
    ``--overwrite``; the folder must be writable (missing folders are created when
    the file is written, so their nearest existing parent must be).

    Parameters
    ----------
    path : str or path-like
        The file to write.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        For an existing file without `overwrite`, a folder at `path`, or a folder that
        is a file or is not writable; naming the path and what to do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> existing = pathlib.Path(tempfile.mkdtemp()) / "t2m.xdeepr"
    >>> _ = existing.write_text("")
    >>> check_output_file(existing)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.OutputError: '...t2m.xdeepr' exists; pass --overwrite to replace it, or choose another --output
    """  # noqa: E501
    import tempfile

    from ..errors import OutputError

    p = Path(path)
    if p.is_dir():
        raise OutputError(f"cannot write {str(p)!r}: it is a folder; give a file name")
    if p.exists() and not overwrite:
        raise OutputError(
            f"{str(p)!r} exists; pass --overwrite to replace it, or choose another --output"
        )
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folders below are created when the file is written
    if not folder.is_dir():
        raise OutputError(
            f"cannot write {str(p)!r}: {str(folder)!r} is not a directory; choose another --output"
        )
    try:  # os.access is not enough: root, read-only file systems, ACLs
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{p.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write {str(p)!r}: its folder {str(folder)!r} is not writable "
            f"({err.strerror or err}); choose another --output"
        ) from err
    return p
