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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import xarray as xr

from .. import grid
from ..errors import ConfigError

if TYPE_CHECKING:
    from .container import DownscalingModel

__all__ = ["MODEL_BASELINES", "collect_baselines", "named_baseline"]

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


def collect_baselines(
    baseline: Any,
    grid_of: xr.Dataset,
    features: xr.Dataset | None,
    model: DownscalingModel | None,
    as_dataset: Callable[[Any], xr.Dataset] = lambda obj: obj,
) -> tuple[dict[str, xr.Dataset], dict[str, str]]:
    """Baselines on `grid_of`'s grid from names, Datasets, mappings or a list of those.

    A named baseline whose input (`features`, `model`) was not given is skipped, not
    refused: the accessor's ``score(truth)`` works with its defaults and says what it
    left out.

    Parameters
    ----------
    baseline : str, Dataset, mapping, list of those, or None
        What to compare with (see ``Dataset.deepr.score``).
    grid_of : xarray.Dataset
        The fields whose grid and variables the named baselines take.
    features : xarray.Dataset, optional
        The coarse input of the interpolation and model baselines.
    model : DownscalingModel, optional
        The model holding a climatology or regression mean.
    as_dataset : callable
        Turns a given DataArray baseline into a Dataset (the accessor names it).

    Returns
    -------
    baselines : dict
        Name to baseline Dataset.
    skipped : dict
        Name to why it was skipped, e.g. ``{"bicubic": "needs the coarse input
        (features=)"}``.

    Examples
    --------
    >>> import xarray as xr
    >>> collect_baselines("bicubic", xr.Dataset(), None, None)
    ({}, {'bicubic': 'needs the coarse input (features=)'})
    """
    baselines: dict[str, xr.Dataset] = {}
    skipped: dict[str, str] = {}
    for item in baseline if isinstance(baseline, (list, tuple)) else [baseline]:
        if isinstance(item, str):
            needs = []
            if features is None and (item in grid.INTERP_METHODS or item in MODEL_BASELINES):
                needs.append("the coarse input (features=)")
            if model is None and item in MODEL_BASELINES:
                needs.append("the model (model=)")
            if needs:
                skipped[item] = "needs " + " and ".join(needs)
                continue
            baselines[item] = named_baseline(item, grid_of, features, model)
        elif isinstance(item, (xr.Dataset, xr.DataArray)):
            baselines["baseline"] = as_dataset(item)
        elif isinstance(item, Mapping):
            baselines.update({str(k): as_dataset(v) for k, v in item.items()})
        elif item is not None:
            raise ConfigError(f"baseline entries must be names or Datasets, got {item!r}")
    return baselines, skipped
