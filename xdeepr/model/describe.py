"""The text a :class:`~xdeepr.model.DownscalingModel` shows as its ``repr``.

One line per part of the model (variables and mean, grids, network, diffusion, what
training chose, transforms, observations, calibration, climatology); kept apart from
the container so that the container holds behaviour only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import transforms as _transforms
from . import calibration

if TYPE_CHECKING:
    from .container import DownscalingModel


def _folds(k: int) -> str:
    """What the repr says of a cross-fitted regression mean's `k` fold nets."""
    return f", cross-fitted: member j about fold net j mod {k}"


def describe(model: DownscalingModel) -> str:
    """The model's ``repr``: identity, variables, grids, network and what training chose.

    Examples
    --------
    >>> print(describe(model).splitlines()[0])  # doctest: +SKIP
    <xdeepr.DownscalingModel 3f2a9c0d1e4b>
    """
    ident = model.identity
    lat, lon = model.label_grid_names
    g = model.label_grid
    s = model.summary
    lines = [
        f"<xdeepr.DownscalingModel {ident}>",
        f"  features: {', '.join(model.features)}  ->  labels: {', '.join(model.labels)}"
        + (f"  (mean: {model.mean}" if model.mean else "")
        + (_folds(len(model.regression_folds)) if model.regression_folds else "")
        + (")" if model.mean else "")
        + (" chosen by validation (mean='auto')" if s.get("mean_choice") else ""),
        f"  label grid: {g.sizes[lat]}x{g.sizes[lon]} ({lat} {float(g[lat][0]):g}.."
        f"{float(g[lat][-1]):g}, {lon} {float(g[lon][0]):g}..{float(g[lon][-1]):g})",
        f"  feature grid: step {abs(model.feature_grid['lat_step']):g}°, coverage "
        f"{model.feature_grid['coverage']}",
        f"  static: {', '.join(model.static_names) or 'none'}",
        f"  network: UNet levels={model.levels} n_channels={model.network.config['n_channels']}"
        f" multipliers={list(model.network.config['channel_multipliers'])}"
        f" parameters={model.n_parameters:,}",
        f"  diffusion: {model.schedule!r}, prediction={model.prediction}",
    ]
    if isinstance(d := model.config.get("distillation"), Mapping):  # xdeepr.distill
        lines.append(f"  distilled: 'onepass', {d['evaluations']} evaluation(s) per member")
    if s:
        lines.append(
            f"  training: {s.get('steps', '?')} steps, {s.get('train_times', '?')} train / "
            f"{s.get('validation_times', '?')} validation times, final loss "
            f"{s.get('train_loss', float('nan')):.4g}, validation loss "
            f"{s.get('validation_loss', float('nan')):.4g}" + _held_out(s)
        )
    sel = s.get("validation", {}).get("selected") if s else None
    if sel:
        lines.append(
            f"  selected weights: step {int(sel['step'])} (validation fair CRPS "
            f"{sel['val_crps']:.4g}, spread-skill {sel['val_spread_skill']:.3g}, RMSE "
            f"{sel['val_rmse']:.4g})"
        )
    if s and s.get("mean_check"):
        lines.append(_mean_check(s["mean_check"]))
    lines += _transforms.describe(model.transforms, model.label_attrs)
    if model.observations:
        lines.append(
            f"  observations: {', '.join(model.observations['variables'])} as condition "
            f"channels (time tolerance {model.observations.get('tolerance') or 'none'})"
        )
    if model.calibration:
        lines.append(f"  calibration: {calibration.describe(model.calibration)}")
    if model.climatology is not None:
        lines.append(
            "  climatology: mean residual by month"
            + (" and hour" if model.climatology.attrs.get("by_hour") else "")
        )
    return "\n".join(lines)


def _held_out(summary: Mapping[str, Any]) -> str:
    """', validation: a season held out (...)' where one was, else ''."""
    choice = summary.get("split_choice") or {}
    split, period = choice.get("split"), summary.get("validation_period")
    if split in (None, "block"):
        return ""
    which = "the last time's season" if split == "season" else split
    auto = ", chosen by validation_split='auto'" if choice.get("requested") == "auto" else ""
    return f", validation: {which} held out{auto}" + (
        f" ({period[0][:10]}..{period[1][:10]})" if period else ""
    )


def _mean_check(check: Mapping[str, Any]) -> str:
    """The repr's line of ``summary["mean_check"]`` (:mod:`xdeepr.training.meancheck`)."""
    each = ", ".join(
        f"{v} {c['rmse_at_members']:.3g} at {c['members']} members against "
        f"{c['static_correction_rmse']:.3g} ({'behind' if c['behind'] else 'ahead'})"
        for v, c in check.get("variables", {}).items()
    )
    return f"  mean check (validation RMSE, ensemble mean vs the static correction): {each}"
