"""The state of an output on disk: destination checks, the progress record, completeness."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr

from .._util import atomic_path
from ..errors import OutputError

#: Store attribute saying whether every block was written: 0 until the last one is, then 1.
COMPLETE_ATTR = "xdeepr_complete"
#: Suffix of the progress record kept next to a zarr store (``OUT.zarr`` →
#: ``OUT.zarr.xdeepr-progress.json``; outside the store, which zarr would otherwise
#: list as an unknown member).
PROGRESS_SUFFIX = ".xdeepr-progress.json"
#: Ensemble attributes that must match for a store to be resumed.
RESUME_KEYS = ("xdeepr_model", "xdeepr_members", "xdeepr_seed", "xdeepr_sampler", "xdeepr_steps")
#: How each block's input is fingerprinted (recorded in the progress record).
FINGERPRINT = "blake2b-128 of each data variable's float32 values"
_FORMATS = {".zarr": "zarr", ".nc": "netcdf", ".nc4": "netcdf"}


def progress_file(store: str | os.PathLike[str]) -> Path:
    """Path of the progress record of the zarr `store`.

    A JSON mapping with the run's identity (``xdeepr_model``, ``xdeepr_members``,
    ``xdeepr_seed``, ``xdeepr_sampler``, ``xdeepr_steps``), ``blocks`` (the
    ``[start, stop)`` time ranges written one at a time), ``fingerprints`` (a digest
    of each block's input), ``done`` (indices of the blocks written) and
    ``complete``; it is replaced atomically after each block.

    Examples
    --------
    >>> progress_file("out/t2m.zarr").name
    't2m.zarr.xdeepr-progress.json'
    """
    store = Path(store)
    return store.with_name(store.name + PROGRESS_SUFFIX)


def check_destination(
    path: str | os.PathLike[str], *, resume: bool = False, overwrite: bool = False
) -> str:
    """Check that `path` can be written, before anything is computed.

    Parameters
    ----------
    path : str or path-like
        ``*.zarr`` (written block by block, resumable) or ``*.nc`` / ``*.nc4``.
    resume : bool
        Continue an interrupted zarr store at `path` (if it exists).
    overwrite : bool
        Replace whatever is at `path`.

    Returns
    -------
    str
        ``"zarr"`` or ``"netcdf"``.

    Raises
    ------
    OutputError
        For an unknown suffix, a missing or unwritable parent directory, ``resume``
        with netCDF or together with ``overwrite``, or an existing `path` when
        neither ``resume`` nor ``overwrite`` is given.

    Examples
    --------
    >>> check_destination("t2m.csv")
    Traceback (most recent call last):
    ...
    xdeepr.errors.OutputError: unknown output type '.csv' of 't2m.csv'; name it OUTPUT.zarr (resumable) or OUTPUT.nc
    """  # noqa: E501
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"unknown output type {path.suffix or '(none)'!r} of {str(path)!r}; "
            "name it OUTPUT.zarr (resumable) or OUTPUT.nc"
        )
    if resume and overwrite:
        raise OutputError(f"cannot both resume and overwrite {str(path)!r}; choose one")
    if resume and fmt != "zarr":
        raise OutputError(
            f"resume needs a zarr output: {str(path)!r} is netCDF, written at once at the end, "
            "so an interrupted run leaves nothing to resume; write OUTPUT.zarr instead"
        )
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(
            f"cannot write {str(path)!r}: its folder {str(parent)!r} {what}; create it first"
        )
    try:  # os.access is not enough: root, read-only file systems, ACLs
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write {str(path)!r}: its folder {str(parent)!r} is not writable "
            f"({err.strerror or err})"
        ) from err
    if path.exists() and not (resume or overwrite):
        raise OutputError(
            f"{str(path)!r} exists; pass resume to continue an interrupted run or overwrite "
            "to replace it"
        )
    return fmt


# ------------------------------------------------------------------------------ reading


def read_progress(store: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The progress record of the zarr `store` (see :func:`progress_file`), or None.

    Raises
    ------
    OutputError
        When the record exists but is not a readable progress record.
    """
    path = progress_file(store)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OutputError(f"{str(path)!r} is not a readable xdeepr progress record: {err}") from err
    if not isinstance(data, dict) or "blocks" not in data or "done" not in data:
        raise OutputError(f"{str(path)!r} is not an xdeepr progress record")
    return data


def ensure_complete(ds: xr.Dataset, path: str | os.PathLike[str] | None = None) -> xr.Dataset:
    """Return `ds` if it is a complete ensemble, else raise naming what is missing.

    A Dataset is incomplete when its ``xdeepr_complete`` attribute is 0 or, for a
    zarr store at `path`, when its progress record says so. Data written by other
    tools (neither attribute nor record) pass, unless every data variable is
    missing (NaN or fill value) at the last time step: a file whose writing was
    killed part way (``to_netcdf`` writes the metadata first, then the values).

    Parameters
    ----------
    ds : xarray.Dataset
        As opened from `path`.
    path : str or path-like, optional
        Where `ds` was opened from, for the message and the progress record.

    Raises
    ------
    OutputError
        When `ds` is incomplete, or looks interrupted (no mark and no data at its end).

    Examples
    --------
    >>> import xarray as xr
    >>> ensure_complete(xr.Dataset(attrs={"xdeepr_complete": 0}), "t2m.zarr")
    Traceback (most recent call last):
    ...
    xdeepr.errors.OutputError: 't2m.zarr' is incomplete (a run writing it was interrupted): resume that run, or pass allow_incomplete (--allow-incomplete) to read it anyway; its unwritten times are NaN
    """  # noqa: E501
    name = repr(str(path)) if path is not None else "the ensemble"
    record = read_progress(path) if path is not None and Path(path).is_dir() else None
    flag = ds.attrs.get(COMPLETE_ATTR)
    incomplete = (flag is not None and int(flag) == 0) or (
        record is not None and not record.get("complete")
    )
    if not incomplete and flag is None and record is None and _missing_at_end(ds):
        raise OutputError(
            f"{name} looks interrupted: it has no xdeepr completeness mark ({COMPLETE_ATTR}) "
            f"and every data variable ({', '.join(map(str, ds.data_vars))}) is missing (NaN or "
            "fill value) at its last time step, as a file whose writing was killed is; write "
            "it again (re-run what made it, e.g. with xdeepr.writer.write_ensemble, which "
            "marks complete outputs), or pass allow_incomplete=True (--allow-incomplete) to "
            "read it anyway"
        )
    if not incomplete:
        return ds
    written = ""
    if record is not None:
        written = f", {len(record['done'])} of {len(record['blocks'])} blocks written"
    raise OutputError(
        f"{name} is incomplete (a run writing it was interrupted{written}): resume that run, "
        "or pass allow_incomplete (--allow-incomplete) to read it anyway; "
        "its unwritten times are NaN"
    )


def open_ensemble(
    path: str | os.PathLike[str], *, allow_incomplete: bool = False, **kwargs: Any
) -> xr.Dataset:
    """Open an ensemble written by :func:`write_ensemble`, refusing an incomplete one.

    Parameters
    ----------
    path : str or path-like
        A zarr store or a netCDF file.
    allow_incomplete : bool
        Open a store whose writing was interrupted anyway (its unwritten times are NaN).
    **kwargs
        Passed to :func:`xarray.open_dataset` (default ``chunks={}``: lazy).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    FileNotFoundError
        When nothing is at `path`.
    OutputError
        When the store is incomplete, looks interrupted (see :func:`ensure_complete`) or
        cannot be read (a damaged or truncated file), and `allow_incomplete` is False.

    Examples
    --------
    >>> hires = open_ensemble("t2m_hires.zarr")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no ensemble at {str(path)!r}")
    kwargs.setdefault("chunks", {})
    if path.is_dir():
        kwargs.setdefault("engine", "zarr")
    try:
        ds = xr.open_dataset(path, **kwargs)
    except (OSError, ValueError, KeyError) as err:  # netCDF/HDF5/zarr each raise their own
        if allow_incomplete:
            raise
        raise OutputError(
            f"cannot open {str(path)!r} as an ensemble: it is damaged or cut short (was a run "
            f"writing it killed?); write it again ({type(err).__name__}: {err})"
        ) from err
    if not allow_incomplete:
        try:
            ensure_complete(ds, path)
        except OutputError:
            ds.close()
            raise
    return ds


def _missing_at_end(ds: xr.Dataset) -> bool:
    """Whether every data variable of `ds` is all missing at its last time step.

    A file written by plain ``to_netcdf``/``to_zarr`` and killed part way holds its
    metadata and the blocks written so far: what follows reads as NaN (the fill
    value). Only the last time step is read (everything, for variables without time).
    """
    arrays = [ds[v] for v in ds.data_vars if ds[v].size > 0]
    if not arrays:
        return False
    for da in arrays:
        if "time" in da.dims:
            da = da.isel(time=-1)
        if not bool(da.isnull().all()):
            return False
    return True


# ------------------------------------------------------------------------------ writing


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically: a killed run leaves the old record or the new one."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def store_complete(path: Path) -> bool:
    """Whether the zarr store at `path` says it is complete (its ``xdeepr_complete`` is 1)."""
    with quiet_zarr(), xr.open_zarr(path) as stored:
        return bool(int(stored.attrs.get(COMPLETE_ATTR, 0)))


@contextlib.contextmanager
def quiet_zarr() -> Iterator[None]:
    """Silence zarr 3's warning that consolidated metadata is not in its specification."""
    with warnings.catch_warnings():  # zarr 3: consolidated metadata is an extension
        warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
        yield
