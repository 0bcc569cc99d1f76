"""Station observations as a tidy table and as a CF timeSeries Dataset, both ways.

Station data usually arrive as a tidy table, one row per station and time. xdeepr
works on them as an :class:`xarray.Dataset` with dims ``(time, station)``, the CF
"orthogonal multidimensional array" representation of a timeSeries collection
(:mod:`xdeepr.observations.cf`).

- :func:`stations_from_table` turns a DataFrame or a CSV file into that form;
- :func:`stations_to_table` is its inverse (a CSV round trip is exact);
- :func:`~xdeepr.observations.check_observations` validates such a Dataset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._util import is_cftime
from ..errors import InputError
from ..units import canonical_units
from .cf import (
    ALTITUDE,
    LATITUDE,
    LONGITUDE,
    MAX_NAMED,
    POSITION_TOLERANCE,
    STATION,
    STATION_NAME,
    attach_cf_coordinates,
    coord_attrs,
    name_list,
    when,
)
from .checks import check_observations, station_positions

__all__ = ["stations_from_table", "stations_to_table"]

_NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A"]


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


#: A date written day and month first, in either order: "01/02/2020", "1.2.20 06:00".
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b")
#: The time zone written at the end of a time stamp ("Z", "+01:00", "-0500", "UTC").
_ZONE = re.compile(r"(Z|UTC|GMT|[+\-]\d{2}:?\d{2})\s*$", re.IGNORECASE)


def _time_texts(column: pd.Series) -> list[str]:
    return [str(x) for x in column.to_numpy() if isinstance(x, str)]


def _mixed_zones(texts: list[str], name: str) -> None:
    """Refuse time stamps written in several time zones (or some with a zone, some without)."""
    first: dict[str, tuple[str, str]] = {}  # zone as +hh:mm → (zone as written, example)
    for t in texts:
        m = _ZONE.search(t)
        written = m.group(1) if m else ""
        zone = written.upper().replace(":", "")
        zone = "+0000" if zone in ("Z", "UTC", "GMT") else zone
        first.setdefault(zone, (written, t))
    if len(first) > 1:
        (za, a), (zb, b) = list(first.values())[:2]
        raise InputError(
            f"the time column {name!r} mixes time zones: {a!r} ({za or 'no zone'}) and "
            f"{b!r} ({zb or 'no zone'}). Convert every time to UTC first, e.g. write "
            "'2020-01-01T06:00Z' (or pandas: pd.to_datetime(column, utc=True))"
        )


def _day_month(texts: list[str], name: str) -> None:
    """Refuse dates whose day and month order is not stated (``01/02/2020``)."""
    found = [(t, m) for t in texts if (m := _DAY_MONTH.match(t))]
    if not found:
        return
    example = found[0][0]
    day_first = any(int(m.group(1)) > 12 for _, m in found)
    month_first = any(int(m.group(2)) > 12 for _, m in found)
    hint = (
        " (the values read day first)"
        if day_first and not month_first
        else " (the values read month first)"
        if month_first and not day_first
        else ""
    )
    raise InputError(
        f"the time column {name!r} writes dates as {example!r}: day and month cannot be "
        f"told apart{hint}. Pass time_format='%d/%m/%Y %H:%M' (day first) or "
        "time_format='%m/%d/%Y %H:%M' (month first), matching the column, or write ISO "
        "8601 dates such as '2020-02-01T00:00'"
    )


def _parse_times(column: pd.Series, name: str, time_format: str | None = None) -> np.ndarray:
    values = column.to_numpy()
    if is_cftime(values):
        return values
    texts = _time_texts(column)
    _mixed_zones(texts, name)
    try:
        if time_format is not None:
            parsed = pd.to_datetime(column, format=time_format)
        else:
            try:
                parsed = pd.to_datetime(column, format="ISO8601")
            except (TypeError, ValueError):
                _day_month(texts, name)
                parsed = pd.to_datetime(column)
    except (TypeError, ValueError) as err:
        given = f" with time_format={time_format!r}" if time_format is not None else ""
        raise InputError(
            f"the time column {name!r} cannot be read as dates{given} ({err}); write ISO "
            "8601 dates such as '2020-01-01T06:00', pass time_format= (e.g. "
            "'%d/%m/%Y %H:%M'), or give datetime64 / cftime values"
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


def _table_units(df: pd.DataFrame, units: str | None, column: str | None) -> str | None:
    """The units of the values: `units`, or the one value of the units `column`."""
    if column is None or column not in df.columns:
        return units
    found = [str(u) for u in pd.unique(df[column].dropna().astype(str)) if str(u).strip()]
    if len(found) > 1:
        raise InputError(
            f"the units column {column!r} holds several units ({name_list(found)}): convert "
            "the values to one unit, or make one table per unit"
        )
    if not found:
        return units
    if units is not None and canonical_units(units) != canonical_units(found[0]):
        raise InputError(
            f"units={units!r} contradicts the table's units column {column!r} "
            f"({found[0]!r}): give one of them"
        )
    return units if units is not None else found[0]


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
    time_format: str | None = None,
    units_column: str | None = "units",
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
        Units of the observed value (e.g. ``"K"``, ``"degC"``), stored as its ``units``
        attribute: training, downscaling and scoring convert them to the model's (or
        the truth's) units. Without them (and without a units column) the values are
        taken to be in those units, and temperatures that are implausible in them
        (°C given as K) are refused there.
    attrs : mapping, optional
        More attributes of the observed variable (``standard_name``, ``long_name``...).
    time_format : str, optional
        The :func:`~datetime.datetime.strptime` format of the time column (e.g.
        ``"%d/%m/%Y %H:%M"``). Without it, ISO 8601 is read (``2020-02-01T06:00``,
        with a zone or without); dates written day and month first
        (``01/02/2020``) are refused, as their order cannot be told.
    units_column : str or None, default "units"
        A column holding the units of the values (one value throughout), read when
        the table has it; it must agree with `units` when both are given.

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
        The table has no row; a column is missing; station ids or times are missing
        or unreadable, their day and month order unstated, or their time zones
        mixed; the units column holds several units; a
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
    >>> from xdeepr.observations import stations_from_table
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
    if df.empty:
        where = f"file {os.fspath(table)!r}" if not isinstance(table, pd.DataFrame) else "table"
        raise InputError(
            f"the station {where} has no row (columns {[str(c) for c in df.columns]}): "
            "there is no observation in it. Give a table with one row per station and time."
        )
    missing = [c for c in columns + optional if c not in df.columns]
    if missing:
        raise InputError(
            f"the station table has no column {name_list(missing)}; its columns are "
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
    units = _table_units(df, units, units_column)
    times = _parse_times(df[time], time, time_format)
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
            for k in bad[:MAX_NAMED]:
                seen = pd.unique(df[col].to_numpy()[codes == k])
                listed = ", ".join(f"{x:g}" if numeric else repr(x) for x in seen)
                details.append(f"{uniques[k]!r}: {listed}")
            raise InputError(
                f"{bad.size} station id(s) appear with different {col!r} values "
                f"({'; '.join(details)}"
                f"{' ...' if bad.size > MAX_NAMED else ''}). A station id must name one "
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
        shown = [f"{uniques[s]!r} at {when(tvalues[t])}" for s, t in zip(pairs.s, pairs.t)]
        raise InputError(
            f"{len(pairs)} (station, time) pair(s) have several different values: "
            f"{', '.join(shown[:MAX_NAMED])}{' ...' if len(shown) > MAX_NAMED else ''}. "
            "Keep one row per station and time."
        )
    grid = np.full((tvalues.size, n), np.nan)
    grid[key.t.to_numpy(), key.s.to_numpy()] = key.v.to_numpy()

    cattrs = coord_attrs()
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
    station_positions(ds)  # finite and in range, naming the stations
    return attach_cf_coordinates(ds)


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
    >>> from xdeepr.observations import stations_from_table, stations_to_table
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
