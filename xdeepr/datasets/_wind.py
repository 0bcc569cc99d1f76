"""The embedded sample's 10 m wind: a geostrophic-like flow aloft, shaped by the terrain.

The flow above the boundary layer, ``G(t, p)``, is the prevailing west-south-westerly
plus a domain-wide anomaly and the geostrophic-like wind of the *same* synoptic waves
that drive ``t2m`` (the waves as a streamfunction: the wind blows along the isotherms,
warm air on its right, as the thermal wind does). Near the surface, at each hi-res
point ``p``, a 2x2 operator ``M(p)`` slows it (more over land than over the lakes,
more over rough terrain and in valleys, less on exposed crests), backs it towards low
pressure (cross-isobaric angle 25° over land, 10° over water) and channels it along
valleys; a diurnal mixing factor ``D(t, p)`` makes land winds strongest in the
afternoon. See "Wind and precipitation" in ``docs/sample.md``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._geometry import _DAYS_PER_YEAR, _HR, _KM_PER_DEG, _LAT_HR, _SEED
from ._weather import _WAVES

_WIND_KEY = 31  # SeedSequence entropy word of the domain-wide wind anomaly
_MEAN_WIND = (3.0, 1.0)  # m/s (east, north): prevailing west-south-westerly aloft
_UNIFORM_WIND_STD, _UNIFORM_WIND_TAU = 2.5, 3.0  # domain-wide anomaly (m/s, days)
_PSI_PER_K = 600.0  # streamfunction per synoptic kelvin: m/s of wind per K/km of gradient
_SURFACE_LAND, _SURFACE_WATER = 0.55, 0.80  # 10 m wind / wind aloft, flat terrain
_ANGLE_LAND, _ANGLE_WATER = 25.0, 10.0  # cross-isobaric angle (deg), backing
_ROUGHNESS_SCALE = 250.0  # m: speed factor 1 / (1 + std / scale), std of the 5x5 orography
_EXPOSURE_SCALE = 500.0  # m: speed factor exp(TPI / scale), TPI = z - smooth(z)
_CHANNEL_MAX, _CHANNEL_TPI, _CHANNEL_GAIN = 0.6, 150.0, 1.3  # valley channelling
_GUST = (0.3, 0.15)  # gust std: m/s + fraction of the local mean speed


def _metric_gradient(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward derivatives of a hi-res field, per km (latitude descends)."""
    dy_km = _HR * _KM_PER_DEG
    dx_km = dy_km * np.cos(np.radians(_LAT_HR))[:, None]
    d_row, d_col = np.gradient(field)
    return d_col / dx_km, -d_row / dy_km


def _wind_maps(lat: np.ndarray, lon: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Eastward and northward wind maps (m/s per unit coefficient) of the synoptic basis.

    The maps of :func:`._weather._synoptic_maps` read as a streamfunction
    ``psi = _PSI_PER_K * W``: ``u = -dpsi/dy``, ``v = dpsi/dx``, analytically (x, y
    in km from 10 E, 47.5 N). The uniform map has no wind. In the order of the
    columns of :func:`._weather._synoptic_coefficients`.
    """
    x_km = (lon - 10.0) * _KM_PER_DEG * np.cos(np.radians(47.5))
    y_km = (lat - 47.5) * _KM_PER_DEG
    umaps, vmaps = [np.zeros_like(lat)], [np.zeros_like(lat)]
    for wavelength, _, _, _, direction in _WAVES:
        k = 2 * np.pi / wavelength
        kx, ky = k * np.cos(np.radians(direction)), k * np.sin(np.radians(direction))
        phase = kx * x_km + ky * y_km
        cos, sin = np.cos(phase), np.sin(phase)
        # d cos(phase) = -sin(phase) (kx, ky); d sin(phase) = cos(phase) (kx, ky).
        umaps += [_PSI_PER_K * ky * sin, -_PSI_PER_K * ky * cos]
        vmaps += [-_PSI_PER_K * kx * sin, _PSI_PER_K * kx * cos]
    return umaps, vmaps


def _uniform_wind(days: np.ndarray) -> np.ndarray:
    """Prevailing wind plus a domain-wide AR(1) anomaly, (time, 2) in m/s (east, north).

    From its own random stream; stronger in winter like the synoptic waves.
    """
    rng = np.random.default_rng(np.random.SeedSequence([_SEED, _WIND_KEY]))
    eps = rng.standard_normal((days.size, 2))
    dt = np.diff(days, prepend=days[0])
    rho = np.exp(-dt / _UNIFORM_WIND_TAU)
    anomaly = np.empty_like(eps)
    anomaly[0] = eps[0]
    for n in range(1, days.size):
        anomaly[n] = rho[n] * anomaly[n - 1] + np.sqrt(1.0 - rho[n] ** 2) * eps[n]
    winter = 1.0 + 0.25 * np.cos(2 * np.pi * (days - 15.0) / _DAYS_PER_YEAR)
    return np.asarray(_MEAN_WIND) + _UNIFORM_WIND_STD * anomaly * winter[:, None]


def _valley_axis(orog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector (east, north) along the valley axis: the direction of least curvature.

    The eigenvector of the smaller eigenvalue of the Hessian of the smoothed
    orography (in km), which runs along a valley floor and across its flanks' fall line.
    """
    smooth = ndimage.gaussian_filter(orog, 2.0, mode="nearest")
    zx, zy = _metric_gradient(smooth)
    zxx, zxy = _metric_gradient(zx)
    _, zyy = _metric_gradient(zy)
    # Smaller eigenvalue's eigenvector of [[zxx, zxy], [zxy, zyy]]: angle θ with
    # tan 2θ = 2 zxy / (zxx - zyy) gives the larger one; the axis is perpendicular.
    theta = 0.5 * np.arctan2(2.0 * zxy, zxx - zyy) + np.pi / 2
    return np.cos(theta), np.sin(theta)


def _terrain_operator(orog: np.ndarray, lsm: np.ndarray) -> np.ndarray:
    """The 2x2 map ``M(p)`` from the wind aloft to the 10 m wind, (2, 2, lat, lon).

    ``M = s(p) [(1 - c) I + c g a a^T] R(alpha)``: rotation by the cross-isobaric
    angle ``alpha`` (backing), channelling along the valley axis ``a`` with strength
    ``c`` (up to 0.6 on valley floors) and gain ``g = 1.3``, and the speed factor
    ``s = s0 (1 + 0.2 z_km) exp(TPI / 500 m) / (1 + std / 250 m)``: ``s0`` 0.55 over
    land and 0.80 over water, stronger aloft, sheltered in valleys (TPI < 0) and
    exposed on crests (TPI > 0), slowed by the sub-grid roughness ``std`` (of the
    orography in a 5x5 window).

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((100, 160), 400.0)  # the hi-res grid
    >>> m = _terrain_operator(flat, np.ones((100, 160)))[:, :, 50, 80]  # flat land
    >>> (m @ [10.0, 0.0]).round(2).tolist()  # 10 m/s westerly: x 0.55 (1 + 0.2 z), backed 25°
    [5.38, 2.51]
    """
    z_km = orog / 1000.0
    tpi = orog - ndimage.gaussian_filter(orog, 4.0, mode="nearest")
    mean = ndimage.uniform_filter(orog, 5, mode="nearest")
    var = ndimage.uniform_filter(orog**2, 5, mode="nearest") - mean**2
    roughness = np.sqrt(np.maximum(var, 0.0))
    exposure = np.clip(np.exp(tpi / _EXPOSURE_SCALE), 0.6, 1.6)
    speed = (_SURFACE_LAND * lsm + _SURFACE_WATER * (1.0 - lsm)) * (1.0 + 0.2 * z_km)
    speed = speed * exposure / (1.0 + roughness / _ROUGHNESS_SCALE)
    alpha = np.radians(_ANGLE_LAND * lsm + _ANGLE_WATER * (1.0 - lsm))
    rot = np.array([[np.cos(alpha), -np.sin(alpha)], [np.sin(alpha), np.cos(alpha)]])
    ax, ay = _valley_axis(orog)
    channel = _CHANNEL_MAX * np.clip(-tpi / _CHANNEL_TPI, 0.0, 1.0) * lsm
    proj = np.array([[ax * ax, ax * ay], [ay * ax, ay * ay]])
    eye = np.eye(2)[:, :, None, None]
    shape = (1.0 - channel) * eye + channel * _CHANNEL_GAIN * proj
    return speed * np.einsum("ijyx,jkyx->ikyx", shape, rot)


def _mixing_coefficients(season: np.ndarray, diurnal: np.ndarray) -> np.ndarray:
    """Time coefficients of the diurnal mixing factor on the maps (lsm, 1 - lsm), (T, 2).

    ``D(t, p) = 1 + lsm (0.15 + 0.07 season) d(t) + (1 - lsm) 0.03 d(t)``: the
    afternoon's deeper mixing brings the wind aloft down over land (±15-22 %, most in
    summer); over the lakes the cycle is small. Written as ``coef @ maps`` with the
    constant 1 on both maps.
    """
    land = 1.0 + (0.15 + 0.07 * season) * diurnal
    water = 1.0 + 0.03 * diurnal
    return np.column_stack([land, water])


def _aloft_maps(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Maps of the wind aloft ``G``, (2 (east, north), K, P), for the coefficients
    ``[prevailing + uniform anomaly (2), synoptic (1 + 2 n_waves)]``."""
    umaps, vmaps = _wind_maps(lat, lon)
    ones, zeros = np.ones(lat.size), np.zeros(lat.size)
    return np.stack(
        [
            np.stack([ones, zeros, *(m.ravel() for m in umaps)]),
            np.stack([zeros, ones, *(m.ravel() for m in vmaps)]),
        ]
    )


def _surface_maps(
    aloft: np.ndarray, operator: np.ndarray, lsm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Maps (2K, P) of the 10 m wind before gusts, ``M G``, on land then on water.

    With the coefficients of ``G`` times the mixing factor over land, then over water
    (:func:`_mixing_coefficients`), a matrix product gives ``D M G``.
    """
    op = operator.reshape(2, 2, -1)
    land = lsm.ravel()
    out = []
    for row in range(2):
        maps = op[row, 0] * aloft[0] + op[row, 1] * aloft[1]  # (K, P)
        out.append(np.concatenate([maps * land, maps * (1.0 - land)]).astype(np.float32))
    return out[0], out[1]


def _add_gusts(
    u: np.ndarray, v: np.ndarray, gust_u: np.ndarray, gust_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """10 m wind ``w + (0.3 + 0.15 |w|) g``, (time, P) each, in m/s.

    `u`, `v`: the wind before gusts ``w = D M G``; `gust_u`, `gust_v`: unit-variance
    non-divergent gusts ``g``. All four arrays are overwritten.
    """
    gust = np.multiply(u, u)
    gust += v * v
    np.sqrt(gust, out=gust)
    gust *= _GUST[1]
    gust += _GUST[0]
    gust_u *= gust
    gust_v *= gust
    u += gust_u
    v += gust_v
    return u, v
