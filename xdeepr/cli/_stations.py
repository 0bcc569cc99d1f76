"""Station observations from a file, for ``--observations`` (``--stations``: deprecated).

The observations themselves live in :mod:`xdeepr.observations`; this is only the
command line's reading of a file and of its flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xarray as xr

from ._common import CLIError, open_input

#: Suffixes read as a tidy table (station, latitude, longitude, time, value columns).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def open_observations(path: str, what: str = "observations") -> xr.Dataset:
    """Station observations from a CSV table or a CF timeSeries netCDF file / zarr store.

    A table has one row per station and time: columns ``station``, ``latitude``,
    ``longitude``, ``time``, optionally ``altitude``, and the values in a ``value``
    column (read as ``t2m``) or in one column named after the variable (as
    :func:`xdeepr.observations.stations_to_table` writes), and a ``units`` column (one
    value, e.g. ``degC``) that makes the values convert to the model's units; anything
    else is opened as a Dataset with dims ``(time, station)``. The result is loaded
    (observations are small).

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    xdeepr.errors.InputError
        When a table's columns or values are wrong (named), or it has no row.

    Examples
    --------
    >>> obs = open_observations("stations.csv")  # doctest: +SKIP
    """
    from ..observations import stations_from_table

    if Path(path).suffix.lower() in TABLE_SUFFIXES:
        if not Path(path).is_file():
            raise FileNotFoundError(f"the {what} file {path!r} does not exist")
        import pandas as pd

        columns = list(pd.read_csv(path, nrows=0).columns)
        known = {"station", "latitude", "longitude", "time", "altitude", "station_name", "units"}
        values = [c for c in columns if c not in known]
        altitude = "altitude" if "altitude" in columns else None
        if "value" in columns or len(values) != 1:  # a 'value' column, or a clear error
            return stations_from_table(path, altitude=altitude)
        return stations_from_table(path, variable=values[0], value=values[0], altitude=altitude)
    return open_input([path], what).load()


def observations_flag(args: argparse.Namespace) -> str | None:
    """The ``--observations`` file, or the deprecated ``--stations`` one with a note.

    The note is one line on stderr naming the new flag (``--quiet`` does not hide it).

    Raises
    ------
    CLIError
        When both flags are given.

    Examples
    --------
    >>> observations_flag(argparse.Namespace(observations="o.csv", stations=None))
    'o.csv'
    """
    new, old = getattr(args, "observations", None), getattr(args, "stations", None)
    if old is None:
        return new
    if new is not None:
        raise CLIError("give --observations only (--stations is its deprecated name)")
    prog = " ".join(filter(None, ["xdeepr", getattr(args, "command", None)]))
    print(
        f"{prog}: --stations is deprecated, use --observations (the same file)",
        file=sys.stderr,
        flush=True,
    )
    return str(old)
