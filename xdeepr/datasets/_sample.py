"""The embedded synthetic sample: ERA5-like features, CERRA-like labels, static fields.

Over 400 lines because one synthetic physical model (terrain, lakes, seasons, diurnal
cycle, weather, noise) generates the features, labels, covariables and stations
together, so they stay consistent with each other.

Everything is generated on the fly from a fixed seed with numpy only, so the sample
needs no download and is identical on every machine. How the fields are built is
written up in ``docs/sample.md``; the short version, for one hi-res point ``p`` and
time ``t`` (temperatures in K, altitude ``z`` in km)::

    T(t, p) = T0(p)                                    # climatology, lake +0.5 K
            + lsm(p) S_land(t) + (1 - lsm(p)) S_water(t)  # seasonal, lake damped/lagged
            + lsm(p) D_land(t, z) + (1 - lsm(p)) D_water(t)  # diurnal, ~4 K land, 0.4 K lake
            + gamma(t) z(p)                            # lapse rate, about -6.5 K/km
            + W(t, p)                                  # synoptic waves, smooth, days
            + sigma(p) N(t, p)                         # small-scale noise, unpredictable

Features are 5x5 block means of ``T`` (0.25°); labels are ``T`` itself on the
reduced DeepR label domain (0.05°).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage, special

from xdeepr.errors import ConfigError

__all__ = ["load_sample", "load_sample_stations"]

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

# Lakes: (name, lon centre, lat centre, semi-major, semi-minor (deg), angle of the
# major axis from east (deg), water level (m)).
_LAKES = (
    ("Constance", 9.45, 47.625, 0.30, 0.085, -26.6, 395.0),
    ("Geneva", 6.55, 46.40, 0.34, 0.065, 14.0, 372.0),
    ("Garda", 10.68, 45.62, 0.22, 0.06, 95.0, 200.0),
    ("Chiemsee", 12.45, 47.87, 0.08, 0.06, 0.0, 518.0),
)
# Named uplands: (lon, lat, height (m), radius (deg)).
_MASSIFS = (
    (8.10, 48.20, 750.0, 0.35),  # Black Forest
    (7.05, 48.15, 650.0, 0.30),  # Vosges
    (6.35, 46.85, 650.0, 0.35),  # Jura
    (13.20, 49.00, 650.0, 0.40),  # Bohemian/Bavarian Forest
    (11.00, 50.00, 450.0, 0.40),  # Thuringian Forest
)

# Synoptic waves: wavelength (km), point std (K), decorrelation time (days),
# phase speed (km/day, ~10 m/s), direction of travel from east (deg).
_WAVES = (
    (3000.0, 2.0, 4.0, 860.0, 10.0),
    (2000.0, 1.6, 3.0, 900.0, -25.0),
    (1400.0, 1.2, 2.5, 780.0, 40.0),
    (900.0, 0.8, 2.0, 700.0, -50.0),
)
_UNIFORM_STD, _UNIFORM_TAU = 3.0, 4.0  # domain-wide anomaly (K, days)
_NOISE_TAU_H = 8.0  # small-scale noise decorrelation time (hours)
_NOISE_SIGMA_CELLS = 1.5  # Gaussian filter width (hi-res cells)

_BLOCK = 512  # time steps generated at once (bounds memory to ~70 MB)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _spectral_field(
    rng: np.random.Generator, shape: tuple[int, int], slope: float, kmin: float, kmax: float
) -> np.ndarray:
    """A unit-variance random field with amplitude spectrum ``|k|^-slope`` in a band.

    Generated on a doubled grid and cropped, so the field does not wrap around.
    """
    ny, nx = 2 * shape[0], 2 * shape[1]
    white = rng.standard_normal((ny, nx))
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.hypot(ky, kx)  # cycles per hi-res cell
    amp = np.where((k >= kmin) & (k <= kmax), np.maximum(k, kmin) ** -slope, 0.0)
    field = np.fft.irfft2(np.fft.rfft2(white) * amp, s=(ny, nx))[: shape[0], : shape[1]]
    return (field - field.mean()) / field.std()


def _static_hires() -> tuple[np.ndarray, np.ndarray]:
    """Synthetic altitude (m) and binary land mask on the hi-res grid, (lat, lon)."""
    rng = np.random.default_rng(np.random.SeedSequence(_SEED).spawn(3)[0])
    lat, lon = np.meshgrid(_LAT_HR, _LON_HR, indexing="ij")
    shape = lat.shape
    # Rolling hills everywhere: fractal field, features down to 2-3 hi-res cells.
    hills = _spectral_field(rng, shape, slope=1.3, kmin=0.01, kmax=0.4)
    # Alps: ridged noise (sharp crests, V valleys) under a band centred on 46.5N.
    ridged = 1.0 - np.abs(_spectral_field(rng, shape, slope=1.0, kmin=0.03, kmax=0.35)) / 2.5
    ridged = np.clip(ridged, 0.0, 1.0) ** 2
    envelope = np.exp(-(((lat - 46.5) / 0.75) ** 2)) * (0.85 + 0.15 * np.sin(0.9 * lon))
    alps = 3000.0 * envelope * (0.25 + 0.75 * ridged)
    texture = 0.6 + 0.4 * _spectral_field(rng, shape, slope=1.0, kmin=0.05, kmax=0.4)
    massifs = sum(
        h * np.exp(-((lon - x) ** 2 + (lat - y) ** 2) / (2.0 * r**2)) * texture
        for x, y, h, r in _MASSIFS
    )
    raw = 380.0 + 160.0 * hills + massifs + alps
    # Soft floor at 200 m and soft ceiling at 3000 m (smooth max / min).
    orog = 200.0 + 60.0 * np.logaddexp(0.0, (raw - 200.0) / 60.0)
    orog = 3000.0 - 150.0 * np.logaddexp(0.0, (3000.0 - orog) / 150.0)
    lsm = np.ones(shape)
    for _, x0, y0, a, b, angle, level in _LAKES:
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        dx, dy = (lon - x0) * np.cos(np.radians(y0)), lat - y0
        r = np.hypot((dx * c + dy * s) / a, (-dx * s + dy * c) / b)  # 1 on the shore
        lsm[r <= 1.0] = 0.0
        # Lake surface flat at its level; the banks rise smoothly to the terrain.
        orog = level + (orog - level) * _smoothstep(r - 1.0)
    return orog, lsm


def _block_mean(a: np.ndarray) -> np.ndarray:
    """Mean over exact 5x5 blocks of the last two axes, accumulated in float64."""
    *lead, ny, nx = a.shape
    blocks = a.reshape(*lead, ny // _FACTOR, _FACTOR, nx // _FACTOR, _FACTOR)
    return blocks.mean(axis=(-3, -1), dtype=np.float64)


def _time_axis(start: str, periods: int | None, freq: str) -> np.ndarray:
    try:
        t0 = pd.Timestamp(start)
        if periods is None:
            end = t0 + pd.DateOffset(years=2)
            times = pd.date_range(t0, end, freq=freq, inclusive="left")
        else:
            if periods < 1:
                raise ValueError(f"periods must be a positive integer, got {periods!r}")
            times = pd.date_range(t0, periods=periods, freq=freq)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cannot build the sample's time axis from start={start!r}, periods={periods!r},"
            f" freq={freq!r}: {err}"
        ) from err
    return np.asarray(times.values).astype("datetime64[ns]")


def _synoptic_coefficients(days: np.ndarray) -> np.ndarray:
    """Time coefficients of the synoptic basis, (time, 1 + 2 * n_waves).

    Column 0 multiplies a uniform map (domain-wide anomaly, AR(1)); then, per wave,
    the real and imaginary parts of a complex AR(1) amplitude rotated by the wave's
    frequency each step, so the wave travels while its amplitude evolves.
    """
    rng = np.random.default_rng(np.random.SeedSequence(_SEED).spawn(3)[1])
    nt = days.size
    dt = np.diff(days, prepend=days[0])  # days; 0 on the first step
    taus = np.array([_UNIFORM_TAU] + [w[2] for w in _WAVES])
    stds = np.array([_UNIFORM_STD] + [w[1] for w in _WAVES])
    omega = np.array([0.0] + [2 * np.pi * w[3] / w[0] for w in _WAVES])  # rad/day
    # Complex state; component 0 stays real. E|z|^2 = 2 std^2 so Re(z e^{ikx}) has std.
    scale = stds * np.sqrt(2.0)
    scale[0] = stds[0]
    eps = rng.standard_normal((nt, taus.size, 2))
    innov = eps[..., 0] + 1j * eps[..., 1] * (np.arange(taus.size) > 0)
    innov[:, 1:] /= np.sqrt(2.0)
    z = np.empty((nt, taus.size), dtype=np.complex128)
    z[0] = scale * innov[0]  # stationary start
    for n in range(1, nt):
        rho = np.exp(-dt[n] / taus)
        z[n] = rho * np.exp(-1j * omega * dt[n]) * z[n - 1]
        z[n] += np.sqrt(1.0 - rho**2) * scale * innov[n]
    # Stronger weather in winter (peak mid-January).
    z *= (1.0 + 0.25 * np.cos(2 * np.pi * (days - 15.0) / _DAYS_PER_YEAR))[:, None]
    cols = [z[:, 0].real]
    for k in range(1, taus.size):
        cols += [z[:, k].real, -z[:, k].imag]  # Re(z e^{iθ}) = Re z cos θ - Im z sin θ
    return np.stack(cols, axis=1)


def _build(start: str, periods: int | None, freq: str) -> tuple[xr.Dataset, ...]:
    times = _time_axis(start, periods, freq)
    nt = times.size
    orog, lsm = _static_hires()
    z_km = orog / 1000.0
    lat, lon = np.meshgrid(_LAT_HR, _LON_HR, indexing="ij")
    npix = lat.size

    # Time in days; day-of-year and hour-of-day from the calendar.
    t_index = pd.DatetimeIndex(times)
    days = (times - np.datetime64("2000-01-01", "ns")) / np.timedelta64(1, "D")
    doy = np.asarray(t_index.day_of_year - 1, dtype=float) + np.asarray(t_index.hour) / 24.0
    hour_local = np.asarray(t_index.hour + t_index.minute / 60.0, dtype=float) + 10.0 / 15.0

    def season(lag_days: float) -> np.ndarray:  # +1 in high summer (20 July + lag)
        return np.cos(2 * np.pi * (doy - 200.0 - lag_days) / _DAYS_PER_YEAR)

    diurnal = np.cos(2 * np.pi * (hour_local - 14.5) / 24.0)  # +1 mid-afternoon
    # Predictable part: climatology map + Σ coefficient(t) x basis map(p).
    t_clim = 284.6 - 0.55 * (lat - 47.5) + 0.5 * (1.0 - lsm)
    x_km = (lon - 10.0) * _KM_PER_DEG * np.cos(np.radians(47.5))
    y_km = (lat - 47.5) * _KM_PER_DEG
    maps = [
        lsm,  # seasonal + diurnal cycle over land
        1.0 - lsm,  # ... over water: damped, lagged
        z_km,  # lapse rate
        lsm * z_km,  # smaller diurnal range on summits
        np.ones_like(lat),  # uniform synoptic anomaly
    ]
    for wavelength, _, _, _, direction in _WAVES:
        k = 2 * np.pi / wavelength
        phase = k * (x_km * np.cos(np.radians(direction)) + y_km * np.sin(np.radians(direction)))
        maps += [np.cos(phase), np.sin(phase)]
    basis = np.stack([m.ravel() for m in maps]).astype(np.float32)  # (M, P)
    coef = np.column_stack(
        [
            9.5 * season(0.0) + (4.0 + 1.0 * season(0.0)) * diurnal,  # land
            7.5 * season(20.0) + 0.4 * diurnal,  # water
            -6.5 - 0.6 * season(0.0),  # lapse rate γ(t), K/km
            -0.6 * diurnal,  # -0.6 K of diurnal amplitude per km
            _synoptic_coefficients(days),
        ]
    ).astype(np.float32)  # (T, M)

    # Unpredictable part: AR(1) in time, Gaussian-filtered in space, unit variance.
    rng = np.random.default_rng(np.random.SeedSequence(_SEED).spawn(3)[2])
    dt_h = np.diff(days, prepend=days[0]) * 24.0
    rho = np.exp(-dt_h / _NOISE_TAU_H).astype(np.float32)
    rho[0] = 0.0
    innov = np.sqrt(1.0 - rho**2).astype(np.float32)
    delta = np.zeros(64)
    delta[32] = 1.0
    # Filtering along both axes multiplies the variance by (Σ g²)², so divide by Σ g².
    kernel_norm = float(np.sum(ndimage.gaussian_filter1d(delta, _NOISE_SIGMA_CELLS) ** 2))
    noise_std = (0.40 + 0.25 * lsm + 0.05 * z_km).ravel() / kernel_norm  # K, ~0.4..0.8
    noise_std = noise_std.astype(np.float32)
    t_clim32 = t_clim.ravel().astype(np.float32)

    features = np.empty((nt, _LAT_LR.size, _LON_LR.size), dtype=np.float32)
    labels = np.empty((nt, _LAT_LAB.size, _LON_LAB.size), dtype=np.float32)
    state = np.zeros(npix, dtype=np.float32)
    for b0 in range(0, nt, _BLOCK):
        b1 = min(b0 + _BLOCK, nt)
        white = rng.standard_normal((b1 - b0, npix), dtype=np.float32)
        for n in range(b1 - b0):  # AR(1): x_n = ρ x_{n-1} + sqrt(1-ρ²) ε_n
            state *= rho[b0 + n]
            state += innov[b0 + n] * white[n]
            white[n] = state
        noise = white.reshape(b1 - b0, *lat.shape)
        noise = ndimage.gaussian_filter1d(noise, _NOISE_SIGMA_CELLS, axis=1, mode="wrap")
        noise = ndimage.gaussian_filter1d(noise, _NOISE_SIGMA_CELLS, axis=2, mode="wrap")
        truth = coef[b0:b1] @ basis  # (nb, P)
        truth += t_clim32
        truth += noise.reshape(b1 - b0, npix) * noise_std
        truth = truth.reshape(b1 - b0, *lat.shape)  # (nb, lat, lon), float32
        features[b0:b1] = _block_mean(truth)
        labels[b0:b1] = truth[:, _LAT0 : _LAT0 + 20, _LON0 : _LON0 + 32]

    return _to_datasets(times, features, labels, orog, lsm, start, periods, freq)


def _lat(values: np.ndarray, name: str = "latitude", **extra: str) -> xr.DataArray:
    attrs = {"standard_name": "latitude", "long_name": "latitude"}
    attrs |= {"units": "degrees_north", "axis": "Y", **extra}
    return xr.DataArray(values.astype(np.float64), dims=name, attrs=attrs)


def _lon(values: np.ndarray, name: str = "longitude", **extra: str) -> xr.DataArray:
    attrs = {"standard_name": "longitude", "long_name": "longitude"}
    attrs |= {"units": "degrees_east", "axis": "X", **extra}
    return xr.DataArray(values.astype(np.float64), dims=name, attrs=attrs)


def _to_datasets(
    times: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    orog: np.ndarray,
    lsm: np.ndarray,
    start: str,
    periods: int | None,
    freq: str,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    from xdeepr import __version__

    call = f"xdeepr.datasets.load_sample(start={start!r}, periods={periods!r}, freq={freq!r})"
    common = {
        "source": "xdeepr synthetic sample",
        "Conventions": "CF-1.8",
        "history": f"generated by {call} with xdeepr {__version__}",
        "references": "docs/sample.md in the xdeepr repository",
    }
    time = xr.DataArray(
        times, dims="time", attrs={"standard_name": "time", "long_name": "time", "axis": "T"}
    )
    t2m_attrs = {
        "standard_name": "air_temperature",
        "long_name": "2 metre temperature",
        "units": "K",
    }
    fcoords = {"time": time, "latitude": _lat(_LAT_LR), "longitude": _lon(_LON_LR)}
    lcoords = {"time": time, "latitude": _lat(_LAT_LAB), "longitude": _lon(_LON_LAB)}
    dims = ("time", "latitude", "longitude")
    feats = xr.Dataset(
        {
            "t2m": xr.DataArray(
                features,
                dims=dims,
                coords=fcoords,
                attrs={**t2m_attrs, "cell_methods": "area: mean"},
            )
        },
        attrs={
            "title": "xdeepr sample features: ERA5-like 2 m temperature, 0.25° area means",
            **common,
        },
    )
    labs = xr.Dataset(
        {"t2m": xr.DataArray(labels, dims=dims, coords=lcoords, attrs=t2m_attrs)},
        attrs={"title": "xdeepr sample labels: CERRA-like 2 m temperature, 0.05°", **common},
    )

    orog_attrs = {"standard_name": "surface_altitude", "long_name": "orography", "units": "m"}
    lsm_attrs = {
        "standard_name": "land_binary_mask",
        "long_name": "land-sea mask (1 land, 0 water)",
        "units": "1",
    }
    lsm_coarse_attrs = {
        "standard_name": "land_area_fraction",
        "long_name": "land fraction of the coarse cell",
        "units": "1",
    }
    hr = (slice(_LAT0, _LAT0 + 20), slice(_LON0, _LON0 + 32))
    scoords = {
        "latitude": _lat(_LAT_LAB),
        "longitude": _lon(_LON_LAB),
        "latitude_coarse": _lat(_LAT_LR, "latitude_coarse", long_name="latitude (coarse grid)"),
        "longitude_coarse": _lon(_LON_LR, "longitude_coarse", long_name="longitude (coarse grid)"),
    }
    hdims, cdims = ("latitude", "longitude"), ("latitude_coarse", "longitude_coarse")
    static = xr.Dataset(
        {
            "orog": (hdims, orog[hr].astype(np.float32), orog_attrs),
            "lsm": (hdims, lsm[hr].astype(np.float32), lsm_attrs),
            "orog_coarse": (cdims, _block_mean(orog).astype(np.float32), orog_attrs),
            "lsm_coarse": (cdims, _block_mean(lsm).astype(np.float32), lsm_coarse_attrs),
        },
        coords=scoords,
        attrs={
            "title": "xdeepr sample static fields: orography and land-sea mask, 0.05° and 0.25°",
            **common,
        },
    )
    return feats, labs, static


@functools.lru_cache(maxsize=4)
def _cached(start: str, periods: int | None, freq: str) -> tuple[xr.Dataset, ...]:
    return _build(start, periods, freq)


def load_sample(
    *,
    start: str = "2020-01-01",
    periods: int | None = None,
    freq: str = "6h",
    covariables: bool = False,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Load the embedded synthetic sample: coarse features, hi-res labels, static fields.

    The sample mimics DeepR's reduced development domain: ERA5-like 2 m temperature
    at 0.25° over lon 6.0–13.75, lat 50.0–45.25 (32×20) and CERRA-like 2 m
    temperature at 0.05° over lon 9.2–10.75, lat 48.0–47.05 (32×20). It is made
    on the fly from a fixed seed (no download) as one hi-res "truth" over the
    whole feature coverage: a climatology, seasonal and diurnal cycles with a
    land–lake contrast, a lapse rate on synthetic orography, travelling synoptic
    waves and small-scale spatially correlated noise. Features are 5×5 block means
    of the truth, labels are the truth on the label domain. The orography, lake
    and lapse-rate structure is predictable from the static fields; the noise is
    not. See ``docs/sample.md`` for the formulas.

    Parameters
    ----------
    start : str, default "2020-01-01"
        First time step (anything :class:`pandas.Timestamp` parses).
    periods : int, optional
        Number of time steps. By default, two calendar years from `start`
        (2924 six-hourly steps from 2020-01-01: 2020 is a leap year).
    freq : str, default "6h"
        Time step, as a pandas frequency string.
    covariables : bool, default False
        Add the coarse meteorological covariable ``t850`` (air temperature at
        850 hPa, K) to the features: the same synoptic weather and seasonal cycle as
        ``t2m``, lifted 1.5 km along the day's lapse rate, without the surface's diurnal
        cycle, lakes and orography, plus its own small noise (``docs/sample.md``,
        "Covariable"). Everything else is unchanged, bit for bit.

    Returns
    -------
    features : xarray.Dataset
        ``t2m`` (K), float32, dims ``(time, latitude, longitude)``, 20×32 at
        0.25°, latitude descending.
    labels : xarray.Dataset
        ``t2m`` (K), float32, dims ``(time, latitude, longitude)``, 20×32 at
        0.05°, latitude descending.
    static : xarray.Dataset
        ``orog`` (m) and ``lsm`` (0 water, 1 land) on the label grid
        (``latitude``, ``longitude``, equal to the labels' coordinates), and
        ``orog_coarse`` (m) and ``lsm_coarse`` (land fraction) on the feature grid
        (``latitude_coarse``, ``longitude_coarse``, equal to the features'
        coordinates and carrying CF latitude/longitude attributes).

    Notes
    -----
    Results are cached per process for each ``(start, periods, freq)``; every
    call returns fresh deep copies, so modifying them does not affect later
    calls. Time steps are generated in order, so a shorter sample is the prefix
    of a longer one with the same `start` and `freq` (to float32 rounding).

    Examples
    --------
    >>> from xdeepr.datasets import load_sample
    >>> features, labels, static = load_sample(periods=8)
    >>> features.t2m.shape, labels.t2m.shape
    ((8, 20, 32), (8, 20, 32))
    >>> float(labels.latitude[0]), float(labels.longitude[0])
    (48.0, 9.2)
    >>> sorted(static.data_vars)
    ['lsm', 'lsm_coarse', 'orog', 'orog_coarse']
    """
    key = str(start) if not isinstance(start, str) else start
    if periods is not None:
        periods = int(periods)
    result = _cached(key, periods, freq)
    out = tuple(ds.copy(deep=True) for ds in result)
    if covariables:
        from ._covariables import _t850

        feats = out[0]
        feats["t850"] = (
            ("time", "latitude", "longitude"),
            _t850(key, periods, freq).copy(),
            {
                "standard_name": "air_temperature",
                "long_name": "temperature at 850 hPa",
                "units": "K",
                "cell_methods": "area: mean",
            },
        )
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Synthetic stations (additive: nothing above changes, so load_sample is unchanged)
# --------------------------------------------------------------------------------------

_STATION_ERROR_STD = 0.3  # K, observation error
_STATION_MISSING = 0.03  # probability that an observation is missing
_STATION_HEIGHT_SCALE = 500.0  # m: placement weight exp(-(z - z_min) / scale)
_STATION_SITES_KEY = 11  # SeedSequence entropy words, apart from the truth's
_STATION_ERRORS_KEY = 12


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
    stations crowd the valleys and the lake shore and are rare on summits. A
    station sits exactly on its grid point and observes the truth there (the
    labels of :func:`load_sample` with the same `start`, `periods` and `freq`) plus
    an independent N(0, 0.3 K) error; 3 % of observations are missing (NaN). See
    the "Stations" section of ``docs/sample.md``.

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
        ``"S02"``, ... in order of placement), ``latitude``, ``longitude`` (grid
        points of the labels) and ``altitude`` (the sample's ``orog`` there, m).

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
    >>> _, labels, _ = load_sample(periods=8)
    >>> truth = labels.t2m.sel(latitude=obs.latitude, longitude=obs.longitude)
    >>> bool(abs(obs.t2m - truth).max() < 1.5)
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
    _, labels, static = _cached(key, periods, freq)
    sites = _station_sites(n, seed)
    rows, cols = np.unravel_index(sites, (_LAT_LAB.size, _LON_LAB.size))
    times = labels["time"].values
    truth = labels["t2m"].values[:, rows, cols].astype(np.float64)  # (time, station)
    err, missing = _station_errors(times, n, seed)
    values = np.where(missing, np.nan, truth + err)

    from xdeepr import __version__
    from xdeepr.datasets._observations import _attach_cf_coordinates, _coord_attrs

    attrs = _coord_attrs()
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
            "latitude": ("station", _LAT_LAB[rows].astype(np.float64), attrs["latitude"]),
            "longitude": ("station", _LON_LAB[cols].astype(np.float64), attrs["longitude"]),
            "altitude": (
                "station",
                static["orog"].values[rows, cols].astype(np.float64),
                attrs["altitude"],
            ),
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
    return _attach_cf_coordinates(obs)
