"""All metrics of a model and its baselines, in one Dataset: :func:`score`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd
import xarray as xr

from .._util import is_cftime
from ..errors import ConfigError, GridError, InputError
from ..grid import find_latlon
from ._core import (
    METRIC_INFO,
    Dims,
    Weights,
    align,
    reduce_dims,
    resolve_weights,
    weights_label,
)
from .deterministic import mae, mean_error, r2, rmse
from .precip import PRECIP_INFO, PRECIP_METRICS, is_precipitation, precipitation_rows
from .probabilistic import (
    ObservationError,
    crps_ensemble,
    observation_variance,
    spread_skill_ratio,
)
from .spectral import spectral_ratio

__all__ = ["GROUPBY", "MODEL_NAME", "SCORE_METRICS", "group_labels", "score"]

#: Metrics computed by :func:`score`, in the order of its ``metric`` coordinate.
SCORE_METRICS = ("rmse", "mae", "mean_error", "r2", "crps", "spread_skill", "spectral_ratio")
#: Name of the model being evaluated in the ``model`` coordinate of :func:`score`.
MODEL_NAME = "xdeepr"
#: Groupings of times that :func:`score` accepts as ``groupby``.
GROUPBY = ("hour", "month", "season")
#: Meteorological seasons, in the order :func:`score` lists them.
SEASONS = ("DJF", "MAM", "JJA", "SON")


def group_labels(times: xr.DataArray | pd.Index | np.ndarray, groupby: str) -> xr.DataArray:
    """Hour of day (0-23), month (1-12) or season (``"DJF"``...) of each time.

    Parameters
    ----------
    times : xarray.DataArray, pandas.Index or numpy.ndarray
        Times, numpy datetime64 or cftime (any calendar: a 360_day February
        is in DJF like any other).
    groupby : {"hour", "month", "season"}

    Returns
    -------
    xarray.DataArray
        The labels along the times' dimension (``"time"`` for an array),
        named `groupby`.

    Raises
    ------
    ConfigError
        When `groupby` is not one of :data:`GROUPBY`.
    InputError
        When `times` are not dates.

    Examples
    --------
    >>> import cftime, numpy as np
    >>> group_labels(np.array(["2020-01-15T06", "2020-07-01T18"], dtype="M8[ns]"),
    ...              "season").values.tolist()
    ['DJF', 'JJA']
    >>> group_labels(np.array([cftime.Datetime360Day(2000, 2, 30, 12)]), "hour").values.tolist()
    [12]
    """
    if groupby not in GROUPBY:
        raise ConfigError(f"groupby must be one of {GROUPBY} or None, got {groupby!r}")
    da = times if isinstance(times, xr.DataArray) else xr.DataArray(np.asarray(times), dims="time")
    if not (np.issubdtype(da.dtype, np.datetime64) or is_cftime(da)):
        raise InputError(
            f"groupby={groupby!r} needs dates (datetime64 or cftime); the times hold {da.dtype}"
        )
    return getattr(da.dt, groupby).rename(groupby)


def _score_groups(
    groupby: str,
    observations: xr.Dataset,
    forecasts: xr.Dataset,
    weights: xr.DataArray | None,
    reduced: Sequence[Hashable],
    score_one: Callable[..., xr.Dataset],
) -> xr.Dataset:
    """``score_one(obs, fc, weights=)`` on each group of times, along a dimension `groupby`."""
    times = _time_dims(observations)
    if len(times) != 1:
        raise InputError(
            f"groupby={groupby!r} needs one time dimension in the observations; they have "
            f"{len(times)} among {list(observations.dims)}"
        )
    (tname,) = times
    if tname not in reduced:
        raise InputError(
            f"groupby={groupby!r} groups the times, so dim must include {tname!r} "
            f"(it reduces {list(reduced)})"
        )
    labels = group_labels(observations[tname], groupby).values
    keys = [k for k in SEASONS if k in set(labels)] if groupby == "season" else np.unique(labels)
    parts = []
    for key in keys:
        sub = {tname: observations.indexes[tname][labels == key]}
        w = weights.sel(sub) if weights is not None and tname in weights.dims else weights
        fc = forecasts.sel(sub) if tname in forecasts.dims else forecasts
        parts.append(score_one(observations.sel(sub), fc, weights=w))
    out = xr.concat(parts, dim=groupby, coords="minimal", compat="override", join="outer")
    return out.assign_coords({groupby: list(keys)})


def _score_one(
    observations: xr.Dataset,
    forecasts: xr.Dataset,
    *,
    member_dim: Hashable,
    dim: Dims,
    weights: xr.DataArray | None,
    max_wavelength_km: float | None,
    groupby: str | None = None,
    observation_error: ObservationError | None = None,
) -> xr.Dataset:
    """All metrics of one model, concatenated along ``metric`` (and `groupby`, if any)."""
    if groupby is not None:
        reduced = reduce_dims(observations, forecasts, dim, member_dim)
        one = partial(
            _score_one,
            member_dim=member_dim,
            dim=dim,
            max_wavelength_km=max_wavelength_km,
            observation_error=observation_error,
        )
        return _score_groups(groupby, observations, forecasts, weights, reduced, one)
    observations, forecasts = align(observations, forecasts, member_dim)
    dims = reduce_dims(observations, forecasts, dim, member_dim)
    ensemble = member_dim in forecasts.dims
    point = forecasts.mean([member_dim]) if ensemble else forecasts
    results: dict[str, xr.Dataset] = {
        "rmse": rmse(observations, point, dims, weights),
        "mae": mae(observations, point, dims, weights),
        "mean_error": mean_error(observations, point, dims, weights),
        "r2": r2(observations, point, dims, weights),
        "crps": crps_ensemble(observations, forecasts, member_dim, dims, weights),
    }
    if ensemble and forecasts.sizes[member_dim] > 1:
        results["spread_skill"] = spread_skill_ratio(
            observations,
            forecasts,
            member_dim,
            dims,
            weights,
            observation_error=observation_error,
        )
    else:
        results["spread_skill"] = xr.full_like(results["rmse"], np.nan)
    lat: Hashable | None
    lon: Hashable | None
    try:
        lat, lon = find_latlon(observations)
    except GridError:  # a projected or curvilinear grid: spectra along its (y, x)
        from ..grid import find_grid

        try:
            lat, lon = find_grid(observations).dims
        except GridError:
            lat = lon = None
    results["spectral_ratio"] = xr.full_like(results["rmse"], np.nan)
    if lat is not None and lat in dims and lon in dims:
        try:
            results["spectral_ratio"] = spectral_ratio(
                observations,
                forecasts,
                member_dim,
                [d for d in dims if d not in (lat, lon)],
                max_wavelength_km=max_wavelength_km,
            )
        except (ValueError, GridError) as err:
            warnings.warn(f"spectral_ratio left NaN: {err}", RuntimeWarning, stacklevel=3)
    rows = list(SCORE_METRICS)
    if any(is_precipitation(observations[v]) for v in observations.data_vars):
        like = results["rmse"]
        results.update(precipitation_rows(observations, forecasts, member_dim, dims, weights, like))
        rows += PRECIP_METRICS  # dry fraction, Brier > 1 mm, quantiles: NaN for the others
    return xr.concat(
        [results[name] for name in rows],
        dim="metric",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop",
    ).assign_coords(metric=rows)


def _time_dims(obj: xr.Dataset) -> list[Hashable]:
    """Dimensions indexed by times (numpy datetime64 or cftime)."""
    return [
        d
        for d, index in obj.indexes.items()
        if isinstance(index, (pd.DatetimeIndex, xr.CFTimeIndex))
    ]


def _describe(index: pd.Index) -> str:
    kind = "cftime" if isinstance(index, xr.CFTimeIndex) else "datetime64"
    if len(index) == 0:
        return f"no times ({kind})"
    return f"{index[0]} to {index[-1]} ({len(index)} steps, {kind})"


def _shared_times(
    observations: xr.Dataset, models: dict[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """Select the times that the observations and every model share, in the observations' order.

    Raises InputError, naming every range, when no time is shared.
    """
    for name in _time_dims(observations):
        obs_index = observations.indexes[name]
        keep = np.ones(len(obs_index), dtype=bool)
        for model in models.values():
            if name in model.indexes:
                other = model.indexes[name]
                same_kind = isinstance(other, xr.CFTimeIndex) == isinstance(
                    obs_index, xr.CFTimeIndex
                )
                keep &= np.asarray(obs_index.isin(other)) if same_kind else False
        if not keep.any():
            ranges = "; ".join(
                f"{label}: {_describe(model.indexes[name])}"
                for label, model in models.items()
                if name in model.indexes
            )
            raise InputError(
                f"no {name!r} value is shared: the observations cover {_describe(obs_index)}; "
                f"{ranges}. Score forecasts against observations of the same times."
            )
        if keep.all() and all(
            model.sizes.get(name, len(obs_index)) == len(obs_index) for model in models.values()
        ):
            continue
        common = obs_index[keep]
        observations = observations.sel({name: common})
        models = {
            label: model.sel({name: common}) if name in model.indexes else model
            for label, model in models.items()
        }
    return observations, models


def score(
    observations: xr.Dataset | xr.DataArray,
    forecasts: xr.Dataset | xr.DataArray,
    baselines: Mapping[str, xr.Dataset | xr.DataArray] | None = None,
    *,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    keep_attrs: bool = False,
    max_wavelength_km: float | None = None,
    groupby: str | None = None,
    observation_error: ObservationError | None = None,
) -> xr.Dataset:
    """Score a downscaling model and its baselines against observations, metric by metric.

    Parameters
    ----------
    observations : xarray.Dataset or xarray.DataArray
        Verifying high-resolution field(s).
    forecasts : xarray.Dataset or xarray.DataArray
        The model's output on the same grid: an ensemble (with `member_dim`)
        or a deterministic field.
    baselines : mapping of str to xarray.Dataset or xarray.DataArray, optional
        Named reference forecasts on the same grid, usually deterministic
        (e.g. ``{"bicubic": coarse.deepr.interpolate(observations)}``).
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions to reduce over; default all the observations have. Other
        dimensions are kept (e.g. ``dim=("latitude", "longitude")`` keeps ``time``).
    weights : xarray.DataArray or "area", optional
        Weights of every mean over `dim` (``"area"``: cos latitude, see
        :func:`xdeepr.metrics.area_weights`). ``spectral_ratio`` compares
        spectra and ignores them. The result's ``weights`` attribute says which.
    keep_attrs : bool, default False
        Copy the observations' attributes to the result (dataset and variables);
        the scores' own ``long_name``, ``units``, ``title`` and ``weights`` on top.
    max_wavelength_km : float, optional
        Small-scale threshold of :func:`spectral_ratio`.
    groupby : {"hour", "month", "season"}, optional
        Score each hour of day, month or season (DJF, MAM, JJA, SON) apart:
        the result gains that dimension, its labels the groups present in
        order. Works for datetime64 and cftime times; `dim` must include time.
    observation_error : float or mapping of str to float, optional
        Standard deviation of the observations' own error (data units; one for all
        variables or one per variable). ``spread_skill`` then adds its variance to
        the spread (:func:`spread_skill_ratio`), so that a calibrated ensemble
        scores 1 against noisy observations; the other metrics are unchanged.

    Returns
    -------
    xarray.Dataset
        One variable per data variable of `observations` (a DataArray is named
        after its ``name``, or ``"value"``), each with dimensions
        ``("metric", "model", *kept)``:

        - ``metric``: ``rmse``, ``mae``, ``mean_error``, ``r2`` (of the ensemble
          mean), ``crps`` (for deterministic forecasts their MAE),
          ``spread_skill`` (NaN for deterministic forecasts) and
          ``spectral_ratio`` (NaN unless `dim` covers latitude and longitude);
          when a variable is precipitation-like (its ``standard_name``), also
          ``dry_fraction_error``, ``brier_1mm`` and ``q50_error``, ``q90_error``,
          ``q99_error`` (:mod:`xdeepr.metrics.precip`; NaN for the other variables);
        - ``model``: ``"xdeepr"`` then the baselines' names, in order.

        ``rmse``, ``mae``, ``mean_error`` and ``crps`` are in the data's units
        (the variable's ``units`` attribute); the others are dimensionless.
        The attribute ``weights`` reads ``"none"``, ``"area (cos latitude)"``
        or ``"custom (...)"``. Lazy when the inputs are dask-backed: call
        ``.compute()``.

    Raises
    ------
    InputError
        When no time is shared (naming each range), a baseline lacks a
        variable, or the grids differ.
    ConfigError
        When `observation_error` is not a finite number >= 0 or lacks a variable.

    Notes
    -----
    Times are matched first: when the observations and the forecasts (or a
    baseline) cover different times, only the times all of them share are
    scored, so every model is judged on the same cases.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> coords = {"latitude": 48 - 0.05 * np.arange(16), "longitude": 9 + 0.05 * np.arange(16)}
    >>> obs = xr.DataArray(rng.normal(size=(16, 16)), dims=("latitude", "longitude"),
    ...                    coords=coords, name="t2m")
    >>> ens = obs + xr.DataArray(rng.normal(size=(4, 16, 16)),
    ...                          dims=("member", "latitude", "longitude"), coords=coords)
    >>> scores = score(obs, ens, baselines={"zero": xr.zeros_like(obs)}, weights="area")
    >>> scores["t2m"].dims
    ('metric', 'model')
    >>> scores["model"].values.tolist()
    ['xdeepr', 'zero']
    >>> scores.attrs["weights"]
    'area (cos latitude)'
    """
    baselines = dict(baselines or {})
    if MODEL_NAME in baselines:
        raise InputError(f"{MODEL_NAME!r} names the model being scored; rename that baseline")

    def as_dataset(obj: xr.Dataset | xr.DataArray, role: str) -> xr.Dataset:
        if isinstance(obj, xr.Dataset):
            return obj
        if not isinstance(obj, xr.DataArray):
            raise InputError(f"{role} must be an xarray Dataset or DataArray, got {type(obj)}")
        name = observations.name if isinstance(observations, xr.DataArray) else None
        return obj.to_dataset(name=name if name is not None else (obj.name or "value"))

    obs_ds = as_dataset(observations, "observations")
    names = list(obs_ds.data_vars)
    models: dict[str, xr.Dataset] = {}
    for label, model in {MODEL_NAME: forecasts, **baselines}.items():
        model_ds = as_dataset(model, f"baseline {label!r}" if label != MODEL_NAME else "forecasts")
        missing = [n for n in names if n not in model_ds.data_vars]
        if missing:
            raise InputError(
                f"{label!r} lacks the variable(s) {missing} of the observations; it has "
                f"{list(model_ds.data_vars)}"
            )
        models[label] = model_ds[names]
    if observation_error is not None:
        observation_variance(observation_error, obs_ds)  # refused before any work
    obs_ds, models = _shared_times(obs_ds, models)
    w = resolve_weights(weights, obs_ds, member_dim)
    per_model = [
        _score_one(
            obs_ds,
            model_ds,
            member_dim=member_dim,
            dim=dim,
            weights=w,
            max_wavelength_km=max_wavelength_km,
            groupby=groupby,
            observation_error=observation_error,
        )
        for model_ds in models.values()
    ]
    out = xr.concat(
        per_model,
        dim="model",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop",
    )
    out = out.assign_coords(model=list(models))
    for name in names:
        attrs = dict(obs_ds[name].attrs) if keep_attrs else {}
        attrs["long_name"] = f"scores of {name}"
        attrs.pop("units", None)
        units = obs_ds[name].attrs.get("units")
        if units:
            attrs["units"] = units
        out[name] = out[name].transpose("metric", "model", ...)
        out[name].attrs = attrs
    out["metric"].attrs = {
        "long_name": "metric",
        "description": "; ".join(
            f"{k}: {METRIC_INFO[k][0] if k in METRIC_INFO else PRECIP_INFO[k]}"
            for k in map(str, out["metric"].values)
        ),
    }
    out.attrs = {
        **(obs_ds.attrs if keep_attrs else {}),
        "title": "xdeepr skill scores",
        "member_dim": str(member_dim),
        "weights": weights_label(weights, obs_ds),
    }
    if groupby is not None:
        out.attrs["groupby"] = groupby
    return out
