"""Numerics on projected and curvilinear grids: point interpolation, windows, areas, points.

The xarray side (:mod:`xdeepr.grid.spec`, :mod:`xdeepr.grid.interp`,
:mod:`xdeepr.grid.crop`) describes grids; this module does the arithmetic:

- :func:`point_weights`: the bicubic (or bilinear, nearest) interpolant of a field
  on a regular latitude/longitude grid at arbitrary points, as B-spline
  coefficients and local basis weights (16 per point for bicubic);
- :func:`crop_window`: the index window covering a latitude/longitude box;
- :func:`cell_area`: cell areas (pyproj scale factors, or the 2-D latitudes);
- :func:`locate`: the bilinear stencil of stations on any grid (the grid-agnostic
  point location that scoring, observation channels and guidance use).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import GridError
from .coords import _lon_offsets
from .spec import GridSpec, find_grid, from_latlon, grid_latlon, projection_xy

#: Mean Earth radius (m) for areas on a curvilinear grid without a projection.
EARTH_RADIUS = 6371229.0


# ----------------------------------------------------------------- point interpolation
@dataclass(frozen=True)
class PointWeights:
    """The interpolant of a regular (lat, lon) field at P points.

    ``f(p) = sum_a sum_b wy[p, a] wx[p, b] C[iy[p, a], ix[p, b]]`` with the spline
    coefficients ``C = cy @ field @ cx.T`` (``cy``: (ncoef_y, n_lat) maps data to
    coefficients; the identity for ``"nearest"``).
    """

    cy: np.ndarray
    cx: np.ndarray
    iy: np.ndarray  # (P, ky + 1)
    wy: np.ndarray
    ix: np.ndarray  # (P, kx + 1)
    wx: np.ndarray

    def apply(self, field: np.ndarray, block: int = 1 << 18) -> np.ndarray:
        """``(..., n_lat, n_lon)`` → ``(..., P)``, one field at a time in float64."""
        lead = field.shape[:-2]
        flat = field.reshape(-1, *field.shape[-2:]).astype("float64", copy=False)
        out = np.empty((flat.shape[0], self.iy.shape[0]), dtype="float64")
        for f in range(flat.shape[0]):  # per field: a result never depends on its neighbours
            coef = self.cy @ flat[f] @ self.cx.T
            for s in range(0, self.iy.shape[0], block):
                sl = slice(s, s + block)
                g = coef[self.iy[sl][:, :, None], self.ix[sl][:, None, :]]  # (p, ky+1, kx+1)
                out[f, sl] = np.einsum("pa,pab,pb->p", self.wy[sl], g, self.wx[sl])
        return out.reshape(*lead, self.iy.shape[0])


def _axis_weights(src: np.ndarray, dst: np.ndarray, method: str) -> tuple[np.ndarray, ...]:
    """(coefficient matrix (ncoef, n), indices (P, k+1), weights (P, k+1)) along one axis."""
    from scipy.interpolate import BSpline, make_interp_spline

    order = np.argsort(src)
    s = src[order]
    n = s.size
    if method == "nearest" or n == 1:
        c = np.zeros((n, n))
        c[np.arange(n), order] = 1.0  # coefficient j = the j-th smallest source value
        idx = np.abs(dst[:, None] - s[None, :]).argmin(axis=1)
        return c, idx[:, None], np.ones((dst.size, 1))
    k = min({"bicubic": 3, "bilinear": 1}[method], n - 1)
    spl = make_interp_spline(s, np.eye(n), k=k)  # interpolating splines are linear in data
    c = np.empty_like(spl.c)
    c[:, order] = spl.c
    t = spl.t
    x = np.clip(dst, t[k], t[-k - 1])
    dm = BSpline.design_matrix(x, t, k).tocsr()
    dm.sort_indices()
    nnz = np.diff(dm.indptr)
    if not (nnz == k + 1).all():  # pragma: no cover - scipy always stores k+1 per row
        dense = dm.toarray()
        start = np.clip(np.argmax(dense != 0, axis=1), 0, dense.shape[1] - k - 1)
        idx = start[:, None] + np.arange(k + 1)
        return c, idx, np.take_along_axis(dense, idx, axis=1)
    return c, dm.indices.reshape(-1, k + 1), dm.data.reshape(-1, k + 1)


_CACHE: OrderedDict[str, PointWeights] = OrderedDict()


def point_weights(
    src_lat: np.ndarray,
    src_lon: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    method: str = "bicubic",
) -> PointWeights:
    """Interpolation weights from a regular (lat, lon) grid to the points (`lat`, `lon`).

    Longitudes of the points are taken modulo 360 from the source's western edge.
    Bicubic is the tensor product of not-a-knot cubic splines, as on regular targets
    (:func:`xdeepr.grid.interpolate`). Cached (downscaling asks once per chunk).

    Examples
    --------
    >>> la, lo = np.arange(40.0, 60.0, 0.25), np.arange(0.0, 20.0, 0.25)
    >>> f = np.add.outer(la, 2 * lo)
    >>> w = point_weights(la, lo, np.array([47.3]), np.array([9.71]))
    >>> round(float(w.apply(f)[0]), 8)
    66.72
    """
    key = hashlib.sha1(
        b"".join(np.ascontiguousarray(a, "float64").tobytes() for a in (src_lat, src_lon))
        + b"|"
        + np.ascontiguousarray(lat, "float64").tobytes()
        + b"|"
        + np.ascontiguousarray(lon, "float64").tobytes()
        + method.encode()
    ).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    src_lon = np.asarray(src_lon, "float64")
    d = (np.diff(src_lon) + 180.0) % 360.0 - 180.0
    west = float(src_lon[0] if d.size == 0 or np.all(d >= 0) else src_lon[-1])
    slon = west + _lon_offsets(src_lon, west)
    plon = west + _lon_offsets(np.ravel(lon), west)
    plon = np.where(plon > west + 360.0 - 1e-6, plon - 360.0, plon)
    cy, iy, wy = _axis_weights(np.asarray(src_lat, "float64"), np.ravel(lat).astype("f8"), method)
    cx, ix, wx = _axis_weights(slon, plon, method)
    out = PointWeights(cy, cx, iy, wy, ix, wx)
    _CACHE[key] = out
    while len(_CACHE) > 16:
        _CACHE.popitem(last=False)
    return out


# ----------------------------------------------------------------------- windows
def crop_window(
    obj: xr.Dataset | xr.DataArray,
    latitude: Sequence[float] | None,
    longitude: tuple[float, float] | None,
    spec: GridSpec | None = None,
) -> dict[str, slice]:
    """The index window ``{y: slice, x: slice}`` covering every point in a lat/lon box.

    `latitude` is ``(south, north)`` sorted; `longitude` ``(west, span)`` eastwards.

    Raises
    ------
    GridError
        When no grid point lies in the box.
    """
    spec = find_grid(obj) if spec is None else spec
    la, lo = grid_latlon(obj, spec)
    inside = np.ones(la.shape, dtype=bool)
    if latitude is not None:
        inside &= (la >= latitude[0] - 1e-9) & (la <= latitude[1] + 1e-9)
    if longitude is not None:
        west, span = longitude
        off = _lon_offsets(lo, west)
        off = np.where(off > 360.0 - 1e-9, 0.0, off)
        inside &= off <= span + 1e-9
    if not inside.any():
        raise GridError(
            f"no point of the {spec.kind} grid lies in the box latitude {latitude}, longitude "
            f"(west, span) {longitude}; the grid covers latitude {la.min():g}..{la.max():g}, "
            f"longitude {lo.min():g}..{lo.max():g}"
        )
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    ydim, xdim = spec.dims
    return {
        ydim: slice(int(rows[0]), int(rows[-1]) + 1),
        xdim: slice(int(cols[0]), int(cols[-1]) + 1),
    }


# ------------------------------------------------------------------------- areas
def _edges(v: np.ndarray) -> np.ndarray:
    mid = (v[1:] + v[:-1]) / 2.0
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def cell_area(obj: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Area (m²) of each cell of a projected or curvilinear grid, ``(y, x)``.

    Projected grid (metres): ``|dx dy|`` divided by pyproj's areal scale factor at
    the cell centre. Rotated pole (a rotated sphere): the spherical cell area in
    the rotated coordinates. Curvilinear: the spherical area element from the
    derivatives of the 2-D latitude and longitude along the grid's index axes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat2, lon2 = np.meshgrid([0.0, 1.0, 2.0], [0.0, 1.0], indexing="ij")
    >>> ds = xr.Dataset(coords={"lat": (("j", "i"), lat2), "lon": (("j", "i"), lon2)})
    >>> round(float(cell_area(ds)[0, 0]) / 1e9, 1)  # 1° x 1° at the equator, km² / 1000
    12.4
    """
    spec = find_grid(obj)
    ydim, xdim = spec.dims
    crs = spec.crs
    if spec.kind == "projected" and crs is not None:
        x, y = projection_xy(obj, spec)
        dx, dy = np.abs(np.diff(_edges(x))), np.abs(np.diff(_edges(y)))
        if crs.is_geographic:  # rotated pole: a sphere in rotated coordinates
            r = float(crs.ellipsoid.semi_major_metre) if crs.ellipsoid else EARTH_RADIUS
            ye = np.deg2rad(np.clip(_edges(y), -90.0, 90.0))
            band = np.abs(np.diff(np.sin(ye)))
            area = r * r * np.outer(band, np.deg2rad(dx))
        else:
            import pyproj

            la, lo = grid_latlon(obj, spec)
            scale = pyproj.Proj(crs).get_factors(lo, la).areal_scale
            area = np.outer(dy, dx) / np.asarray(scale, "float64")
    else:
        la, lo = grid_latlon(obj, spec)
        phi, lam = np.deg2rad(la), np.unwrap(np.deg2rad(lo), axis=1)
        dphi_i, dlam_i = np.gradient(phi, axis=0), np.gradient(lam, axis=0)
        dphi_j, dlam_j = np.gradient(phi, axis=1), np.gradient(lam, axis=1)
        area = EARTH_RADIUS**2 * np.cos(phi) * np.abs(dphi_i * dlam_j - dphi_j * dlam_i)
    coords = {d: obj[d] for d in (ydim, xdim) if d in obj.coords}
    return xr.DataArray(
        area,
        dims=(ydim, xdim),
        coords=coords,
        name="cell_area",
        attrs={"standard_name": "cell_area", "units": "m2"},
    )


# ------------------------------------------------------------------------ points
@dataclass(frozen=True)
class Stencil:
    """Bilinear stencil of S points on a grid: ``value = sum(weights * field[rows, cols])``.

    ``rows``, ``cols`` and ``weights`` are ``(S, 4)``; ``inside`` ``(S,)`` marks
    points within the grid.
    """

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    inside: np.ndarray

    @property
    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the corner nearest to each point (largest weight)."""
        k = np.argmax(self.weights, axis=1)
        s = np.arange(self.rows.shape[0])
        return self.rows[s, k], self.cols[s, k]


def _bracket(coord: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(coord, kind="stable")
    s = coord[order]
    tol = 1e-6 * (float(np.abs(np.diff(s)).max()) if s.size > 1 else 1.0)
    inside = (v >= s[0] - tol) & (v <= s[-1] + tol)
    if s.size == 1:
        z = np.zeros(v.shape, dtype=np.intp)
        return z, z, np.zeros(v.shape), inside
    vc = np.clip(v, s[0], s[-1])
    pos = np.clip(np.searchsorted(s, vc, side="right") - 1, 0, s.size - 2)
    frac = (vc - s[pos]) / (s[pos + 1] - s[pos])
    return order[pos], order[pos + 1], frac, inside


def locate(obj: xr.Dataset | xr.DataArray, lat: np.ndarray, lon: np.ndarray) -> Stencil:
    """Place points (latitude, longitude) on the projected or curvilinear grid of `obj`.

    Projected grid: the points are projected with pyproj and bracketed in the 1-D
    projection coordinates (bilinear in the grid's index space). Curvilinear grid
    without a projection: the nearest grid point on the sphere (a k-d tree on unit
    vectors), weight one, inside when nearer than the local grid spacing.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat2, lon2 = np.meshgrid([50.0, 50.1, 50.2], [8.0, 8.1], indexing="ij")
    >>> g = xr.Dataset(coords={"lat": (("j", "i"), lat2), "lon": (("j", "i"), lon2)})
    >>> st = locate(g, np.array([50.09]), np.array([8.01]))
    >>> [int(v[0]) for v in st.nearest], bool(st.inside[0])
    ([1, 0], True)
    """
    spec = find_grid(obj)
    lat, lon = np.asarray(lat, "float64"), np.asarray(lon, "float64")
    crs = spec.crs
    if spec.kind == "projected" and crs is not None:
        xg, yg = projection_xy(obj, spec)
        x, y = from_latlon(crs, lat, lon)
        if crs.is_geographic:  # rotated longitudes: compare modulo 360 from the west edge
            x = xg.min() + (x - xg.min()) % 360.0
        y0, y1, fy, in_y = _bracket(yg, y)
        x0, x1, fx, in_x = _bracket(xg, x)
        rows = np.stack([y0, y0, y1, y1], axis=-1)
        cols = np.stack([x0, x1, x0, x1], axis=-1)
        w = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=-1)
        return Stencil(rows, cols, w, in_y & in_x & np.isfinite(x) & np.isfinite(y))
    from scipy.spatial import cKDTree

    la, lo = grid_latlon(obj, spec)

    def unit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        p, q = np.deg2rad(a), np.deg2rad(b)
        return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=-1)

    pts = unit(la, lo).reshape(-1, 3)
    dist, k = cKDTree(pts).query(unit(lat, lon).reshape(-1, 3))
    rows, cols = np.unravel_index(k, la.shape)
    spacing = max(
        float(np.median(np.linalg.norm(np.diff(unit(la, lo), axis=ax), axis=-1)))
        for ax in (0, 1)
        if la.shape[ax] > 1
    )
    r4, c4 = np.repeat(rows[:, None], 4, 1), np.repeat(cols[:, None], 4, 1)
    w = np.zeros(r4.shape)
    w[:, 0] = 1.0
    return Stencil(r4, c4, w, dist <= spacing)
