"""Plain-text rendering of :func:`xdeepr.metrics.score` output: :func:`format_table`.

A score may leave out baselines that could not be built (``hires.deepr.score(truth)``
without the coarse input has no bicubic baseline): :func:`mark_skipped` says which
and why in the attribute :data:`SKIPPED_BASELINES`, and :func:`format_table` prints
it under the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import xarray as xr

from ..errors import InputError
from .precip import PRECIP_METRICS

__all__ = ["SKIPPED_BASELINES", "format_table", "mark_skipped", "variable_tables"]

#: Attribute of a score Dataset naming the baselines left out and why
#: (``"bicubic: needs the coarse input (features=)"``, several joined by ``"; "``).
SKIPPED_BASELINES = "xdeepr_skipped_baselines"


def mark_skipped(scores: xr.Dataset, skipped: Mapping[str, str]) -> xr.Dataset:
    """`scores` with the baselines in `skipped` (name: why) recorded as left out.

    A copy; nothing is recorded when `skipped` is empty.

    Examples
    --------
    >>> s = mark_skipped(xr.Dataset(), {"bicubic": "needs the coarse input (features=)"})
    >>> s.attrs["xdeepr_skipped_baselines"]
    'bicubic: needs the coarse input (features=)'
    """
    if not skipped:
        return scores
    said = "; ".join(f"{name}: {why}" for name, why in skipped.items())
    return scores.assign_attrs({SKIPPED_BASELINES: said})


#: How to pick the best value in a row of :func:`format_table`.
_BEST: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rmse": lambda v: v,
    "mae": lambda v: v,
    "crps": lambda v: v,
    "mean_error": np.abs,
    "r2": lambda v: -v,
    "spread_skill": lambda v: np.abs(v - 1.0),
    "spectral_ratio": lambda v: np.abs(np.log(v)),
    "dry_fraction_error": np.abs,
    "brier_1mm": lambda v: v,
    "q50_error": np.abs,
    "q90_error": np.abs,
    "q99_error": np.abs,
}


def format_table(scores: xr.Dataset, *, digits: int = 4) -> str:
    """Render :func:`xdeepr.metrics.score` output as a plain-text table, one block per variable.

    Rows are metrics, columns models; the best value of each row is starred
    (lowest error, r2 highest, spread-skill and spectral ratio closest to 1, the
    precipitation errors closest to 0). The precipitation rows of a variable that is
    not precipitation (all NaN) are left out.
    When `scores` has a ``weights`` attribute (as :func:`xdeepr.metrics.score` gives it), a
    line says how the means were weighted; when baselines were skipped
    (:data:`SKIPPED_BASELINES`), a last line names them and why.

    Parameters
    ----------
    scores : xarray.Dataset
        Output of :func:`xdeepr.metrics.score`, reduced to dimensions ``(metric, model)``.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str

    Raises
    ------
    InputError
        When a variable has dimensions besides ``metric`` and ``model``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.Dataset(
    ...     {"t2m": (("metric", "model"), [[1.0, 2.0], [0.9, 0.5]], {"units": "K"})},
    ...     coords={"metric": ["rmse", "r2"], "model": ["xdeepr", "bicubic"]},
    ... )
    >>> print(format_table(s))
    t2m [K]
    metric  xdeepr   bicubic
    rmse         1*        2
    r2         0.9*      0.5
    >>> print(format_table(s.assign_attrs(weights="area (cos latitude)")).splitlines()[-1])
    weights: area (cos latitude)
    >>> print(format_table(mark_skipped(s, {"climatology": "needs model="})).splitlines()[-1])
    skipped baselines: climatology: needs model=
    """
    blocks = []
    for name, da in scores.data_vars.items():
        extra = [d for d in da.dims if d not in ("metric", "model")]
        if extra:
            raise InputError(
                f"variable {name!r} has dimensions {extra} besides metric and model; "
                "reduce them first (e.g. scores.mean(...)) or score with dim=None"
            )
        da = da.transpose("metric", "model").compute()
        metrics = [str(m) for m in da["metric"].values]
        models = [str(m) for m in da["model"].values]
        values = np.asarray(da.values, dtype="float64")
        # precipitation rows of a variable that is not precipitation: all NaN, left out
        keep = [
            i
            for i, m in enumerate(metrics)
            if m not in PRECIP_METRICS or np.isfinite(values[i]).any()
        ]
        metrics, values = [metrics[i] for i in keep], values[keep]
        cells: list[list[str]] = []
        for i, metric in enumerate(metrics):
            row = values[i]
            key = _BEST.get(metric)
            best = -1
            if key is not None and np.isfinite(row).sum() > 1:
                with np.errstate(invalid="ignore", divide="ignore"):
                    ranked = np.where(np.isfinite(row), key(row), np.inf)
                if np.isfinite(ranked).any():
                    best = int(np.argmin(ranked))
            cells.append(
                [
                    ("nan" if not np.isfinite(v) else f"{v:.{digits}g}")
                    + ("*" if j == best else " ")
                    for j, v in enumerate(row)
                ]
            )
        w0 = max(len("metric"), *(len(m) for m in metrics))
        widths = [max(len(m) + 1, *(len(r[j]) for r in cells)) for j, m in enumerate(models)]
        units = da.attrs.get("units")
        lines = [f"{name} [{units}]" if units else str(name)]
        lines.append(
            "  ".join(
                ["metric".ljust(w0), *((m + " ").rjust(w) for m, w in zip(models, widths))]
            ).rstrip()
        )
        for metric, row_cells in zip(metrics, cells):
            lines.append(
                "  ".join(
                    [metric.ljust(w0), *(c.rjust(w) for c, w in zip(row_cells, widths))]
                ).rstrip()
            )
        blocks.append("\n".join(lines))
    weights = scores.attrs.get("weights")
    notes = []
    if weights is not None:
        notes.append(f"weights: {weights}")
    if scores.attrs.get(SKIPPED_BASELINES):
        notes.append(f"skipped baselines: {scores.attrs[SKIPPED_BASELINES]}")
    if notes:
        blocks.append("\n".join(notes))
    return "\n\n".join(blocks)


def variable_tables(
    truth: xr.Dataset,
    prediction: xr.Dataset,
    baselines: Mapping[str, xr.Dataset] | None = None,
    *,
    member_dim: str = "member",
    digits: int = 4,
) -> str:
    """What :func:`format_table` of the scores leaves out, per kind of variable.

    - for each precipitation-like variable (its ``standard_name``): the truth, the
      prediction and each baseline side by side, all values pooled (members too):
      minimum, dry fraction, fraction above 1 mm, quantiles
      (:func:`xdeepr.metrics.precip.precipitation_summary`);
    - for wind given as components (``eastward_wind`` and ``northward_wind``): the
      scores of the wind speed, derived from each member's own ``u`` and ``v``
      (:func:`xdeepr.transforms.wind_speed`), and the baselines'.

    Returns an empty string when there is neither.

    Examples
    --------
    >>> import xarray as xr
    >>> attrs = {"standard_name": "precipitation_amount", "units": "mm"}
    >>> truth = xr.Dataset({"tp": ("x", [0.0, 0.0, 2.0, 5.0], attrs)})
    >>> pred = truth.expand_dims(member=2)
    >>> print(variable_tables(truth, pred).splitlines()[0])
    tp [mm] (all values pooled)
    """
    from ..transforms import wind_pairs, wind_speed
    from .precip import is_precipitation, precipitation_summary
    from .score import score

    baselines = dict(baselines or {})
    blocks = []
    for name in truth.data_vars:
        if name not in prediction.data_vars or not is_precipitation(truth[name]):
            continue
        others = {"xdeepr": prediction[name]}
        others.update({k: b[name] for k, b in baselines.items() if name in b.data_vars})
        summary = precipitation_summary(truth[name], others, member_dim)
        text = format_table(summary.to_dataset(name=f"{name}"), digits=digits)
        head, _, rest = text.partition("\n")
        blocks.append(f"{head} (all values pooled)\n{rest}")
    attrs = {str(k): v.attrs for k, v in truth.data_vars.items()}
    for u, v in wind_pairs(attrs):
        if not {u, v} <= set(map(str, prediction.data_vars)):
            continue
        speed = wind_speed(truth, u, v)
        derived = {
            k: wind_speed(b, u, v) for k, b in baselines.items() if {u, v} <= set(b.data_vars)
        }
        scores = score(speed, wind_speed(prediction, u, v), derived, member_dim=member_dim)
        text = format_table(scores.compute(), digits=digits)
        head, _, rest = text.partition("\n")
        blocks.append(f"{head} (wind speed from each member's {u}, {v})\n{rest}")
    return "\n\n".join(blocks)
