"""Fit a model's post-hoc spread calibration on held-out data of one's own.

:func:`xdeepr.train` fits the calibration on its validation times
(:meth:`~xdeepr.training.validation.SkillValidation.calibrate`). Where a user has
labels of another period, season or climate than the training's, fitting it there
tells the model how far its spread falls short *under that shift*:
:func:`recalibrate` samples the raw ensemble at those times and refits the factors
(:func:`xdeepr.model.calibration.fit_calibration`; a regression-mean model's
recentring too, :mod:`xdeepr.model.recentre`), on where they improve the fair
CRPS of held-out halves of those times. The dry cuts of precipitation-like labels
(:mod:`xdeepr.model.drycut`) are refitted on the same draw.

Examples
--------
>>> m2 = recalibrate(model, era5_2021, cerra_2021, members=10)  # doctest: +SKIP
>>> m2.calibration["factors"]  # doctest: +SKIP
{'t2m': 1.27}
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import InputError

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["recalibrate"]


def recalibrate(
    model: DownscalingModel,
    features: xr.Dataset,
    labels: xr.Dataset,
    *,
    members: int = 10,
    seed: int = 0,
    steps: int | None = None,
) -> DownscalingModel:
    """A copy of `model` whose spread calibration (and dry cuts) are fitted on these data.

    Parameters
    ----------
    model : DownscalingModel
    features : xarray.Dataset
        Coarse input at the calibration times (as for ``downscale``).
    labels : xarray.Dataset
        The truth at those times, on the model's label grid (the label variables).
    members : int
        Ensemble size drawn at each time (>= 2).
    seed : int
        Noise seed of the draw.
    steps : int, optional
        Sampler steps (default: the model's).

    Returns
    -------
    DownscalingModel
        With ``calibration`` (and the transforms' dry cuts) refitted (a new identity);
        `model` is unchanged.

    Raises
    ------
    xdeepr.errors.InputError
        With fewer than 2 shared times or members, or labels lacking a variable.

    Examples
    --------
    >>> m2 = recalibrate(model, f_test, l_test)  # doctest: +SKIP
    """
    from ..inference import downscale
    from ..model.calibration import apply, fit_calibration
    from ..model.drycut import fit_cuts, uncut, with_cuts
    from ..options import SamplingOptions
    from ..transforms import forward, inverse

    missing = [v for v in model.labels if v not in labels.data_vars]
    if missing:
        raise InputError(f"the labels lack the model's variable(s) {missing}")
    if members < 2:
        raise InputError(f"a spread calibration needs at least 2 members, got members={members}")
    times = features.indexes["time"].intersection(labels.indexes["time"])
    if len(times) < 2:
        raise InputError(
            f"recalibrate needs at least 2 times shared by features and labels, got {len(times)}"
        )
    opts = SamplingOptions(members=members, seed=seed, steps=steps, progress=False, calibrate=False)
    view = copy.copy(model)  # every value kept (no dry threshold): the cuts are refitted
    view.transforms = uncut(model.transforms, keep_small=True)
    ens = downscale(features.sel(time=times), view, opts)
    truth = labels[model.labels].sel(time=times)
    lat, lon = model.label_grid_names
    for name in (lat, lon):
        ok = name in truth.coords and truth.sizes.get(name) == ens.sizes[name]
        if not ok or not np.allclose(truth[name].values, ens[name].values, atol=1e-6):
            raise InputError(
                f"the labels must be on the model's label grid: their {name!r} differs from "
                f"the grid's ({ens.sizes[name]} values from {float(ens[name][0]):g}); "
                "regrid them or pass them as given to train()"
            )
    truth = truth.assign_coords({lat: ens[lat], lon: ens[lon]})
    out = copy.copy(model)
    out.summary = dict(model.summary)
    # the spread in each label's learnt space, as downscale() applies it (log1p for tp)
    learnt = forward(truth, model.transforms), forward(ens, model.transforms)
    centre = None  # a regression mean's members are recentred towards it (learnt space)
    if model.regression is not None:
        from ..model.inputs import match_variables
        from ..model.mean import regression_centre

        ds, _ = match_variables(model, features.sel(time=times), None)
        centre = regression_centre(model.coarse_features(ds), model)
        centre = centre.reset_coords(drop=True).assign_coords({lat: ens[lat], lon: ens[lon]})
    out.calibration = fit_calibration(*learnt, centre=centre)
    out.summary["calibration"] = {**out.calibration, "fitted_on": "recalibrate()"}
    if any(t.nonnegative for t in model.transforms.values()):  # then the dry cuts
        scaled = inverse(apply(learnt[1], out.calibration, centre=centre), view.transforms)
        fit = fit_cuts(truth, scaled, model.transforms)
        out.transforms = with_cuts(model.transforms, fit)
        out.summary["dry_cut"] = {**fit, "fitted_on": "recalibrate()"}
    return out
