"""The time dimension of gridded input, and the extra dimensions it must not have."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from .._util import is_cftime
from ..errors import InputError
from .spec import horizontal_dims

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)


def find_time(obj: xr.Dataset | xr.DataArray) -> str:
    """Name of the time dimension: ``time``, or a coordinate cf-xarray knows as time.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"valid_time": ("valid_time", np.arange(2).astype("M8[h]"),
    ...                                        {"standard_name": "time"})})
    >>> find_time(ds)
    'valid_time'
    """
    if "time" in obj.dims:
        return "time"
    try:
        import cf_xarray  # noqa: F401

        names = [str(n) for n in obj.cf.coordinates.get("time", []) if n in obj.dims]
    except Exception:  # pragma: no cover
        names = []
    if not names:
        names = [str(n) for n in obj.dims if np.issubdtype(obj[n].dtype, np.datetime64)]
    if len(names) != 1:
        raise ValueError(
            f"no time dimension found among the dimensions {list(map(str, obj.dims))} and "
            f"coordinates {list(map(str, obj.coords))}: name it 'time' or give it "
            "standard_name='time'"
        )
    return names[0]


def standard_time(obj: XrObj) -> tuple[XrObj, str]:
    """`obj` with its time dimension named ``time`` (a scalar time made a length-1 dim).

    Forecast input (a ``step`` lead time, as cfgrib opens ERA5 forecasts: ``time``
    the initialisation, ``step`` a scalar or a dimension, perhaps ``valid_time``)
    is put on its valid times first (:func:`valid_time_axis`), so that the calendar
    the model is conditioned on and the output's stamps are those of the field.

    Returns the renamed object and the original name, to rename results back
    (``"time"`` for forecast input: the result is stamped with the valid times).

    Raises
    ------
    InputError
        For forecast input whose valid times repeat (see :func:`valid_time_axis`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"time": np.datetime64("2020-01-01T06", "ns")})
    >>> out, name = standard_time(ds)
    >>> dict(out.sizes), name
    ({'time': 1}, 'time')
    """
    obj, forecast = valid_time_axis(obj)
    if forecast:
        return obj, "time"
    if "time" not in obj.dims:
        scalar = [n for n in obj.coords if obj[n].ndim == 0 and _is_time(obj[n])]
        if scalar:
            obj = obj.expand_dims(scalar[0])
    name = find_time(obj)
    return (obj if name == "time" else obj.rename({name: "time"})), name


def valid_time_axis(obj: XrObj) -> tuple[XrObj, bool]:
    """`obj` on one ``time`` axis of valid times when it holds forecast steps.

    A forecast field has an initialisation time ``time`` (a dimension or a scalar)
    and a lead time ``step`` (a timedelta coordinate: a scalar, or a dimension of
    any size). Its valid time is ``valid_time`` when present, else ``time + step``.
    The result has a ``time`` dimension holding the valid times, sorted, without
    ``step`` and ``valid_time``; input without a ``step`` is returned unchanged.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray

    Returns
    -------
    (same type as `obj`, bool)
        The object, and whether it held forecast steps.

    Raises
    ------
    InputError
        When two (time, step) pairs share a valid time, naming it and the selection
        (one step, or one initialisation) that removes the repetition.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"t2m": (("time", "lat"), np.zeros((2, 3)))},
    ...                 coords={"time": np.array(["2020-01-01T00", "2020-01-01T12"], "M8[ns]"),
    ...                         "step": np.timedelta64(6, "h")})
    >>> out, forecast = valid_time_axis(ds)
    >>> [str(t)[:13] for t in out.time.values], forecast, "step" in out.coords
    (['2020-01-01T06', '2020-01-01T18'], True, False)
    """
    step = _step_name(obj)
    init = "time" if "time" in obj.coords and obj["time"].ndim <= 1 else None
    if step is None or init is None or (obj[init].ndim == 1 and init not in obj.dims):
        return obj, False
    valid = _valid_times(obj, init, step)
    attrs = dict(obj["valid_time"].attrs) if "valid_time" in obj.coords else {}
    attrs = attrs or {"standard_name": "time", "long_name": "valid time"}
    dims: list[str] = [d for d in (init, step) if d in obj.dims]
    drop: list[str] = [n for n in (init, step, "valid_time") if n in obj.coords]
    if len(dims) == 2:
        flat = np.asarray(valid.transpose(init, step).values).ravel()
        _check_unique(obj, flat, step)
        out = obj.stack({"__valid__": dims})
        out = out.drop_vars([*drop, "__valid__"], errors="ignore").rename({"__valid__": "time"})
    elif dims:
        flat = np.asarray(valid.values).ravel()
        _check_unique(obj, flat, step)
        out = obj.drop_vars(drop)
        out = out if dims[0] == "time" else out.rename({dims[0]: "time"})
    else:  # a scalar initialisation time and a scalar step
        flat = np.asarray(valid.values).ravel()
        out = obj.drop_vars(drop).expand_dims("time")
    out = out.assign_coords(time=("time", flat, attrs))
    if flat.size > 1 and not out.indexes["time"].is_monotonic_increasing:
        out = out.sortby("time")
    return out.transpose("time", ...), True


def _step_name(obj: xr.Dataset | xr.DataArray) -> str | None:
    """The forecast lead-time coordinate: a timedelta scalar, or dimension coordinate."""
    for name in obj.coords:
        da = obj[name]
        if not np.issubdtype(da.dtype, np.timedelta64):
            continue
        if da.ndim == 0 or (da.ndim == 1 and da.dims[0] == name):
            return str(name)
    return None


def _valid_times(obj: xr.Dataset | xr.DataArray, init: str, step: str) -> xr.DataArray:
    """``valid_time`` when the input has it (over the init/step dims), else ``time + step``."""
    lead = obj[step].reset_coords(drop=True)
    start = obj[init].reset_coords(drop=True)
    computed = xr.apply_ufunc(_plus, start, lead) if is_cftime(start) else start + lead
    given = obj.coords.get("valid_time")
    if given is not None and set(given.dims) <= {init, step} and _is_time(given):
        return given.reset_coords(drop=True).broadcast_like(computed)
    return computed


def _plus(start: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """cftime datetimes plus numpy timedeltas (cftime adds only ``datetime.timedelta``)."""
    lead = np.asarray(lead)
    py = np.asarray(pd.to_timedelta(lead.ravel()).to_pytimedelta(), dtype=object)
    return np.asarray(start, dtype=object) + py.reshape(lead.shape)


def _check_unique(obj: xr.Dataset | xr.DataArray, valid: np.ndarray, step: str) -> None:
    """Refuse valid times that repeat, naming one and the selections that avoid it."""
    values, counts = np.unique(valid, return_counts=True)
    if np.all(counts == 1):
        return
    twice = values[np.argmax(counts > 1)]
    steps = np.atleast_1d(obj[step].values)
    shown = ", ".join(_duration(s) for s in steps[:4]) + (", ..." if steps.size > 4 else "")
    raise InputError(
        f"the input's forecast steps ({step}: {shown}) give the same valid time "
        f"{_stamp(twice)} {int(counts.max())} times (time + {step} repeats), but xdeepr needs "
        f"one field per valid time; pick one step with .sel({step}={_literal(steps[-1])}), or "
        f"initialisations whose steps do not overlap"
    )


def _duration(value: Any) -> str:
    """A lead time as pandas reads it back: ``'6h'``, ``'1h30min'``, ``'0h'``."""
    td = pd.Timedelta(value)
    if td == pd.Timedelta(0):
        return "0h"
    seconds = int(td.total_seconds())
    if td != pd.Timedelta(seconds=seconds) or seconds < 0:
        return str(td)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}min" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


def _stamp(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="m"))
    return str(value)


def _is_time(da: xr.DataArray) -> bool:
    return bool(np.issubdtype(da.dtype, np.datetime64)) or is_cftime(da)


def squeeze_extra_dims(
    obj: XrObj,
    what: str = "input",
    *,
    keep: Sequence[Hashable] = ("time",),
    drop: bool = True,
) -> XrObj:
    """`obj` without the size-1 dimensions its gridded variables have beyond time, lat, lon.

    ERA5 files often carry ``level`` or ``number`` (ensemble member) dimensions of
    size 1; they are squeezed. A larger extra dimension is refused, naming it, its
    size and the selection that picks one slice. Only variables with both the
    latitude and the longitude dimensions are looked at, so bounds such as
    ``time_bnds(time, bnds)`` pass unchanged.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Gridded input (dims time, lat, lon and perhaps more).
    what : str
        What `obj` is, for messages (``"features"``, ``"labels"``, ...).
    keep : sequence of hashable
        Dimensions besides lat/lon that belong to the data (default ``("time",)``).
    drop : bool
        Drop the squeezed dimensions' scalar coordinates (default), or keep them.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        `obj` itself when nothing is squeezed.

    Raises
    ------
    InputError
        For an extra dimension of size > 1, with the ``.sel(...)``/``.isel(...)`` to use.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 1, 3, 4)), dims=("time", "level", "lat", "lon"),
    ...                   coords={"level": [850], "lat": [50.0, 49.75, 49.5],
    ...                           "lon": [6.0, 6.25, 6.5, 6.75]})
    >>> squeeze_extra_dims(da.to_dataset(name="t")).t.dims
    ('time', 'lat', 'lon')
    >>> squeeze_extra_dims(xr.concat([da, da], "level").rename("t"), what="features")
    Traceback (most recent call last):
    ...
    xdeepr.errors.InputError: the features have an extra dimension 'level' of size 2 (in 't'), but xdeepr uses (time, lat, lon); pick one with .sel(level=850) or .isel(level=0)
    """  # noqa: E501
    lat, lon = horizontal_dims(obj)
    space = {lat, lon}
    arrays = [obj] if isinstance(obj, xr.DataArray) else [obj[v] for v in obj.data_vars]
    gridded = [a for a in arrays if space <= set(a.dims)]
    extra: dict[Hashable, list[str]] = {}
    for a in gridded:
        for d in a.dims:
            if d not in space and d not in keep:
                extra.setdefault(d, []).append("the array" if a.name is None else repr(a.name))
    large = [d for d in extra if obj.sizes[d] > 1]
    if large:
        d = large[0]
        pick = f".isel({d}=0)"
        if d in obj.coords:
            pick = f".sel({d}={_literal(obj[d].values[0])}) or " + pick
        others = f" (and also {[str(x) for x in large[1:]]})" if len(large) > 1 else ""
        raise InputError(
            f"the {what} have an extra dimension {str(d)!r} of size {obj.sizes[d]} (in "
            f"{', '.join(extra[d])}){others}, but xdeepr uses ({', '.join(map(str, keep))}, "
            f"{lat}, {lon}); pick one with {pick}"
        )
    if not extra:
        return obj
    return obj.squeeze(list(extra), drop=drop)


def _literal(value: Any) -> str:
    """`value` as Python source to paste into ``.sel(...)`` (numpy scalars unwrapped).

    Examples
    --------
    >>> _literal(np.timedelta64(21600000000000, "ns")), _literal(np.float32(850.0))
    ("'6h'", '850.0')
    """
    if isinstance(value, np.timedelta64):
        return repr(_duration(value))
    if isinstance(value, np.datetime64):
        return repr(str(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)
