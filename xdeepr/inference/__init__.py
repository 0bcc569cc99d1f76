"""Downscaling: per-chunk sampling, batching and seeding; xr.map_blocks over dask chunks.

- :mod:`~xdeepr.inference.api`: :func:`downscale` — validation, filling, the eager
  path and the lazy path (one ``xr.map_blocks`` per member chunk), provenance;
- :mod:`~xdeepr.inference.batching`: :func:`sample_block` — one block's (time, member)
  pairs in batches, per-sample seeds (:func:`sample_seed`), OOM halving, pinned copies;
- :mod:`~xdeepr.inference.transport`: the model's bytes in the task graph, decoded once
  per worker process and keyed by the model's identity.

The noise of each (time, member) sample depends only on ``seed``, the time stamp and
the member index, so an ensemble does not depend on chunking, batch size, scheduler
or worker.
"""

from __future__ import annotations

from .api import MAX_CHUNK_BYTES, MEMBER, downscale
from .batching import (
    _SAMPLE_BYTES,
    _auto_batch,
    _out_of_memory,
    regression_centre,
    sample_block,
    sample_seed,
)
from .transport import _MODELS, _SCATTERED, _model_array, _model_bytes, _model_from_bytes

__all__ = [
    "MAX_CHUNK_BYTES",
    "MEMBER",
    "downscale",
    "regression_centre",
    "sample_block",
    "sample_seed",
]
#: Internals tests and benchmarks reach through this package.
_PRIVATE = (
    _MODELS,
    _SAMPLE_BYTES,
    _SCATTERED,
    _auto_batch,
    _model_array,
    _model_bytes,
    _model_from_bytes,
    _out_of_memory,
)
