"""Writing an ensemble: :class:`EnsembleWriter` (check, then write) and :func:`write_ensemble`."""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._util import atomic_path
from ..errors import OutputError
from ._blocks import block_bounds, block_fingerprint, compute_blocks, progress_bar
from ._store import (
    COMPLETE_ATTR,
    FINGERPRINT,
    RESUME_KEYS,
    check_destination,
    progress_file,
    quiet_zarr,
    read_progress,
    store_complete,
    write_json,
)


@dataclass
class EnsembleWriter:
    """A planned write of the ensemble `ds` to `path`; checked when built, run by :meth:`write`.

    Building the writer checks the destination and, when resuming, that the store
    was written with the same model, options, times and input (`source`) — before
    anything is computed. :func:`write_ensemble` is the one-call form.

    Parameters
    ----------
    ds : xarray.Dataset
        The ensemble, with a ``time`` dimension; dask-backed to be computed block by
        block (its time chunks; one block if it is in memory).
    path : str or path-like
        ``*.zarr`` or ``*.nc``.
    source : xarray.Dataset, optional
        The input `ds` was computed from, with the same times: each block's input is
        fingerprinted, and a resume whose input differs is refused. Needed to resume
        a store written with one.
    resume : bool
        Continue the interrupted zarr store at `path`, skipping its written blocks.
    overwrite : bool
        Replace whatever is at `path`.

    Attributes
    ----------
    format : {"zarr", "netcdf"}
    blocks : list of (int, int)
        The ``[start, stop)`` time ranges computed and written one at a time.
    done : list of int
        Blocks already written (when resuming).
    todo : list of int
        Blocks left to compute.
    """

    ds: xr.Dataset
    path: Path
    source: xr.Dataset | None = None
    resume: bool = False
    overwrite: bool = False
    format: str = field(init=False)
    blocks: list[tuple[int, int]] = field(init=False)
    done: list[int] = field(init=False, default_factory=list)
    fingerprints: list[str] | None = field(init=False, default=None)
    _record: dict[str, Any] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.format = check_destination(self.path, resume=self.resume, overwrite=self.overwrite)
        if "time" not in self.ds.dims:
            raise OutputError(
                f"cannot write {str(self.path)!r} block by block: the ensemble has no 'time' "
                f"dimension (its dimensions: {list(map(str, self.ds.dims))})"
            )
        n_time = self.ds.sizes["time"]
        if self.source is not None and self.source.sizes.get("time") != n_time:
            raise OutputError(
                f"the source of {str(self.path)!r} has {self.source.sizes.get('time', 0)} time "
                f"steps but the ensemble has {n_time}; pass the input it was computed from"
            )
        chunks = self.ds.chunks.get("time") if self.ds.chunks else None
        self.blocks = block_bounds(chunks or (n_time,))
        if self.format == "zarr" and self.resume and self.path.exists():
            self._record = self._check_resumable()
            self.blocks = [(int(a), int(b)) for a, b in self._record["blocks"]]
            self.done = sorted({int(i) for i in self._record["done"]})
        elif self.format == "zarr" and self.source is not None:
            self.fingerprints = self._fingerprints()

    @property
    def todo(self) -> list[int]:
        """Indices of the blocks left to compute."""
        done = set(self.done)
        return [i for i in range(len(self.blocks)) if i not in done]

    def write(self, *, client: Any = None, progress: bool = True) -> Path:
        """Compute the blocks left and write them; return the path written.

        Parameters
        ----------
        client : distributed.Client, optional
            Compute a few blocks at a time on this cluster, writing each as it
            finishes; default: one block after the other with dask's current scheduler.
        progress : bool
            Show a progress bar of the blocks.

        Returns
        -------
        pathlib.Path
        """
        if self.format == "netcdf":
            self._write_netcdf(client, progress)
        else:
            self._write_zarr(client, progress)
        return self.path

    # -- resume checks

    def _check_resumable(self) -> dict[str, Any]:
        out = repr(str(self.path))
        record = read_progress(self.path)
        if record is None:
            raise OutputError(
                f"cannot resume {out}: there is no progress record "
                f"{progress_file(self.path).name!r} next to it (it was not written by xdeepr, "
                "or a run was killed while creating it); overwrite it to start again"
            )
        sizes = [int(b) - int(a) for a, b in record["blocks"]]
        if sum(sizes) != self.ds.sizes["time"]:
            raise OutputError(
                f"cannot resume {out}: it holds {sum(sizes)} time steps but the input has "
                f"{self.ds.sizes['time']}; resume with the same input"
            )
        try:
            with quiet_zarr():
                stored = xr.open_zarr(self.path)
        except (OSError, ValueError, KeyError) as err:
            raise OutputError(
                f"cannot resume {out}: it is not a readable zarr store ({err})"
            ) from err
        with stored:
            have = {k: stored.attrs.get(k, record.get(k)) for k in RESUME_KEYS}
            times = np.asarray(stored["time"].values)
        wanted = {k: self.ds.attrs.get(k) for k in RESUME_KEYS}
        differ = [k for k in RESUME_KEYS if str(have[k]) != str(wanted[k])]
        if differ:
            was = ", ".join(f"{k.removeprefix('xdeepr_')}={have[k]}" for k in differ)
            now = ", ".join(f"{k.removeprefix('xdeepr_')}={wanted[k]}" for k in differ)
            raise OutputError(
                f"cannot resume {out}: it was written with {was} but this run asks for {now}; "
                "rerun with the same model and options, or overwrite it to start again"
            )
        if not np.array_equal(times, np.asarray(self.ds["time"].values)):
            raise OutputError(
                f"cannot resume {out}: its time steps differ from the input's; resume with "
                "the same input, or overwrite it to start again"
            )
        self.blocks = [(int(a), int(b)) for a, b in record["blocks"]]
        stored_prints = record.get("fingerprints")
        if stored_prints is None:
            warnings.warn(
                f"{out} was written without input fingerprints (by xdeepr 0.1.0): resuming "
                "without checking that the input is the same",
                UserWarning,
                stacklevel=3,
            )
            return record
        if self.source is None:
            raise OutputError(
                f"cannot resume {out} without its input: pass source= the input the ensemble "
                "is computed from, so that it can be checked against the written blocks"
            )
        self.fingerprints = self._fingerprints()
        for i, (old, new) in enumerate(zip(stored_prints, self.fingerprints)):
            if old != new:
                a, b = self.blocks[i]
                t = self.ds["time"].values
                raise OutputError(
                    f"cannot resume {out}: the input differs from the one it was written from, "
                    f"first in block {i} (times {t[a]} to {t[b - 1]}); resume with the same "
                    "input, or overwrite it to start again"
                )
        return record

    def _fingerprints(self) -> list[str]:
        assert self.source is not None
        return [block_fingerprint(self.source.isel(time=slice(a, b))) for a, b in self.blocks]

    # -- netCDF

    def _write_netcdf(self, client: Any, progress: bool) -> None:
        results: dict[int, xr.Dataset] = {}
        with progress_bar(len(self.blocks), 0, self.path, progress) as update:
            compute_blocks(client, self.ds, self.blocks, self.todo, results.__setitem__, update)
        if len(results) == 1:
            full = results[0]
        else:
            full = xr.concat(
                [results[i] for i in range(len(self.blocks))],
                dim="time",
                data_vars="minimal",
                coords="minimal",
                compat="override",
                join="override",
                combine_attrs="override",
            )
        for name in self.ds.variables:
            full[name].attrs = dict(self.ds[name].attrs)
        full.attrs = {**self.ds.attrs, COMPLETE_ATTR: 1}
        try:
            with atomic_path(self.path) as tmp:
                full.to_netcdf(tmp)
        except OSError as err:
            raise OutputError(f"cannot write {str(self.path)!r}: {err}") from err

    # -- zarr

    def _write_zarr(self, client: Any, progress: bool) -> None:
        record_path = progress_file(self.path)
        if self._record is None:
            self._create_store(record_path)
        assert self._record is not None
        state = self._record
        spatial = [v for v in self.ds.variables if "time" not in self.ds[v].dims]

        def write(i: int, result: xr.Dataset) -> None:
            a, b = self.blocks[i]
            part = result.drop_vars([v for v in spatial if v in result.variables])
            part.attrs = {}
            part.to_zarr(self.path, region={"time": slice(a, b)}, mode="r+", consolidated=False)
            state["done"] = sorted({*state["done"], i})
            write_json(record_path, state)  # only now does the block count as done
            self.done = state["done"]

        with progress_bar(len(self.blocks), len(self.done), self.path, progress) as update:
            compute_blocks(client, self.ds, self.blocks, self.todo, write, update)
        if not state.get("complete") or not store_complete(self.path):
            self._finish(record_path, state)

    def _create_store(self, record_path: Path) -> None:
        if self.path.exists() and not self.overwrite:
            raise self._raced()  # it appeared since the destination was checked
        if self.path.exists():  # overwrite: the old store and its record go first
            record_path.unlink(missing_ok=True)
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        record_path.unlink(missing_ok=True)  # a stale record must never outlive its store
        template = self.ds.assign_attrs({COMPLETE_ATTR: 0})
        try:
            with atomic_path(self.path) as tmp, quiet_zarr():  # metadata and coordinates only
                template.to_zarr(tmp, mode="w", compute=False)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST) and self.path.exists():
                raise self._raced() from err  # another run's store took its place first
            raise OutputError(f"cannot create {str(self.path)!r}: {err}") from err
        self._record = {
            "xdeepr_progress": 2,
            **{k: self.ds.attrs.get(k) for k in RESUME_KEYS},
            "n_time": self.ds.sizes["time"],
            "blocks": [list(b) for b in self.blocks],
            "fingerprint": FINGERPRINT if self.fingerprints is not None else None,
            "fingerprints": self.fingerprints,
            "done": [],
            "complete": False,
        }
        write_json(record_path, self._record)
        self.done = []

    def _raced(self) -> OutputError:
        """The error of the run that lost the race to create the same store."""
        return OutputError(
            f"another run is writing the same output {str(self.path)!r} (it created the store "
            "after this run checked that it was free): let that run finish, or give this one "
            "another --output; to continue that run's store after it stopped, pass resume "
            "(--resume)"
        )

    def _finish(self, record_path: Path, state: dict[str, Any]) -> None:
        """Mark the store complete: its attribute (and consolidated metadata), then the record."""
        import zarr

        with quiet_zarr():
            group = zarr.open_group(str(self.path), mode="r+")
            group.attrs[COMPLETE_ATTR] = 1
            zarr.consolidate_metadata(str(self.path))
        state["complete"] = True
        write_json(record_path, state)


def write_ensemble(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    source: xr.Dataset | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    client: Any = None,
) -> Path:
    """Write the (lazy) ensemble `ds` to zarr or netCDF, resumably and atomically.

    The destination is checked before anything is computed. A zarr store is written
    block by block (the time chunks of `ds`) and says ``xdeepr_complete: 0`` until
    the last block is in; ``resume=True`` continues an interrupted store, refusing
    one written with another model, options, times or input. A netCDF file appears
    only when complete (temporary file, then rename). Open the result with
    :func:`open_ensemble`.

    Parameters
    ----------
    ds : xarray.Dataset
        The ensemble (e.g. from ``Dataset.deepr.downscale`` on dask-backed input).
    path : str or path-like
        ``*.zarr`` (resumable) or ``*.nc``; its folder must exist.
    source : xarray.Dataset, optional
        The coarse input `ds` is computed from: each block's input is fingerprinted
        so that a resume with other data is refused (naming the first block that
        differs). Needed to resume a store that was written with one.
    resume : bool
        Continue the interrupted zarr store at `path` (start it if there is none).
    overwrite : bool
        Replace whatever is at `path`.
    progress : bool
        Show a progress bar of the blocks.
    client : distributed.Client, optional
        Compute a few blocks at a time on this cluster; default: one after the other
        with dask's current scheduler.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    OutputError
        When `path` cannot be written, exists (without `resume` or `overwrite`), or
        cannot be resumed with this ensemble and input.

    See Also
    --------
    EnsembleWriter : the same in two steps (check, then write), with the block plan.

    Examples
    --------
    >>> import xdeepr
    >>> from xdeepr.writer import open_ensemble, write_ensemble
    >>> era5 = xdeepr.datasets.load_sample(periods=8)[0].chunk(time=4)
    >>> lazy = era5.deepr.downscale(model, members=8)  # doctest: +SKIP
    >>> write_ensemble(lazy, "t2m_hires.zarr", source=era5)  # doctest: +SKIP
    >>> # killed? the same call with resume=True continues where it stopped
    >>> write_ensemble(lazy, "t2m_hires.zarr", source=era5, resume=True)  # doctest: +SKIP
    >>> hires = open_ensemble("t2m_hires.zarr")  # doctest: +SKIP
    """
    writer = EnsembleWriter(ds, Path(path), source=source, resume=resume, overwrite=overwrite)
    return writer.write(client=client, progress=progress)
