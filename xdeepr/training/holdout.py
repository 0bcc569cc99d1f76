"""Which times validate a training run, and what is fitted on them once it ends.

:func:`split_order` puts the paired times in training-then-validation order (the last
``validation_fraction`` of them, or a season held out: ``TrainConfig.validation_split``);
:func:`validation_count` and :func:`validation_indices` say how many validate and which
are sampled; :func:`fit_dry_cuts` fits the precipitation dry cuts on those times
(:mod:`xdeepr.model.drycut`). :func:`xdeepr.train` and :func:`xdeepr.distill` use them
alike.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import InputError, TimeStepWarning
from ..model import drycut

if TYPE_CHECKING:
    from ..model import DownscalingModel
    from .config import TrainConfig

__all__ = [
    "SEASONS",
    "fit_dry_cuts",
    "fit_model_cuts",
    "resolve_split",
    "split_order",
    "validation_count",
    "validation_indices",
]


def validation_count(n: int, cfg: TrainConfig) -> int:
    """Validation times of `n` paired times: the last ``validation_fraction`` (>= 1 if > 0)."""
    n_val = round(cfg.validation_fraction * n) if n > 1 else 0
    return max(1, n_val) if cfg.validation_fraction > 0 and n > 1 else n_val


#: Meteorological seasons, by month.
SEASONS = {"DJF": (12, 1, 2), "MAM": (3, 4, 5), "JJA": (6, 7, 8), "SON": (9, 10, 11)}


def _season_of(month: int) -> str:
    """The meteorological season (a key of :data:`SEASONS`) of `month` (1..12)."""
    return next(k for k, v in SEASONS.items() if int(month) in v)


def resolve_split(time: xr.DataArray, cfg: TrainConfig) -> tuple[str, str]:
    """The split ``cfg.validation_split`` stands for with these times, and why.

    Any split but ``"auto"`` stands for itself. ``"auto"`` (the default) holds out the
    season of the last time (``"season"``) when some meteorological season has no time
    in the data, so that the model will be used where training saw nothing and a block
    of the last times, from the season training ended in, cannot see that shift; and
    only where that season is at most half of the times and not all of them (data of
    one season, or of one month, keep the block). Otherwise ``"block"``.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> from xdeepr import TrainConfig
    >>> half = pd.date_range("2020-01-01", "2020-06-30", freq="D")
    >>> resolve_split(xr.DataArray(half, dims="time"), TrainConfig())[0]
    'season'
    >>> years = pd.date_range("2020-01-01", "2021-06-30", freq="D")
    >>> resolve_split(xr.DataArray(years, dims="time"), TrainConfig())[0]
    'block'
    """
    if cfg.validation_split != "auto":
        return cfg.validation_split, "as configured"
    if cfg.validation_fraction == 0 or time.size < 2:
        return "block", "nothing validates"
    months = np.asarray(time.dt.month.values)
    missing = [k for k, v in SEASONS.items() if not np.isin(months, v).any()]
    if not missing:
        return "block", "every season has times: the last times validate"
    last = _season_of(months[-1])
    share = float(np.isin(months, SEASONS[last]).mean())
    if share > 0.5:
        return "block", (
            f"no time in {'/'.join(missing)}, but {last} (the last time's season) holds "
            f"{share:.0%} of the times: the last times validate"
        )
    return "season", (
        f"no time in {'/'.join(missing)}: {last} (the last time's season, {share:.0%} of the "
        "times) validates, so that validation and calibration see a season training did not"
    )


def split_order(time: xr.DataArray, cfg: TrainConfig) -> tuple[np.ndarray, int]:
    """The paired times' order, training times first, and how many validate (the last).

    ``validation_split="block"``: the times in their order, the last
    ``validation_fraction`` of them validating (a contiguous period held out).
    ``"season"`` or a season's name (``"DJF"``, ``"MAM"``, ``"JJA"``, ``"SON"``): every
    time of that season validates, of every year (``"season"``: the season of the last
    time), so that selection and calibration see a season training did not: the
    validation's spread-skill then says more about skill in another season (BENCHMARKS.md,
    "shift"). Training and validation times each keep their order.
    ``"auto"``: one of these two, as :func:`resolve_split` says.
    ``validation_fraction=0`` validates nothing, whatever the split.

    Raises
    ------
    xdeepr.errors.InputError
        When the season held out has no time, or every time, of the data.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> from xdeepr import TrainConfig
    >>> t = xr.DataArray(pd.date_range("2020-01-01", periods=6, freq="MS"), dims="time")
    >>> order, n_val = split_order(t, TrainConfig(validation_split="MAM"))
    >>> t.dt.month.values[order].tolist(), n_val  # spring held out, the last 3 times
    ([1, 2, 6, 3, 4, 5], 3)
    >>> split_order(t, TrainConfig(validation_split="season"))[1]  # JJA: June
    1
    """
    n = int(time.size)
    split = resolve_split(time, cfg)[0]
    if split == "block" or cfg.validation_fraction == 0 or n < 2:
        return np.arange(n), validation_count(n, cfg)
    months = np.asarray(time.dt.month.values)
    season = split
    if season == "season":
        season = _season_of(months[-1])
    held = np.isin(months, SEASONS[season])
    if held.all() or not held.any():
        present = [k for k, v in SEASONS.items() if np.isin(months, v).any()]
        why = "nothing would be left to train on" if held.any() else f"the times span {present}"
        raise InputError(
            f"validation_split={cfg.validation_split!r} holds out {season}, and "
            f"{'every' if held.any() else 'no'} training time is in it: {why}; hold out "
            "another season or use validation_split='block'"
        )
    return np.concatenate([np.flatnonzero(~held), np.flatnonzero(held)]), int(held.sum())


def validation_indices(n_train: int, n_total: int, cfg: TrainConfig) -> np.ndarray:
    """The times validated: ``validation_times`` evenly spaced over the validation split.

    The split is times ``n_train`` to ``n_total - 1`` (its last times are its end).
    """
    n_val = n_total - n_train
    k = min(cfg.validation_times, n_val)
    if k <= 0:
        return np.array([], dtype=int)
    return n_train + np.unique(np.linspace(0, n_val - 1, k).round().astype(int))


def fit_dry_cuts(
    model: DownscalingModel,
    features: xr.Dataset,
    labels: xr.Dataset,
    times: np.ndarray,
    n_train: int,
    cfg: TrainConfig,
    observations: xr.Dataset | None = None,
) -> DownscalingModel:
    """`model` with the dry cuts of its precipitation-like labels fitted on validation.

    `features` and `labels` are the physical data and `times` the run's paired times
    (the order of the split); on the validation times (:func:`validation_indices`),
    with ``validation_members`` members and the run's seed (:mod:`xdeepr.model.drycut`).
    Nothing for a model without such labels, with ``calibrate=False`` or with fewer
    than 2 validation times.
    """
    idx = validation_indices(n_train, len(times), cfg)
    if not cfg.calibrate or idx.size < 2:
        return model
    at = {"time": times[idx]}
    return fit_model_cuts(
        model,
        features.sel(at),
        labels.sel(at),
        members=cfg.validation_members,
        seed=cfg.seed,
        device=cfg.device,
        observations=observations,
    )


def fit_model_cuts(
    model: DownscalingModel,
    features: xr.Dataset,
    labels: xr.Dataset,
    *,
    members: int,
    seed: int,
    device: str | None = None,
    observations: xr.Dataset | None = None,
) -> DownscalingModel:
    """`model` (changed in place, and returned) with dry cuts fitted on these times.

    Draws `members` members at every time of `features` with every value kept (the
    model's spread calibration applied), fits :func:`~xdeepr.model.drycut.fit_cuts` against `labels`
    (physical units, on the label grid) and sets the enabled cuts in
    ``model.transforms``; the fit is in ``model.summary["dry_cut"]``. A model without
    a non-negative label is returned untouched, without sampling.
    """
    from ..inference import downscale
    from ..options import SamplingOptions

    if (
        not any(t.nonnegative for t in model.transforms.values())
        or features.sizes.get("time", 0) < 2
    ):
        return model
    view = copy.copy(model)
    view.transforms = drycut.uncut(model.transforms, keep_small=True)
    opts = SamplingOptions(members=members, seed=seed, progress=False, device=device)
    with warnings.catch_warnings():  # validation times are spaced out on purpose
        warnings.simplefilter("ignore", TimeStepWarning)
        ens = downscale(features, view, opts, observations=observations).load()
    truth = labels[[v for v in model.labels if v in ens.data_vars]].sel(time=ens["time"])
    lat, lon = model.label_grid_names
    truth = truth.assign_coords({lat: ens[lat].values, lon: ens[lon].values})
    fit = drycut.fit_cuts(truth, ens, model.transforms)
    model.transforms = drycut.with_cuts(model.transforms, fit)
    model.summary["dry_cut"] = fit
    return model
