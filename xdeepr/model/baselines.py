"""The named baselines of ``score``: interpolations, bicubic + climatology, regression mean.

``hires.deepr.score(truth, baseline=[...], features=coarse, model=model)`` builds each
named baseline here, on the truth's grid:

- ``"bicubic"``, ``"bilinear"``, ``"nearest"``: the coarse input interpolated;
- ``"climatology"``: bicubic plus the training period's mean residual by month (and
  hour of day), stored in the model by :func:`xdeepr.train`
  (:mod:`xdeepr.model.climatology`);
- ``"regression"``: the model's regression mean (``mean="regression"``,
  :mod:`xdeepr.model.mean`), the deterministic downscaler it holds.

Examples
--------
>>> named_baseline("climatology", truth, era5, model)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from .. import grid
from ..errors import ConfigError

if TYPE_CHECKING:
    from .container import DownscalingModel

__all__ = ["MODEL_BASELINES", "named_baseline"]

#: Baselines built from a model: name -> the model attribute it needs.
MODEL_BASELINES = {"climatology": "climatology", "regression": "regression"}


def named_baseline(
    name: str,
    truth: xr.Dataset,
    features: xr.Dataset | None,
    model: DownscalingModel | None = None,
) -> xr.Dataset:
    """The baseline `name` for `truth`'s variables and grid.

    Parameters
    ----------
    name : str
        An interpolation method, ``"climatology"`` or ``"regression"``.
    truth : xarray.Dataset
        The verifying fields: their variables and grid.
    features : xarray.Dataset
        The coarse input.
    model : DownscalingModel, optional
        Needed by ``"climatology"`` and ``"regression"``.

    Raises
    ------
    ConfigError
        For an unknown name, or a missing input or model part, saying what to pass.
    """
    known = (*grid.INTERP_METHODS, *MODEL_BASELINES)
    if name not in known:
        raise ConfigError(
            f"unknown baseline {name!r}; use one of {list(known)}, a Dataset, a mapping of "
            "name to Dataset, a list of those, or None"
        )
    if features is None:
        raise ConfigError(f"baseline={name!r} needs the coarse input: pass features=<Dataset>")
    names = [v for v in truth.data_vars if v in features.data_vars]
    if name in grid.INTERP_METHODS:
        return grid.interpolate(features[names], truth, method=name)
    need = MODEL_BASELINES[name]
    if model is None or getattr(model, need, None) is None:
        how = (
            "(models trained by this xdeepr store one)"
            if need == "climatology"
            else "(train with TrainConfig(mean='regression'))"
        )
        raise ConfigError(
            f"baseline={name!r} needs model=<the DownscalingModel> holding a {need} " + how
        )
    if name == "regression":
        from .mean import regression_mean

        return regression_mean(model, features)
    from .climatology import add_climatology

    bicubic = grid.interpolate(features[names], truth, method="bicubic")
    return add_climatology(model.climatology, bicubic)  # type: ignore[arg-type]
