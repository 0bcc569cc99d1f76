"""Coordinate-aware interpolation (bicubic, bilinear, nearest) onto another grid."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from .cf import attach_grid
from .coords import _lon_extent, _lon_offsets, find_latlon
from .crop import check_inside
from .projected import point_weights
from .spec import find_grid, grid_latlon

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)


def _interp_matrix(src: np.ndarray, dst: np.ndarray, method: str) -> np.ndarray:
    """Matrix W (len(dst), len(src)) such that W @ f(src) interpolates f at dst.

    Cached: downscaling calls this once per chunk with the same grids.
    """
    return _interp_matrix_cached(tuple(src.tolist()), tuple(dst.tolist()), method)


@functools.lru_cache(maxsize=64)
def _interp_matrix_cached(
    src_t: tuple[float, ...], dst_t: tuple[float, ...], method: str
) -> np.ndarray:
    from scipy.interpolate import make_interp_spline

    src, dst = np.asarray(src_t), np.asarray(dst_t)

    order = np.argsort(src)
    s = src[order]
    n = s.size
    eye = np.eye(n)
    if method == "nearest":
        idx = np.abs(dst[:, None] - s[None, :]).argmin(axis=1)
        w_sorted = eye[idx]
    else:
        k = {"bicubic": 3, "cubic": 3, "bilinear": 1, "linear": 1}[method]
        k = min(k, n - 1)
        if k < 1:
            w_sorted = np.ones((dst.size, 1))
        else:
            # Interpolating splines are linear in the data: interpolate the identity.
            w_sorted = make_interp_spline(s, eye, k=k)(dst)
    w = np.empty_like(w_sorted)
    w[:, order] = w_sorted
    w.flags.writeable = False  # shared by the cache
    return w


INTERP_METHODS = ("bicubic", "bilinear", "nearest")


def _target_coords(
    target: xr.Dataset | xr.DataArray | Mapping[str, Any],
) -> tuple[str, str, xr.DataArray, xr.DataArray]:
    if isinstance(target, Mapping) and not isinstance(target, xr.Dataset):
        target = xr.Dataset(coords={k: np.asarray(v) for k, v in target.items()})
    tlat, tlon = find_latlon(target)
    return tlat, tlon, target[tlat], target[tlon]


def _as_dataset(target: xr.Dataset | xr.DataArray | Mapping[str, Any]) -> xr.Dataset | xr.DataArray:
    if isinstance(target, Mapping) and not isinstance(target, xr.Dataset):
        return xr.Dataset(coords={k: np.asarray(v) for k, v in target.items()})
    return target


def _onto_points(obj: xr.Dataset, target: xr.Dataset | xr.DataArray, method: str) -> xr.Dataset:
    """Interpolate a regular-grid Dataset at every point of a projected/curvilinear target."""
    lat, lon = find_latlon(obj)
    if any(v.chunks is not None for v in obj.data_vars.values()):
        obj = obj.chunk({lat: -1, lon: -1})
    spec = find_grid(target)
    check_inside(target, obj, inner_name="target", outer_name="source")
    la2, lo2 = grid_latlon(target, spec)
    w = point_weights(
        np.asarray(obj[lat].values, "float64"),
        np.asarray(obj[lon].values, "float64"),
        la2,
        lo2,
        method,
    )
    ny, nx = la2.shape
    tmp_y, tmp_x = "__xdeepr_y__", "__xdeepr_x__"

    def _apply(a: np.ndarray) -> np.ndarray:
        dt = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype("float64")
        return w.apply(a).reshape(*a.shape[:-2], ny, nx).astype(dt, copy=False)

    out_vars = {}
    for name, var in obj.data_vars.items():
        if lat in var.dims and lon in var.dims:
            res = xr.apply_ufunc(
                _apply,
                var,
                input_core_dims=[[lat, lon]],
                output_core_dims=[[tmp_y, tmp_x]],
                dask="parallelized",
                output_dtypes=[var.dtype if np.issubdtype(var.dtype, np.floating) else "f8"],
                dask_gufunc_kwargs={"output_sizes": {tmp_y: ny, tmp_x: nx}},
                keep_attrs=True,
            )
            out_vars[name] = res.drop_vars([c for c in (lat, lon) if c in res.coords])
        else:
            out_vars[name] = var
    out = xr.Dataset(out_vars, attrs=obj.attrs)
    out = out.drop_vars([c for c in out.coords if set(out[c].dims) & {lat, lon}])
    out = out.rename({tmp_y: spec.dims[0], tmp_x: spec.dims[1]})
    return attach_grid(out, target)


def interpolate(
    obj: XrObj,
    target: xr.Dataset | xr.DataArray | Mapping[str, Any],
    method: str = "bicubic",
) -> XrObj:
    """Interpolate `obj` onto the grid of `target`: regular, projected or curvilinear.

    Coordinate-aware: each target point is placed by its latitude and
    longitude (either orientation, either longitude convention), not by array
    index. ``"bicubic"`` is the tensor product of 1-D interpolating cubic
    splines (not-a-knot), like :class:`scipy.interpolate.RectBivariateSpline`
    with ``kx=ky=3, s=0``. On a projected (CF ``grid_mapping``) or curvilinear
    (2-D latitude/longitude) target, the same spline is evaluated at each target
    point's latitude and longitude (computed with pyproj when the target carries
    only projection coordinates); the result has the target's index dimensions,
    its 2-D latitude/longitude and grid-mapping variable, and each variable names
    the grid mapping. Lazy on dask input.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Field(s) on a regular lat/lon grid covering the target.
    target : Dataset, DataArray or mapping
        Provides the target grid: latitude/longitude coordinates (names and values),
        or a projected/curvilinear grid (:func:`xdeepr.grid.find_grid`).
    method : {"bicubic", "bilinear", "nearest"}

    Returns
    -------
    same type as `obj`
        On the target grid, with the target's coordinate names, values and attrs;
        variables without both horizontal dimensions pass through unchanged.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat = np.arange(50.0, 44.9, -0.25); lon = np.arange(6.0, 14.0, 0.25)
    >>> ds = xr.Dataset({"t": (("lat", "lon"), np.add.outer(lat, lon))},
    ...                 coords={"lat": lat, "lon": lon})
    >>> hr = interpolate(ds, {"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> np.allclose(hr.t, np.add.outer([48.0, 47.95], [9.2, 9.25]))
    True
    """
    if method not in INTERP_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {INTERP_METHODS}")
    if isinstance(obj, xr.DataArray):
        name = obj.name if obj.name is not None else "__xdeepr_da__"
        out = interpolate(obj.to_dataset(name=name), target, method)[name]
        return out.rename(obj.name)
    target = _as_dataset(target)
    if not find_grid(target).is_regular:  # projected or curvilinear: point by point
        return _onto_points(obj, target, method)
    lat, lon = find_latlon(obj)
    if any(v.chunks is not None for v in obj.data_vars.values()):
        obj = obj.chunk({lat: -1, lon: -1})  # the horizontal plane is one core block
    tlat, tlon, tlat_c, tlon_c = _target_coords(target)
    src_lat = np.asarray(obj[lat].values, dtype="float64")
    src_lon = np.asarray(obj[lon].values, dtype="float64")
    dst_lat = np.asarray(tlat_c.values, dtype="float64")
    dst_lon = np.asarray(tlon_c.values, dtype="float64")
    west, _ = _lon_extent(obj, lon)
    src_lon_c = west + _lon_offsets(src_lon, west)
    dst_lon_c = west + _lon_offsets(dst_lon, west)
    dst_lon_c = np.where(dst_lon_c > west + 360.0 - 1e-6, dst_lon_c - 360.0, dst_lon_c)
    if dst_lat.size > 1 and dst_lon.size > 1:
        target_grid = xr.Dataset(coords={tlat: tlat_c.variable, tlon: tlon_c.variable})
        check_inside(target_grid, obj, inner_name="target", outer_name="source")
    wy = _interp_matrix(src_lat, dst_lat, method)
    wx = _interp_matrix(src_lon_c, dst_lon_c, method)
    tmp_lat, tmp_lon = "__xdeepr_lat__", "__xdeepr_lon__"

    def _apply(a: np.ndarray) -> np.ndarray:
        # (..., Y, X) -> (..., Y', X') as wy @ a @ wx.T, one field at a time in float64: the
        # stacked matmul runs the same product per field, so a field's result never depends
        # on how many fields (time steps, chunk sizes) are interpolated with it
        dt = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype("float64")
        out = np.matmul(np.matmul(wy, a.astype("float64", copy=False)), wx.T)
        return out.astype(dt, copy=False)

    out_sizes = {tmp_lat: dst_lat.size, tmp_lon: dst_lon_c.size}
    out_vars = {}
    for name, var in obj.data_vars.items():
        if lat in var.dims and lon in var.dims:
            res = xr.apply_ufunc(
                _apply,
                var,
                input_core_dims=[[lat, lon]],
                output_core_dims=[[tmp_lat, tmp_lon]],
                dask="parallelized",
                output_dtypes=[var.dtype if np.issubdtype(var.dtype, np.floating) else "f8"],
                dask_gufunc_kwargs={"output_sizes": out_sizes},
                keep_attrs=True,
            )
            out_vars[name] = res.drop_vars([c for c in (lat, lon) if c in res.coords])
        else:
            out_vars[name] = var
    out = xr.Dataset(out_vars, attrs=obj.attrs)
    # Drop the source grid (and any coordinate depending on it), then rename.
    stale = [c for c in out.coords if set(out[c].dims) & {lat, lon}]
    out = out.drop_vars(stale)
    out = out.rename({tmp_lat: tlat, tmp_lon: tlon})
    out = out.assign_coords({tlat: tlat_c.variable, tlon: tlon_c.variable})
    return out
