"""The embedded sample's grids and seed: coarse, hi-res truth and label grids, 5x5 blocks.

One home for the layout every part of the sample shares (terrain, weather,
covariables, stations): the coarse (feature) grid, the hi-res truth grid covering
it, the label domain inside the truth, and the exact 5x5 block mean that turns the
truth into features. See ``docs/sample.md``.
"""

from __future__ import annotations

import numpy as np

_SEED = 20240601
_FACTOR = 5  # hi-res points per coarse cell, along each axis
_HR = 0.05  # hi-res spacing (degrees)
_LR = 0.25  # coarse spacing (degrees)

# Coarse (feature) grid: the reduced DeepR coverage.
_LAT_LR = 50.0 - _LR * np.arange(20)  # 50.0 → 45.25
_LON_LR = 6.0 + _LR * np.arange(32)  # 6.0 → 13.75
# Hi-res truth over the whole feature coverage: each coarse cell is the centre of an
# exact 5x5 block of hi-res points (coarse centre ± 0.10°).
_LAT_HR = np.round(50.10 - _HR * np.arange(100), 2)  # 50.10 → 45.15
_LON_HR = np.round(5.90 + _HR * np.arange(160), 2)  # 5.90 → 13.85
# Label domain inside the hi-res grid: lat 48.0 → 47.05, lon 9.2 → 10.75.
_LAT0, _LON0 = 42, 66  # hi-res indices of (48.0, 9.2)
_LAT_LAB = np.round(48.0 - _HR * np.arange(20), 2)
_LON_LAB = np.round(9.2 + _HR * np.arange(32), 2)
assert np.array_equal(_LAT_HR[_LAT0 : _LAT0 + 20], _LAT_LAB)
assert np.array_equal(_LON_HR[_LON0 : _LON0 + 32], _LON_LAB)

_DAYS_PER_YEAR = 365.2425
_KM_PER_DEG = 111.2


def _block_mean(a: np.ndarray) -> np.ndarray:
    """Mean over exact 5x5 blocks of the last two axes, accumulated in float64."""
    *lead, ny, nx = a.shape
    blocks = a.reshape(*lead, ny // _FACTOR, _FACTOR, nx // _FACTOR, _FACTOR)
    return blocks.mean(axis=(-3, -1), dtype=np.float64)
