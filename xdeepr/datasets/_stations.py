"""The embedded sample's synthetic weather stations: placement, observation errors, dataset.

Additive: the stations observe the truth of :func:`~xdeepr.datasets.load_sample`
and nothing there depends on them, so the sample is unchanged. See "Stations" in
``docs/sample.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage, special

from xdeepr._version import __version__
from xdeepr.errors import ConfigError

from ._geometry import _DAYS_PER_YEAR, _LAT0, _LAT_LAB, _LON0, _LON_LAB, _SEED
from ._sample import _cached
from ._terrain import _static_hires

__all__ = ["load_sample_stations"]

_STATION_ERROR_STD = 0.3  # K, observation error
_STATION_MISSING = 0.03  # probability that an observation is missing
_STATION_HEIGHT_SCALE = 500.0  # m: placement weight exp(-(z - z_min) / scale)
_STATION_SITES_KEY = 11  # SeedSequence entropy words, apart from the truth's
_STATION_ERRORS_KEY = 12
_STATION_PLACES_KEY = 13
_STATION_OFFSET = 0.02  # degrees: largest distance from the grid node, along each axis
_STATION_RELIEF = 3.0  # station height above its cell per m of the cell's local relief
_STATION_ROUGHNESS = 1.0  # std of the rest, per m of the cell's orography gradient
_STATION_DZ = (-600.0, 800.0)  # m: the station's altitude minus its cell's, clipped
_STATION_MARGIN = 200.0  # m: sub-grid terrain beyond the 3x3 cells' lowest and highest


def _station_sites(n: int, seed: int) -> np.ndarray:
    """Flat label-grid indices of `n` land stations, drawn more often in valleys.

    Weighted sampling without replacement by exponential keys (Efraimidis and
    Spirakis 2006): each label-grid point draws ``u ~ U(0, 1)``, a land point's key
    is ``log(u) / w`` with ``w = exp(-(z - z_min) / 500 m)``, and the `n` largest keys
    win. Every point draws its ``u`` whatever `n` is, so the first `n` stations of
    a larger network are the network of `n` stations.
    """
    orog, lsm = _static_hires()
    z = orog[_LAT0 : _LAT0 + 20, _LON0 : _LON0 + 32].astype(np.float32).astype(np.float64)
    land = lsm[_LAT0 : _LAT0 + 20, _LON0 : _LON0 + 32].ravel() > 0.5
    if not 1 <= n <= int(land.sum()):
        raise ConfigError(
            f"n must be an integer from 1 to {int(land.sum())} (the label grid's land "
            f"points), got {n!r}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([_SEED, _STATION_SITES_KEY, seed]))
    u = rng.random(z.size)
    weight = np.exp(-(z.ravel() - z.ravel()[land].min()) / _STATION_HEIGHT_SCALE)
    keys = np.where(land, np.log(u) / weight, -np.inf)
    return np.argsort(-keys, kind="stable")[:n]


def _station_places(sites: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Latitude, longitude and altitude (m) of the stations at label-grid `sites`.

    Each station stands up to 0.02° from its grid node along each axis (uniform; still
    nearest to it, inside the label domain) and ``dz`` metres above the grid's
    orography at its position (bilinear): ``dz = 3 (z - mean_3x3(z)) + |grad z| N``,
    clipped to -600..800 m and to 200 m beyond the lowest and highest cell of the 3x3
    around the node (sub-grid terrain) and never below the sample's lowest ground, so
    stations in valleys stand below their cell's height and those on summits above it,
    more so where the terrain is rough. Every land point draws its offsets whatever `n`
    is, as in :func:`_station_sites`. Returns also the grid's altitude at each station.
    """
    orog, _ = _static_hires()
    rng = np.random.default_rng(np.random.SeedSequence([_SEED, _STATION_PLACES_KEY, seed]))
    u = rng.random((3, _LAT_LAB.size * _LON_LAB.size))[:, sites]
    rows, cols = np.unravel_index(sites, (_LAT_LAB.size, _LON_LAB.size))
    lat = np.clip(_LAT_LAB[rows] + _STATION_OFFSET * (2 * u[0] - 1), _LAT_LAB[-1], _LAT_LAB[0])
    lon = np.clip(_LON_LAB[cols] + _STATION_OFFSET * (2 * u[1] - 1), _LON_LAB[0], _LON_LAB[-1])
    z_grid = _bilinear(orog[_LAT0 : _LAT0 + 20, _LON0 : _LON0 + 32], lat, lon)
    relief = orog - ndimage.uniform_filter(orog, 3, mode="nearest")
    gy, gx = np.gradient(orog)
    rough = np.hypot(gy, gx)
    r, c = rows + _LAT0, cols + _LON0
    dz = _STATION_RELIEF * relief[r, c] + _STATION_ROUGHNESS * rough[r, c] * special.ndtri(u[2])
    low = ndimage.minimum_filter(orog, 3, mode="nearest")[r, c] - _STATION_MARGIN
    high = ndimage.maximum_filter(orog, 3, mode="nearest")[r, c] + _STATION_MARGIN
    alt = np.clip(z_grid + np.clip(dz, *_STATION_DZ), np.maximum(low, orog.min()), high)
    return lat, lon, alt, z_grid


def _bilinear(field: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """`field` ``(..., 20, 32)`` on the label grid, bilinear at (lat, lon): ``(..., station)``."""
    y = (_LAT_LAB[0] - lat) / (_LAT_LAB[0] - _LAT_LAB[1])  # fractional row (lat descends)
    x = (lon - _LON_LAB[0]) / (_LON_LAB[1] - _LON_LAB[0])
    y0 = np.clip(np.floor(y).astype(int), 0, _LAT_LAB.size - 2)
    x0 = np.clip(np.floor(x).astype(int), 0, _LON_LAB.size - 2)
    fy, fx = y - y0, x - x0
    return (
        field[..., y0, x0] * (1 - fy) * (1 - fx)
        + field[..., y0, x0 + 1] * (1 - fy) * fx
        + field[..., y0 + 1, x0] * fy * (1 - fx)
        + field[..., y0 + 1, x0 + 1] * fy * fx
    )


def _lapse_rate(times: np.ndarray) -> np.ndarray:
    """The truth's dT/dz over land (K/km) at `times`: gamma(t) - 0.6 diurnal(t) (``_weather``)."""
    t = pd.DatetimeIndex(times)
    doy = np.asarray(t.day_of_year - 1, dtype=float) + np.asarray(t.hour) / 24.0
    hour_local = np.asarray(t.hour + t.minute / 60.0, dtype=float) + 10.0 / 15.0
    season = np.cos(2 * np.pi * (doy - 200.0) / _DAYS_PER_YEAR)
    diurnal = np.cos(2 * np.pi * (hour_local - 14.5) / 24.0)
    return -6.5 - 0.6 * season - 0.6 * diurnal


def _station_errors(times: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observation errors (K) and missing flags, (time, station), keyed on each time stamp.

    Each time stamp seeds its own generator from its value in ns, so the error and
    the missing flag of a station at a time do not depend on which window (start,
    periods, freq) holds that time, nor on `n` beyond the station's rank.
    """
    err = np.empty((times.size, n))
    missing = np.empty((times.size, n), dtype=bool)
    stamps = times.astype("datetime64[ns]").astype(np.int64)
    for i, stamp in enumerate(stamps):
        entropy = [_SEED, _STATION_ERRORS_KEY, seed, int(stamp) + 2**63]
        u = np.random.default_rng(np.random.SeedSequence(entropy)).random((n, 2))
        err[i] = _STATION_ERROR_STD * special.ndtri(u[:, 0])  # N(0, 0.3 K)
        missing[i] = u[:, 1] < _STATION_MISSING
    return err, missing


def load_sample_stations(
    *,
    start: str = "2020-01-01",
    periods: int | None = None,
    freq: str = "6h",
    n: int = 40,
    seed: int = 0,
) -> xr.Dataset:
    """Synthetic weather stations observing the embedded sample's truth.

    `n` land stations on the label grid (lat 48.0–47.05, lon 9.2–10.75), placed as
    real networks are: every land point of the label grid may get one, with a
    probability that falls with altitude (weight ``exp(-(z - z_min) / 500 m)``), so
    stations crowd the valleys and the lake shore and are rare on summits. As real
    stations do, each stands between grid points (up to 0.02° from its node) and
    at its own altitude, not the grid's: below its cell's orography in valleys, above
    it on summits (-591..+263 m for the default network, 134 m on average). It observes
    the truth at its position and altitude: the labels of :func:`load_sample` (same
    `start`, `periods` and `freq`) interpolated bilinearly, moved from the grid's
    altitude there to the station's along the truth's own dT/dz (the lapse rate
    gamma(t), -6.5 ± 0.6 K/km over the year, and its diurnal part), plus an
    independent N(0, 0.3 K) error; 3 % of observations are missing (NaN). See the
    "Stations" section of ``docs/sample.md``.

    Parameters
    ----------
    start, periods, freq
        The time axis, as in :func:`load_sample`.
    n : int, default 40
        Number of stations (1 to 597, the label grid's land points). The first
        `n` stations of a larger network, with the same `seed`, are the network
        of `n` stations (positions, errors and gaps).
    seed : int, default 0
        Seed of the station positions, errors and gaps (the truth is fixed).

    Returns
    -------
    xarray.Dataset
        The CF discrete-sampling-geometry timeSeries form that
        :func:`stations_from_table` produces: ``t2m`` (K, float64, NaN = missing)
        with dims ``(time, station)``; coordinates ``station`` (ids ``"S01"``,
        ``"S02"``, ... in order of placement), ``latitude``, ``longitude`` (near
        grid points of the labels) and ``altitude`` (the station's own, m; compare
        with the sample's ``orog``).

    Notes
    -----
    Deterministic: positions depend on `n` and `seed` only, never on the time
    axis. The error and the gap at a (station, time) are drawn from a generator
    seeded by that time stamp, so they are the same in every window holding that
    time. The truth itself is :func:`load_sample`'s, which is the same in windows
    with the same `start` and `freq` (a shorter sample is a prefix of a longer
    one) but not across different `start`\\s, and so are the observations.

    Examples
    --------
    >>> from xdeepr.datasets import load_sample, load_sample_stations
    >>> obs = load_sample_stations(periods=8)
    >>> dict(obs.sizes), obs.station.values[:3].tolist()
    ({'time': 8, 'station': 40}, ['S01', 'S02', 'S03'])
    >>> _, labels, static = load_sample(periods=8)
    >>> cell = dict(latitude=obs.latitude, longitude=obs.longitude)
    >>> dz = obs.altitude - static.orog.sel(cell, method="nearest")  # + above its cell
    >>> float(dz.min()) < -300 and float(dz.max()) > 200
    True
    >>> moved = obs.t2m + 0.0065 * dz  # to the cell's altitude at 6.5 K/km
    >>> bool(abs(moved - labels.t2m.sel(cell, method="nearest")).mean() < 0.6)
    True
    """
    key = str(start) if not isinstance(start, str) else start
    if periods is not None:
        periods = int(periods)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"n must be an integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    n, seed = int(n), int(seed)
    _, labels, _ = _cached(key, periods, freq)
    sites = _station_sites(n, seed)
    lat, lon, alt, z_grid = _station_places(sites, seed)
    times = labels["time"].values
    # the truth at the station: bilinear between grid points, moved from the grid's
    # altitude there to the station's along the truth's own dT/dz (gamma(t) + diurnal)
    truth = _bilinear(labels["t2m"].values.astype(np.float64), lat, lon)  # (time, station)
    truth += _lapse_rate(times)[:, None] * (alt - z_grid)[None, :] / 1000.0
    err, missing = _station_errors(times, n, seed)
    values = np.where(missing, np.nan, truth + err)

    # Here, not at the top: ``import xdeepr`` need not import the observations package.
    from xdeepr.observations.cf import attach_cf_coordinates, coord_attrs

    attrs = coord_attrs()
    width = max(2, len(str(n)))
    call = (
        f"xdeepr.datasets.load_sample_stations(start={start!r}, periods={periods!r}, "
        f"freq={freq!r}, n={n!r}, seed={seed!r})"
    )
    obs = xr.Dataset(
        {
            "t2m": (
                ("time", "station"),
                values,
                {
                    "standard_name": "air_temperature",
                    "long_name": "2 metre temperature (station observation)",
                    "units": "K",
                    "comment": "the sample's truth at the station plus N(0, 0.3 K) error; "
                    "3 % missing",
                },
            )
        },
        coords={
            "time": ("time", times, attrs["time"]),
            "station": (
                "station",
                np.asarray([f"S{i + 1:0{width}d}" for i in range(n)]),
                attrs["station"],
            ),
            "latitude": ("station", lat, attrs["latitude"]),
            "longitude": ("station", lon, attrs["longitude"]),
            "altitude": ("station", alt.round(1), attrs["altitude"]),
        },
        attrs={
            "title": "xdeepr sample stations: synthetic 2 m temperature observations",
            "featureType": "timeSeries",
            "source": "xdeepr synthetic sample",
            "Conventions": "CF-1.8",
            "history": f"generated by {call} with xdeepr {__version__}",
            "references": "docs/sample.md in the xdeepr repository",
        },
    )
    return attach_cf_coordinates(obs)
