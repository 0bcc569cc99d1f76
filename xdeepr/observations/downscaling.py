"""Observations in downscaling: checked once, carried with each time block, guiding.

:func:`for_downscaling` checks and time-matches the observations once;
:func:`pack` / :func:`unpack` carry each time block's share through ``xr.map_blocks``;
:func:`block_inputs` turns a block's share into the arrays the sampler takes, and
:func:`guidance_model_fn` builds the guided denoiser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import grid
from ..errors import InputError
from ..options import DEFAULT_GUIDANCE, SamplingOptions
from .encoding import channel_names, match_times, observation_channels, prepare_observations

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["block_inputs", "for_downscaling", "guidance_model_fn", "pack", "unpack"]


def guidance_model_fn(
    model: DownscalingModel, model_fn: Any, observed: Any, options: SamplingOptions
) -> Any:
    """`model_fn` guided towards `observed` (:func:`xdeepr.diffusion.guidance.guided`).

    `observed` is ``(B, 2 * n_labels, H, W)``: the ``obs_target`` channels, then the
    ``obs_mask`` channels. The observation error variance in sample units is
    ``(options.observation_error / std)²``, with ``std`` each label scaler's mean
    standard deviation.

    Examples
    --------
    >>> fn = guidance_model_fn(model, fn, observed, options)  # doctest: +SKIP
    """
    import torch

    from ..diffusion.guidance import guided

    n = len(model.labels)
    std = [float(np.mean(np.asarray(model.label_scaler.std[v]))) for v in model.labels]
    var = torch.tensor([(options.observation_error / s) ** 2 for s in std], dtype=torch.float32)
    return guided(
        model_fn,
        model.schedule,
        model.prediction,
        observed[:, :n],
        observed[:, n:],
        scale=DEFAULT_GUIDANCE if options.guidance is None else options.guidance,
        variance=var.to(observed.device).view(1, n, 1, 1),
    )


_PREFIX, _STATION = "xdeepr_obs_", "xdeepr_station"
_SLAT, _SLON = "xdeepr_station_lat", "xdeepr_station_lon"


def for_downscaling(
    model: DownscalingModel,
    obs: xr.Dataset | xr.DataArray,
    features: xr.Dataset,
    target: xr.Dataset | None,
    options: SamplingOptions,
) -> tuple[xr.Dataset | None, SamplingOptions]:
    """Check `obs` for downscaling `features`, match them to its times, settle the guidance.

    Uses the model's variable mapping and time tolerance when it was trained with
    observations. ``options.guidance=None`` becomes :data:`~xdeepr.options.DEFAULT_GUIDANCE`
    (0 for a model whose mean is a regression network). The observations returned are
    None (with a warning) when nothing would use them: a model trained without
    observations and no guidance.

    Raises
    ------
    InputError
        Bad station input (:func:`xdeepr.datasets.check_observations`), or guidance
        asked of a model whose mean is a regression network.
    """
    import warnings

    record = model.observations or {}
    regression = getattr(model, "regression", None) is not None
    if options.guidance is None:  # observations given: guided by them unless told otherwise
        options = options.replace(guidance=0.0 if regression else DEFAULT_GUIDANCE)
    guidance = float(options.guidance or 0.0)
    if not record and guidance == 0:
        warnings.warn(
            "this model was trained without observations: they are unused unless sampling "
            "is guided by them (SamplingOptions(guidance=1.0))",
            UserWarning,
            stacklevel=3,
        )
        return None, options
    if guidance > 0 and regression:
        raise InputError(
            "guidance by observations needs a model whose mean is bicubic or none; this "
            "one corrects a regression network's mean"
        )
    domain = model.label_grid if target is None else grid.finest_grid(target)
    clean, _ = prepare_observations(
        obs, model.labels, variables=record.get("variables"), time_like=features, domain=domain
    )
    return match_times(clean, features["time"], record.get("tolerance")), options


def block_inputs(
    model: DownscalingModel,
    features: xr.Dataset,
    obs: xr.Dataset | None,
    target: xr.Dataset | None,
    guidance: float | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The observation arrays one block of `features` needs (numpy, padded grid).

    Returns the extra condition channels ``(T, n, Hp, Wp)`` of a model trained with
    observations (None otherwise; all zero when `obs` is None) and, when `guidance` > 0
    and `obs` is given, the guidance input ``(T, 2 * n_labels, Hp, Wp)``: targets, then
    masks (None otherwise). None `guidance` is :data:`~xdeepr.options.DEFAULT_GUIDANCE`.
    """
    guidance = DEFAULT_GUIDANCE if guidance is None else guidance
    if not model.observations and (obs is None or guidance == 0):
        return None, None
    chans = observation_channels(model, features, obs, target).compute()
    extra = None
    if model.observations:
        extra = np.asarray(chans.sel(channel=model.observations["channels"]).values, "float32")
    observed = None
    if obs is not None and guidance > 0:
        names = channel_names(model.labels, ("obs_target", "obs_mask"))
        observed = np.asarray(chans.sel(channel=names).values, "float32")
    return extra, observed


def pack(coarse: xr.Dataset, obs: xr.Dataset) -> xr.Dataset:
    """`coarse` with `obs` (matched to its times) as extra variables, chunked alike.

    So that ``xr.map_blocks`` hands each time block its own observations; undone by
    :func:`unpack` in the block function.
    """
    renamed = obs.rename({"station": _STATION, "latitude": _SLAT, "longitude": _SLON})
    renamed = renamed.rename({v: f"{_PREFIX}{v}" for v in obs.data_vars})
    keep = (_SLAT, _SLON, _STATION, "time")
    renamed = renamed.drop_vars([c for c in renamed.coords if c not in keep])
    for name in renamed.variables:  # no CF attrs: the input's lat/lon must stay the only ones
        if name != "time":
            renamed[name].attrs = {}
            renamed[name].encoding = {}
    renamed = renamed.assign_coords(time=coarse["time"]).chunk({"time": coarse.chunks["time"]})
    return xr.merge([coarse, renamed], combine_attrs="override")


def unpack(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset | None]:
    """Split a :func:`pack`-ed block into its coarse input and its observations."""
    names = [str(v) for v in ds.data_vars if str(v).startswith(_PREFIX)]
    if not names:
        return ds, None
    obs = ds[names].rename({v: v[len(_PREFIX) :] for v in names})
    obs = obs.rename({_STATION: "station", _SLAT: "latitude", _SLON: "longitude"})
    rest = ds.drop_vars([*names, _SLAT, _SLON]).drop_dims(_STATION, errors="ignore")
    return rest, obs
