"""The embedded sample's static fields: synthetic orography and lakes on the hi-res grid.

Rolling hills, five named uplands and an Alps-like band of ridged noise, with a soft
floor and ceiling; four elliptical lakes with flat surfaces and smooth banks. See
"Static fields" in ``docs/sample.md``.
"""

from __future__ import annotations

import numpy as np

from ._geometry import _LAT_HR, _LON_HR, _SEED

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
