"""The CF coordinates of a grid: what outputs carry and what model files store.

A projected or curvilinear grid travels as coordinates: the 1-D index coordinates
``(y, x)``, the 2-D latitude/longitude and the grid-mapping variable (a scalar
coordinate, so that it follows the data through selections and is written as the
variable each data variable's ``grid_mapping`` attribute names). :func:`grid_coords`
makes them, :func:`attach_grid` puts them on a result, :func:`grid_record` and
:func:`grid_from_record` store them in a model file and read them back.

Examples
--------
>>> import numpy as np, xarray as xr
>>> lat2, lon2 = np.meshgrid([50.0, 50.1], [8.0, 8.1, 8.2], indexing="ij")
>>> g = xr.Dataset(coords={"lat": (("j", "i"), lat2), "lon": (("j", "i"), lon2)})
>>> sorted(map(str, grid_coords(g)))
['i', 'j', 'lat', 'lon']
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import GridError
from .coords import LAT_NAMES, LON_NAMES, _cf_coord, find_latlon
from .spec import INDEX_ATTR, _plain, find_grid, grid_latlon

#: Attributes of the 2-D latitude/longitude written by :func:`grid_coords`.
LAT_ATTRS = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"}
LON_ATTRS = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"}


def grid_coords(obj: xr.Dataset | xr.DataArray) -> dict[Hashable, xr.Variable]:
    """The coordinates that define `obj`'s grid, as variables ready for ``assign_coords``.

    Regular grid: the 1-D latitude and longitude. Otherwise: the 1-D index
    coordinates (integer indices, marked ``xdeepr_index``, where the grid has
    none), the 2-D latitude and longitude (computed with pyproj when absent) and
    the grid-mapping variable (a scalar coordinate, so it travels with the data).

    Examples
    --------
    >>> import xarray as xr
    >>> sorted(grid_coords(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]})))
    ['lat', 'lon']
    """
    spec = find_grid(obj)
    ydim, xdim = spec.dims
    if spec.is_regular:
        return {ydim: obj[ydim].variable, xdim: obj[xdim].variable}
    out: dict[Hashable, xr.Variable] = {}
    for dim, name in ((ydim, spec.y), (xdim, spec.x)):
        if name is not None:
            out[dim] = obj[name].variable
        else:
            n = obj.sizes[dim]
            attrs = {"long_name": f"grid index along {dim}", "units": "1", INDEX_ATTR: 1}
            out[dim] = xr.Variable(dim, np.arange(n, dtype="int64"), attrs)
    la, lo = grid_latlon(obj, spec)
    lat_name = spec.latitude or "latitude"
    lon_name = spec.longitude or "longitude"
    lat_attrs = dict(obj[spec.latitude].attrs) if spec.latitude else dict(LAT_ATTRS)
    lon_attrs = dict(obj[spec.longitude].attrs) if spec.longitude else dict(LON_ATTRS)
    out[lat_name] = xr.Variable((ydim, xdim), la, lat_attrs)
    out[lon_name] = xr.Variable((ydim, xdim), lo, lon_attrs)
    if spec.grid_mapping is not None:
        out[spec.grid_mapping] = xr.Variable((), np.int32(0), spec.mapping_attrs)
    return out


def attach_grid(obj: xr.Dataset, grid: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """`obj` (on `grid`'s index dimensions) with `grid`'s coordinates and CF grid mapping.

    Every data variable with both horizontal dimensions gets the ``grid_mapping``
    attribute naming the grid-mapping variable (kept as a scalar coordinate); on a
    regular grid only the latitude/longitude coordinates are set.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> g = xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]})
    >>> attach_grid(xr.Dataset({"t": (("lat", "lon"), np.zeros((2, 2)))}), g).lat.values.tolist()
    [1.0, 2.0]
    """
    spec = find_grid(grid)
    out = obj.assign_coords(grid_coords(grid))
    if spec.grid_mapping is not None:
        for name, da in out.data_vars.items():
            if set(spec.dims) <= set(da.dims):
                out[name].attrs = {**da.attrs, "grid_mapping": spec.grid_mapping}
    return out


def _plain_attrs(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    """Attributes as JSON-ready values (arrays and numpy scalars to lists and numbers)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.generic, tuple)):
            v = _plain(v)
            v = list(v) if isinstance(v, tuple) else v
        out[str(k)] = v
    return out


def grid_record(grid: xr.Dataset) -> dict[str, Any] | None:
    """What a model file stores of a projected or curvilinear label grid (None: regular).

    ``{"kind", "coords": {name: {"dims", "values", "attrs"}}, "grid_mapping": {"name",
    "attrs"} | None}``: the 2-D latitude/longitude (float64 arrays) and the CF grid
    mapping; the index coordinates are stored as a regular grid's are.

    Examples
    --------
    >>> import xarray as xr
    >>> grid_record(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]})) is None
    True
    """
    spec = find_grid(grid)
    if spec.is_regular:
        return None
    coords = {}
    for name in (spec.latitude, spec.longitude):
        if name is not None:
            c = grid[name].transpose(*spec.dims)
            coords[name] = {
                "dims": list(spec.dims),
                "values": np.ascontiguousarray(c.values, dtype="float64"),
                "attrs": _plain_attrs(c.attrs),
            }
    gm = None
    if spec.grid_mapping is not None:
        gm = {"name": spec.grid_mapping, "attrs": _plain_attrs(spec.mapping_attrs)}
    return {"kind": spec.kind, "coords": coords, "grid_mapping": gm}


def grid_from_record(index: xr.Dataset, record: Mapping[str, Any] | None) -> xr.Dataset:
    """Inverse of :func:`grid_record`: `index` (the 1-D index coordinates) completed.

    Raises
    ------
    GridError
        When a stored 2-D coordinate's shape differs from the index coordinates'.
    """
    if not record:
        return index
    coords: dict[Hashable, xr.Variable] = {}
    for name, c in dict(record.get("coords") or {}).items():
        dims = tuple(str(d) for d in c["dims"])
        values = np.asarray(c["values"], dtype="float64")
        want = tuple(index.sizes[d] for d in dims)
        if values.shape != want:
            raise GridError(
                f"the stored coordinate {name!r} has shape {list(values.shape)}, the label grid "
                f"{list(want)}"
            )
        coords[str(name)] = xr.Variable(dims, values, dict(c.get("attrs") or {}))
    gm = record.get("grid_mapping")
    if gm:
        coords[str(gm["name"])] = xr.Variable((), np.int32(0), dict(gm.get("attrs") or {}))
    return index.assign_coords(coords)


def with_grid_coords(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with its grid-mapping variable as a coordinate (it then follows ``ds[names]``).

    A file opened without ``decode_coords="all"`` holds the grid mapping (``crs``,
    ``Lambert_Conformal``, ...) as a data variable; selecting the data variables
    would drop it and with it the projection.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"crs": ((), 0, {"grid_mapping_name": "latitude_longitude"})})
    >>> list(with_grid_coords(ds).coords)
    ['crs']
    """
    names = [k for k, v in ds.data_vars.items() if v.ndim == 0 and "grid_mapping_name" in v.attrs]
    return ds.set_coords(names) if names else ds


def template_grid(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """Return an empty Dataset holding only the grid coordinates of `obj`.

    On a regular grid: its latitude and longitude. On a projected or curvilinear
    grid: what :func:`xdeepr.grid.grid_coords` lists (index coordinates, 2-D
    latitude/longitude, the grid-mapping variable).

    Examples
    --------
    >>> import xarray as xr
    >>> grid = template_grid(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]}))
    >>> list(grid.coords)
    ['lat', 'lon']
    """
    if not find_grid(obj).is_regular:  # projected/curvilinear: index, 2-D and mapping coords
        return xr.Dataset(coords=grid_coords(obj))
    lat, lon = find_latlon(obj)
    return xr.Dataset(coords={lat: obj[lat].variable, lon: obj[lon].variable})


def finest_grid(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """The finest lat/lon grid of `obj`, as an empty Dataset of its two coordinates.

    A Dataset may hold variables on several grids (e.g. static covariates at 0.05° and
    0.25°); this picks the latitude and the longitude coordinate with the smallest step.

    Examples
    --------
    >>> import xarray as xr
    >>> y, x = {"standard_name": "latitude"}, {"standard_name": "longitude"}
    >>> ds = xr.Dataset(coords={"lat": ("lat", [1.0, 1.05], y), "lon": ("lon", [3.0, 3.05], x),
    ...                         "lat_c": ("lat_c", [0.0, 0.25], y),
    ...                         "lon_c": ("lon_c", [0.0, 0.25], x)})
    >>> list(finest_grid(ds).coords)
    ['lat', 'lon']
    """
    try:
        return template_grid(obj)
    except GridError as err:
        if "several" not in str(err):
            raise
    chosen = []
    for key, fallback in (("latitude", LAT_NAMES), ("longitude", LON_NAMES)):
        names = _cf_coord(obj, key) or [n for n in fallback if n in obj.coords and obj[n].ndim == 1]
        names = [n for n in names if obj[n].size > 1]
        if not names:
            raise GridError(f"no {key} coordinate with two or more points in the object")
        steps = {n: abs(float(np.median(np.diff(np.asarray(obj[n].values, "f8"))))) for n in names}
        chosen.append(min(names, key=lambda n: steps[n]))
    lat, lon = chosen
    return xr.Dataset(coords={lat: obj[lat].variable, lon: obj[lon].variable})
