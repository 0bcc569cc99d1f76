"""Containment checks and cropping to a box or a DeepR ``spatial_coverage`` mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from ..errors import GridError
from .coords import TOLERANCE, _lat_range, _lon_extent, _lon_offsets, find_latlon, grid_step
from .projected import crop_window
from .spec import find_grid, grid_latlon

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)


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
    olat, olon = find_latlon(outer)
    (is_, in_), (iwest, ispan), istep = latlon_hull(inner)
    tol = TOLERANCE * min(istep, abs(grid_step(outer, olat)))
    os_, on_ = _lat_range(outer, olat)
    problems = []
    if in_ > on_ + tol:
        problems.append(f"north edge {in_:g}°N lies {in_ - on_:g}° north of {on_:g}°N")
    if is_ < os_ - tol:
        problems.append(f"south edge {is_:g}°N lies {os_ - is_:g}° south of {os_:g}°N")
    owest, ospan = _lon_extent(outer, olon)
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


def latlon_hull(
    obj: xr.Dataset | xr.DataArray,
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """``((south, north), (west, span), step)`` of any grid's points, in degrees.

    `span` is measured eastwards from `west` (the smallest arc holding every
    longitude); `step` is the latitude step (regular grid) or the median latitude
    difference of neighbours along the index axis that runs most north-south
    (projected, curvilinear grid).

    Examples
    --------
    >>> import xarray as xr
    >>> latlon_hull(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [359.0, 0.5]}))
    ((1.0, 2.0), (359.0, 1.5), 1.0)
    """
    spec = find_grid(obj)
    if spec.is_regular:
        lat, lon = spec.dims
        return _lat_range(obj, lat), _lon_extent(obj, lon), abs(grid_step(obj, lat))
    la, lo = grid_latlon(obj, spec)
    u = np.unique(np.mod(lo.ravel(), 360.0))
    gaps = np.diff(np.append(u, u[0] + 360.0))
    k = int(np.argmax(gaps))  # the largest gap lies outside the grid
    west = float(u[(k + 1) % u.size])
    span = float(360.0 - gaps[k]) if u.size > 1 else 0.0
    # the latitude step along whichever index axis runs most north-south
    steps = [float(np.median(np.abs(np.diff(la, axis=a)))) for a in (0, 1) if la.shape[a] > 1]
    step = max(steps) if steps and max(steps) > 0 else 1.0
    return (float(la.min()), float(la.max())), (west, span), step


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


def _lat_box(latitude: Any) -> tuple[float, float] | None:
    if latitude is None:
        return None
    a, b = _pair(latitude, "latitude")
    return min(a, b), max(a, b)


def _lon_box(longitude: Any) -> tuple[float, float] | None:
    """``(west, span)`` of a longitude pair, read as :func:`crop` documents."""
    if longitude is None:
        return None
    west, east = _pair(longitude, "longitude")
    span = (east - west) % 360.0
    if west > east and span > 180.0:
        west, east = east, west
        span = east - west
    elif west <= east:
        span = east - west
    return west, span


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
        made continuous from ``west`` (e.g. 350 … 370). On a projected or
        curvilinear grid (:func:`xdeepr.grid.find_grid`), the smallest index
        window ``(y, x)`` holding every grid point whose latitude and longitude
        lie in the box (its corners may reach outside the box).

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
    spec = find_grid(obj)
    if not spec.is_regular:  # projected/curvilinear: the index window covering the box
        return obj.isel(crop_window(obj, _lat_box(latitude), _lon_box(longitude), spec))
    lat, lon = spec.dims
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
