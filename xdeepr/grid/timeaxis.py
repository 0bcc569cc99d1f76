"""The time dimension of gridded input, and the extra dimensions it must not have."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from .._util import is_cftime
from ..errors import InputError
from .coords import find_latlon

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

    Returns the renamed object and the original name, to rename results back.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"time": np.datetime64("2020-01-01T06", "ns")})
    >>> out, name = standard_time(ds)
    >>> dict(out.sizes), name
    ({'time': 1}, 'time')
    """
    if "time" not in obj.dims:
        scalar = [n for n in obj.coords if obj[n].ndim == 0 and _is_time(obj[n])]
        if scalar:
            obj = obj.expand_dims(scalar[0])
    name = find_time(obj)
    return (obj if name == "time" else obj.rename({name: "time"})), name


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
    lat, lon = find_latlon(obj)
    space = set(obj[lat].dims) | set(obj[lon].dims)
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
    """`value` as Python source to paste into ``.sel(...)`` (numpy scalars unwrapped)."""
    if isinstance(value, np.datetime64):
        return repr(str(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)
