"""Verification metrics for downscaled fields, on xarray objects, in xskillscore's form.

Every metric takes the observations first, then the forecasts, then the same
keywords in the same order as xskillscore: ``member_dim`` (ensemble scores),
``dim``, ``weights`` and ``keep_attrs``, so code moves between the two
libraries by changing the import. Inputs are :class:`xarray.DataArray` or
:class:`xarray.Dataset` (scored variable by variable), numpy- or dask-backed.

``dim`` defaults to every dimension the two inputs share, the ensemble
``member`` dimension excepted: pass ``dim="time"`` for maps of scores,
``dim=("latitude", "longitude")`` for time series of scores. ``weights`` is
a DataArray or ``"area"`` for cos-latitude weights (:func:`area_weights`);
a weighted mean divides by the sum of the weights of the valid points.
Missing values (NaN) are skipped: a point enters a score only where both
inputs are valid.

- deterministic (:mod:`~xdeepr.metrics.deterministic`): :func:`rmse`,
  :func:`mae`, :func:`mean_error`, :func:`r2`;
- probabilistic (:mod:`~xdeepr.metrics.probabilistic`): :func:`crps_ensemble`
  (standard or fair), :func:`spread_skill_ratio` (calibrated within
  :data:`CALIBRATED_SPREAD_SKILL`, 0.9 to 1.1), :func:`rank_histogram`;
- spectral (:mod:`~xdeepr.metrics.spectral`): :func:`power_spectrum`,
  :func:`spectral_ratio`;
- :func:`score` gathers them for a model and its baselines (``groupby=`` by
  hour, month or season), and :func:`format_table` prints the result; baselines
  that could not be built are named in the result's :data:`SKIPPED_BASELINES`
  attribute (:func:`mark_skipped`) and under the table;
- at stations (:mod:`~xdeepr.metrics.points`): :func:`at_stations` reads a
  gridded field at the observations' stations (bilinear) and :func:`score_at`
  scores there as :func:`score` does on grids.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from xdeepr import metrics
>>> lat = np.array([60.0, 0.0])
>>> obs = xr.DataArray([[1.0, 1.0], [3.0, 3.0]], dims=("lat", "lon"),
...                    coords={"lat": lat, "lon": [0.0, 1.0]})
>>> ens = obs + xr.DataArray([-1.0, 1.0], dims="member")
>>> float(metrics.crps_ensemble(obs, ens))
0.5
>>> float(metrics.mean_error(obs, obs + 1.0))
1.0
>>> round(float(metrics.rmse(obs, obs * 0.0, weights="area")), 4)  # cos 60° = 0.5, cos 0° = 1
2.5166
"""

from __future__ import annotations

from ._core import area_weights
from .deterministic import mae, mean_error, r2, rmse
from .points import at_stations, score_at
from .probabilistic import (
    CALIBRATED_SPREAD_SKILL,
    crps_ensemble,
    rank_histogram,
    spread_skill_ratio,
)
from .score import GROUPBY, MODEL_NAME, SCORE_METRICS, group_labels, score
from .spectral import DEFAULT_MAX_WAVELENGTH_KM, KM_PER_DEGREE, power_spectrum, spectral_ratio
from .table import SKIPPED_BASELINES, format_table, mark_skipped

__all__ = [
    "CALIBRATED_SPREAD_SKILL",
    "DEFAULT_MAX_WAVELENGTH_KM",
    "GROUPBY",
    "KM_PER_DEGREE",
    "MODEL_NAME",
    "SCORE_METRICS",
    "SKIPPED_BASELINES",
    "area_weights",
    "at_stations",
    "crps_ensemble",
    "format_table",
    "group_labels",
    "mae",
    "mark_skipped",
    "mean_error",
    "power_spectrum",
    "r2",
    "rank_histogram",
    "rmse",
    "score",
    "score_at",
    "spectral_ratio",
    "spread_skill_ratio",
]
