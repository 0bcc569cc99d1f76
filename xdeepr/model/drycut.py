"""Dry cuts: a zero-inflated label's ensemble made dry as often as the truth.

A precipitation label is learnt in ``log1p`` space and turned back with a dry
threshold (:mod:`xdeepr.transforms`): every member value below 0.1 mm becomes 0. A
diffusion ensemble drizzles: its members spread small positive amounts where the
truth is dry, and the dry fraction comes out too low (0.525 against the truth's
0.732 on the sample's held-out summer, BENCHMARKS.md "variables"). The dry cut is the
simplest repair that keeps every wet amount a member draws: for each such variable,
on the validation times, with ``p`` the truth's dry fraction (below the threshold),

.. math:: c = \\max\\bigl(\\text{threshold},\\ Q_{\\text{ens}}(p)\\bigr),

the quantile of the validation ensemble's values (spread-calibrated, before any dry
threshold) at ``p``; members below ``c`` become 0 at inference, so over the
validation times the ensemble is dry as often as the truth. It never makes an
ensemble wetter (``c`` is at least the threshold). As for the spread calibration
(:mod:`xdeepr.model.calibration`), the cut is switched on only where it helps held-out
times: the validation times are cut into two contiguous halves, a cut is fitted on
each and the other half's dry-fraction error with it is compared with the error
without; on when it is smaller, both halves summed. The cut is stored in the
transform (:attr:`xdeepr.transforms.Transform.cut`, its ``repr`` and the model file)
and applied by ``downscale(..., calibrate=True)`` (the default); ``calibrate=False``
gives the nominal threshold.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from xdeepr.transforms import Transform
>>> truth = xr.Dataset({"tp": (("time", "x"), [[0.0, 0.0, 0.0, 2.0]] * 4)})
>>> drizzle = [[0.3, 0.2, 0.0, 2.1], [0.4, 0.0, 0.2, 1.9]]  # 2 members
>>> ens = xr.Dataset({"tp": (("member", "time", "x"), [[r] * 4 for r in drizzle])})
>>> fit = fit_cuts(truth, ens, {"tp": Transform("log1p", threshold=0.1)})
>>> fit["tp"]["truth_dry"], fit["tp"]["raw_dry"], fit["tp"]["enabled"]
(0.75, 0.25, True)
>>> 0.3 < fit["tp"]["cut"] < 1.9
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from ..transforms import Transform

__all__ = ["describe", "fit_cuts", "uncut", "with_cuts"]


def _cut_variables(transforms: Mapping[str, Transform]) -> list[str]:
    """The labels a cut applies to: those with a non-negative transform."""
    return [v for v, t in transforms.items() if t.nonnegative]


def uncut(transforms: Mapping[str, Transform], *, keep_small: bool = False) -> dict[str, Transform]:
    """`transforms` with no fitted cut (`keep_small`: a cut at 0, every value kept).

    Examples
    --------
    >>> uncut({"tp": Transform("log1p", threshold=0.1, cut=0.4)})["tp"].cut is None
    True
    """
    return {
        v: replace(t, cut=0.0 if keep_small else None) if t.nonnegative else t
        for v, t in transforms.items()
    }


def _pooled(truth: xr.DataArray, ens: xr.DataArray, member_dim: str) -> tuple[np.ndarray, ...]:
    """Truth values and members' values (M, N) where both are finite."""
    ens = ens.transpose(member_dim, ...)
    x = np.asarray(ens.values, "float64").reshape(ens.sizes[member_dim], -1)
    y = np.asarray(truth.broadcast_like(ens.isel({member_dim: 0})).values, "float64").ravel()
    keep = np.isfinite(y) & np.isfinite(x).all(axis=0)
    return y[keep], x[:, keep]


def _cut(y: np.ndarray, x: np.ndarray, threshold: float) -> float:
    p = float(np.mean(y < threshold)) if y.size else 0.0
    q = float(np.quantile(x, p)) if x.size and p > 0 else 0.0
    return max(threshold, q)


def fit_cuts(
    truth: xr.Dataset,
    ens: xr.Dataset,
    transforms: Mapping[str, Transform],
    member_dim: str = "member",
) -> dict[str, dict[str, Any]]:
    """The dry cut of each non-negative label, fitted on a validation ensemble.

    Parameters
    ----------
    truth : xarray.Dataset
        ``(time, ...)`` per variable, physical units.
    ens : xarray.Dataset
        ``(member, time, ...)``: the ensemble in physical units *before* any dry
        threshold (every value kept: sample with :func:`uncut` ``(keep_small=True)``
        transforms), spread-calibrated as it will be used.
    transforms : mapping of str to Transform
        The model's; only non-negative ones get a cut.
    member_dim : str

    Returns
    -------
    dict
        ``{v: {"cut", "threshold", "enabled", "truth_dry", "raw_dry", "cut_dry",
        "halves_error_raw", "halves_error_cut", "times", "members"}}`` (plain values):
        the fitted cut, whether it is on, the dry fractions of the truth, of the
        ensemble with the threshold and with the cut, and the mean absolute
        dry-fraction error of the cross-fitted halves without and with it.
    """
    n_t = truth.sizes["time"]
    halves = [slice(0, n_t // 2), slice(n_t // 2, n_t)]
    out: dict[str, dict[str, Any]] = {}
    for v in _cut_variables(transforms):
        if v not in truth.data_vars or v not in ens.data_vars:
            continue
        thr = float(transforms[v].threshold)
        y, x = _pooled(truth[v], ens[v], member_dim)
        cut = _cut(y, x, thr)
        err_raw, err_cut = 0.0, 0.0
        for fit_on, score_on in (halves, halves[::-1]):
            yf, xf = _pooled(truth[v].isel(time=fit_on), ens[v].isel(time=fit_on), member_dim)
            ys, xs = _pooled(truth[v].isel(time=score_on), ens[v].isel(time=score_on), member_dim)
            if not (ys.size and xs.size):
                continue
            truth_dry = float(np.mean(ys < thr))
            err_raw += abs(float(np.mean(xs < thr)) - truth_dry)
            err_cut += abs(float(np.mean(xs < _cut(yf, xf, thr))) - truth_dry)
        out[v] = {
            "cut": cut,
            "threshold": thr,
            "enabled": bool(n_t >= 2 and cut > thr and err_cut < err_raw),
            "truth_dry": float(np.mean(y < thr)) if y.size else float("nan"),
            "raw_dry": float(np.mean(x < thr)) if x.size else float("nan"),
            "cut_dry": float(np.mean(x < cut)) if x.size else float("nan"),
            "halves_error_raw": err_raw / 2,
            "halves_error_cut": err_cut / 2,
            "times": int(n_t),
            "members": int(ens.sizes[member_dim]),
        }
    return out


def with_cuts(
    transforms: Mapping[str, Transform], fit: Mapping[str, Mapping[str, Any]]
) -> dict[str, Transform]:
    """`transforms` with the enabled cuts of `fit` (:func:`fit_cuts`) set, the others none.

    Examples
    --------
    >>> t = {"tp": Transform("log1p", threshold=0.1)}
    >>> with_cuts(t, {"tp": {"cut": 0.4, "enabled": True}})["tp"].cut
    0.4
    """
    out = uncut(transforms)
    for v, f in fit.items():
        if f.get("enabled") and v in out:
            out[v] = replace(out[v], cut=float(f["cut"]))
    return out


def describe(transforms: Mapping[str, Transform], applied: bool = True) -> str:
    """The fitted cuts, for an output's ``xdeepr_calibration`` ("" when there are none).

    Examples
    --------
    >>> describe({"tp": Transform("log1p", threshold=0.1, units="mm", cut=0.42)})
    'tp members below 0.42 mm set dry (fitted on validation)'
    >>> describe({"tp": Transform("log1p", threshold=0.1, cut=0.42)}, applied=False)
    ''
    """
    if not applied:
        return ""
    parts = [
        f"{v} members below {t.cut:.3g}{' ' + t.units if t.units else ''} set dry"
        for v, t in transforms.items()
        if t.cut is not None
    ]
    return ", ".join(parts) + " (fitted on validation)" if parts else ""
