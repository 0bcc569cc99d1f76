"""Data for xdeepr: the embedded synthetic sample and a pooch-backed registry.

- :func:`load_sample` builds a small, deterministic ERA5-like / CERRA-like sample
  on the fly (no download).
- :func:`fetch` downloads registered files (for instance DeepR's test archive)
  into a local cache, verifies them (hash when pinned; archives must open) before
  they enter the cache, and opens them; a damaged cached copy is fetched again, and
  what cannot be fetched raises :class:`~xdeepr.errors.DataFetchError`.

Nothing here touches the network or the file system at import.
"""

from __future__ import annotations

from xdeepr.datasets._fetch import DataFetchError, DataHashError, fetch
from xdeepr.datasets._sample import load_sample

__all__ = ["DataFetchError", "DataHashError", "fetch", "load_sample"]
