"""Post-hoc spread calibration: one factor per variable on the members' deviations.

A diffusion ensemble can be right on average and still too narrow for its error on
new data (BENCHMARKS.md, "shift"). The calibration here is the simplest one that
can repair the size of the spread without touching the ensemble mean: for each
label variable ``v`` and each time and grid point,

.. math:: x_i' = \\bar x + \\kappa_v\\,(x_i - \\bar x), \\qquad
   \\bar x = \\tfrac1m \\textstyle\\sum_j x_j ,

so the ensemble mean, and its RMSE, are unchanged and the spread-skill ratio is
multiplied by :math:`\\kappa_v` whatever the number of members (the members'
variance about their mean scales by :math:`\\kappa_v^2`). :func:`fit_spread` chooses
:math:`\\kappa_v` to minimise the mean CRPS of the scaled ensemble over a validation
ensemble: the CRPS of the scaled members' own (empirical) distribution, the standard
estimator. The fair estimator (Ferro 2014) assumes independent members, and scaled
members are not (they share the ensemble mean): minimising *their* fair CRPS
over-disperses by a factor that grows as the ensemble shrinks (spread-skill 1.23
after calibration at 10 members, 1.86 at 4, against 1.00 for the standard estimator
at any size, on Gaussian ensembles half as spread as their error).
:func:`fit_calibration` fits the factor on the validation times (a held-out time
block) and switches it on only where the factor, fitted on one half of those times,
lowers the *fair* CRPS of the other half, both ways round. :func:`apply` applies it to
an ensemble (lazy or not): each time's members are combined with each other, so a
member's value depends on the seed, its time and the ensemble's members, never on
how the work was chunked.

Examples
--------
>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> truth = xr.DataArray(rng.normal(size=(400, 4)), dims=("time", "x"))
>>> ens = xr.DataArray(0.5 * rng.normal(size=(16, 400, 4)), dims=("member", "time", "x"))
>>> 1.8 < fit_spread(truth, ens) < 2.2  # members half as spread as the error: about 2
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "KIND",
    "active_factors",
    "active_recentre",
    "apply",
    "crossfit_halves",
    "crps_scaled",
    "describe",
    "fit_calibration",
    "fit_spread",
    "recentre_halves",
]

#: The calibration's kind, as recorded in a model and an output's attributes.
KIND = "spread"
#: Factors searched by :func:`fit_spread` (log-spaced, then refined).
FACTOR_RANGE = (0.125, 8.0)


def _deviations(truth: Any, ens: Any, member_dim: str) -> tuple[np.ndarray, ...]:
    """(deviations (M, N), |sorted pairwise| weights term (N,), mean error (N,))."""
    ens = ens.transpose(member_dim, ...)
    x = np.asarray(ens.values, dtype="float64").reshape(ens.sizes[member_dim], -1)  # (M, N)
    y = np.asarray(truth.broadcast_like(ens.isel({member_dim: 0})).values, "float64").ravel()
    keep = np.isfinite(y) & np.isfinite(x).all(axis=0)
    x, y = x[:, keep], y[keep]
    mean = x.mean(axis=0)
    dev = x - mean  # (M, N)
    m = dev.shape[0]
    srt = np.sort(dev, axis=0)
    rank = 2 * np.arange(1, m + 1) - m - 1  # Σ_ij |d_i − d_j| = 2 Σ_i (2i − m − 1) d_(i)
    pairs = 2 * (rank[:, None] * srt).sum(axis=0)  # (N,)
    return dev, pairs, mean - y


def crps_scaled(
    truth: Any, ens: Any, factors: Any, member_dim: str = "member", *, fair: bool = True
) -> np.ndarray:
    """Mean CRPS of ``mean + k (members − mean)`` for each factor ``k`` in `factors`.

    .. math:: \\mathrm{CRPS}(k) = \\tfrac1m \\sum_i |\\bar x - y + k d_i|
       - \\frac{k}{2D} \\sum_{i,j} |d_i - d_j| ,
       \\qquad D = m(m-1) \\ \\text{(fair)}, \\quad D = m^2 \\ \\text{(standard)},

    convex in ``k``; averaged over every point (NaN points left out).

    Examples
    --------
    >>> import xarray as xr
    >>> y = xr.DataArray([0.0], dims="x")
    >>> e = xr.DataArray([[-1.0], [1.0]], dims=("member", "x"))
    >>> crps_scaled(y, e, [0.0, 1.0]).round(3).tolist()  # |0| ; 1 − 2/2
    [0.0, 0.0]
    >>> crps_scaled(y, e, [1.0], fair=False).round(3).tolist()  # 1 − 2/4
    [0.5]
    """
    dev, pairs, err = _deviations(truth, ens, member_dim)
    m = dev.shape[0]
    if m < 2:
        raise ValueError(f"a spread calibration needs at least 2 members, got {m}")
    k = np.atleast_1d(np.asarray(factors, dtype="float64"))
    out = np.empty(k.shape)
    spread = pairs.mean() / (2 * m * ((m - 1) if fair else m))
    for i, ki in enumerate(k):
        out[i] = np.abs(err[None] + ki * dev).mean() - ki * spread
    return out


def fit_spread(truth: Any, ens: Any, member_dim: str = "member") -> float:
    """The factor ``k`` in :data:`FACTOR_RANGE` minimising the scaled ensemble's CRPS.

    The standard (empirical) CRPS of ``mean + k (members − mean)``: its minimum lies
    where the scaled ensemble's spread-skill ratio is about 1, whatever the number of
    members (see the module's docstring for why not the fair one).

    Parameters
    ----------
    truth : xarray.DataArray
        Observations, the ensemble's dims without `member_dim`.
    ens : xarray.DataArray
        The ensemble, with `member_dim` (at least 2 members).
    member_dim : str

    Returns
    -------
    float

    Examples
    --------
    >>> import xarray as xr
    >>> y = xr.DataArray(np.zeros(3), dims="x")
    >>> e = xr.DataArray(np.zeros((2, 3)), dims=("member", "x"))
    >>> fit_spread(y, e)  # no spread to scale: the factor stays 1
    1.0
    """
    dev, _, _ = _deviations(truth, ens, member_dim)
    if dev.shape[0] < 2 or not np.any(dev):
        return 1.0
    lo, hi = np.log(FACTOR_RANGE[0]), np.log(FACTOR_RANGE[1])
    grid = np.exp(np.linspace(lo, hi, 49))
    scores = crps_scaled(truth, ens, grid, member_dim, fair=False)
    i = int(np.argmin(scores))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    g = (np.sqrt(5) - 1) / 2  # golden section on the convex bracket [a, b]
    for _ in range(30):
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = crps_scaled(truth, ens, [c, d], member_dim, fair=False)
        a, b = (a, d) if fc <= fd else (c, b)
    return float((a + b) / 2)


def _spread_skill(truth: Any, ens: Any, member_dim: str) -> float:
    """Spread-skill ratio (Fortin et al. 2014), as :func:`xdeepr.metrics.spread_skill_ratio`."""
    dev, _, err = _deviations(truth, ens, member_dim)
    m = dev.shape[0]
    var = (dev**2).sum(axis=0) / (m - 1)  # members' variance, ddof = 1
    return float(np.sqrt((m + 1) / m * var.mean()) / np.sqrt((err**2).mean()))


def _halves(n_t: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The two (fit on, score on) pairs of contiguous time halves, both ways round."""
    first, second = slice(0, n_t // 2), slice(n_t // 2, n_t)
    return (first, second), (second, first)


def crossfit_halves(truth: Any, ens: Any, member_dim: str = "member") -> tuple[float, float]:
    """Summed fair CRPS of the two time halves, raw and with the factor fitted on the other.

    The times (at least 2) are cut into two contiguous halves; a factor is fitted on
    each half (:func:`fit_spread`) and the scaled ensemble scored on the other.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> y = xr.DataArray(rng.normal(size=(8, 50)), dims=("time", "x"))
    >>> x = xr.DataArray(0.3 * rng.normal(size=(4, 8, 50)), dims=("member", "time", "x"))
    >>> raw, cal = crossfit_halves(y, x)
    >>> bool(cal < raw)
    True
    """
    cross_raw, cross_cal = 0.0, 0.0
    for fit_on, score_on in _halves(truth.sizes["time"]):
        k = fit_spread(truth.isel(time=fit_on), ens.isel(time=fit_on), member_dim)
        yy, xx = truth.isel(time=score_on), ens.isel(time=score_on)
        r, c = crps_scaled(yy, xx, [1.0, k], member_dim)
        cross_raw, cross_cal = cross_raw + float(r), cross_cal + float(c)
    return cross_raw, cross_cal


def fit_calibration(
    truth: xr.Dataset,
    ens: xr.Dataset,
    member_dim: str = "member",
    centre: xr.Dataset | None = None,
) -> dict[str, Any]:
    """Fit the spread factors on a validation ensemble; on where they help held-out times.

    For each variable: the factor fitted on all of `truth`'s times, and a decision: the
    times are cut into two contiguous halves, a factor is fitted on each half and
    scored (fair CRPS) on the other; the calibration is on when the summed
    cross-fitted CRPS is lower than the raw ensemble's on the same times. With a
    `centre` (a regression-mean model's), the recentring (:mod:`.recentre`) is fitted
    and decided the same way first, and the factor is fitted on the recentred members.

    Parameters
    ----------
    truth : xarray.Dataset
        ``(time, ...)`` per variable, the validation truth.
    ens : xarray.Dataset
        ``(member, time, ...)``, the validation ensemble (at least 2 members, 2 times).
    member_dim : str
    centre : xarray.Dataset, optional
        The regression mean the validation members were drawn about (truth's dims).

    Returns
    -------
    dict
        ``{"kind": "spread", "factors": {v: k}, "enabled": {v: bool}, "validation":
        {v: {...fair CRPS and spread-skill raw, calibrated, cross-fitted}}, "times": n,
        "members": m}``, and with a `centre` ``"recentre": {v: {...}}`` (the statistics
        of :func:`~.recentre.fit_recentre` and ``"enabled"``): what :func:`apply` and
        :func:`describe` read, plain values.

    Examples
    --------
    >>> cal = fit_calibration(truth, ens)  # doctest: +SKIP
    >>> cal["factors"], cal["enabled"]  # doctest: +SKIP
    ({'t2m': 1.31}, {'t2m': True})
    """
    n_t = truth.sizes["time"]
    out: dict[str, Any] = {
        "kind": KIND,
        "factors": {},
        "enabled": {},
        "validation": {},
        "times": int(n_t),
        "members": int(ens.sizes[member_dim]),
    }
    for v in truth.data_vars:
        y, x = truth[v], ens[v]
        raw = float(crps_scaled(y, x, [1.0], member_dim)[0])
        ssr_raw = _spread_skill(y, x, member_dim)
        if centre is not None:  # first the mean, then the spread about it
            x = _fit_recentre(out, str(v), y, x, centre[v], member_dim)
        k = fit_spread(y, x, member_dim)
        cal = float(crps_scaled(y, x, [k], member_dim)[0])
        cross_raw, cross_cal = crossfit_halves(y, x, member_dim) if n_t >= 2 else (0.0, 0.0)
        ssr = _spread_skill(y, x, member_dim)  # recentred, where it is on
        out["factors"][str(v)] = k
        out["enabled"][str(v)] = bool(n_t >= 2 and cross_cal < cross_raw)
        out["validation"][str(v)] = {
            "crps_raw": raw,
            "crps_calibrated": cal,
            "crps_raw_halves": cross_raw / 2,
            "crps_crossfitted_halves": cross_cal / 2,
            "spread_skill_raw": ssr_raw,
            "spread_skill_recentred": ssr,  # the raw one where the recentring is off
            "spread_skill_calibrated": ssr * k,
        }
    return out


def recentre_halves(
    truth: Any, ens: Any, centre: Any, member_dim: str = "member"
) -> tuple[float, float]:
    """Summed fair CRPS of the two time halves, raw and recentred as fitted on the other.

    The recentring (:mod:`.recentre`) fitted on each contiguous half of the times, for
    the ensemble's own size, scores the other half.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> y = xr.DataArray(rng.normal(size=(8, 60)), dims=("time", "x"))
    >>> noise = 3 * rng.normal(size=(4, 8, 60))  # a 4-member mean that is mostly noise
    >>> x = xr.DataArray(y.values + noise, dims=("member", "time", "x"))
    >>> raw, moved = recentre_halves(y, x, xr.zeros_like(y))
    >>> bool(moved < raw)
    True
    """
    from .recentre import fit_recentre, shift, weight

    raw, moved = 0.0, 0.0
    for fit_on, score_on in _halves(truth.sizes["time"]):
        p = fit_recentre(
            truth.isel(time=fit_on), ens.isel(time=fit_on), centre.isel(time=fit_on), member_dim
        )
        yy, xx, cc = truth.isel(time=score_on), ens.isel(time=score_on), centre.isel(time=score_on)
        alpha = weight(p, ens.sizes[member_dim])
        raw += float(crps_scaled(yy, xx, [1.0], member_dim)[0])
        moved += float(crps_scaled(yy, shift(xx, cc, alpha, member_dim), [1.0], member_dim)[0])
    return raw, moved


def _fit_recentre(out: dict[str, Any], v: str, y: Any, x: Any, centre: Any, member_dim: str) -> Any:
    """Fit and decide `v`'s recentring into `out`; the members recentred where it is on."""
    from . import recentre

    params: dict[str, Any] = recentre.fit_recentre(y, x, centre, member_dim)
    n_t = y.sizes["time"]
    raw, moved = recentre_halves(y, x, centre, member_dim) if n_t >= 2 else (0, 0)
    params["enabled"] = on = bool(n_t >= 2 and moved < raw)
    params["crps_raw_halves"], params["crps_recentred_halves"] = raw / 2, moved / 2
    out.setdefault("recentre", {})[v] = params
    return recentre.shift(x, centre, recentre.weight(params, x.sizes[member_dim])) if on else x


def active_factors(calibration: Mapping[str, Any] | None) -> dict[str, float]:
    """The factors switched on: ``{variable: k}`` (empty for None or all off).

    Examples
    --------
    >>> active_factors({"factors": {"t2m": 1.5, "u10": 0.9}, "enabled": {"t2m": True,
    ...                 "u10": False}})
    {'t2m': 1.5}
    """
    if not calibration:
        return {}
    on = calibration.get("enabled", {})
    return {str(v): float(k) for v, k in calibration.get("factors", {}).items() if on.get(v)}


def active_recentre(calibration: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The recentrings switched on: ``{variable: statistics}`` (empty for None or all off).

    Examples
    --------
    >>> active_recentre({"recentre": {"t2m": {"signal": 0.1, "enabled": True}}})
    {'t2m': {'signal': 0.1, 'enabled': True}}
    """
    per_var = (calibration or {}).get("recentre") or {}
    return {str(v): dict(p) for v, p in per_var.items() if p.get("enabled")}


def apply(
    ens: xr.Dataset,
    calibration: Mapping[str, Any] | None,
    member_dim: str = "member",
    centre: xr.Dataset | None = None,
) -> xr.Dataset:
    """`ens` recentred towards `centre` and its deviations from the ensemble mean scaled.

    Each variable with an enabled recentring (:mod:`.recentre`, weight for this many
    members) first, then each with an enabled factor. Lazy in, lazy out; attributes
    kept; variables without either untouched.

    Raises
    ------
    ValueError
        When a recentring is on and no `centre` (the regression mean) is given.

    Examples
    --------
    >>> import xarray as xr
    >>> e = xr.Dataset({"t2m": (("member", "x"), [[0.0], [2.0]])})
    >>> cal = {"factors": {"t2m": 2.0}, "enabled": {"t2m": True}}
    >>> apply(e, cal)["t2m"].values.ravel().tolist()
    [-1.0, 3.0]
    """
    factors, moves = active_factors(calibration), active_recentre(calibration)
    if not (factors or moves) or member_dim not in ens.dims:
        return ens
    out = ens.copy()
    if moves:
        from .recentre import shift, weight

        if centre is None:
            raise ValueError(
                f"the calibration recentres {sorted(moves)} towards the regression mean: "
                "pass it as centre= (xdeepr.model.mean.regression_centre)"
            )
        for v, params in moves.items():
            if v in ens.data_vars:
                c = centre[v].transpose(*[d for d in ens[v].dims if d != member_dim])
                alpha = weight(params, ens.sizes[member_dim])
                out[v] = shift(ens[v], c.values if c.chunks is None else c, alpha, member_dim)
    for v, k in factors.items():
        if v not in out.data_vars:
            continue
        da = out[v]
        mean = da.mean(member_dim)
        new = (mean + k * (da - mean)).transpose(*da.dims).astype(da.dtype)
        new.attrs = dict(da.attrs)
        out[v] = new
    return out


def describe(
    calibration: Mapping[str, Any] | None, applied: bool = True, members: int | None = None
) -> str:
    """One line saying what calibration is applied: for reprs and output attributes.

    `members`: the ensemble's size, for the recentring's weight (not shown without it).

    Examples
    --------
    >>> describe({"factors": {"t2m": 1.5}, "enabled": {"t2m": True}})
    'spread x1.5 (t2m) about the ensemble mean, fitted on validation'
    >>> cal = {"factors": {"t2m": 1.0}, "enabled": {"t2m": False}, "recentre": {"t2m":
    ...     {"signal": 1.0, "departure": 4.0, "noise": 8.0, "enabled": True}}}
    >>> for part in describe(cal, members=2).split("; "):
    ...     print(part)
    mean recentred towards the regression mean (t2m: weight 0.5 at 2 members)
    spread off for t2m: it did not improve validation
    >>> describe(None)
    'none'
    """
    if not calibration:
        return "none"
    factors, moves = active_factors(calibration), active_recentre(calibration)
    if not applied:
        return "none (calibrate=False)" if factors or moves else "none"
    off = [v for v in calibration.get("factors", {}) if v not in factors]
    parts = [f"spread x{k:.3g} ({v})" for v, k in factors.items()]
    text = ", ".join(parts) + " about the ensemble mean, fitted on validation" if parts else ""
    if moves:
        from .recentre import weight

        shown = ", ".join(
            v if members is None else f"{v}: weight {weight(p, members):.3g} at {members} members"
            for v, p in moves.items()
        )
        lead = f"mean recentred towards the regression mean ({shown})"
        text = lead + ("; " + text if text else "")
    if off:
        what = "spread off" if moves else "off"
        text = (
            (text + "; " if text else "none (")
            + f"{what} for {', '.join(off)}: it did not improve validation"
            + ("" if text else ")")
        )
    return text or "none"
