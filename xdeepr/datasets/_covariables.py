"""The embedded sample's coarse covariable ``t850``, generated from the same weather as ``t2m``.

Additive: nothing in :mod:`._weather` changes, so ``load_sample()`` is bit-identical
without ``covariables=True``. See the "Covariable" section of ``docs/sample.md``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ._geometry import _DAYS_PER_YEAR, _LAT_HR, _LON_HR, _SEED, _block_mean
from ._weather import _synoptic_coefficients, _synoptic_maps, _time_axis

_T850_KEY = 21  # SeedSequence entropy word of t850's own noise
_T850_HEIGHT_KM = 1.5  # about 850 hPa above the sample's ~400 m valleys
_T850_SEASON = 0.7  # the free atmosphere's seasonal cycle, relative to the land's
_T850_NOISE = 0.3  # K, independent of t2m


@functools.lru_cache(maxsize=4)
def _t850(start: str, periods: int | None, freq: str) -> np.ndarray:
    """Coarse ``t850`` (time, lat, lon), float32, consistent with the sample's ``t2m``.

    ``t850 = 284.6 - 0.55 (lat - 47.5) + 0.7 * 9.5 * season(t) + gamma(t) * 1.5 km
    + W(t, p) + 0.3 N``: the truth's climatology without the lake, its land seasonal
    cycle damped, lifted 1.5 km along the day's lapse rate gamma(t), the *same*
    synoptic waves W as t2m (the same coefficients and maps), no diurnal cycle, and its
    own white noise; 5x5 block means like the features (the maps are linear, so they
    are averaged first).
    """
    times = _time_axis(start, periods, freq)
    t_index = pd.DatetimeIndex(times)
    days = (times - np.datetime64("2000-01-01", "ns")) / np.timedelta64(1, "D")
    doy = np.asarray(t_index.day_of_year - 1, dtype=float) + np.asarray(t_index.hour) / 24.0
    season = np.cos(2 * np.pi * (doy - 200.0) / _DAYS_PER_YEAR)
    lat, lon = np.meshgrid(_LAT_HR, _LON_HR, indexing="ij")
    maps = _synoptic_maps(lat, lon)  # the truth's synoptic basis, in its order
    coarse_maps = np.stack([_block_mean(m) for m in maps])  # (M, 20, 32)
    synoptic = np.tensordot(_synoptic_coefficients(days), coarse_maps, axes=1)  # (T, 20, 32)
    gamma = -6.5 - 0.6 * season  # the truth's lapse rate, K/km
    base = 284.6 - 0.55 * (_block_mean(lat) - 47.5)  # (20, 32)
    t850 = (
        base[None]
        + (_T850_SEASON * 9.5 * season + gamma * _T850_HEIGHT_KM)[:, None, None]
        + synoptic
    )
    rng = np.random.default_rng(np.random.SeedSequence([_SEED, _T850_KEY]))
    t850 += _T850_NOISE * rng.standard_normal(t850.shape)
    return t850.astype(np.float32)
