"""The embedded sample's precipitation: a censored latent field with orographic lift.

Precipitation falls where a latent "wetness" ``X(t, p)`` is positive, at a rate that
grows as a power of ``X``, so that it is zero-inflated, intermittent and heavy-tailed::

    X = -0.78 + F(t, p)                        # ascent ahead of the synoptic troughs
          + 0.8 Mu(t, p)                       # mesoscale moisture, ~100 km, ~18 h
          + 3.5 m(t, p) G(t, p) . grad z(p)    # orographic lift: wind aloft (m/s) up the slope
          + 0.35 z(p)                          # wetter aloft (z in km)
          + lsm C(t) + s_c(t, p) N_c(t, p)     # convection: summer afternoons, showers
    m = clip(0.5 + 0.5 (F + Mu), 0, 1)         # lift rains only from moist air
    tp = 0.45 mm/h max(X, 0) ** 1.5 x step length (h)   (kg m-2)

See "Wind and precipitation" in ``docs/sample.md``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._weather import _WAVES
from ._wind import _metric_gradient

_TROUGH_LEAD = np.pi / 2  # phase of the rain ahead of each synoptic trough (rad)
_DRY_OFFSET = 0.78  # a0: sets the dry fraction
_MESO_WEIGHT = 0.8
_LIFT_WEIGHT = 3.5  # per m/s of upslope wind aloft (G . grad z)
_ALTITUDE_WEIGHT = 0.35  # per km
_CONVECTION = 0.7  # summer-afternoon boost of X over land
_SHOWER_STD = 0.45  # std of the small-scale convective term, ...
_SHOWER_SUMMER = 0.35  # ... plus this much over land in summer
_RATE = 0.45  # mm/h at X = 1


def _forcing_coefficients(coef: np.ndarray) -> np.ndarray:
    """Time coefficients, on the synoptic maps, of the large-scale forcing ``F``.

    Each synoptic wave shifted by a quarter wavelength in its direction of travel and
    negated: ``F`` peaks a quarter wavelength ahead of each trough (the cold phase of
    ``W``), where air ascends; normalised by the waves' total std, so ``F`` is about
    unit variance. The uniform map gets no weight.
    """
    out = np.zeros_like(coef)
    c, s = np.cos(_TROUGH_LEAD), np.sin(_TROUGH_LEAD)
    total = float(np.sqrt(sum(w[1] ** 2 for w in _WAVES)))
    for k in range(len(_WAVES)):
        a_cos, a_sin = coef[:, 1 + 2 * k], coef[:, 2 + 2 * k]
        # f(phase - lead) on the (cos, sin) basis
        out[:, 1 + 2 * k] = -(a_cos * c - a_sin * s) / total
        out[:, 2 + 2 * k] = -(a_cos * s + a_sin * c) / total
    return out


def _terrain_slope(orog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward slope (m/m) of the lightly smoothed orography."""
    zx, zy = _metric_gradient(ndimage.gaussian_filter(orog, 1.0, mode="nearest"))
    return zx / 1000.0, zy / 1000.0


def _latent_offset(season: np.ndarray, diurnal: np.ndarray) -> np.ndarray:
    """Time coefficients on the maps (1, lsm) of the latent's offset, (T, 2).

    ``-a0`` everywhere, and convection over land on summer afternoons:
    ``lsm C(t)``, ``C = 0.7 max(season, 0) (1 + d) / 2``.
    """
    conv = _CONVECTION * np.maximum(season, 0.0) * (1.0 + diurnal) / 2.0
    return np.column_stack([np.full_like(season, -_DRY_OFFSET), conv])


def _shower_coefficients(season: np.ndarray) -> np.ndarray:
    """Time coefficients on the maps (1, lsm) of the convective term's std, (T, 2).

    ``s_c = 0.45 + 0.35 lsm max(season, 0)``: stronger showers over land in summer.

    Examples
    --------
    >>> import numpy as np
    >>> _shower_coefficients(np.array([1.0, -1.0])).tolist()
    [[0.45, 0.35], [0.45, 0.0]]
    """
    return np.column_stack(
        [np.full_like(season, _SHOWER_STD), _SHOWER_SUMMER * np.maximum(season, 0.0)]
    )


def _precipitation(
    *,
    forcing: np.ndarray,
    mesoscale: np.ndarray,
    lift: np.ndarray,
    offset: np.ndarray,
    showers: np.ndarray,
    amount: np.ndarray,
) -> np.ndarray:
    """Precipitation amount (kg m-2), (time, P), >= 0, exactly zero where dry.

    ``X = offset + F + 0.8 Mu + m lift + showers`` with the moisture availability
    ``m = clip(0.5 + 0.5 (F + Mu), 0, 1)`` (orographic lift rains only from moist
    air; sinking air on a lee slope dries it); ``tp = amount max(X, 0) ** 1.5``.
    `offset` holds ``-a0``, the altitude term and convection; `showers` the
    small-scale convective term; `lift` is ``b_o G . grad z``; `amount` (time, 1) is
    the rate ``r0`` times the step's length. The arrays are overwritten.

    Examples
    --------
    >>> import numpy as np
    >>> zero, lift = np.zeros((1, 3)), np.array([[0.0, 2.0, -2.0]])
    >>> _precipitation(
    ...     forcing=zero.copy(), mesoscale=zero.copy(), lift=lift, offset=np.full((1, 3), -0.5),
    ...     showers=zero.copy(), amount=np.ones((1, 1)),
    ... ).round(3).tolist()  # m = 0.5: only the windward point rains
    [[0.0, 0.354, 0.0]]
    """
    moist = np.add(forcing, mesoscale)
    moist *= 0.5
    moist += 0.5
    np.clip(moist, 0.0, 1.0, out=moist)
    moist *= lift
    latent = offset
    latent += forcing
    latent += moist
    mesoscale *= _MESO_WEIGHT
    latent += mesoscale
    latent += showers
    np.maximum(latent, 0.0, out=latent)
    tp = np.sqrt(latent)
    tp *= latent
    tp *= amount
    return tp
