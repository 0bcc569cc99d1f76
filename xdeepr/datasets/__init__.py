"""Data for xdeepr: the embedded synthetic sample, station observations and a registry.

- :func:`load_sample` builds a small, deterministic ERA5-like / CERRA-like sample
  on the fly (no download); :func:`load_sample_stations` adds synthetic stations
  observing its truth.
- :func:`stations_from_table` turns a tidy station table (DataFrame or CSV) into
  the CF discrete-sampling-geometry timeSeries Dataset xdeepr takes as
  observations; :func:`stations_to_table` is its inverse and
  :func:`check_observations` validates one against a model's time type and domain.
- :func:`fetch` downloads registered files (for instance DeepR's test archive)
  into a local cache, verifies them (hash when pinned; archives must open) before
  they enter the cache, and opens them; a damaged cached copy is fetched again, and
  what cannot be fetched raises :class:`~xdeepr.errors.DataFetchError`.

Nothing here touches the network or the file system at import, nor imports torch.
"""

from __future__ import annotations

from xdeepr.datasets._fetch import DataFetchError, DataHashError, fetch
from xdeepr.datasets._sample import load_sample
from xdeepr.datasets._stations import load_sample_stations
from xdeepr.observations.checks import check_observations
from xdeepr.observations.table import stations_from_table, stations_to_table

__all__ = [
    "DataFetchError",
    "DataHashError",
    "check_observations",
    "fetch",
    "load_sample",
    "load_sample_stations",
    "stations_from_table",
    "stations_to_table",
]
