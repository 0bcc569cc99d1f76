"""Checks of station observations: positions, variables, times, the domain.

:func:`station_positions` is the one station-position check (used by
:func:`check_observations`, by the pixel placement of the condition channels and by
:func:`xdeepr.metrics.at_stations`); :func:`check_observations` validates a whole
observations Dataset and gives it the canonical names of :mod:`xdeepr.observations.cf`.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._util import is_cftime, time_kind
from ..errors import ConfigError, GridError, InputError
from ..grid import _lon_extent, find_latlon, find_time, latlon_hull, locate
from .cf import (
    LATITUDE,
    LONGITUDE,
    MAX_NAMED,
    STATION,
    attach_cf_coordinates,
    coord_attrs,
    name_list,
    when,
)
from .times import check_time_kinds

__all__ = ["LONGITUDE_RANGE", "check_observations", "observations_argument", "station_positions"]

#: Longitudes :func:`check_observations` accepts (degrees east): both conventions.
LONGITUDE_RANGE = (-180.0, 360.0)


def observations_argument(observations: Any, stations: Any, where: str) -> Any:
    """The observations given to `where`, under their name or the deprecated ``stations=``.

    Raises
    ------
    ConfigError
        Both or neither given.

    Examples
    --------
    >>> observations_argument("obs", None, "score_at")
    'obs'
    """
    if stations is not None:
        if observations is not None:
            raise ConfigError(f"{where}: give observations= only (stations= is its old name)")
        warnings.warn(
            f"{where}(stations=...) is deprecated: use observations=... (the same data)",
            FutureWarning,
            stacklevel=3,
        )
        return stations
    if observations is None:
        raise ConfigError(f"{where} needs the observations (CF timeSeries Dataset)")
    return observations


def _station_labels(ds: xr.Dataset | xr.DataArray, dim: Hashable) -> np.ndarray:
    if dim in ds.coords:
        return np.asarray(ds[dim].values)
    return np.asarray([f"#{i}" for i in range(ds.sizes[dim])])


def station_positions(
    obs: xr.Dataset | xr.DataArray,
    longitude_range: tuple[float, float] | None = LONGITUDE_RANGE,
) -> tuple[Hashable, str, str, np.ndarray, np.ndarray]:
    """The station dimension, the names and the values of the stations' positions.

    Latitude and longitude are found like a grid's (cf-xarray, then by name), must
    lie along one station dimension, be finite and in range: latitude in [-90, 90],
    longitude in `longitude_range` (None: any finite longitude, read modulo 360).

    Returns
    -------
    (dim, lat_name, lon_name, lat, lon)
        ``lat`` and ``lon`` float64, one per station.

    Raises
    ------
    InputError
        Naming the coordinate and the stations at fault.

    Examples
    --------
    >>> import xarray as xr
    >>> o = xr.Dataset(coords={"station": ["A"], "latitude": ("station", [47.5]),
    ...                        "longitude": ("station", [9.5])})
    >>> station_positions(o)[:3]
    ('station', 'latitude', 'longitude')
    """
    try:
        lat, lon = find_latlon(obs)
    except GridError as err:
        raise InputError(f"the observations' station positions: {err}") from None
    dim = obs[lat].dims[0] if obs[lat].ndim == 1 else None
    if dim is None or obs[lon].dims != (dim,):
        raise InputError(
            f"latitude {lat!r} and longitude {lon!r} of the observations must share the "
            f"station dimension; they have dims {obs[lat].dims} and {obs[lon].dims}"
        )
    labels = _station_labels(obs, dim)
    problems, values = [], []
    lon_lo, lon_hi = longitude_range if longitude_range is not None else (-np.inf, np.inf)
    for cname, lo, hi in ((lat, -90.0, 90.0), (lon, lon_lo, lon_hi)):
        try:
            v = np.asarray(obs[cname].values, dtype="float64")
        except (TypeError, ValueError) as err:
            raise InputError(f"the station coordinate {cname!r} is not numeric: {err}") from err
        values.append(v)
        bad = ~np.isfinite(v)
        if bad.any():
            problems.append(
                f"{cname} is missing or not finite at {bad.sum()} station(s): "
                f"{name_list(labels[bad])}"
            )
        out = np.isfinite(v) & ((v < lo) | (v > hi))
        if out.any():
            shown = ", ".join(
                f"{str(s)!r} ({x:g})" for s, x in zip(labels[out][:MAX_NAMED], v[out][:MAX_NAMED])
            )
            more = f" and {out.sum() - MAX_NAMED} more" if out.sum() > MAX_NAMED else ""
            problems.append(
                f"{cname} is outside [{lo:g}, {hi:g}] at {out.sum()} station(s): {shown}{more}"
            )
    if problems:
        raise InputError(
            "bad station coordinates: " + "; ".join(problems) + ". Fix or remove these stations."
        )
    return dim, str(lat), str(lon), values[0], values[1]


def _variables(
    ds: xr.Dataset, variables: str | Sequence[str] | Mapping[str, str] | None, dim: str
) -> dict[str, str]:
    """{name in the result: name in `ds`}."""
    if variables is None:
        found = {str(v): str(v) for v in ds.data_vars if dim in ds[v].dims}
        if not found:
            raise InputError(
                f"the observations hold no variable along the station dimension {dim!r} "
                f"(data variables: {[str(v) for v in ds.data_vars]})"
            )
        return found
    if isinstance(variables, str):
        wanted = {variables: variables}
    elif isinstance(variables, Mapping):
        wanted = {str(k): str(v) for k, v in variables.items()}
    else:
        wanted = {str(v): str(v) for v in variables}
    missing = [src for src in wanted.values() if src not in ds.data_vars]
    if missing:
        raise InputError(
            f"the observations have no variable {name_list(missing)}; they hold "
            f"{[str(v) for v in ds.data_vars]}. Rename it, or map names with "
            "variables={'label_name': 'observation_name'}."
        )
    return wanted


def _time_values(time_like: Any) -> Any:
    if isinstance(time_like, (xr.Dataset, xr.DataArray)):
        try:
            return time_like[find_time(time_like)].values
        except ValueError as err:
            raise InputError(f"time_like has no time coordinate: {err}") from err
    return time_like


def _inside(
    lat: np.ndarray, lon: np.ndarray, domain: xr.Dataset | xr.DataArray
) -> tuple[np.ndarray, str]:
    """Which stations lie inside `domain`'s grid-point hull, and the hull in words."""
    try:
        dlat, dlon = find_latlon(domain)
    except GridError as err:
        try:  # a projected or curvilinear grid: placed in its index space
            inside = locate(domain, lat, lon).inside
        except GridError:
            raise InputError(f"cannot read the domain's grid: {err}") from err
        (south, north), (west, span), _ = latlon_hull(domain)
        return inside, f"lat {south:g}..{north:g}, lon {west:g}..{west + span:g}"
    la = np.asarray(domain[dlat].values, dtype="float64")
    south, north = float(la.min()), float(la.max())
    west, span = _lon_extent(domain, dlon)
    lo = np.asarray(domain[dlon].values, dtype="float64")
    step = float(np.median(np.abs(np.diff(lo)))) if lo.size > 1 else 0.0
    tol = 1e-9
    ok = (lat >= south - tol) & (lat <= north + tol)
    if span + step < 360.0 - tol:  # a global grid holds every longitude
        east_of_west = (lon - west) % 360.0
        east_of_west = np.where(east_of_west > 360.0 - tol, 0.0, east_of_west)
        ok &= east_of_west <= span + tol
    hull = f"lat {south:g}..{north:g}, lon {west:g}..{west + span:g}"
    return ok, hull


def check_observations(
    obs: xr.Dataset | xr.DataArray,
    *,
    variables: str | Sequence[str] | Mapping[str, str] | None = None,
    time_like: Any = None,
    domain: xr.Dataset | xr.DataArray | None = None,
) -> xr.Dataset:
    """Validate station observations and return a cleaned, canonical copy.

    Parameters
    ----------
    obs : xarray.Dataset or xarray.DataArray
        Observations in the CF DSG timeSeries form: a time dimension and a
        station dimension, latitude and longitude coordinates along the station
        dimension (found through cf-xarray or by name, like a grid's), NaN =
        missing. A DataArray is taken as a Dataset of its one variable.
    variables : str, sequence of str or mapping, optional
        The variable(s) to keep; a mapping ``{name in the result: name in obs}``
        also renames them (to the label variables' names, say). By default every
        variable along the station dimension.
    time_like : Dataset, DataArray or array, optional
        Something whose time type the observations' must match (the features):
        datetime64 and cftime (or two cftime calendars) cannot be compared.
    domain : Dataset or DataArray, optional
        A grid with latitude and longitude coordinates (the model's label grid).
        Stations outside the hull of its grid points are dropped with a
        :class:`UserWarning` that counts them. Longitudes are compared modulo 360,
        so 0..360 and -180..180 conventions mix.

    Returns
    -------
    xarray.Dataset
        A copy with dims ``(time, station)`` and coordinates named ``time``,
        ``station``, ``latitude``, ``longitude`` (``altitude``, ``station_name``
        kept when present), times sorted, ±inf values made NaN (with a warning),
        only the selected variables, CF attributes filled in where missing and
        ``featureType: timeSeries`` set.

    Raises
    ------
    InputError
        No time or station dimension, no latitude/longitude coordinate; a
        variable named in `variables` is missing; a variable has other dims;
        station coordinates missing, non-finite or out of range (lat outside
        [-90, 90], lon outside [-180, 360]), naming the stations; repeated
        station ids or times; a time type different from `time_like`'s, naming both.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> from xdeepr.observations import check_observations, stations_from_table
    >>> obs = stations_from_table(pd.DataFrame({
    ...     "station": ["in", "out"], "latitude": [47.5, 52.0], "longitude": [9.5, 9.5],
    ...     "time": ["2020-01-01", "2020-01-01"], "value": [271.2, 268.0]}))
    >>> grid = xr.Dataset(coords={"lat": [48.0, 47.0], "lon": [9.0, 10.0]})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clean = check_observations(obs, domain=grid)
    >>> clean.station.values.tolist(), str(caught[0].message)[:45]
    (['in'], '1 of 2 stations lie outside the domain (lat 4')
    """
    if isinstance(obs, xr.DataArray):
        obs = obs.to_dataset(name=obs.name if obs.name is not None else "value")
    if not isinstance(obs, xr.Dataset):
        raise InputError(
            f"observations must be an xarray Dataset (CF timeSeries form), got "
            f"{type(obs).__name__}; convert a table with xdeepr.observations.stations_from_table"
        )
    dim, lat, lon, _, _ = station_positions(obs)
    try:
        tname = find_time(obs)
    except ValueError as err:
        raise InputError(f"the observations have no time dimension: {err}") from err
    if tname == dim:
        raise InputError(
            f"the observations' station dimension {dim!r} is also their time dimension"
        )
    wanted = _variables(obs, variables, str(dim))
    for src in wanted.values():
        extra = set(obs[src].dims) - {tname, dim}
        if extra:
            raise InputError(
                f"observation variable {src!r} has dims {obs[src].dims}; only "
                f"({tname!r}, {dim!r}) are allowed (select or drop {sorted(map(str, extra))})"
            )
    labels = _station_labels(obs, dim)
    counts = pd.Series(labels).value_counts()
    if (counts > 1).any():
        dups = counts[counts > 1].index.tolist()
        raise InputError(
            f"{len(dups)} station id(s) appear more than once along {dim!r}: {name_list(dups)}. "
            "Give each station one id (merge or rename the repeats)."
        )
    tvals = obs[tname].values
    if not (np.issubdtype(tvals.dtype, np.datetime64) or is_cftime(tvals) or tvals.size == 0):
        raise InputError(
            f"the observations' time {tname!r} holds {time_kind(tvals)}, not dates: decode "
            "it (xr.decode_cf) or build it with pandas.to_datetime"
        )
    if time_like is not None:
        check_time_kinds(tvals, _time_values(time_like))
    if pd.Index(tvals).has_duplicates:
        dups = pd.Index(tvals)[pd.Index(tvals).duplicated()].unique()
        raise InputError(
            f"the observations repeat {len(dups)} time(s) ({name_list(map(when, dups))}): keep one "
            "value per station and time"
        )

    keep_coords = [
        c
        for c in obs.coords
        if set(obs[c].dims) <= {tname, dim} and c not in (tname, dim, lat, lon)
    ]
    ds = obs[list(wanted.values())].reset_coords(
        [c for c in obs.coords if c not in keep_coords and c not in (tname, dim, lat, lon)],
        drop=True,
    )
    ds = ds.copy(deep=True).rename({src: dst for dst, src in wanted.items() if src != dst})
    renames = {tname: "time", dim: STATION, lat: LATITUDE, lon: LONGITUDE}
    ds = ds.rename({k: v for k, v in renames.items() if k != v})
    ds = ds.transpose("time", STATION).sortby("time")
    if STATION not in ds.coords:
        ds = ds.assign_coords({STATION: (STATION, labels.astype(str))})

    for v in list(ds.data_vars):
        da = ds[v]
        if np.issubdtype(da.dtype, np.floating):
            n_inf = int(np.isinf(da).sum())
            if n_inf:
                warnings.warn(
                    f"{n_inf} infinite value(s) of observation variable {v!r} are treated "
                    "as missing (NaN)",
                    UserWarning,
                    stacklevel=2,
                )
                ds[v] = da.where(~np.isinf(da))
        elif not np.issubdtype(da.dtype, np.number):
            raise InputError(f"observation variable {v!r} is not numeric ({da.dtype})")

    if domain is not None:
        ok, hull = _inside(ds[LATITUDE].values.astype("float64"), ds[LONGITUDE].values, domain)
        if ok.size and not ok.any():
            la, lo = ds[LATITUDE].values.astype("float64"), ds[LONGITUDE].values
            raise InputError(
                f"all {ok.size} stations lie outside the domain ({hull}): the stations span "
                f"lat {la.min():g}..{la.max():g}, lon {np.min(lo):g}..{np.max(lo):g}. Give "
                "observations of stations inside the domain (check their latitude and "
                "longitude columns, not swapped), or leave the observations out"
            )
        if not ok.all():
            out = ds[STATION].values[~ok]
            warnings.warn(
                f"{out.size} of {ok.size} stations lie outside the domain ({hull}) and are "
                f"dropped: {name_list(out)}",
                UserWarning,
                stacklevel=2,
            )
            ds = ds.isel({STATION: np.flatnonzero(ok)})

    for c, a in coord_attrs().items():
        if c in ds.coords:
            ds[c].attrs = {**a, **ds[c].attrs} if c != STATION else {**ds[c].attrs, **a}
    ds.attrs = {**ds.attrs, "featureType": "timeSeries"}
    ds.attrs.setdefault("Conventions", "CF-1.8")
    return attach_cf_coordinates(ds)
