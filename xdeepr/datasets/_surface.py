"""The embedded sample's 10 m wind and precipitation: hi-res truth, block means, labels.

Generated on demand (``load_sample(variables=...)``) from the same seed machinery as
``t2m`` without touching it: the synoptic coefficients and maps of :mod:`._weather`
and the terrain of :mod:`._terrain` are recomputed (they are deterministic), and
every random number comes from streams of its own, so ``load_sample()`` is
unchanged bit for bit. As for ``t2m``, the truth lives on the whole hi-res grid,
features are its exact 5x5 block means and labels its values on the label domain.
Physics in :mod:`._wind` and :mod:`._precip`; write-up in ``docs/sample.md``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import ndimage

from ._geometry import (
    _DAYS_PER_YEAR,
    _LAT0,
    _LAT_HR,
    _LON0,
    _LON_HR,
    _SEED,
    _block_mean,
)
from ._precip import (
    _ALTITUDE_WEIGHT,
    _LIFT_WEIGHT,
    _RATE,
    _forcing_coefficients,
    _latent_offset,
    _precipitation,
    _shower_coefficients,
    _terrain_slope,
)
from ._terrain import _static_hires
from ._weather import _synoptic_coefficients, _synoptic_maps, _time_axis
from ._wind import (
    _add_gusts,
    _aloft_maps,
    _mixing_coefficients,
    _surface_maps,
    _terrain_operator,
    _uniform_wind,
)

SURFACE_VARIABLES = ("u10", "v10", "tp")
_SURFACE_KEY = 32  # SeedSequence entropy word of the wind's and precipitation's noise
_BLOCK = 128  # time steps generated at once
# Small-scale random fields: (source spacing, Gaussian width (hi-res cells), AR(1) time (h)).
_TURBULENCE = (2, 2.0, 3.0)  # wind gusts: a non-divergent streamfunction
_MESOSCALE = (8, 8.0, 18.0)  # moisture, ~100 km: mostly resolved by the coarse grid
_SHOWERS = (2, 1.5, 3.0)  # convective cells, ~10 km: mostly sub-grid
_TRUNCATE = 3.0  # Gaussian kernels end at 3 sigma
_ASPECT = 1.0 / np.cos(np.radians(47.5))  # hi-res cell width / height, in km


def _kernel(sigma: float, order: int = 0) -> np.ndarray:
    """The discrete Gaussian of `ndimage.gaussian_filter1d`; `order=1`: x[i+1] - x[i-1] of it."""
    delta = np.zeros(2 * int(_TRUNCATE * sigma + 0.5) + 1)
    delta[delta.size // 2] = 1.0
    kernel = ndimage.gaussian_filter1d(delta, sigma, mode="constant", truncate=_TRUNCATE)
    return np.convolve(kernel, [1.0, 0.0, -1.0]) if order else kernel


def _upsample(
    white: np.ndarray, axis: int, step: int, kernel: np.ndarray, start: int, n: int
) -> np.ndarray:
    """Sources every `step` cells, filtered by `kernel`, at cells ``start .. start + n - 1``.

    The same as inserting ``step - 1`` zeros between sources and correlating with
    `kernel` (centred; source ``j`` sits at cell ``step j``), computed phase by phase
    on the sources alone: ``step`` times less work.
    """
    half = kernel.size // 2
    shape = list(white.shape)
    shape[axis] = n
    out = np.empty(shape, np.float32)
    for phase in range(step):
        q0 = (phase - start) % step  # first output cell of this phase
        if q0 >= n:
            continue
        m = np.arange(-((half - phase) // step), (half + phase) // step + 1)
        taps = kernel[step * m - phase + half].astype(np.float32)
        res = ndimage.correlate1d(white, taps, axis=axis, mode="constant")
        first = (start + q0 - phase) // step + m[0] + taps.size // 2
        count = len(range(q0, n, step))
        src = [slice(None)] * white.ndim
        dst = [slice(None)] * white.ndim
        src[axis], dst[axis] = slice(first, first + count), slice(q0, n, step)
        out[tuple(dst)] = res[tuple(src)]
    return out


def _row_std(n: int, margin: int, step: int, kernel: np.ndarray) -> np.ndarray:
    """Std, at each of `n` cells, of white sources every `step` cells filtered by `kernel`.

    Examples
    --------
    >>> kernel = _kernel(2.0)
    >>> bool(abs(_row_std(10, 8, 2, kernel).mean() - np.sqrt((kernel[::2] ** 2).sum())) < 1e-3)
    True
    """
    comb = np.zeros(n + 2 * margin)
    comb[::step] = 1.0
    return np.sqrt(np.convolve(comb, kernel**2, mode="same")[margin : margin + n])


class _Field:
    """A random field on the hi-res grid: AR(1) white sources, Gaussian-filtered.

    Unit-variance white noise on sources every `step` hi-res cells (3 sigma beyond
    the grid), AR(1) in time, filtered by a Gaussian of `sigma` cells (``sigma x
    _ASPECT`` along longitude, so the field is isotropic in km) and divided by its
    mean std: unit variance (within 2 %) everywhere. Narrow kernels filter with
    :mod:`scipy.ndimage`; wide ones (``step >= 4``) are dense weight matrices.
    """

    def __init__(self, seed: np.random.SeedSequence, spec: tuple[int, float, float]) -> None:
        self.step, sigma, self.tau_h = spec
        self.sigma = (sigma, sigma * _ASPECT)
        sizes = (_LAT_HR.size, _LON_HR.size)
        # +1 cell, so that central differences exist at the edges of the grid
        self.margin = tuple(int(np.ceil((3.0 * s + 1) / self.step)) * self.step for s in self.sigma)
        self.shape = tuple(len(range(0, n + 2 * m, self.step)) for n, m in zip(sizes, self.margin))
        # 1 / std of the field and of its central differences along rows and columns:
        # sources every 2 cells modulate the std by < 2 %, left in.
        (y0, y1), (x0, x1) = (
            [float(_row_std(n, m, self.step, _kernel(s, order)).mean()) for order in (0, 1)]
            for n, m, s in zip(sizes, self.margin, self.sigma)
        )
        self.scale = np.float32(1 / (y0 * x0)), np.float32(1 / (y1 * x0)), np.float32(1 / (y0 * x1))
        self.dense = [
            np.exp(
                -0.5 * ((np.arange(n)[:, None] + m - np.arange(0, n + 2 * m, self.step)) / s) ** 2
            )
            for n, m, s in zip(sizes, self.margin, self.sigma)
        ]
        self.dense = [
            (d / np.sqrt((d**2).sum(1, keepdims=True))).astype(np.float32) for d in self.dense
        ]
        self.kernels = tuple(_kernel(s) for s in self.sigma)
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros(self.shape, dtype=np.float32)

    def white(self, dt_h: np.ndarray) -> np.ndarray:
        """AR(1) source noise for steps `dt_h` (hours; 0 restarts), (n, sources_y, sources_x)."""
        out = self.rng.standard_normal((dt_h.size, *self.state.shape), dtype=np.float32)
        rho = np.exp(-dt_h / self.tau_h).astype(np.float32)
        for n in range(dt_h.size):
            self.state *= rho[n]
            self.state += np.sqrt(1.0 - rho[n] ** 2) * out[n]
            out[n] = self.state
        return out

    def _filtered(self, white: np.ndarray, pad: int) -> np.ndarray:
        """The filtered sources, not normalised, on the grid plus `pad` cells each side."""
        (my, mx), (ky, kx) = self.margin, self.kernels
        ny, nx = _LAT_HR.size + 2 * pad, _LON_HR.size + 2 * pad
        # Along longitude on the source rows, then along latitude.
        rows = _upsample(white, 2, self.step, kx, mx - pad, nx)
        return _upsample(rows, 1, self.step, ky, my - pad, ny)

    def values(self, dt_h: np.ndarray) -> np.ndarray:
        """Unit-variance field, (n, lat * lon)."""
        white = self.white(dt_h)
        if self.step >= 4:
            field = self.dense[0] @ (white @ self.dense[1].T)
        else:
            field = self._filtered(white, 0)
            field *= self.scale[0]
        return field.reshape(dt_h.size, -1)

    def curl(self, dt_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flow ``(-dpsi/dy, dpsi/dx)`` of the field ``psi``, each of unit variance, (n, P).

        Central differences; latitude descends, so ``-dpsi/dy`` runs along the rows.
        """
        psi = self._filtered(self.white(dt_h), 1)
        u = np.subtract(psi[:, 2:, 1:-1], psi[:, :-2, 1:-1])
        u *= self.scale[1]
        v = np.subtract(psi[:, 1:-1, 2:], psi[:, 1:-1, :-2])
        v *= self.scale[2]
        return u.reshape(dt_h.size, -1), v.reshape(dt_h.size, -1)


def _step_hours(times: np.ndarray, freq: str) -> np.ndarray:
    """Length of each time step (h): the step ending at each time stamp."""
    hours = np.diff(times).astype("timedelta64[s]").astype(np.float64) / 3600.0
    if hours.size:
        return np.concatenate([hours[:1], hours])
    return np.array([pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds() / 3600])


@functools.lru_cache(maxsize=2)
def _surface_fields(
    start: str, periods: int | None, freq: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (features, labels)}`` of ``u10``, ``v10`` (m/s) and ``tp`` (kg m-2), float32.

    Features are 5x5 block means (T, 20, 32) of the hi-res truth (accumulated in
    float64), labels the truth on the label domain (T, 20, 32). Cached per
    ``(start, periods, freq)``, apart from ``t2m``'s cache.

    Examples
    --------
    >>> fields = _surface_fields("2020-01-01", 4, "6h")
    >>> sorted(fields), fields["tp"][0].shape, fields["tp"][1].dtype
    (['tp', 'u10', 'v10'], (4, 20, 32), dtype('float32'))
    """
    times = _time_axis(start, periods, freq)
    nt = times.size
    orog, lsm = _static_hires()
    lat, lon = np.meshgrid(_LAT_HR, _LON_HR, indexing="ij")
    t_index = pd.DatetimeIndex(times)
    days = (times - np.datetime64("2000-01-01", "ns")) / np.timedelta64(1, "D")
    doy = np.asarray(t_index.day_of_year - 1, dtype=float) + np.asarray(t_index.hour) / 24.0
    hour_local = np.asarray(t_index.hour + t_index.minute / 60.0, dtype=float) + 10.0 / 15.0
    season = np.cos(2 * np.pi * (doy - 200.0) / _DAYS_PER_YEAR)
    diurnal = np.cos(2 * np.pi * (hour_local - 14.5) / 24.0)
    f32 = np.float32
    # Linear parts as coefficients (T, K) @ maps (K, P): the wind aloft G, the 10 m wind
    # before gusts (land and water maps, each with its mixing factor), the lift G . grad z.
    coef = _synoptic_coefficients(days)
    aloft = np.concatenate([_uniform_wind(days), coef], axis=1)
    aloft_coef = aloft.astype(f32)
    gmaps = _aloft_maps(lat, lon)  # (2, K, P)
    mix = _mixing_coefficients(season, diurnal)
    wind_coef = np.concatenate([aloft * mix[:, :1], aloft * mix[:, 1:]], axis=1).astype(f32)
    umaps, vmaps = _surface_maps(gmaps, _terrain_operator(orog, lsm), lsm)
    slope = np.stack([s.ravel() for s in _terrain_slope(orog)])  # (2, P)
    lift_maps = (_LIFT_WEIGHT * np.einsum("ckp,cp->kp", gmaps, slope)).astype(f32)
    # Precipitation: the forcing F, and the latent's offset, altitude and convection.
    force_coef = _forcing_coefficients(coef).astype(f32)
    syn_maps = np.stack([m.ravel() for m in _synoptic_maps(lat, lon)]).astype(f32)
    offset_coef = np.column_stack([_latent_offset(season, diurnal), np.ones(nt)]).astype(f32)
    offset_maps = np.stack([np.ones(lsm.size), lsm.ravel(), _ALTITUDE_WEIGHT * orog.ravel() / 1e3])
    offset_maps = offset_maps.astype(f32)
    shower_coef = _shower_coefficients(season).astype(f32)
    amount = (_RATE * _step_hours(times, freq)).astype(f32)[:, None]  # mm per unit X^1.5
    dt_h = np.diff(days, prepend=days[0]) * 24.0

    seeds = np.random.SeedSequence([_SEED, _SURFACE_KEY]).spawn(3)
    turbulence, meso, showers = (
        _Field(s, spec) for s, spec in zip(seeds, (_TURBULENCE, _MESOSCALE, _SHOWERS))
    )
    out = {
        name: (np.empty((nt, 20, 32), f32), np.empty((nt, 20, 32), f32))
        for name in SURFACE_VARIABLES
    }
    for b0 in range(0, nt, _BLOCK):
        b = slice(b0, min(b0 + _BLOCK, nt))
        nb = b.stop - b.start
        u, v = _add_gusts(wind_coef[b] @ umaps, wind_coef[b] @ vmaps, *turbulence.curl(dt_h[b]))
        tp = _precipitation(
            forcing=force_coef[b] @ syn_maps,
            mesoscale=meso.values(dt_h[b]),
            lift=aloft_coef[b] @ lift_maps,
            offset=offset_coef[b] @ offset_maps,
            showers=(shower_coef[b] @ offset_maps[:2]) * showers.values(dt_h[b]),
            amount=amount[b],
        )
        for name, field in (("u10", u), ("v10", v), ("tp", tp)):
            field = field.reshape(nb, *lat.shape)
            out[name][0][b] = _block_mean(field)
            out[name][1][b] = field[:, _LAT0 : _LAT0 + 20, _LON0 : _LON0 + 32]
    return out
