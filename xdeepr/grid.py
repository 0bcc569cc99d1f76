"""Regular latitude/longitude grids: find, check, crop, pad and interpolate.

Everything here works on :class:`xarray.Dataset` and :class:`xarray.DataArray`
with any coordinate names (found through cf-xarray), either latitude
orientation and either longitude convention (0..360 or -180..180). Functions
return new objects and never modify their input.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from ._util import is_cftime
from .errors import GridError, InputError

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)

#: Fallback names tried when no coordinate carries CF metadata.
LAT_NAMES = ("latitude", "lat", "nav_lat", "y_lat")
LON_NAMES = ("longitude", "lon", "nav_lon", "x_lon")
#: Attribute on a padded coordinate holding ``[before, after]`` pad widths.
PAD_ATTR = "xdeepr_pad"
#: Matching tolerance, as a fraction of the grid step.
TOLERANCE = 0.25




def _cf_coord(obj: xr.Dataset | xr.DataArray, key: str) -> list[Hashable]:
    try:
        import cf_xarray  # noqa: F401  (registers .cf)

        names = obj.cf.coordinates.get(key, [])
    except Exception:  # pragma: no cover - cf-xarray failing is not fatal
        names = []
    return [n for n in names if n in obj.coords and obj[n].ndim == 1]


def find_latlon(obj: xr.Dataset | xr.DataArray) -> tuple[str, str]:
    """Find the 1-D latitude and longitude coordinates of `obj`.

    Coordinates are looked up through cf-xarray (``standard_name``, ``units``,
    ``axis``), then by the common names ``latitude``/``lat`` and
    ``longitude``/``lon``.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Object on a regular latitude/longitude grid.

    Returns
    -------
    tuple of str
        ``(latitude_name, longitude_name)``.

    Raises
    ------
    GridError
        When a coordinate cannot be found, or several candidates are found.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [50.0, 49.75], "lon": [6.0, 6.25]})
    >>> find_latlon(ds)
    ('lat', 'lon')
    """
    found: list[str] = []
    for key, fallback, units in (
        ("latitude", LAT_NAMES, "degrees_north"),
        ("longitude", LON_NAMES, "degrees_east"),
    ):
        names = _cf_coord(obj, key)
        if not names:
            names = [n for n in fallback if n in obj.coords and obj[n].ndim == 1]
        if not names:
            raise GridError(
                f"no {key} coordinate found among {sorted(map(str, obj.coords))}: looked for "
                f"standard_name={key!r}, units={units!r} (cf-xarray) and the names "
                f"{list(fallback)}. Rename your coordinate or set its standard_name."
            )
        if len(names) > 1:
            raise GridError(
                f"several {key} coordinates found: {sorted(map(str, names))}; select one "
                "variable (ds[name]) or drop the others."
            )
        found.append(str(names[0]))
    return found[0], found[1]


def _diffs(values: np.ndarray, is_lon: bool) -> np.ndarray:
    d = np.diff(values.astype("float64"))
    if is_lon:
        d = (d + 180.0) % 360.0 - 180.0
    return d


def grid_step(obj: xr.Dataset | xr.DataArray, name: Hashable) -> float:
    """Return the signed spacing of the regular 1-D coordinate `name`.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
    name : hashable
        Coordinate name.

    Returns
    -------
    float
        Step in the coordinate's units (negative for descending coordinates).

    Raises
    ------
    GridError
        When the coordinate has fewer than two points or is not regular.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [50.0, 49.75, 49.5], "lon": [6.0, 6.25]})
    >>> grid_step(ds, "lat")
    -0.25
    """
    values = np.asarray(obj[name].values)
    if values.size < 2:
        raise GridError(f"coordinate {name!r} has {values.size} point(s); need at least 2")
    _, lon = _maybe_latlon(obj)
    d = _diffs(values, is_lon=(name == lon))
    step = float(np.median(d))
    if step == 0 or not np.allclose(d, step, rtol=1e-3, atol=1e-6 * abs(step)):
        raise GridError(
            f"coordinate {name!r} is not regular: spacing ranges from {d.min():g} to "
            f"{d.max():g}. Regrid it to a regular grid first."
        )
    # Round away float noise such as 0.25000000000000355.
    return float(np.round(step, 10))


def _maybe_latlon(obj: xr.Dataset | xr.DataArray) -> tuple[str | None, str | None]:
    try:
        return find_latlon(obj)
    except GridError:
        return None, None


def grid_spacing(obj: xr.Dataset | xr.DataArray) -> tuple[float, float]:
    """Return the signed ``(latitude, longitude)`` steps of a regular grid.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> grid_spacing(ds)
    (-0.05, 0.05)
    """
    lat, lon = find_latlon(obj)
    return grid_step(obj, lat), grid_step(obj, lon)


def scale_factor(coarse: xr.Dataset | xr.DataArray, fine: xr.Dataset | xr.DataArray) -> int:
    """Integer ratio between the grid steps of a coarse and a fine grid.

    Raises
    ------
    GridError
        When the ratio is not an integer or differs between latitude and longitude.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> c = xr.Dataset(coords={"lat": [50.0, 49.75], "lon": [6.0, 6.25]})
    >>> f = xr.Dataset(coords={"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> scale_factor(c, f)
    5
    """
    factors = []
    for axis, sc, sf in zip(("latitude", "longitude"), grid_spacing(coarse), grid_spacing(fine)):
        ratio = abs(sc) / abs(sf)
        k = round(ratio)
        if k < 1 or abs(ratio - k) > 1e-3 * ratio:
            raise GridError(
                f"the {axis} steps {abs(sc):g} (coarse) and {abs(sf):g} (fine) are not in an "
                f"integer ratio ({ratio:g}); regrid one of them."
            )
        factors.append(k)
    if factors[0] != factors[1]:
        raise GridError(
            f"the scale factor differs between latitude ({factors[0]}) and longitude ({factors[1]})"
        )
    return int(factors[0])


def _lon_offsets(lon: np.ndarray, west: float) -> np.ndarray:
    """Eastward distance in degrees [0, 360) from `west` to each longitude."""
    return (np.asarray(lon, dtype="float64") - west) % 360.0


def _lat_range(obj: xr.Dataset | xr.DataArray, name: str) -> tuple[float, float]:
    v = np.asarray(obj[name].values, dtype="float64")
    return float(v.min()), float(v.max())


def _lon_extent(obj: xr.Dataset | xr.DataArray, name: str) -> tuple[float, float]:
    """(west, span) of a longitude coordinate that may cross the seam."""
    v = np.asarray(obj[name].values, dtype="float64")
    d = _diffs(v, is_lon=True)
    if np.all(d >= 0):
        west = float(v[0])
    else:
        west = float(v[-1])
    span = float(_lon_offsets(v, west).max())
    return west, span


def check_inside(
    inner: xr.Dataset | xr.DataArray,
    outer: xr.Dataset | xr.DataArray,
    *,
    inner_name: str = "label",
    outer_name: str = "feature",
) -> None:
    """Check the domain of `inner` lies inside the domain of `outer`.

    Domains are compared by their outermost grid-point centres, with a tolerance
    of a quarter of the finer step.

    Raises
    ------
    GridError
        Naming the edge (north, south, west or east) that falls outside, and by how much.

    Examples
    --------
    >>> import xarray as xr
    >>> outer = xr.Dataset(coords={"lat": [50.0, 49.75, 49.5], "lon": [6.0, 6.25, 6.5]})
    >>> inner = xr.Dataset(coords={"lat": [49.9, 49.85], "lon": [6.1, 6.15]})
    >>> check_inside(inner, outer)
    """
    ilat, ilon = find_latlon(inner)
    olat, olon = find_latlon(outer)
    tol = TOLERANCE * min(abs(grid_step(inner, ilat)), abs(grid_step(outer, olat)))
    (is_, in_), (os_, on_) = _lat_range(inner, ilat), _lat_range(outer, olat)
    problems = []
    if in_ > on_ + tol:
        problems.append(f"north edge {in_:g}°N lies {in_ - on_:g}° north of {on_:g}°N")
    if is_ < os_ - tol:
        problems.append(f"south edge {is_:g}°N lies {os_ - is_:g}° south of {os_:g}°N")
    owest, ospan = _lon_extent(outer, olon)
    iwest, ispan = _lon_extent(inner, ilon)
    if ospan + abs(grid_step(outer, olon)) < 360.0 - tol:  # a global outer grid holds all
        start = float((iwest - owest) % 360.0)  # inner west, degrees east of outer west
        if start > 360.0 - tol:
            start -= 360.0
        if start > ospan + tol and 360.0 - start <= start - ospan:
            problems.append(f"west edge {iwest:g}°E lies {360.0 - start:g}° west of {owest:g}°E")
        elif start + ispan > ospan + tol:
            problems.append(
                f"east edge {iwest + ispan:g}°E lies {start + ispan - ospan:g}° east of "
                f"{owest + ospan:g}°E"
            )
    if problems:
        raise GridError(
            f"the {inner_name} domain is not inside the {outer_name} domain: "
            + "; ".join(problems)
            + f". Extend the {outer_name} coverage or crop the {inner_name}s."
        )


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} bounds must be a pair of numbers, got {value!r}") from err
    return a, b


def _coverage_bounds(coverage: Mapping[str, Any]) -> tuple[Any, Any]:
    keys = {str(k).lower(): v for k, v in coverage.items()}
    lon = next((keys[k] for k in ("longitude", "lon") if k in keys), None)
    lat = next((keys[k] for k in ("latitude", "lat") if k in keys), None)
    unknown = set(keys) - {"longitude", "lon", "latitude", "lat"}
    if unknown:
        raise ValueError(
            f"unknown key(s) {sorted(unknown)} in coverage; expected 'longitude' and 'latitude'"
        )
    return lon, lat


def crop(
    obj: XrObj,
    longitude: Sequence[float] | None = None,
    latitude: Sequence[float] | None = None,
    *,
    coverage: Mapping[str, Any] | None = None,
) -> XrObj:
    """Crop `obj` to a longitude/latitude box.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
    longitude : (west, east), optional
        Longitude bounds in either convention (0..360 or -180..180). When
        ``west > east`` and going east from ``west`` to ``east`` spans less than
        180°, the box crosses the seam (e.g. ``(350, 10)`` or ``(170, -170)``);
        otherwise the pair is taken as given in the wrong order and sorted.
    latitude : (north, south), optional
        Latitude bounds, in any order.
    coverage : mapping, optional
        DeepR's ``spatial_coverage`` mapping as is, e.g.
        ``{"longitude": [6.0, 13.75], "latitude": [50, 45.25]}``.

    Returns
    -------
    same type as `obj`
        The cropped object, with the input's orientation and attributes. Points
        within a quarter of the grid step of a bound are included. When the box
        crosses the seam of the data's longitude convention, the longitudes are
        made continuous from ``west`` (e.g. 350 … 370).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(
    ...     {"t2m": (("lat", "lon"), np.zeros((5, 8)))},
    ...     coords={"lat": [50.0, 49.75, 49.5, 49.25, 49.0], "lon": np.arange(8) * 0.25},
    ... )
    >>> crop(ds, longitude=(0.25, 1.0), latitude=(49.25, 50)).t2m.shape
    (4, 4)
    """
    if coverage is not None:
        if longitude is not None or latitude is not None:
            raise ValueError("pass either coverage= or longitude=/latitude=, not both")
        longitude, latitude = _coverage_bounds(coverage)
    lat, lon = find_latlon(obj)
    indexers: dict[str, np.ndarray] = {}
    new_lon: np.ndarray | None = None
    if latitude is not None:
        a, b = _pair(latitude, "latitude")
        lo, hi = min(a, b), max(a, b)
        values = np.asarray(obj[lat].values, dtype="float64")
        tol = TOLERANCE * abs(grid_step(obj, lat)) if values.size > 1 else 1e-6
        (idx,) = np.nonzero((values >= lo - tol) & (values <= hi + tol))
        if idx.size == 0:
            raise GridError(
                f"no {lat!r} point lies in [{lo:g}, {hi:g}]; the data cover "
                f"[{values.min():g}, {values.max():g}]"
            )
        indexers[lat] = idx
    if longitude is not None:
        west, east = _pair(longitude, "longitude")
        span = (east - west) % 360.0
        if west > east and span > 180.0:
            west, east = east, west
            span = east - west
        elif west <= east:
            span = east - west
        values = np.asarray(obj[lon].values, dtype="float64")
        tol = TOLERANCE * abs(grid_step(obj, lon)) if values.size > 1 else 1e-6
        off = _lon_offsets(values, west)
        off = np.where(off > 360.0 - tol, off - 360.0, off)
        keep = off <= span + tol
        (idx,) = np.nonzero(keep)
        if idx.size == 0:
            raise GridError(
                f"no {lon!r} point lies in the box [{west:g}, {east:g}]; the data cover "
                f"[{values.min():g}, {values.max():g}]"
            )
        ascending = values.size < 2 or grid_step(obj, lon) > 0
        order = np.argsort(off[idx], kind="stable")
        idx = idx[order if ascending else order[::-1]]
        sel = values[idx]
        if np.any(np.abs(np.diff(sel)) > 180.0):  # crosses the data's seam
            new_lon = west + off[idx]
        indexers[lon] = idx
    out = obj.isel(indexers)
    if new_lon is not None:
        out = out.assign_coords({lon: (lon, new_lon, obj[lon].attrs)})
    return out


def pad(obj: XrObj, levels: int = 4, mode: str = "reflect") -> XrObj:
    """Pad the lat/lon dimensions to multiples of ``2 ** (levels - 1)``.

    Coordinates are extended with the grid step and the pad widths are recorded
    on each padded coordinate (attribute ``xdeepr_pad``) so that :func:`unpad`
    restores the original exactly.

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
    lat, lon = find_latlon(obj)
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


def interpolate(
    obj: XrObj,
    target: xr.Dataset | xr.DataArray | Mapping[str, Any],
    method: str = "bicubic",
) -> XrObj:
    """Interpolate `obj` onto the latitude/longitude grid of `target`.

    Coordinate-aware: each target point is placed by its latitude and
    longitude (either orientation, either longitude convention), not by array
    index. ``"bicubic"`` is the tensor product of 1-D interpolating cubic
    splines (not-a-knot), like :class:`scipy.interpolate.RectBivariateSpline`
    with ``kx=ky=3, s=0``. Lazy on dask input.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Field(s) on a regular lat/lon grid covering the target.
    target : Dataset, DataArray or mapping
        Provides the target latitude/longitude coordinates (names and values).
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


def template_grid(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """Return an empty Dataset holding only the lat/lon coordinates of `obj`.

    Examples
    --------
    >>> import xarray as xr
    >>> grid = template_grid(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]}))
    >>> list(grid.coords)
    ['lat', 'lon']
    """
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
        names = _cf_coord(obj, key) or [
            n for n in fallback if n in obj.coords and obj[n].ndim == 1
        ]
        names = [n for n in names if obj[n].size > 1]
        if not names:
            raise GridError(f"no {key} coordinate with two or more points in the object")
        steps = {n: abs(float(np.median(np.diff(np.asarray(obj[n].values, "f8"))))) for n in names}
        chosen.append(min(names, key=lambda n: steps[n]))
    lat, lon = chosen
    return xr.Dataset(coords={lat: obj[lat].variable, lon: obj[lon].variable})


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
