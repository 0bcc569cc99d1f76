"""Data for xdeepr: the embedded synthetic sample and a pooch-backed registry.

- :func:`load_sample` builds a small, deterministic ERA5-like / CERRA-like sample
  on the fly (no download).
- :func:`fetch` downloads registered files (for instance DeepR's test archive)
  into a local cache, checks their hash and opens them.

Nothing here touches the network or the file system at import.
"""

from __future__ import annotations

from xdeepr.datasets._fetch import DataHashError, fetch
from xdeepr.datasets._sample import load_sample

__all__ = ["DataHashError", "fetch", "load_sample"]
