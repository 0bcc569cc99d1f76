"""Resumable, atomic writes of a (lazy) ensemble Dataset to zarr or netCDF.

A downscaled ensemble can take hours to compute. :func:`write_ensemble` computes it
block by block (the Dataset's time chunks) and makes sure that whatever is on disk
can never pass for a complete result:

- a **zarr** store is created at once (metadata and coordinates, atomically), then
  each time block is written as it finishes and recorded in a progress record next
  to the store (``OUT.zarr.xdeepr-progress.json``). The store's own attribute
  ``xdeepr_complete`` is ``0`` until the last block is written, then ``1``. A run
  killed at any point is continued with ``resume=True``, which skips the written
  blocks and refuses a run with another model, seed, sampler, steps, times or
  input data (each block's input is fingerprinted);
- a **netCDF** file is written to a temporary file beside the target and renamed
  onto it at the end: a killed run leaves no file (or the old one), never half a
  new one.

:func:`open_ensemble` opens what :func:`write_ensemble` wrote and refuses an
incomplete store unless asked (``allow_incomplete=True``). The ``xdeepr downscale``
command line uses this module; notebooks and dask scripts can too.

Examples
--------
>>> import xdeepr, tempfile, pathlib
>>> from xdeepr.writer import open_ensemble, write_ensemble
>>> features, labels, static = xdeepr.datasets.load_sample(periods=8)
>>> ens = labels.expand_dims(member=2).chunk(time=4)   # stands in for a lazy ensemble
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t2m.zarr"
>>> _ = write_ensemble(ens, path, source=features, progress=False)
>>> open_ensemble(path).attrs["xdeepr_complete"]
1
"""

from __future__ import annotations

from ._blocks import block_fingerprint
from ._ensemble import EnsembleWriter, write_ensemble
from ._store import (
    COMPLETE_ATTR,
    PROGRESS_SUFFIX,
    RESUME_KEYS,
    check_destination,
    ensure_complete,
    open_ensemble,
    progress_file,
    read_progress,
)

__all__ = [
    "COMPLETE_ATTR",
    "PROGRESS_SUFFIX",
    "RESUME_KEYS",
    "EnsembleWriter",
    "block_fingerprint",
    "check_destination",
    "ensure_complete",
    "open_ensemble",
    "progress_file",
    "read_progress",
    "write_ensemble",
]
