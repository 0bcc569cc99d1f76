"""Skill at points: a gridded field at station locations (:func:`at_stations`) and :func:`score_at`.

Stations are the CF discrete-sampling-geometry timeSeries form of
:mod:`xdeepr.datasets` (dims ``(time, station)``, coordinates
``latitude(station)`` and ``longitude(station)``). A field on a regular
latitude/longitude grid is read at the stations by bilinear interpolation,
placed by coordinate values (either latitude orientation, 0..360 or -180..180
longitudes, a grid across the seam or around the globe), and matched to the
observation times; :func:`score_at` then scores a model and its baselines
there with :func:`xdeepr.metrics.score`.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, GridError, InputError
from ..grid import find_grid, find_latlon, find_time, grid_latlon, locate
from ..observations import (
    check_observations,
    observations_argument,
    station_positions,
    time_positions,
)
from ..observations.altitude import (
    DEFAULT_LAPSE_RATE,
    MISMATCH,
    LapseRate,
    adjust,
    altitude_groups,
    check_lapse_rate,
    find_orography,
    model_orography,
)
from ..observations.times import USED_ATTR, count_used
from ..observations.values import field_stats, to_units
from ._bilinear import stencil
from ._core import Dims, Weights, XrObj
from .probabilistic import ObservationError
from .score import _describe, score

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["OUTSIDE", "at_stations", "score_at"]

#: What :func:`at_stations` does with stations outside the grid.
OUTSIDE = ("nan", "drop", "raise")
_CORNER = "__xdeepr_corner__"


def _match_times(field: XrObj, observations: xr.Dataset | xr.DataArray, tolerance: Any) -> XrObj:
    """`field` at the observation times that it has (exactly, or nearest within `tolerance`).

    The result takes the observations' time name and values, in their order; the
    matching is :func:`xdeepr.observations.time_positions`, as everywhere.
    """
    try:
        ftime, stime = find_time(field), find_time(observations)
    except ValueError:
        return field  # one of them has no time axis: nothing to match
    findex, sindex = field.indexes[ftime], observations.indexes[stime]
    pos = time_positions(findex, sindex, tolerance, names=("field", "observations"))
    ok = pos >= 0
    if not ok.any():
        within = "exactly" if tolerance is None else f"within {tolerance}"
        raise InputError(
            f"no station time matches a field time {within}: the observations cover "
            f"{_describe(sindex)}, the field {_describe(findex)}"
        )
    out = field.isel({ftime: pos[ok]})
    if ftime != stime:
        out = out.rename({ftime: stime})
    return out.assign_coords({stime: observations[stime].isel({stime: np.flatnonzero(ok)})})


def at_stations(
    field: XrObj,
    observations: xr.Dataset | xr.DataArray | None = None,
    *,
    time_tolerance: str | pd.Timedelta | np.timedelta64 | Any = None,
    outside: str = "nan",
    stations: xr.Dataset | xr.DataArray | None = None,
) -> XrObj:
    """Bilinear interpolation of a gridded field to station locations, on the observation times.

    Parameters
    ----------
    field : xarray.DataArray or xarray.Dataset
        Field(s) on a regular latitude/longitude grid (coordinates found with
        cf-xarray): an ensemble (any extra dimension such as ``member`` is kept)
        or a deterministic field; numpy- or dask-backed. Either latitude
        orientation and longitude convention; a global grid wraps around.
        A field that already has the stations' dimension is only matched in time.
    observations : xarray.Dataset or xarray.DataArray
        Station positions: latitude and longitude coordinates along one
        station dimension (the CF timeSeries form of
        :func:`xdeepr.observations.stations_from_table`; observations or just
        their coordinates), checked by :func:`xdeepr.observations.station_positions`
        (any finite longitude, read modulo 360). When it has a time dimension the
        result is on its times.
    time_tolerance : str, pandas.Timedelta or numpy.timedelta64, optional
        Match each station time with the nearest field time within this
        distance (e.g. ``"30min"``); by default times must be equal. Works for
        datetime64 and cftime times.
    outside : {"nan", "drop", "raise"}, default "nan"
        Stations outside the hull of the field's grid points: NaN (with a
        :class:`UserWarning` that counts them), dropped (with the warning) or
        an :class:`~xdeepr.errors.InputError` naming them.
    stations : xarray.Dataset or xarray.DataArray, optional
        Deprecated name of `observations` (a :class:`FutureWarning`).

    Returns
    -------
    same type as `field`
        The grid's two dimensions replaced by the station dimension, with the
        stations' coordinates (station ids, latitude, longitude, altitude...);
        where the stations have times, on the station times that the field has
        (named and valued as the stations'), in the stations' order. Attributes
        are kept. A grid point that is NaN makes the stations it weighs on NaN.
        Lazy when `field` is dask-backed (vectorised indexing, no loop over stations).

    Raises
    ------
    InputError
        Stations without positions, no lat/lon grid, no shared time, or time
        types that differ (datetime64 versus cftime), each named.

    Notes
    -----
    The value at a station is ``Σ w_k f_k`` over the four grid points around
    it, ``w`` the bilinear weights from the station's fractional position
    between grid lines; exact for any field linear in latitude and longitude.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat, lon = np.array([48.0, 47.5, 47.0]), np.array([9.0, 9.5, 10.0])
    >>> grid = xr.DataArray(np.add.outer(10 * lat, lon), dims=("lat", "lon"),
    ...                     coords={"lat": lat, "lon": lon}, name="t2m")
    >>> stations = xr.Dataset(coords={"station": ["A", "B"],
    ...                               "latitude": ("station", [47.2, 47.9]),
    ...                               "longitude": ("station", [9.3, 369.9])})  # 369.9 = 9.9
    >>> at_stations(grid, stations).values.round(6).tolist()  # 10 lat + lon
    [481.3, 488.9]
    """
    if outside not in OUTSIDE:
        raise ConfigError(f"outside must be one of {OUTSIDE}, got {outside!r}")
    if not isinstance(field, (xr.Dataset, xr.DataArray)):
        raise InputError(f"the field must be an xarray Dataset or DataArray, got {type(field)}")
    stations = observations_argument(observations, stations, "at_stations")
    sdim, _, _, slat, slon = station_positions(stations, longitude_range=None)
    station_coords = {c: stations[c] for c in stations.coords if stations[c].dims == (sdim,)}
    spec = None  # a projected or curvilinear grid: stations placed by xdeepr.grid.locate
    try:
        lat, lon = find_latlon(field)
    except GridError as err:
        if sdim not in field.dims:
            try:
                spec = find_grid(field)
            except GridError:
                raise InputError(
                    f"the field is neither on a grid nor at the stations: {err}"
                ) from None
        lat = lon = ""
    if spec is None and sdim in field.dims and (not lat or field[lat].dims == (sdim,)):
        if field.sizes[sdim] != slat.size:
            raise InputError(
                f"the field has {field.sizes[sdim]} stations along {sdim!r}, the stations "
                f"{slat.size}"
            )
        return _match_times(field.assign_coords(station_coords), stations, time_tolerance)
    ydim: Hashable
    xdim: Hashable
    if spec is not None:
        (ydim, xdim), st = spec.dims, locate(field, slat, slon)
        rows, cols, weights, inside = st.rows, st.cols, st.weights, st.inside
        glat, glon = grid_latlon(field, spec)
    else:
        ydim, xdim = field[lat].dims[0], field[lon].dims[0]
        rows, cols, weights, inside = stencil(field, lat, lon, slat, slon)
        glat, glon = field[lat].values, field[lon].values
    if slat.size and not inside.any():
        raise InputError(
            f"all {slat.size} stations lie outside the field's grid (lat "
            f"{np.min(glat):g}..{np.max(glat):g}, lon {np.min(glon):g}..{np.max(glon):g}): "
            f"the stations span lat {slat.min():g}..{slat.max():g}, lon "
            f"{slon.min():g}..{slon.max():g}. Give stations inside the grid (check their "
            "latitude and longitude, not swapped) or a field that covers them"
        )
    if not inside.all():
        ids = np.asarray(stations[sdim].values if sdim in stations.coords else np.arange(slat.size))
        listed = ", ".join(str(i) for i in ids[~inside][:10]) + (
            " ..." if (~inside).sum() > 10 else ""
        )
        n_out = int((~inside).sum())
        what = f"{n_out} of {slat.size} stations lie outside the field's grid ({listed})"
        if outside == "raise":
            raise InputError(f"{what}; drop them or pass outside='drop'")
        warnings.warn(
            f"{what}: {'dropped' if outside == 'drop' else 'NaN'}", UserWarning, stacklevel=2
        )
    keep = np.flatnonzero(inside) if outside == "drop" else np.arange(slat.size)
    weights = np.where(inside[:, None], weights, 0.0)[keep]
    stale = [c for c in field.coords if set(field[c].dims) & {ydim, xdim}]
    dims = (sdim, _CORNER)
    w = xr.DataArray(weights, dims=dims)
    with xr.set_options(keep_attrs=True):
        corners = field.drop_vars(stale).isel(
            {ydim: xr.DataArray(rows[keep], dims=dims), xdim: xr.DataArray(cols[keep], dims=dims)}
        )
        out = (corners.where(w > 0, 0.0) * w).sum(_CORNER, skipna=False)
        out = out.where(xr.DataArray(inside[keep], dims=[sdim]))
    out = out.assign_coords({c: v.isel({sdim: keep}) for c, v in station_coords.items()})
    return _match_times(out, stations, time_tolerance)


def score_at(
    observations: xr.Dataset | xr.DataArray,
    forecasts: xr.Dataset | xr.DataArray,
    baselines: Mapping[str, xr.Dataset | xr.DataArray] | None = None,
    *,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    keep_attrs: bool = False,
    groupby: str | None = None,
    variables: str | Sequence[str] | Mapping[str, str] | None = None,
    time_tolerance: Any = None,
    outside: str = "drop",
    observation_error: ObservationError | None = None,
    lapse_rate: LapseRate = DEFAULT_LAPSE_RATE,
    orography: xr.Dataset | xr.DataArray | DownscalingModel | None = None,
    altitude_bins: Sequence[float] | None = None,
) -> xr.Dataset:
    """Score a model and its baselines at stations: CRPS, RMSE, bias, spread-skill...

    Every forecast is read at the stations with :func:`at_stations` (bilinear,
    on the observation times) and scored with :func:`xdeepr.metrics.score`,
    so the metrics, the baselines and the result's form are the grid scores'.

    Parameters
    ----------
    observations : xarray.Dataset or xarray.DataArray
        Station observations in the CF timeSeries form (dims ``(time,
        station)``, ``latitude(station)``, ``longitude(station)``, NaN =
        missing), checked with :func:`xdeepr.datasets.check_observations`.
    forecasts : xarray.Dataset or xarray.DataArray
        The model's output on its grid (an ensemble with `member_dim`, or
        deterministic), or already at the stations.
    baselines : mapping of str to xarray.Dataset or xarray.DataArray, optional
        Named reference forecasts on a grid (e.g. the bicubic interpolation of
        the coarse input onto the model's grid) or at the stations.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions to reduce over; default all (``time`` and ``station``): one
        score per metric and model. ``dim="time"`` gives scores per station.
    weights : xarray.DataArray or "area", optional
        Weights of the means (a DataArray along ``station`` and/or ``time``).
    keep_attrs : bool, default False
        Copy the observations' attributes to the result.
    groupby : {"hour", "month", "season", "altitude"}, optional
        Score each group of times apart (see :func:`xdeepr.metrics.score`), or each
        group of stations by altitude mismatch (``"altitude"``: `altitude_bins`).
    variables : str, sequence or mapping, optional
        Observation variables to score, or ``{"label name": "observation name"}``.
    time_tolerance : str or timedelta, optional
        Match observation times to the nearest forecast time within it
        (default: exactly).
    outside : {"drop", "nan", "raise"}, default "drop"
        Stations outside the forecasts' grid: dropped with a warning counting
        them, kept as NaN (left out of the means), or an error.
    observation_error : float or mapping of str to float, optional
        Standard deviation of the stations' own error (instrument and
        representativeness), in the data's units, one for all variables or one
        per variable, keyed by the forecast's (label) name when `variables` maps
        label names to observation names. Against noisy observations even a calibrated
        ensemble has a spread-skill ratio below 1 (0.9 for a 0.5 K error next to
        a 1 K spread); with it, ``spread_skill`` adds the error's variance to the
        spread (:func:`xdeepr.metrics.spread_skill_ratio`). Default: none.
    lapse_rate : float, 12 floats or None, default -6.5
        K/km (12: one per month). Where the stations have an altitude and the grid's
        orography is known, temperature-like observations are moved from the station's
        altitude to the grid's (bilinear at the station) before scoring
        (:mod:`xdeepr.observations.altitude`); None: compared as measured.
    orography : xarray.DataArray, Dataset or DownscalingModel, optional
        The forecasts' orography (m) on their grid (a model: its static orography);
        default: a variable of `forecasts` with ``standard_name: surface_altitude`` or
        named ``orog``.
    altitude_bins : sequence of float, optional
        Edges (m) of the altitude-mismatch groups of ``groupby="altitude"`` (default
        -300, -100, 100, 300).

    Returns
    -------
    xarray.Dataset
        One variable per observed variable with dims ``("metric", "model",
        *kept)``; metrics ``rmse``, ``mae``, ``mean_error`` (the bias,
        forecast - observation), ``r2``, ``crps`` and ``spread_skill``; models
        ``"xdeepr"`` then the baselines. Per-station results keep the
        stations' coordinates (latitude, longitude...). Attributes as in
        :func:`xdeepr.metrics.score`, with ``title`` "xdeepr skill scores at stations"
        and ``observations_used``, the number of observation values scored;
        ``xdeepr_lapse_rate`` and ``xdeepr_altitude_adjustment`` say what altitude
        adjustment was made (:func:`~xdeepr.observations.altitude.adjust`), and the
        coordinate ``altitude_mismatch(station)`` (m, station minus grid) is kept with
        per-station results. The bias ``mean_error`` is forecast minus observation: a
        station 500 m above its cell, 3.25 K colder, gives +3.25 K unadjusted and 0 at
        -6.5 K/km.

    Raises
    ------
    InputError
        Bad observations (see :func:`~xdeepr.datasets.check_observations`), a
        forecast lacking an observed variable, no time shared, every station outside
        the grid; observations in units that cannot be converted to the forecasts'
        (a ``units`` attribute, e.g. ``degC``, is converted), or, without ``units``,
        values implausible in the forecasts' units (°C against kelvin).
    ConfigError
        A bad `outside` or `observation_error`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xdeepr.metrics import score_at
    >>> lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    >>> time = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")
    >>> truth = xr.DataArray(np.full((2, 2, 2), 280.0), dims=("time", "lat", "lon"),
    ...                      coords={"time": time, "lat": lat, "lon": lon})
    >>> obs = xr.Dataset({"t2m": (("time", "station"), [[280.5, 279.0], [281.0, 280.0]])},
    ...                  coords={"time": time, "station": ["A", "B"],
    ...                          "latitude": ("station", [47.5, 47.2]),
    ...                          "longitude": ("station", [9.5, 9.9])})
    >>> ens = (truth + xr.DataArray([-1.0, 1.0], dims="member")).rename("t2m")
    >>> s = score_at(obs, ens, {"flat": truth.rename("t2m")})
    >>> s.t2m.sel(metric=["rmse", "mean_error"]).values.round(3).tolist()
    [[0.75, 0.75], [-0.125, -0.125]]
    >>> score_at(obs, ens, dim="time").t2m.sel(metric="crps").dims
    ('model', 'station')
    """
    if outside not in OUTSIDE:
        raise ConfigError(f"outside must be one of {OUTSIDE}, got {outside!r}")
    try:
        time_like = forecasts if find_time(forecasts) else None
    except ValueError:
        time_like = None
    rate = check_lapse_rate(lapse_rate)
    obs = check_observations(observations, variables=variables, time_like=time_like)
    names = list(obs.data_vars)

    def at(model: xr.Dataset | xr.DataArray, where: str) -> xr.Dataset:
        if isinstance(model, xr.DataArray):
            model = model.to_dataset(name=names[0] if len(names) == 1 else model.name or "value")
        return at_stations(model, obs, time_tolerance=time_tolerance, outside=where)

    model_at = at(forecasts, outside)
    obs = obs.sel(station=model_at.indexes["station"])  # those dropped, if any, left out
    # the observations in the forecasts' units: converted, or refused (°C taken as K)
    units = {str(v): model_at[v].attrs.get("units") for v in names if v in model_at.data_vars}
    stats = field_stats(model_at, names) if not model_at.chunks else None  # lazy: physical
    obs = to_units(obs, units, stats, what="observations")
    # temperatures moved from the stations' altitude to the grid's (bilinear, as the field)
    orog = model_orography(orography) if hasattr(orography, "static") else orography
    if not isinstance(orog, xr.DataArray):  # a Dataset's, else the forecasts' own
        orog = find_orography(orog if orog is not None else _as_ds(forecasts))
    z_grid = None
    if orog is not None:
        stations = obs.drop_dims("time")  # positions only
        z_grid = at_stations(orog, stations, outside="nan").values
    obs = adjust(
        obs, z_grid, rate, reference={str(v): model_at[v].attrs for v in model_at.data_vars}
    )
    if MISMATCH in obs.coords:
        model_at = model_at.assign_coords({MISMATCH: obs[MISMATCH]})
    # Baselines are read at the stations the forecasts keep; NaN where their grid stops.
    baselines_at = {
        k: at(v, "nan" if outside == "drop" else outside) for k, v in (baselines or {}).items()
    }
    kw: dict[str, Any] = {"member_dim": member_dim, "dim": dim, "weights": weights}
    kw["keep_attrs"] = keep_attrs
    if groupby == "altitude":
        out = _by_altitude(obs, model_at, baselines_at, altitude_bins, observation_error, kw)
    else:
        out = score(
            obs, model_at, baselines_at, groupby=groupby, observation_error=observation_error, **kw
        )
    out = out.drop_sel(metric="spectral_ratio")
    for key in ("xdeepr_lapse_rate", "xdeepr_altitude_adjustment"):
        if key in obs.attrs:
            out.attrs[key] = obs.attrs[key]
    out.attrs["title"] = "xdeepr skill scores at stations"
    out.attrs[USED_ATTR] = _used(obs, model_at)
    return out


def _by_altitude(
    obs: xr.Dataset,
    model_at: xr.Dataset,
    baselines_at: dict[str, xr.Dataset],
    bins: Sequence[float] | None,
    observation_error: Any,
    kw: dict[str, Any],
) -> xr.Dataset:
    """:func:`score` of each group of stations by altitude mismatch, along ``altitude_mismatch``."""
    if MISMATCH not in obs.coords:
        raise InputError(
            "groupby='altitude' needs the stations' altitude (an 'altitude' coordinate) and "
            "the grid's orography (orography=, or a 'surface_altitude' variable of the "
            f"forecasts): {obs.attrs.get('xdeepr_altitude_adjustment', 'none known')}"
        )
    parts, labels = [], []
    for label, idx in altitude_groups(obs[MISMATCH].values, bins):
        sel = {"station": idx}
        part = score(
            obs.isel(sel),
            model_at.isel(sel),
            {k: v.isel(sel) for k, v in baselines_at.items()},
            observation_error=observation_error,
            **kw,
        )
        parts.append(part.expand_dims(MISMATCH))
        labels.append((label, len(idx)))
    out = xr.concat(parts, dim=MISMATCH, coords="different", compat="equals", join="outer")
    return out.assign_coords(
        {MISMATCH: [k for k, _ in labels], "stations": (MISMATCH, [n for _, n in labels])}
    )


def _as_ds(obj: xr.Dataset | xr.DataArray) -> xr.Dataset | None:
    return obj if isinstance(obj, xr.Dataset) else None


def _used(obs: xr.Dataset, model_at: xr.Dataset) -> int:
    """The observation values scored: not NaN at a time and station the forecasts have."""
    common = obs.sel(time=obs.indexes["time"].intersection(model_at.indexes["time"]))
    return count_used(common)
