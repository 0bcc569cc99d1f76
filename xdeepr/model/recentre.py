"""Post-hoc recentring: a regression mean's ensemble mean without its sampling noise.

A model trained with ``mean="regression"`` adds diffusion samples of the residual to
a deterministic mean (:mod:`.mean`); the residual is small, its samples' spread is
not, and the mean of :math:`m` members carries their sampling noise,
:math:`\\sigma^2/m` in variance: on the ``shift`` benchmark's 180-time
in-distribution case that noise made the 10-member mean (0.467 K RMSE) worse than the
regression mean alone (0.438 K). The recentring moves the members towards the
regression mean :math:`d` (the kept net's, :func:`xdeepr.model.mean.regression_mean`,
``ds.deepr.predict_mean(model)``): with :math:`\\bar x` the mean of the members and
:math:`R = \\bar x - d`,

.. math:: x_i' = x_i - (1 - \\alpha_m)\\,R ,\\qquad
   \\alpha_m = \\frac{Q}{Q + \\sigma^2/m},

so the members keep their deviations from their mean (the spread is unchanged) and
their mean becomes :math:`d + \\alpha_m R`, the least-squares estimate, from
:math:`m` members, of the mean an infinite ensemble would have. :math:`Q` is the
variance of that infinite-ensemble departure and :math:`\\sigma^2` the members'
variance, both estimated on the validation ensemble of :math:`m_v` members
(:func:`fit_recentre`; :math:`Q` is the mean square of :math:`R` less
:math:`\\sigma^2/m_v`). The departure the network learnt is kept, only the noise of a
finite ensemble is shrunk: more members, a weight nearer 1. The truth is not used
for the weight, only for the decision: a weight fitted on the validation truth (with
``signal``, recorded: the mean product of the regression mean's error and :math:`R`)
would also shrink a departure without skill there, and out of season the validation
said the opposite of the test (the ``shift`` benchmark's case ``a``).
:func:`xdeepr.model.calibration.fit_calibration` switches the recentring on only
where, fitted on one half of the validation times, it lowers the fair CRPS of the
other half (both ways round), before it fits the spread factor on the recentred
members.

Examples
--------
>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> truth = xr.DataArray(rng.normal(size=(40, 50)), dims=("time", "x"))
>>> learnt = 0.3 * rng.normal(size=(40, 50))  # the departure an infinite ensemble has
>>> ens = xr.DataArray(learnt + rng.normal(size=(4, 40, 50)), dims=("member", "time", "x"))
>>> p = fit_recentre(truth, ens, xr.zeros_like(truth))
>>> round(weight(p, 10), 1)  # 0.09 / (0.09 + 1 / 10)
0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["KIND", "fit_recentre", "shift", "weight"]

#: The recentring's kind, as recorded in a model's calibration.
KIND = "towards the regression mean"


def _arrays(truth: Any, ens: Any, centre: Any, member_dim: str) -> tuple[np.ndarray, ...]:
    """(members (M, N), truth (N,), centre (N,)) at the points finite in all three."""
    ens = ens.transpose(member_dim, ...)
    like = ens.isel({member_dim: 0})
    x = np.asarray(ens.values, dtype="float64").reshape(ens.sizes[member_dim], -1)
    y = np.asarray(truth.broadcast_like(like).transpose(*like.dims).values, "float64").ravel()
    c = np.asarray(centre.broadcast_like(like).transpose(*like.dims).values, "float64").ravel()
    keep = np.isfinite(y) & np.isfinite(c) & np.isfinite(x).all(axis=0)
    return x[:, keep], y[keep], c[keep]


def fit_recentre(truth: Any, ens: Any, centre: Any, member_dim: str = "member") -> dict[str, float]:
    """The validation statistics of :func:`weight` (and the signal, recorded).

    Parameters
    ----------
    truth : xarray.DataArray
        Observations, the ensemble's dims without `member_dim`.
    ens : xarray.DataArray
        The ensemble, with `member_dim` (at least 2 members).
    centre : xarray.DataArray
        The regression mean the members were drawn about, on `truth`'s dims.
    member_dim : str

    Returns
    -------
    dict
        ``{"signal": S, "departure": Q, "noise": sigma2, "members": m_v}``, plain floats.

    Examples
    --------
    >>> import xarray as xr
    >>> y = xr.DataArray([1.0, -1.0], dims="x")
    >>> e = xr.DataArray([[1.0, -1.0], [1.0, -1.0]], dims=("member", "x"))
    >>> fit_recentre(y, e, xr.zeros_like(y))  # the departure is the error: all skill
    {'signal': 1.0, 'departure': 1.0, 'noise': 0.0, 'members': 2}
    """
    x, y, c = _arrays(truth, ens, centre, member_dim)
    m = x.shape[0]
    if m < 2:
        raise ValueError(f"a recentring needs at least 2 members, got {m}")
    if y.size == 0:
        return {"signal": 0.0, "departure": 0.0, "noise": 0.0, "members": int(m)}
    dep = x.mean(axis=0) - c  # R
    noise = float(x.var(axis=0, ddof=1).mean())
    return {
        "signal": float(((y - c) * dep).mean()),
        "departure": max(float((dep**2).mean()) - noise / m, 0.0),
        "noise": noise,
        "members": int(m),
    }


def weight(params: Mapping[str, Any], members: int) -> float:
    """The weight :math:`\\alpha_m = Q / (Q + \\sigma^2/m)` of the departure for `members`.

    Examples
    --------
    >>> weight({"departure": 4.0, "noise": 8.0}, 2)  # 4 / (4 + 8 / 2)
    0.5
    >>> weight({"departure": 0.0, "noise": 1.0}, 10)  # the departure is all noise
    0.0
    >>> weight({"departure": 0.0, "noise": 0.0}, 10)  # nothing to weigh
    1.0
    """
    q = max(float(params["departure"]), 0.0)
    den = q + float(params["noise"]) / max(int(members), 1)
    return 1.0 if den <= 0 else float(np.clip(q / den, 0.0, 1.0))


def shift(ens: xr.DataArray, centre: Any, alpha: float, member_dim: str = "member") -> Any:
    """`ens` with its members moved by ``−(1 − alpha)`` (their mean − `centre`).

    Lazy in, lazy out; attributes and dtype kept.

    Examples
    --------
    >>> import xarray as xr
    >>> e = xr.DataArray([[1.0], [3.0]], dims=("member", "x"))
    >>> shift(e, xr.DataArray([0.0], dims="x"), 0.5).values.ravel().tolist()  # mean 2 -> 1
    [0.0, 2.0]
    """
    move = (1.0 - float(alpha)) * (ens.mean(member_dim) - centre)
    out = (ens - move).transpose(*ens.dims).astype(ens.dtype)
    out.attrs = dict(ens.attrs)
    return out
