"""Station observations in the CF discrete-sampling-geometry (DSG) timeSeries form.

Over 400 lines because the table converter and the checks share the same station
position, time-type and domain rules, each with an error message naming the stations.

Station data usually arrive as a tidy table, one row per station and time. xdeepr
works on them as an :class:`xarray.Dataset` with dims ``(time, station)``, the CF
"orthogonal multidimensional array" representation of a timeSeries collection
(CF-1.8, appendix H.2.1)::

    time(time)                      coordinate, datetime64 or cftime
    station(station)                station ids (strings), cf_role = "timeseries_id"
    latitude(station)               degrees_north
    longitude(station)              degrees_east
    altitude(station)               m, optional
    station_name(station)           optional
    <variable>(time, station)       NaN = missing; its CF "coordinates" attribute
                                    names the station coordinates when written
    global attrs: featureType = "timeSeries", Conventions = "CF-1.8"

- :func:`stations_from_table` turns a DataFrame or a CSV file into that form;
- :func:`stations_to_table` is its inverse (a CSV round trip is exact);
- :func:`check_observations` validates such a Dataset, gives it the canonical names
  above and drops the stations outside a model's domain.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xdeepr._util import is_cftime, time_kind
from xdeepr.errors import GridError, InputError
from xdeepr.grid import _lon_extent, find_latlon, find_time

__all__ = ["check_observations", "stations_from_table", "stations_to_table"]

#: Tolerance (degrees) within which repeated positions of one station count as equal.
POSITION_TOLERANCE = 1e-6
#: Names of the coordinates of a canonical observations Dataset.
STATION, LATITUDE, LONGITUDE, ALTITUDE, STATION_NAME = (
    "station",
    "latitude",
    "longitude",
    "altitude",
    "station_name",
)

_NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A"]
_MAX_NAMED = 10  # stations named in one message at most


def _coord_attrs() -> dict[str, dict[str, str]]:
    return {
        "time": {"standard_name": "time", "long_name": "time", "axis": "T"},
        STATION: {"long_name": "station id", "cf_role": "timeseries_id"},
        LATITUDE: {
            "standard_name": "latitude",
            "long_name": "station latitude",
            "units": "degrees_north",
            "axis": "Y",
        },
        LONGITUDE: {
            "standard_name": "longitude",
            "long_name": "station longitude",
            "units": "degrees_east",
            "axis": "X",
        },
        ALTITUDE: {
            "standard_name": "altitude",
            "long_name": "station altitude",
            "units": "m",
            "positive": "up",
            "axis": "Z",
        },
        STATION_NAME: {"long_name": "station name"},
    }


def _names(ids: Iterable[Any], limit: int = _MAX_NAMED) -> str:
    ids = [str(i) for i in ids]
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _when(t: Any) -> str:
    return str(pd.Timestamp(t)) if isinstance(t, np.datetime64) else str(t)


def _attach_cf_coordinates(ds: xr.Dataset) -> xr.Dataset:
    """Set each station variable's CF ``coordinates`` (through encoding, see Notes)."""
    aux = [c for c in (LATITUDE, LONGITUDE, ALTITUDE, STATION_NAME) if c in ds.coords]
    for name in ds.data_vars:
        if STATION in ds[name].dims:
            ds[name].attrs.pop("coordinates", None)
            ds[name].encoding["coordinates"] = " ".join(aux)
    return ds


# --------------------------------------------------------------------------------------
# Table → Dataset
# --------------------------------------------------------------------------------------


def _read_table(
    table: pd.DataFrame | str | os.PathLike[str], string_cols: list[str], numeric_cols: list[str]
) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, (str, os.PathLike)):
        try:
            return pd.read_csv(
                table,
                dtype={c: str for c in string_cols},
                keep_default_na=False,
                na_values={c: _NA_STRINGS for c in numeric_cols},
            )
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read the station table {os.fspath(table)!r}: {err}") from err
    raise InputError(
        f"the station table must be a pandas DataFrame or the path of a CSV file, got "
        f"{type(table).__name__}"
    )


def _parse_times(column: pd.Series, name: str) -> np.ndarray:
    values = column.to_numpy()
    if is_cftime(values):
        return values
    try:
        try:
            parsed = pd.to_datetime(column, format="ISO8601")
        except (TypeError, ValueError):
            parsed = pd.to_datetime(column)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"the time column {name!r} cannot be read as dates ({err}); write ISO 8601 "
            "dates such as '2020-01-01T06:00', or give datetime64 / cftime values"
        ) from err
    if getattr(parsed.dt, "tz", None) is not None:  # aware → UTC, naive
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(parsed.to_numpy()).astype("datetime64[ns]")


def _per_station(
    df: pd.DataFrame, codes: np.ndarray, column: str, what: str, numeric: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The value of `column` at each station's first row, and the stations with several."""
    values = df[column].to_numpy()
    if numeric:
        try:
            values = values.astype("float64")
        except (TypeError, ValueError) as err:
            raise InputError(f"the {what} column {column!r} is not numeric: {err}") from err
    _, first = np.unique(codes, return_index=True)  # each station's first row (codes 0..n-1)
    ref = values[first][codes]
    if numeric:
        both_nan = np.isnan(ref) & np.isnan(values)
        differ = ~(np.isclose(ref, values, rtol=0.0, atol=POSITION_TOLERANCE) | both_nan)
    else:
        differ = ~((ref == values) | (pd.isna(ref) & pd.isna(values)))
    return values[first], np.unique(codes[differ])


def stations_from_table(
    table: pd.DataFrame | str | os.PathLike[str],
    *,
    variable: str = "t2m",
    station: str = "station",
    latitude: str = "latitude",
    longitude: str = "longitude",
    time: str = "time",
    value: str = "value",
    altitude: str | None = None,
    name: str | None = None,
    units: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Turn a tidy station table (one row per station and time) into a DSG Dataset.

    Parameters
    ----------
    table : pandas.DataFrame or path-like
        The table, or the path of a CSV file holding it. In a CSV file, station
        ids and names are read as text (``"06610"`` stays ``"06610"``) and an empty
        value is missing.
    variable : str, default "t2m"
        Name of the observed variable in the result; use the label variable's name.
    station, latitude, longitude, time, value : str
        Column names of the station id, its position (degrees north / east), the
        time stamp and the observed value.
    altitude, name : str, optional
        Column names of the station altitude (m) and of the station name, if any.
    units : str, optional
        Units of the observed value (e.g. ``"K"``), stored as its ``units`` attribute.
    attrs : mapping, optional
        More attributes of the observed variable (``standard_name``, ``long_name``...).

    Returns
    -------
    xarray.Dataset
        Dims ``(time, station)``: times sorted, stations in order of first
        appearance; ``variable`` is float64 with NaN where a station has no row or
        an empty value at a time (stations may appear and disappear); coordinates
        ``station`` (ids as strings, ``cf_role: timeseries_id``), ``latitude``,
        ``longitude`` and, when given, ``altitude`` and ``station_name``, with CF
        attributes; global attributes ``featureType: timeSeries`` and
        ``Conventions: CF-1.8``. It can be written with ``to_netcdf`` as is.

    Raises
    ------
    InputError
        A column is missing; station ids or times are missing or unreadable; a
        station appears with different positions (or altitudes, or names); one
        station has two different values at one time; a coordinate is missing or
        out of range (see :func:`check_observations`).

    See Also
    --------
    stations_to_table : the inverse.
    check_observations : validate against a model's time type and domain.

    Examples
    --------
    >>> import pandas as pd
    >>> from xdeepr.datasets import stations_from_table
    >>> table = pd.DataFrame({
    ...     "station": ["A", "A", "B"],
    ...     "latitude": [47.5, 47.5, 47.9], "longitude": [9.5, 9.5, 10.1],
    ...     "time": ["2020-01-01T00", "2020-01-01T06", "2020-01-01T06"],
    ...     "value": [271.2, 273.9, 270.4],
    ... })
    >>> obs = stations_from_table(table, units="K")
    >>> obs.t2m.dims, obs.attrs["featureType"]
    (('time', 'station'), 'timeSeries')
    >>> obs.t2m.sel(station="B").values  # B has no row at 00 UTC
    array([  nan, 270.4])
    """
    columns = [station, latitude, longitude, time, value]
    optional = [c for c in (altitude, name) if c is not None]
    strings = [station] + ([name] if name is not None else [])
    numerics = [latitude, longitude, value] + ([altitude] if altitude is not None else [])
    df = _read_table(table, strings, numerics)
    missing = [c for c in columns + optional if c not in df.columns]
    if missing:
        raise InputError(
            f"the station table has no column {_names(missing)}; its columns are "
            f"{[str(c) for c in df.columns]}. Name the right columns with "
            "station=, latitude=, longitude=, time=, value= (altitude=, name=)."
        )
    if df[station].isna().any():
        rows = np.flatnonzero(df[station].isna().to_numpy())
        raise InputError(
            f"the station id (column {station!r}) is missing in {rows.size} row(s), "
            f"the first at row {rows[0]}"
        )
    ids = df[station].astype(str)
    times = _parse_times(df[time], time)
    if pd.isna(pd.Series(times)).any():
        rows = np.flatnonzero(pd.isna(pd.Series(times)).to_numpy())
        raise InputError(
            f"the time (column {time!r}) is missing in {rows.size} row(s), the first at row "
            f"{rows[0]} (station {ids.iloc[rows[0]]!r})"
        )
    codes, uniques = pd.factorize(ids, sort=False)
    codes = np.asarray(codes)
    n = len(uniques)
    try:
        tcodes, tvalues = pd.factorize(pd.Series(times), sort=True)
    except TypeError as err:
        raise InputError(
            f"the times in column {time!r} mix types and cannot be sorted: {err}"
        ) from err
    tcodes = np.asarray(tcodes)
    tvalues = np.asarray(tvalues)
    if not is_cftime(tvalues):
        tvalues = tvalues.astype("datetime64[ns]")

    per_station: dict[str, np.ndarray] = {}
    for col, key, what, numeric in (
        (latitude, LATITUDE, "position", True),
        (longitude, LONGITUDE, "position", True),
        (altitude, ALTITUDE, "altitude", True),
        (name, STATION_NAME, "name", False),
    ):
        if col is None:
            continue
        per_station[key], bad = _per_station(df, codes, col, what, numeric)
        if bad.size:
            details = []
            for k in bad[:_MAX_NAMED]:
                seen = pd.unique(df[col].to_numpy()[codes == k])
                listed = ", ".join(f"{x:g}" if numeric else repr(x) for x in seen)
                details.append(f"{uniques[k]!r}: {listed}")
            raise InputError(
                f"{bad.size} station id(s) appear with different {col!r} values "
                f"({'; '.join(details)}"
                f"{' ...' if bad.size > _MAX_NAMED else ''}). A station id must name one "
                "place: give moved stations new ids."
            )

    try:
        vals = df[value].to_numpy().astype("float64")
    except (TypeError, ValueError) as err:
        raise InputError(f"the value column {value!r} is not numeric: {err}") from err
    key = pd.DataFrame({"s": codes, "t": tcodes, "v": vals}).drop_duplicates()
    dup = key.duplicated(["s", "t"], keep=False).to_numpy()
    if dup.any():
        pairs = key[dup].drop_duplicates(["s", "t"])
        shown = [f"{uniques[s]!r} at {_when(tvalues[t])}" for s, t in zip(pairs.s, pairs.t)]
        raise InputError(
            f"{len(pairs)} (station, time) pair(s) have several different values: "
            f"{', '.join(shown[:_MAX_NAMED])}{' ...' if len(shown) > _MAX_NAMED else ''}. "
            "Keep one row per station and time."
        )
    grid = np.full((tvalues.size, n), np.nan)
    grid[key.t.to_numpy(), key.s.to_numpy()] = key.v.to_numpy()

    cattrs = _coord_attrs()
    coords: dict[Hashable, Any] = {
        "time": ("time", tvalues, cattrs["time"]),
        STATION: (STATION, np.asarray(uniques, dtype=str), cattrs[STATION]),
        LATITUDE: (STATION, per_station[LATITUDE], cattrs[LATITUDE]),
        LONGITUDE: (STATION, per_station[LONGITUDE], cattrs[LONGITUDE]),
    }
    if ALTITUDE in per_station:
        coords[ALTITUDE] = (STATION, per_station[ALTITUDE], cattrs[ALTITUDE])
    if STATION_NAME in per_station:
        names = np.asarray(["" if pd.isna(s) else str(s) for s in per_station[STATION_NAME]])
        coords[STATION_NAME] = (STATION, names, cattrs[STATION_NAME])
    vattrs = dict(attrs or {})
    if units is not None:
        vattrs["units"] = units
    ds = xr.Dataset(
        {variable: (("time", STATION), grid, vattrs)},
        coords=coords,
        attrs={"featureType": "timeSeries", "Conventions": "CF-1.8"},
    )
    _check_positions(ds, LATITUDE, LONGITUDE, STATION)
    return _attach_cf_coordinates(ds)


# --------------------------------------------------------------------------------------
# Dataset → table
# --------------------------------------------------------------------------------------


def stations_to_table(obs: xr.Dataset, *, dropna: bool = False) -> pd.DataFrame:
    """Turn a DSG timeSeries Dataset back into a tidy table, one row per station and time.

    Parameters
    ----------
    obs : xarray.Dataset
        Observations with dims ``(time, station)`` (any names that
        :func:`check_observations` recognises).
    dropna : bool, default False
        Leave out rows where every variable is missing. The default keeps them,
        so a station or a time with no value at all survives the round trip.

    Returns
    -------
    pandas.DataFrame
        Columns ``station``, ``latitude``, ``longitude``, then ``altitude`` and
        ``station_name`` when present, ``time``, then one column per data
        variable; rows ordered by station (in the Dataset's order) then time.
        ``stations_from_table(table, variable=v, value=v, altitude=..., name=...)``
        rebuilds `obs` (attributes other than the CF ones excepted; pass
        ``units=``/``attrs=`` for those).

    Examples
    --------
    >>> import pandas as pd
    >>> from xdeepr.datasets import stations_from_table, stations_to_table
    >>> table = pd.DataFrame({"station": ["A", "B"], "latitude": [47.5, 47.9],
    ...                       "longitude": [9.5, 10.1], "time": ["2020-01-01"] * 2,
    ...                       "value": [271.2, 270.4]})
    >>> stations_to_table(stations_from_table(table))
      station  latitude  longitude       time    t2m
    0       A      47.5        9.5 2020-01-01  271.2
    1       B      47.9       10.1 2020-01-01  270.4
    """
    ds = check_observations(obs)
    variables = [str(v) for v in ds.data_vars]
    ds = ds.transpose(STATION, "time", ...)
    ns, nt = ds.sizes[STATION], ds.sizes["time"]
    cols: dict[str, Any] = {STATION: np.repeat(ds[STATION].values, nt)}
    for c in (LATITUDE, LONGITUDE, ALTITUDE, STATION_NAME):
        if c in ds.coords:
            cols[c] = np.repeat(ds[c].values, nt)
    cols["time"] = np.tile(ds["time"].values, ns)
    for v in variables:
        cols[v] = ds[v].values.reshape(-1)
    table = pd.DataFrame(cols)
    if dropna and variables:
        table = table.dropna(subset=variables, how="all").reset_index(drop=True)
    return table


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _station_labels(ds: xr.Dataset, dim: str) -> np.ndarray:
    if dim in ds.coords:
        return np.asarray(ds[dim].values)
    return np.asarray([f"#{i}" for i in range(ds.sizes[dim])])


def _check_positions(ds: xr.Dataset, lat: str, lon: str, dim: str) -> None:
    labels = _station_labels(ds, dim)
    problems = []
    for cname, lo, hi in ((lat, -90.0, 90.0), (lon, -180.0, 360.0)):
        try:
            v = np.asarray(ds[cname].values, dtype="float64")
        except (TypeError, ValueError) as err:
            raise InputError(f"the station coordinate {cname!r} is not numeric: {err}") from err
        bad = ~np.isfinite(v)
        if bad.any():
            problems.append(
                f"{cname} is missing or not finite at {bad.sum()} station(s): {_names(labels[bad])}"
            )
        out = np.isfinite(v) & ((v < lo) | (v > hi))
        if out.any():
            shown = ", ".join(
                f"{str(s)!r} ({x:g})" for s, x in zip(labels[out][:_MAX_NAMED], v[out][:_MAX_NAMED])
            )
            more = f" and {out.sum() - _MAX_NAMED} more" if out.sum() > _MAX_NAMED else ""
            problems.append(
                f"{cname} is outside [{lo:g}, {hi:g}] at {out.sum()} station(s): {shown}{more}"
            )
    if problems:
        raise InputError(
            "bad station coordinates: " + "; ".join(problems) + ". Fix or remove these stations."
        )


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
            f"the observations have no variable {_names(missing)}; they hold "
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
        raise InputError(f"cannot read the domain's grid: {err}") from err
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
    >>> from xdeepr.datasets import check_observations, stations_from_table
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
            f"{type(obs).__name__}; convert a table with xdeepr.datasets.stations_from_table"
        )
    try:
        lat, lon = find_latlon(obs)
    except GridError as err:
        raise InputError(f"the observations' station positions: {err}") from err
    dim = obs[lat].dims[0]
    if obs[lon].dims != (dim,):
        raise InputError(
            f"latitude {lat!r} and longitude {lon!r} of the observations must share the "
            f"station dimension; they have dims {obs[lat].dims} and {obs[lon].dims}"
        )
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
    _check_positions(obs, lat, lon, str(dim))

    labels = _station_labels(obs, str(dim))
    counts = pd.Series(labels).value_counts()
    if (counts > 1).any():
        dups = counts[counts > 1].index.tolist()
        raise InputError(
            f"{len(dups)} station id(s) appear more than once along {dim!r}: {_names(dups)}. "
            "Give each station one id (merge or rename the repeats)."
        )
    tvals = obs[tname].values
    if not (np.issubdtype(tvals.dtype, np.datetime64) or is_cftime(tvals) or tvals.size == 0):
        raise InputError(
            f"the observations' time {tname!r} holds {time_kind(tvals)}, not dates: decode "
            "it (xr.decode_cf) or build it with pandas.to_datetime"
        )
    if time_like is not None:
        other = _time_values(time_like)
        if time_kind(tvals) != time_kind(other):
            raise InputError(
                f"the observations' times are {time_kind(tvals)} but the features' times are "
                f"{time_kind(other)}: convert one to the other (e.g. ds.convert_calendar "
                "or ds.indexes['time'].to_datetimeindex())"
            )
    if pd.Index(tvals).has_duplicates:
        dups = pd.Index(tvals)[pd.Index(tvals).duplicated()].unique()
        raise InputError(
            f"the observations repeat {len(dups)} time(s) ({_names(map(_when, dups))}): keep one "
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
        if not ok.all():
            out = ds[STATION].values[~ok]
            warnings.warn(
                f"{out.size} of {ok.size} stations lie outside the domain ({hull}) and are "
                f"dropped: {_names(out)}",
                UserWarning,
                stacklevel=2,
            )
            ds = ds.isel({STATION: np.flatnonzero(ok)})

    for c, a in _coord_attrs().items():
        if c in ds.coords:
            ds[c].attrs = {**a, **ds[c].attrs} if c != STATION else {**ds[c].attrs, **a}
    ds.attrs = {**ds.attrs, "featureType": "timeSeries"}
    ds.attrs.setdefault("Conventions", "CF-1.8")
    return _attach_cf_coordinates(ds)
