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
from ..options import SamplingOptions
from .cells import for_sampling
from .encoding import channel_names, observation_channels, prepare_for_model

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["block_inputs", "for_downscaling", "guidance_model_fn", "pack", "unpack"]


def guidance_model_fn(
    model: DownscalingModel, model_fn: Any, observed: Any, options: SamplingOptions
) -> Any:
    """Deprecated: :func:`xdeepr.model.guidance.guidance_model_fn` (the model's glue).

    Examples
    --------
    >>> fn = guidance_model_fn(model, fn, observed, options)  # doctest: +SKIP
    """
    import warnings

    from ..model.guidance import guidance_model_fn as model_guidance

    warnings.warn(
        "xdeepr.observations.guidance_model_fn is deprecated: use "
        "xdeepr.model.guidance.guidance_model_fn",
        FutureWarning,
        stacklevel=2,
    )
    return model_guidance(model, model_fn, observed, options)


_PREFIX, _STATION = "xdeepr_obs_", "xdeepr_station"
_SLAT, _SLON = "xdeepr_station_lat", "xdeepr_station_lon"


def for_downscaling(
    model: DownscalingModel,
    obs: xr.Dataset | xr.DataArray,
    features: xr.Dataset,
    target: xr.Dataset | None,
    options: SamplingOptions,
) -> xr.Dataset | None:
    """Check `obs` for downscaling `features` and match them to its times.

    Uses the model's variable mapping and time tolerance when it was trained with
    observations. `options` are resolved with observations
    (``SamplingOptions.resolve(model, observations=True)``: the guidance is settled
    there, once). The observations returned are None (with a warning) when nothing
    would use them: a model trained without observations and no guidance. Values of
    temperature-like variables are moved to the altitude of their cells at
    ``options.lapse_rate`` (:func:`~xdeepr.observations.cells.for_sampling`).

    Raises
    ------
    InputError
        Bad station input (:func:`xdeepr.datasets.check_observations`).
    ValueError
        When `options` are not resolved.

    Examples
    --------
    >>> obs = for_downscaling(model, stations, coarse, None, options)  # doctest: +SKIP
    """
    import warnings

    options.check_resolved("for_downscaling")
    record = model.observations or {}
    if not record and not options.guidance:
        warnings.warn(
            "this model was trained without observations: they are unused unless sampling "
            "is guided by them (SamplingOptions(guidance=1.0))",
            UserWarning,
            stacklevel=3,
        )
        return None
    domain = model.label_grid if target is None else grid.finest_grid(target)
    # checked, in the model's units (converted or refused), matched to the input's times
    prepared = prepare_for_model(
        model,
        obs,
        features,
        domain=domain,
        variables=record.get("variables"),
        tolerance=record.get("tolerance"),
    )
    # temperatures moved to their cells' altitude: what conditions and guides is the cell's
    return for_sampling(model, prepared, target, options.lapse_rate)


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
    masks (None otherwise). `guidance` is resolved (:meth:`xdeepr.SamplingOptions.resolve`).
    """
    if guidance is None:
        raise ValueError("block_inputs takes the resolved guidance (a number), not None")
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
