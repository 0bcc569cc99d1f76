"""Station observations as condition channels on the label grid (the xarray side).

A model conditioned on observations sees, per label variable ``v`` it observes, two
extra condition channels on the label grid:

- ``obs_departure:v`` — the observation minus the bicubic baseline at the station's
  pixel, in the model's normalised label units (0 where nothing was observed);
- ``obs_mask:v`` — 1 where a station observed, 0 elsewhere.

A third channel per variable, ``obs_target:v``, is the observation in the units of
the network's clean sample x̂_0 (the normalised residual when the model learns
residuals); guidance at sampling time (:mod:`xdeepr.diffusion.guidance`) pulls x̂_0
towards it where the mask is 1. It never enters the network.

Placement is *nearest pixel*: each station goes to the label-grid point nearest to it
(stations of one pixel are averaged). The sample's stations sit on grid points; on a
0.05° grid a station is at most 2.8 km from its pixel, less than the grid can resolve,
and a bilinear splat would smear one measurement over four pixels the network then
could not tell apart from four measurements. Times are matched exactly, or to the
nearest observation within a stated ``tolerance``. Stations outside the domain are
dropped by :func:`xdeepr.datasets.check_observations` with a warning that counts them.

Examples
--------
>>> import xdeepr
>>> from xdeepr.observations import prepare_observations
>>> obs = xdeepr.datasets.load_sample_stations(periods=4)
>>> clean, mapping = prepare_observations(obs, ["t2m"])
>>> mapping
{'t2m': 't2m'}
"""

from __future__ import annotations

from .downscaling import block_inputs, for_downscaling, guidance_model_fn, pack, unpack
from .encoding import (
    CHANNEL_KINDS,
    CONDITION_KINDS,
    channel_names,
    match_times,
    observation_channels,
    prepare_observations,
    station_pixels,
)

__all__ = [
    "CHANNEL_KINDS",
    "CONDITION_KINDS",
    "block_inputs",
    "channel_names",
    "for_downscaling",
    "guidance_model_fn",
    "match_times",
    "observation_channels",
    "pack",
    "prepare_observations",
    "station_pixels",
    "unpack",
]
