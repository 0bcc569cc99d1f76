"""Time matching of station observations: the one matcher every caller uses.

Observations are matched to a field's times (the features' when conditioning and
guiding, a forecast's when scoring) exactly, or to the nearest time within a stated
``tolerance``. The same mistake gets the same error wherever it is made: a tolerance
that is no time span or is negative, two time types that cannot be compared
(datetime64 against cftime, or two cftime calendars), a repeated time.

Examples
--------
>>> import pandas as pd
>>> index = pd.DatetimeIndex(["2020-01-01T00:10", "2020-01-01T06:00"])
>>> wanted = pd.to_datetime(["2020-01-01T00:00", "2020-01-01T06:00"])
>>> time_positions(index, wanted).tolist(), time_positions(index, wanted, "15min").tolist()
([-1, 1], [0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._util import time_kind
from ..errors import InputError
from .cf import name_list, when

__all__ = ["check_time_kinds", "match_times", "parse_tolerance", "time_positions"]


def parse_tolerance(tolerance: Any) -> pd.Timedelta | None:
    """`tolerance` as a :class:`pandas.Timedelta` (None stays None: exact matches).

    Raises
    ------
    InputError
        When `tolerance` is not a time span or is negative.

    Examples
    --------
    >>> parse_tolerance("30min")
    Timedelta('0 days 00:30:00')
    >>> parse_tolerance(None) is None
    True
    """
    if tolerance is None:
        return None
    try:
        tol = pd.Timedelta(tolerance)
    except (ValueError, TypeError) as err:
        raise InputError(
            f"the time tolerance {tolerance!r} is not a time span (e.g. '30min', '1h'): {err}"
        ) from None
    if pd.isna(tol) or tol < pd.Timedelta(0):
        raise InputError(f"the time tolerance must be a time span >= 0, got {tolerance!r}")
    return tol


def check_time_kinds(
    times: Any, other: Any, names: tuple[str, str] = ("observations", "features")
) -> None:
    """Refuse two sets of times of different kinds, naming both (empty ones pass).

    `names` are the owners of `times` and `other`, as in "the observations' times".

    Raises
    ------
    InputError
        datetime64 against cftime, or two cftime calendars.

    Examples
    --------
    >>> import cftime, numpy as np
    >>> check_time_kinds(np.array(["2020-01-01"], "M8[ns]"),
    ...                  [cftime.DatetimeNoLeap(2020, 1, 1)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.InputError: the observations' times are numpy datetime64 but ...
    """
    a, b = np.asarray(times), np.asarray(other)
    if a.size == 0 or b.size == 0 or time_kind(a) == time_kind(b):
        return
    raise InputError(
        f"the {names[0]}' times are {time_kind(a)} but the {names[1]}' times are "
        f"{time_kind(b)}: convert one to the other (e.g. ds.convert_calendar or "
        "ds.indexes['time'].to_datetimeindex())"
    )


def time_positions(
    index: pd.Index,
    wanted: Any,
    tolerance: Any = None,
    names: tuple[str, str] = ("observations", "features"),
) -> np.ndarray:
    """Position in `index` of each time of `wanted`: exact, or nearest within `tolerance`.

    Parameters
    ----------
    index : pandas.Index
        The times looked in (a DatetimeIndex or a CFTimeIndex), any order.
    wanted : array-like
        The times looked for.
    tolerance : str, timedelta or None
        None: exact matches only; else the largest distance to the nearest time of
        `index` (``"30min"``, ``numpy.timedelta64(1, "h")``...).
    names : (str, str)
        Who owns `index` and `wanted`, for the errors.

    Returns
    -------
    numpy.ndarray
        int, one per time of `wanted`; -1 where no time of `index` matches.

    Raises
    ------
    InputError
        A bad tolerance (:func:`parse_tolerance`), different time kinds
        (:func:`check_time_kinds`), or repeated times in `index`.
    """
    tol = parse_tolerance(tolerance)
    if not isinstance(index, pd.Index):
        index = pd.Index(np.asarray(index))
    wanted = wanted if isinstance(wanted, pd.Index) else pd.Index(np.asarray(wanted))
    check_time_kinds(np.asarray(index), np.asarray(wanted), names)
    if index.has_duplicates:
        dups = index[index.duplicated()].unique()
        raise InputError(
            f"the {names[0]} repeat {len(dups)} time(s) ({name_list(map(when, dups))}): keep "
            "one value per time"
        )
    if len(index) == 0 or len(wanted) == 0:
        return np.full(len(wanted), -1, dtype=np.intp)
    if tol is None:
        return np.asarray(index.get_indexer(wanted), dtype=np.intp)
    order = np.argsort(np.asarray(index), kind="stable")
    ordered = index[order]
    limit = tol.to_pytimedelta() if isinstance(index, xr.CFTimeIndex) else tol
    found = ordered.get_indexer(wanted, method="nearest", tolerance=limit)
    return np.where(found >= 0, order[np.maximum(found, 0)], -1).astype(np.intp)


def match_times(obs: xr.Dataset, times: Any, tolerance: Any = None) -> xr.Dataset:
    """`obs` on the time axis `times`: exact matches, or the nearest within `tolerance`.

    Times with no observation (within `tolerance`) are all-NaN rows.

    Parameters
    ----------
    obs : xarray.Dataset
        Checked observations (:func:`~xdeepr.observations.check_observations`).
    times : array-like or DataArray
        The time stamps to match (the features').
    tolerance : str, timedelta or None
        None: exact matches only; else the largest distance to the nearest observation
        time (``"30min"``, ``numpy.timedelta64(1, "h")``...).

    Raises
    ------
    InputError
        As :func:`time_positions`.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> obs = xr.Dataset({"t2m": (("time", "station"), [[1.0], [2.0]])},
    ...     coords={"time": pd.to_datetime(["2020-01-01T00:10", "2020-01-01T06:00"])})
    >>> t = pd.to_datetime(["2020-01-01T00:00", "2020-01-01T06:00"])
    >>> match_times(obs, t).t2m.values.ravel().tolist()
    [nan, 2.0]
    >>> match_times(obs, t, "15min").t2m.values.ravel().tolist()
    [1.0, 2.0]
    """
    times = np.asarray(times.values if isinstance(times, xr.DataArray) else times)
    pos = time_positions(obs.indexes["time"], times, tolerance)
    attrs = dict(obs["time"].attrs)
    # label each observation time by its position, then reindex: -1 (no match) → NaN rows
    by_position = obs.assign_coords(time=np.arange(obs.sizes["time"]))
    out = by_position.reindex(time=pos).assign_coords(time=("time", times, attrs))
    return out
