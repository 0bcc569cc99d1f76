"""Observation plumbing of training: condition channels in, stations hidden at random.

A model trained with station observations takes them as its last condition channels
(:mod:`xdeepr.observations`). So that it also works with fewer, other or no stations
at downscale time, each training sample hides a random part of them:
:func:`drop_stations` hides each station pixel with probability
``TrainConfig.observation_dropout`` and, in :data:`NONE_FRACTION` of the samples,
every station.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import xarray as xr

from ..observations import (
    CONDITION_KINDS,
    channel_names,
    match_times,
    observation_channels,
    prepare_observations,
)
from ..observations.values import model_units, to_units

if TYPE_CHECKING:
    from ..model import DownscalingModel
    from .config import TrainConfig

__all__ = ["NONE_FRACTION", "drop_stations", "observation_record", "with_observations"]

#: Fraction of training samples that see no station at all.
NONE_FRACTION = 0.1


def observation_record(
    observations: Any, labels: list[str], features: xr.Dataset, cfg: TrainConfig, domain: Any
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Check `observations` for training; return them and the model's record of them.

    The record (``DownscalingModel.observations``) holds the variable mapping, the
    channel names, the time tolerance and the dropout used (and, once
    :func:`with_observations` has run, the number of values ``used``).

    Raises
    ------
    InputError
        From :func:`xdeepr.observations.prepare_observations` (bad station input, every
        station outside the domain), or no observation value at the features' times.
    """
    clean, mapping = prepare_observations(observations, labels, time_like=features, domain=domain)
    match_times(clean, features["time"], cfg.observation_tolerance, few=0)  # none: refused now
    names = [v for v in labels if v in mapping]
    record = {
        "variables": mapping,
        "channels": channel_names(names, CONDITION_KINDS),
        "tolerance": cfg.observation_tolerance,
        "dropout": cfg.observation_dropout,
    }
    return clean, record


def with_observations(
    model: DownscalingModel, features: xr.Dataset, condition: xr.DataArray, obs: xr.Dataset
) -> xr.DataArray:
    """`condition` with `model`'s observation channels appended (lazy when it is).

    The observations are converted to the labels' units (or refused:
    :func:`xdeepr.observations.values.to_units`), matched to the features' times and
    counted: ``model.observations["used"]``.

    Raises
    ------
    InputError
        Units that cannot be converted, implausible values (°C as K), no value used.
    """
    assert model.observations is not None
    names = list(model.observations["variables"])
    units, stats = model_units(model)
    obs = to_units(obs, units, stats)
    matched = match_times(obs, features["time"], model.observations.get("tolerance"))
    model.observations["used"] = int(matched.attrs["observations_used"])
    chans = observation_channels(
        model,
        features,
        matched,
        variables=[v for v in model.labels if v in names],
        validated=False,
    )
    chans = chans.sel(channel=model.observations["channels"])
    chans = chans.assign_coords({d: condition[d] for d in chans.dims if d != "channel"})
    return xr.concat([condition, chans], dim="channel", coords="minimal", compat="override")


def drop_stations(
    condition: torch.Tensor, n_channels: int, dropout: float, generator: torch.Generator
) -> torch.Tensor:
    """Hide stations at random in the last `n_channels` (observation) channels.

    Each station pixel is hidden with probability `dropout` (departure and mask set to
    0), and all of a sample's stations in :data:`NONE_FRACTION` of the samples.

    Examples
    --------
    >>> c = torch.ones(64, 3, 4, 4)
    >>> out = drop_stations(c, 2, 0.25, torch.Generator().manual_seed(0))
    >>> bool((out[:, 0] == 1).all()), 0.6 < float(out[:, 2].mean()) < 0.75
    (True, True)
    """
    if n_channels == 0:
        return condition
    b, _, h, w = condition.shape
    keep = torch.rand((b, 1, h, w), generator=generator) >= dropout
    keep &= torch.rand((b, 1, 1, 1), generator=generator) >= NONE_FRACTION
    out = condition.clone()
    out[:, -n_channels:] *= keep.to(condition.device, condition.dtype)
    return out
