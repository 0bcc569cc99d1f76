"""Padding to multiples of ``2**(levels-1)`` and exact unpadding."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import xarray as xr

from ..errors import GridError
from .coords import grid_step
from .spec import INDEX_ATTR, find_grid

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)

#: Attribute on a padded coordinate holding ``[before, after]`` pad widths.
PAD_ATTR = "xdeepr_pad"


def pad(obj: XrObj, levels: int = 4, mode: str = "reflect") -> XrObj:
    """Pad the horizontal dimensions to multiples of ``2 ** (levels - 1)``.

    Coordinates are extended with the grid step and the pad widths are recorded
    on each padded coordinate (attribute ``xdeepr_pad``) so that :func:`unpad`
    restores the original exactly. On a projected or curvilinear grid the index
    dimensions ``(y, x)`` are padded (:func:`xdeepr.grid.find_grid`), 2-D
    latitude/longitude are extended linearly, and a dimension without a
    coordinate gets integer indices (kept by :func:`unpad`).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
    levels : int
        Number of U-Net levels (``len(channel_multipliers)``).
    mode : str
        Any mode of :meth:`xarray.Dataset.pad` for the data (``"reflect"``,
        ``"edge"``, ``"symmetric"``, ``"constant"``...).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"t": (("lat", "lon"), np.ones((5, 6)))},
    ...                 coords={"lat": np.arange(5.0), "lon": np.arange(6.0)})
    >>> p = pad(ds, levels=3)
    >>> dict(p.sizes)
    {'lat': 8, 'lon': 8}
    >>> unpad(p).identical(ds)
    True
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    multiple = 2 ** (levels - 1)
    lat, lon = find_grid(obj).dims
    for name in (lat, lon):
        if name not in obj.coords:  # a curvilinear grid without index coordinates
            attrs = {"long_name": f"grid index along {name}", "units": "1", INDEX_ATTR: 1}
            obj = obj.assign_coords({name: (name, np.arange(obj.sizes[name]), attrs)})
    widths: dict[str, tuple[int, int]] = {}
    for name in (lat, lon):
        if PAD_ATTR in obj[name].attrs:
            raise ValueError(f"coordinate {name!r} is already padded; call unpad() first")
        n = obj.sizes[name]
        total = math.ceil(n / multiple) * multiple - n
        if mode == "reflect" and total >= n:
            raise GridError(
                f"cannot reflect-pad {name!r} of size {n} by {total}; use mode='edge' or "
                "fewer levels"
            )
        widths[name] = (total // 2, total - total // 2)
    if all(w == (0, 0) for w in widths.values()):
        out = obj.copy()
    else:
        out = obj.pad({k: v for k, v in widths.items() if v != (0, 0)}, mode=mode)  # type: ignore[arg-type]
    coords = {}
    for name, (before, after) in widths.items():
        values = np.asarray(obj[name].values, dtype="float64")
        step = grid_step(obj, name) if values.size > 1 else 1.0
        new = np.concatenate(
            [
                values[0] - step * np.arange(before, 0, -1),
                values,
                values[-1] + step * np.arange(1, after + 1),
            ]
        ).astype(obj[name].dtype)
        attrs = dict(obj[name].attrs)
        attrs[PAD_ATTR] = [before, after]
        coords[name] = xr.Variable(name, new, attrs)
    pads = {k: v for k, v in widths.items() if v != (0, 0)}
    for cname, c in obj.coords.items():  # 2-D latitude/longitude: extended linearly
        if c.ndim < 2 or not set(pads) & set(c.dims) or c.dtype.kind != "f":
            continue
        w = [pads.get(str(d), (0, 0)) for d in c.dims]
        if all(a < n and b < n for (a, b), n in zip(w, c.shape)):
            values = np.pad(np.asarray(c.values), w, mode="reflect", reflect_type="odd")
        else:  # too few points to reflect: repeat the edge
            values = np.pad(np.asarray(c.values), w, mode="edge")
        coords[str(cname)] = xr.Variable(c.dims, values, c.attrs)
    return out.assign_coords(coords)


def unpad(obj: XrObj) -> XrObj:
    """Undo :func:`pad`: drop the padded rows/columns and the pad record.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"lat": np.arange(3.0), "lon": np.arange(3.0)})
    >>> unpad(pad(ds, levels=2)).sizes == ds.sizes
    True
    """
    indexers = {}
    coords = {}
    for name in obj.coords:
        if obj[name].ndim == 1 and PAD_ATTR in obj[name].attrs:
            before, after = (int(v) for v in np.atleast_1d(obj[name].attrs[PAD_ATTR]))
            n = obj.sizes[name]
            indexers[name] = slice(before, n - after)
            attrs = {k: v for k, v in obj[name].attrs.items() if k != PAD_ATTR}
            coords[name] = attrs
    if not indexers:
        raise ValueError(
            f"nothing to unpad: no coordinate carries the {PAD_ATTR!r} attribute written by pad()"
        )
    out = obj.isel(indexers)
    for name, attrs in coords.items():
        out[name].attrs = attrs
    return out


# --------------------------------------------------------------------------- interpolation
