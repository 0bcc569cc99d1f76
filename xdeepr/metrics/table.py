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

__all__ = ["SKIPPED_BASELINES", "format_table", "mark_skipped"]

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
}


def format_table(scores: xr.Dataset, *, digits: int = 4) -> str:
    """Render :func:`xdeepr.metrics.score` output as a plain-text table, one block per variable.

    Rows are metrics, columns models; the best value of each row is starred
    (lowest error, r2 highest, spread-skill and spectral ratio closest to 1).
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
