"""The embedded sample's weather: the hi-res truth ``T(t, p)`` and its 5x5 block means.

The physics of the sample (``docs/sample.md``, "How it is made"), for one hi-res
point ``p`` and time ``t`` (temperatures in K, altitude ``z`` in km)::

    T(t, p) = T0(p)                                    # climatology, lake +0.5 K
            + lsm(p) S_land(t) + (1 - lsm(p)) S_water(t)  # seasonal, lake damped/lagged
            + lsm(p) D_land(t, z) + (1 - lsm(p)) D_water(t)  # diurnal, ~4 K land, 0.4 K lake
            + gamma(t) z(p)                            # lapse rate, about -6.5 K/km
            + W(t, p)                                  # synoptic waves, smooth, days
            + sigma(p) N(t, p)                         # small-scale noise, unpredictable

Features are 5x5 block means of ``T`` (0.25°); labels are ``T`` itself on the
reduced DeepR label domain (0.05°). Plain numpy arrays here; :mod:`._package`
makes the CF datasets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from ._geometry import (
    _DAYS_PER_YEAR,
    _KM_PER_DEG,
    _LAT0,
    _LAT_HR,
    _LAT_LAB,
    _LAT_LR,
    _LON0,
    _LON_HR,
    _LON_LAB,
    _LON_LR,
    _SEED,
    _block_mean,
)
from ._terrain import _static_hires

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


def _synoptic_maps(lat: np.ndarray, lon: np.ndarray) -> list[np.ndarray]:
    """Maps of the synoptic basis on `lat`, `lon`, in the order of its coefficients' columns.

    A uniform map (the domain-wide anomaly), then the cosine and sine of each wave's
    phase ``k (x cos(direction) + y sin(direction))``, x and y in km from (10 E, 47.5 N).
    """
    x_km = (lon - 10.0) * _KM_PER_DEG * np.cos(np.radians(47.5))
    y_km = (lat - 47.5) * _KM_PER_DEG
    maps = [np.ones_like(lat)]
    for wavelength, _, _, _, direction in _WAVES:
        k = 2 * np.pi / wavelength
        phase = k * (x_km * np.cos(np.radians(direction)) + y_km * np.sin(np.radians(direction)))
        maps += [np.cos(phase), np.sin(phase)]
    return maps


def _generate(
    start: str, periods: int | None, freq: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, features (T, 20, 32), labels (T, 20, 32), hi-res orography and land mask.

    Time steps are generated in order, in blocks of ``_BLOCK``, so a shorter sample is
    the prefix of a longer one with the same `start` and `freq`.
    """
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
    maps = [
        lsm,  # seasonal + diurnal cycle over land
        1.0 - lsm,  # ... over water: damped, lagged
        z_km,  # lapse rate
        lsm * z_km,  # smaller diurnal range on summits
        *_synoptic_maps(lat, lon),  # uniform synoptic anomaly, then the waves
    ]
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

    return times, features, labels, orog, lsm
