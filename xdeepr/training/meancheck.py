"""Is the ensemble mean ahead of the static correction? Checked on the validation times.

The static correction, bicubic plus the training times' mean residual (label −
bicubic), is the correction anyone can make with one line of xarray. A model whose
ensemble mean does worse than it has learnt less than nothing about the mean, and on
real data with few training times that happens (a real climate model under another
scenario: 0.246 against 0.236 K; the ``cmip`` benchmark). :func:`xdeepr.train` checks
it on the validation times with the returned weights, records it in
``model.summary["mean_check"]`` and says so with a :class:`MeanWarning` that suggests
what the model does not already do.

The ensemble mean is judged as ``downscale`` returns it by default, with
:math:`M` = 20 members (:class:`~xdeepr.SamplingOptions`), whatever the validation's
few members: from the validation ensemble's :math:`m` members, the infinite
ensemble's mean square error is
:math:`\\overline{(y - \\bar x)^2} - \\overline{s^2}/m` (:math:`s^2` the members'
variance, ddof 1, the sampling noise removed), and :math:`M` members add
:math:`\\overline{s^2}/M` back. Both RMSEs are recorded, with the number of members
at which the ensemble mean would tie with the static correction (where its limit is
ahead): a mean ahead only in the limit is behind with the members users ask for, as on
the ``cmip`` benchmark. The noise is the raw members'; the recentring of a regression
mean (:mod:`xdeepr.model.recentre`) shrinks it, so such a model is judged a little
harshly. For a cross-fitted regression mean, whose members are drawn about their fold
nets' means, the spread of those means counts as noise. Everything is in the space the
network models (a label's learnt space: log1p for precipitation).

Examples
--------
>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(3)
>>> mu = rng.normal(size=(100, 100))  # what the ensemble's mean converges to
>>> y = xr.Dataset({"t2m": (("time", "x"), mu + 0.3 * rng.normal(size=mu.shape))})
>>> members = mu + rng.normal(size=(4, 100, 100))  # 4 members about it
>>> ens = xr.Dataset({"t2m": (("member", "time", "x"), members)})
>>> static = xr.full_like(y, 0.4)  # the static correction's error: 0.4 everywhere
>>> got = check_mean(y, ens, static)["variables"]["t2m"]
>>> round(got["ensemble_mean_rmse"], 2), round(got["infinite_ensemble_rmse"], 2)
(0.58, 0.3)
>>> round(got["rmse_at_members"], 2), got["members"], got["behind"]  # sqrt(0.09 + 1/20)
(0.37, 20, False)
>>> got["members_to_tie"]  # about 1 / (0.16 - 0.09)
15
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "RULE",
    "MeanWarning",
    "StaticCorrection",
    "check_mean",
    "model_static_correction",
    "record_check",
    "static_correction",
    "warn_if_behind",
]

#: What :func:`check_mean` compares, in words (recorded with the check).
RULE = (
    "the RMSE of the mean of downscale's default number of members (estimated from the "
    "validation ensemble: its mean's error less its members' sampling noise, plus that "
    "noise for the members judged) against the static correction's (bicubic + the "
    "training times' mean residual), on the validation times"
)


class MeanWarning(UserWarning):
    """The returned model's ensemble mean is behind the static correction on validation."""


@dataclass(frozen=True)
class StaticCorrection:
    """The static correction of a training run: its residual and the training mean.

    Holds a reference to the run's residual (no copy); :meth:`errors` computes the
    correction's error at the times asked only.
    """

    residual: xr.Dataset  # label − bicubic, (time, ...) per variable, numpy or dask
    mean: xr.Dataset  # its mean over the training times, computed

    def errors(self, indices: Any) -> xr.Dataset:
        """The correction's error (residual − mean) at `indices` (positions along time)."""
        r = self.residual.isel(time=indices)
        out = {}
        for v in r.data_vars:
            dims = [d for d in r[v].dims if d != "time"]  # wherever time is
            mean = xr.DataArray(self.mean[v].transpose(*dims).values, dims=dims)
            out[v] = (r[v] - mean).transpose(*r[v].dims)
        return xr.Dataset(out).compute()


def static_correction(
    residual: xr.Dataset, train: slice, climatology: xr.Dataset | None = None
) -> StaticCorrection:
    """The static correction fitted on the `train` times of `residual`.

    Parameters
    ----------
    residual : xarray.Dataset
        Label − bicubic, ``(time, ...)`` per variable (numpy or dask).
    train : slice
        The training times (positions along ``time``).
    climatology : xarray.Dataset, optional
        The month x hour climatology fitted on those times' `residual`
        (:func:`~xdeepr.model.climatology.fit_climatology`): the mean is then its
        entries weighted by how many training times each holds, with no pass over the
        data (a lazy `residual` is read once less); without it the mean is computed.

    Returns
    -------
    StaticCorrection

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.date_range("2020-01-31", periods=3, freq="D")  # Jan, Feb, Feb
    >>> values = np.array([1.0, 3.0, 5.0]).reshape(3, 1, 1)
    >>> r = xr.Dataset({"t2m": (("time", "lat", "lon"), values)}, coords={"time": t})
    >>> static_correction(r, slice(0, 3)).errors([0, 1, 2]).t2m.values.ravel().tolist()
    [-2.0, 0.0, 2.0]
    >>> from xdeepr.model.climatology import fit_climatology
    >>> clim = fit_climatology(r)  # January 1, February 4: 1/3 x 1 + 2/3 x 4 = 3
    >>> static_correction(r, slice(0, 3), clim).mean.t2m.values.ravel().tolist()
    [3.0]
    """
    if climatology is None:
        import dask

        (mean,) = dask.compute(residual.isel(time=train).mean("time"))
    else:
        mean = _climatology_mean(climatology, residual["time"].isel(time=train))
    return StaticCorrection(residual, mean)


def model_static_correction(
    model: Any, features: xr.Dataset, target: xr.Dataset, n_train: int
) -> StaticCorrection | None:
    """The static correction of `model`'s bicubic over the first `n_train` times.

    `target` is what `model`'s network learns, in the space it learns it in: label −
    bicubic for ``mean="bicubic"`` (used as it is), the label itself without a mean.
    None where a label is not among `features` (no bicubic of it) or for other means.
    For runs other than ``train``'s (:func:`xdeepr.distill`), which has the residual at
    hand.
    """
    if model.mean == "bicubic":
        residual = target
    elif model.mean is None and all(v in features for v in model.labels):
        base = model.baseline(features)
        residual = xr.Dataset(
            {v: target[v] - base[v].transpose(*target[v].dims) for v in model.labels}
        )
    else:
        return None
    return static_correction(residual, slice(0, n_train))


def _climatology_mean(climatology: xr.Dataset, times: xr.DataArray) -> xr.Dataset:
    """The mean over `times` of the climatology's entry at each: counts times entries."""
    from ..model.climatology import climatology_at

    stamps = times.to_index()
    key = stamps.month * 100 + stamps.hour
    first, counts = np.unique(np.asarray(key), return_index=True, return_counts=True)[1:]
    at = climatology_at(climatology, times.isel(time=first))
    weights = xr.DataArray(counts / counts.sum(), dims="time")
    return (at * weights).sum("time", skipna=False)


def check_mean(
    truth: xr.Dataset,
    ens: xr.Dataset,
    static: xr.Dataset,
    member_dim: str = "member",
    members: int | None = None,
) -> dict[str, Any]:
    """Per variable, the ensemble mean's validation RMSE against the static correction's.

    Parameters
    ----------
    truth : xarray.Dataset
        ``(time, ...)`` per variable: what the network models (the residual about the
        model's mean).
    ens : xarray.Dataset
        ``(member, time, ...)``: the validation ensemble, in `truth`'s space.
    static : xarray.Dataset
        The static correction's error at the same times (:meth:`StaticCorrection.errors`).
    member_dim : str
    members : int, optional
        The ensemble size judged (default: ``downscale``'s, 20).

    Returns
    -------
    dict
        ``{"rule": RULE, "times": n, "members": m, "variables": {v: {...}}}``, plain
        values, per variable: ``ensemble_mean_rmse`` (the validation's `m` members),
        ``infinite_ensemble_rmse``, ``rmse_at_members`` and ``members`` (`members`),
        ``static_correction_rmse``, ``members_to_tie`` (the fewest members whose mean
        would not be behind; None where even the limit is) and ``behind``
        (``rmse_at_members`` above the static correction's).
    """
    if members is None:
        from ..options import SamplingOptions

        members = SamplingOptions().members
    m = int(ens.sizes[member_dim])
    out: dict[str, Any] = {"rule": RULE, "times": int(truth.sizes["time"]), "members": m}
    per: dict[str, dict[str, Any]] = {}
    for v in truth.data_vars:
        y = truth[v]
        x = ens[v].transpose(member_dim, *y.dims).values.astype("float64")
        s = static[v].transpose(*y.dims).values.astype("float64").ravel()
        x, y_ = x.reshape(m, -1), y.values.astype("float64").ravel()
        keep = np.isfinite(y_) & np.isfinite(s) & np.isfinite(x).all(axis=0)  # the same points
        x, y_, s = x[:, keep], y_[keep], s[keep]
        nan = float("nan")
        mse = float(np.mean((y_ - x.mean(axis=0)) ** 2)) if keep.any() else nan
        var = float(np.mean(x.var(axis=0, ddof=1))) if m > 1 and keep.any() else 0.0
        limit = max(mse - var / m, 0.0) if keep.any() else nan  # the infinite ensemble's MSE
        static_mse = float(np.mean(s**2)) if keep.any() else nan
        gap = static_mse - limit
        per[str(v)] = {
            "ensemble_mean_rmse": float(np.sqrt(mse)),
            "infinite_ensemble_rmse": float(np.sqrt(limit)),
            "rmse_at_members": float(np.sqrt(limit + var / members)),
            "members": int(members),
            "static_correction_rmse": float(np.sqrt(static_mse)),
            "members_to_tie": (max(1, int(np.ceil(var / gap))) if gap > 0 else None),
            "behind": bool(limit + var / members > static_mse),
        }
    out["variables"] = per
    return out


def _tips(setup: Mapping[str, Any], tie: int | None = None) -> str:
    """What to try, leaving out what the model already does (`tie`: members to tie)."""
    mean, transformed = setup.get("mean"), bool(setup.get("transformed"))
    tips = [f"downscale(..., members={tie}) or more"] if tie else []
    if mean != "climatology" and not transformed:
        tips.append("mean='climatology' (members about bicubic + the month x hour mean residual)")
    if mean != "regression":
        tips.append("mean='regression' (a cross-fitted regression U-Net)")
    if mean != "auto" and not transformed:
        tips.append("mean='auto' (the mean of least validation RMSE)")
    if setup.get("selection", "skill") == "skill":
        tips.append(
            "selection='calibrated' where the validation times stand for the times you "
            "will downscale (it keeps later, sharper weights and leaves the spread to the "
            "calibration)"
        )
    tips.append("more training times")
    return "; ".join(tips)


def warn_if_behind(check: Mapping[str, Any], setup: Mapping[str, Any] | None = None) -> None:
    """A :class:`MeanWarning` naming the variables whose ensemble mean is behind.

    Parameters
    ----------
    check : mapping
        :func:`check_mean`'s result.
    setup : mapping, optional
        What the model does: ``mean``, ``selection`` and ``transformed`` (whether a
        label is learnt through a transform, where the climatology is not available).

    Examples
    --------
    >>> check = {"times": 12, "members": 4, "variables": {"t2m": {
    ...     "rmse_at_members": 0.25, "members": 20, "infinite_ensemble_rmse": 0.23,
    ...     "static_correction_rmse": 0.24, "members_to_tie": 60, "behind": True}}}
    >>> import pytest
    >>> with pytest.warns(MeanWarning, match="t2m: 0.25 at 20 members .* against 0.24"):
    ...     warn_if_behind(check, {"mean": "bicubic"})
    """
    behind = {v: c for v, c in check.get("variables", {}).items() if c.get("behind")}
    if not behind:
        return

    def limit(c: Mapping[str, Any]) -> str:
        tie = c.get("members_to_tie")
        ahead = f"; level from {tie} members" if tie else ""
        return f"{c['infinite_ensemble_rmse']:.3g} for an infinite ensemble{ahead}"

    shown = ", ".join(
        f"{v}: {c['rmse_at_members']:.3g} at {c['members']} members ({limit(c)}) against "
        f"{c['static_correction_rmse']:.3g}"
        for v, c in behind.items()
    )
    ties = [c.get("members_to_tie") for c in behind.values()]
    tie = max(ties) if all(ties) else None  # more members mend it only if all have a tie
    s = dict(setup or {})
    warnings.warn(
        f"the ensemble mean is behind the static correction (bicubic + the training "
        f"times' mean residual) on the {check.get('times')} validation times: RMSE "
        f"{shown} (estimated from the validation's {check.get('members')} members; the "
        f"model's mean: {s.get('mean')!r}). Try: {_tips(s, tie)}. "
        "model.summary['mean_check'] has the figures.",
        MeanWarning,
        stacklevel=7,  # < record_check < _check_mean < finish < _optimise < train < caller
    )


def record_check(
    model: Any, truth: xr.Dataset, ens: xr.Dataset, static: xr.Dataset, setup: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`check_mean` into ``model.summary["mean_check"]``, and its warning.

    `setup` is what the model does (``mean``, ``selection``); whether a label is learnt
    through a transform is read from `model`.
    """
    check = check_mean(truth, ens, static)
    model.summary["mean_check"] = check
    transforms = (getattr(model, "transforms", None) or {}).values()
    moved = any(getattr(t, "name", "identity") != "identity" for t in transforms)
    asked = "auto" if model.summary.get("mean_choice") else setup.get("mean")  # as asked
    warn_if_behind(check, {**setup, "mean": asked, "transformed": moved})
    return check
