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

import warnings
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._util import time_kind
from ..errors import InputError
from .cf import name_list, when

__all__ = [
    "FEW_USED",
    "USED_ATTR",
    "check_time_kinds",
    "count_used",
    "match_times",
    "parse_tolerance",
    "time_positions",
]

#: Fewer observation values than this, used at a field's times, get a warning.
FEW_USED = 10
#: The attribute of matched observations (and of results made with them) that counts them.
USED_ATTR = "observations_used"


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


def count_used(matched: xr.Dataset) -> int:
    """The observation values (not NaN) of `matched` (observations on a field's times).

    Examples
    --------
    >>> count_used(xr.Dataset({"t2m": (("time", "station"), [[1.0, np.nan]])}))
    1
    """
    return int(sum(int(np.isfinite(matched[v].values).sum()) for v in matched.data_vars))


def _span(times: Any) -> str:
    times = np.asarray(times)
    if times.size == 0:
        return "no times"
    ordered = pd.Index(times).sort_values()
    return f"{when(ordered[0])} to {when(ordered[-1])} ({times.size} steps)"


def match_times(
    obs: xr.Dataset, times: Any, tolerance: Any = None, *, few: int = FEW_USED
) -> xr.Dataset:
    """`obs` on the time axis `times`: exact matches, or the nearest within `tolerance`.

    Times with no observation (within `tolerance`) are all-NaN rows. The number of
    observation values used (not NaN at a matched time) is the result's
    ``observations_used`` attribute (:data:`USED_ATTR`); none is refused, fewer than
    `few` get a :class:`UserWarning` with the count.

    Parameters
    ----------
    obs : xarray.Dataset
        Checked observations (:func:`~xdeepr.observations.check_observations`).
    times : array-like or DataArray
        The time stamps to match (the features').
    tolerance : str, timedelta or None
        None: exact matches only; else the largest distance to the nearest observation
        time (``"30min"``, ``numpy.timedelta64(1, "h")``...).
    few : int, default :data:`FEW_USED`
        Fewer values used than this get a warning (0: never).

    Raises
    ------
    InputError
        As :func:`time_positions`; and when no observation value is used, naming the
        times of both, the tolerance and how to change it.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> obs = xr.Dataset({"t2m": (("time", "station"), [[1.0], [2.0]])},
    ...     coords={"time": pd.to_datetime(["2020-01-01T00:10", "2020-01-01T06:00"])})
    >>> t = pd.to_datetime(["2020-01-01T00:00", "2020-01-01T06:00"])
    >>> match_times(obs, t, few=0).t2m.values.ravel().tolist()
    [nan, 2.0]
    >>> out = match_times(obs, t, "15min", few=0)
    >>> out.t2m.values.ravel().tolist(), out.attrs["observations_used"]
    ([1.0, 2.0], 2)
    """
    times = np.asarray(times.values if isinstance(times, xr.DataArray) else times)
    pos = time_positions(obs.indexes["time"], times, tolerance)
    attrs = dict(obs["time"].attrs)
    # label each observation time by its position, then reindex: -1 (no match) → NaN rows
    by_position = obs.assign_coords(time=np.arange(obs.sizes["time"]))
    out = by_position.reindex(time=pos).assign_coords(time=("time", times, attrs))
    used = count_used(out)
    if used == 0 and times.size:
        within = "exactly" if tolerance is None else f"within {tolerance}"
        total = count_used(obs)
        why = (
            f"none of the {total} observation values matches a time of the input {within}"
            if total
            else "the observations hold no value (all missing)"
        )
        raise InputError(
            f"no station observation can be used: {why}. The input covers {_span(times)}, "
            f"the observations {_span(obs['time'].values)}. Give observations at the "
            "input's times (resample or shift them), or allow a time tolerance "
            "(TrainConfig.observation_tolerance, e.g. '3h': a model keeps the one it was "
            "trained with)."
        )
    if 0 < used < few:
        seen = np.zeros(times.size, dtype=bool)
        for v in out.data_vars:
            seen |= np.isfinite(out[v].values).reshape(times.size, -1).any(axis=1)
        warnings.warn(
            f"only {used} station observation value(s) match the input's times (at "
            f"{int(seen.sum())} of {times.size} times): the stations will barely act",
            UserWarning,
            stacklevel=2,
        )
    out.attrs = {**out.attrs, USED_ATTR: used}
    return out
