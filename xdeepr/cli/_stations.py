"""Station observations from a file, for ``--observations`` (``--stations``: deprecated).

The observations themselves live in :mod:`xdeepr.observations`; this is only the
command line's reading of a file and of its flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from ._common import CLIError, open_input

if TYPE_CHECKING:
    from ..observations.altitude import Resolved

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


def add_lapse_rate(parser: argparse.ArgumentParser, *, fit: bool = False, what: str = "") -> None:
    """The ``--lapse-rate`` flag: K/km, 12 comma-separated numbers, ``none`` (or ``fit``).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_lapse_rate(p)
    >>> p.parse_args(["--lapse-rate", "-6"]).lapse_rate
    '-6'
    """
    forms = "a number (K/km), 12 comma-separated numbers (one per month), " + (
        "'fit' (least squares from the training data) or 'none'" if fit else "or 'none'"
    )
    parser.add_argument(
        "--lapse-rate",
        metavar="RATE",
        dest="lapse_rate",
        help=f"with --observations: temperature change with altitude by which station "
        f"temperatures are moved to the grid's orography {what}: {forms}",
    )


def lapse_rate_flag(text: str, *, fit: bool = False) -> Resolved:
    """The value of ``--lapse-rate``: parsed and checked (:func:`check_lapse_rate`).

    Raises
    ------
    CLIError
        Naming the flag, the text and what is allowed.

    Examples
    --------
    >>> lapse_rate_flag("-6.5"), lapse_rate_flag("none"), lapse_rate_flag("fit", fit=True)
    (-6.5, None, 'fit')
    >>> len(lapse_rate_flag(",".join(["-6"] * 12)))
    12
    """
    from ..errors import ConfigError
    from ..observations.altitude import check_lapse_rate

    value: object = text
    if text.strip().lower() in ("none", "off"):
        return None
    if text.strip() != "fit":
        try:
            numbers = [float(x) for x in text.split(",")]
        except ValueError:
            numbers = []
        value = numbers[0] if len(numbers) == 1 else tuple(numbers) if numbers else text
    try:
        return check_lapse_rate(value, fit=fit, name="--lapse-rate")
    except ConfigError as err:
        raise CLIError(str(err)) from None
