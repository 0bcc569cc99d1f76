"""The CF timeSeries model of station observations: names, attributes, how stations are named.

xdeepr holds station observations as an :class:`xarray.Dataset` with dims
``(time, station)``, the CF "orthogonal multidimensional array" representation of a
timeSeries collection (CF-1.8, appendix H.2.1)::

    time(time)                      coordinate, datetime64 or cftime
    station(station)                station ids (strings), cf_role = "timeseries_id"
    latitude(station)               degrees_north
    longitude(station)              degrees_east
    altitude(station)               m, optional
    station_name(station)           optional
    <variable>(time, station)       NaN = missing; its CF "coordinates" attribute
                                    names the station coordinates when written
    global attrs: featureType = "timeSeries", Conventions = "CF-1.8"

Examples
--------
>>> sorted(coord_attrs()["station"].items())
[('cf_role', 'timeseries_id'), ('long_name', 'station id')]
>>> name_list(["a", "b", "c"], limit=2)
"'a', 'b' and 1 more"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "ALTITUDE",
    "LATITUDE",
    "LONGITUDE",
    "MAX_NAMED",
    "POSITION_TOLERANCE",
    "STATION",
    "STATION_NAME",
    "attach_cf_coordinates",
    "coord_attrs",
    "name_list",
    "when",
]

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
#: Stations named in one message at most.
MAX_NAMED = 10


def coord_attrs() -> dict[str, dict[str, str]]:
    """CF attributes of the canonical coordinates (a fresh copy each call)."""
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


def name_list(ids: Iterable[Any], limit: int = MAX_NAMED) -> str:
    """``'a', 'b' and 3 more``: ids quoted for an error message, at most `limit` shown."""
    ids = [str(i) for i in ids]
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def when(t: Any) -> str:
    """A time stamp (datetime64 or cftime) in words."""
    return str(pd.Timestamp(t)) if isinstance(t, np.datetime64) else str(t)


def attach_cf_coordinates(ds: xr.Dataset) -> xr.Dataset:
    """Set each station variable's CF ``coordinates`` (through its encoding, for writing)."""
    aux = [c for c in (LATITUDE, LONGITUDE, ALTITUDE, STATION_NAME) if c in ds.coords]
    for name in ds.data_vars:
        if STATION in ds[name].dims:
            ds[name].attrs.pop("coordinates", None)
            ds[name].encoding["coordinates"] = " ".join(aux)
    return ds
