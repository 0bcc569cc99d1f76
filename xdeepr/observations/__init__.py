"""Station observations, in one package: the CF timeSeries model, its checks, time
matching, their encoding as condition channels on the label grid, guidance glue.

By concept:

- :mod:`~xdeepr.observations.cf`: the CF timeSeries form (dims ``time``, ``station``;
  coordinates ``latitude``, ``longitude``, ``altitude``...), its names and attributes;
- :mod:`~xdeepr.observations.table`: :func:`stations_from_table` (a tidy table or CSV
  file → that Dataset) and :func:`stations_to_table` (its inverse);
- :mod:`~xdeepr.observations.checks`: :func:`check_observations` and the one
  station-position check :func:`station_positions`;
- :mod:`~xdeepr.observations.times`: the one time matcher (:func:`time_positions`,
  :func:`match_times`), used for conditioning, guidance and scoring alike;
- :mod:`~xdeepr.observations.values`: station values in the model's units (converted,
  or refused: °C taken as K is not silently used);
- :mod:`~xdeepr.observations.altitude`: station altitude against the grid's
  orography, the one lapse-rate adjustment of temperature-like values (conditioning,
  guidance and scoring all call it), its fit and its report;
- :mod:`~xdeepr.observations.cells`: that adjustment for a model (training records
  the lapse rate, sampling uses it);
- :mod:`~xdeepr.observations.encoding`: condition channels on the label grid, and
  :func:`prepare_for_model` (checked, in the model's units, matched and counted);
- :mod:`~xdeepr.observations.downscaling`: observations through ``downscale``.

Scoring at stations is :func:`xdeepr.metrics.score_at`, figures are in
:mod:`xdeepr.plot`; both call this package. :mod:`xdeepr.datasets` re-exports the
table functions and :func:`check_observations`.

Encoding
--------

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
(stations of one pixel are averaged), its temperature-like values moved to that
pixel's orography first (:mod:`~xdeepr.observations.altitude`). On a 0.05° grid a
station is at most 2.8 km from its pixel, less than the grid can resolve, and a
bilinear splat would smear one measurement over four pixels the network then could not
tell apart from four measurements. Times are matched exactly, or to the
nearest observation within a stated ``tolerance``; the values used are counted
(``observations_used``), none is refused, a few get a warning. Stations outside the
domain are dropped by :func:`check_observations` with a warning that counts them; all
of them outside is refused, naming the domain's bounds and the stations' extent.

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

from .checks import check_observations, observations_argument, station_positions
from .downscaling import block_inputs, for_downscaling, guidance_model_fn, pack, unpack
from .encoding import (
    CHANNEL_KINDS,
    CONDITION_KINDS,
    channel_names,
    observation_channels,
    prepare_for_model,
    prepare_observations,
    station_pixels,
)
from .table import stations_from_table, stations_to_table
from .times import count_used, match_times, parse_tolerance, time_positions

__all__ = [
    "CHANNEL_KINDS",
    "CONDITION_KINDS",
    "block_inputs",
    "channel_names",
    "check_observations",
    "count_used",
    "for_downscaling",
    "guidance_model_fn",
    "match_times",
    "observation_channels",
    "observations_argument",
    "pack",
    "parse_tolerance",
    "prepare_for_model",
    "prepare_observations",
    "station_pixels",
    "station_positions",
    "stations_from_table",
    "stations_to_table",
    "time_positions",
    "unpack",
]
