"""The mean the diffusion model corrects: bicubic, climatology, regression, or chosen.

``TrainConfig(mean=...)``:

- ``"bicubic"``: the coarse field interpolated (DeepR's ``learn_residuals``);
- ``"climatology"``: bicubic plus the stored month x hour mean residual of the
  training times (:mod:`xdeepr.model.climatology`): the model starts from the
  correction anyone can make with a lookup table, so its ensemble mean has that
  skill before it learns anything;
- ``"regression"``: bicubic plus a cross-fitted regression U-Net (CorrDiff,
  :mod:`xdeepr.training.regression`);
- ``"auto"``: all three are fitted on the training times and the one whose
  prediction has the lowest RMSE on the validation times (a held-out time block)
  is kept, the others dropped; ties go to the simpler one (bicubic, then
  climatology). The choice and the scores are in ``model.summary["mean_choice"]``,
  the model's repr and an info message of the ``"xdeepr"`` logger.

Examples
--------
>>> import numpy as np, xarray as xr
>>> r = xr.Dataset({"t2m": (("time", "x"), np.ones((4, 2)))})
>>> choose({"bicubic": r, "climatology": r * 0.5, "regression": r * 0.7}, slice(2, 4))[0]
'climatology'
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr

from ..errors import ConfigError
from ..model.climatology import climatology_at
from .regression import fit_regression_mean

if TYPE_CHECKING:
    from ..model import DownscalingModel
    from .config import TrainConfig

__all__ = ["ORDER", "choose", "diffusion_target"]

#: The candidates of ``mean="auto"``, simplest first (ties go to the earlier one).
ORDER = ("bicubic", "climatology", "regression")
log = logging.getLogger("xdeepr")


def choose(left: dict[str, xr.Dataset], validation: slice) -> tuple[str, dict[str, float]]:
    """The mean whose residual `left[name]` has the lowest RMSE over `validation` times.

    Parameters
    ----------
    left : dict of str to xarray.Dataset
        Each candidate's residual (label − mean), ``(time, ...)`` per variable.
    validation : slice
        The validation times (positions along ``time``).

    Returns
    -------
    (str, dict of str to float)
        The choice and every candidate's validation RMSE (mean over variables).
    """
    scores = {}
    for name in (n for n in ORDER if n in left):
        ds = left[name].isel(time=validation)
        scores[name] = float(np.mean([np.sqrt(float((ds[v] ** 2).mean())) for v in ds.data_vars]))
    return min(scores, key=lambda n: (scores[n], ORDER.index(n))), scores


def _minus_climatology(model: DownscalingModel, residual: xr.Dataset) -> xr.Dataset:
    """`residual` − the model's climatology at its times (label − bicubic − climatology)."""
    if model.climatology is None:  # train() fits it before the mean
        raise ConfigError("mean='climatology' needs the model's climatology, fitted first")
    clim = climatology_at(model.climatology, residual["time"])
    out = xr.Dataset(
        {v: residual[v] - clim[v].transpose(*residual[v].dims).values for v in residual.data_vars}
    )
    for v in residual.data_vars:
        out[v].attrs = dict(residual[v].attrs)
    return out


def diffusion_target(
    model: DownscalingModel,
    cfg: TrainConfig,
    condition: xr.DataArray,
    calendar: np.ndarray,
    residual: xr.Dataset,
    static: xr.Dataset | None,
    n_train: int,
    total_steps: int,
    device: torch.device,
) -> xr.Dataset:
    """What the diffusion network learns for ``cfg.mean``; `model` records the mean used.

    `residual` is label − bicubic at every paired time; the climatology must be in
    ``model.climatology`` already. Sets ``model.learn_residuals``, ``model.config["mean"]``
    (``"auto"`` resolved), and for ``"auto"`` ``model.summary["mean_choice"]``.

    Raises
    ------
    ConfigError
        ``mean="auto"`` without validation times.
    """
    mean = cfg.mean
    transformed = [
        v
        for v, t in (getattr(model, "transforms", None) or {}).items()
        if getattr(t, "name", "identity") != "identity"
    ]
    if mean in ("climatology", "auto") and transformed:
        raise ConfigError(
            f"TrainConfig.mean={mean!r} is not available for labels learnt through a "
            f"transform ({transformed}): the climatology is kept in physical units; use "
            "mean='bicubic' or 'regression'"
        )
    if mean == "auto" and residual.sizes["time"] <= n_train:
        raise ConfigError(
            "TrainConfig.mean='auto' chooses the mean by its skill on the validation times, "
            "and there are none: set validation_fraction > 0, or choose the mean "
            "('bicubic', 'climatology' or 'regression')"
        )
    left: dict[str, xr.Dataset] = {}
    if mean in ("bicubic", "auto"):
        left["bicubic"] = residual
    if mean in ("climatology", "auto"):
        left["climatology"] = _minus_climatology(model, residual)
    if mean in ("regression", "auto"):
        left["regression"] = fit_regression_mean(
            model, condition, calendar, residual, static, cfg, n_train, total_steps, device
        )
    if mean == "auto":
        chosen, scores = choose(left, slice(n_train, residual.sizes["time"]))
        model.summary["mean_choice"] = {
            "chosen": chosen,
            "validation_rmse": scores,
            "rule": "the lowest RMSE of the mean on the validation times; ties: the simpler",
        }
        shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        log.info("mean='auto' chose %r (validation RMSE of each mean: %s)", chosen, shown)
        if chosen != "regression":
            model.regression, model.regression_folds, model.mean_scaler = None, None, None
            model.summary.pop("regression_mean", None)
        mean = chosen
    assert mean is not None
    model.learn_residuals = mean == "bicubic"
    model.config["mean"] = mean
    model.config["learn_residuals"] = mean == "bicubic"
    return left[mean]
