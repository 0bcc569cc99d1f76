"""The bilinear stencil of points on a regular latitude/longitude grid (:func:`stencil`).

Used by :func:`xdeepr.metrics.at_stations`: each point's four surrounding grid points
and their weights, placed by coordinate values (either orientation, 0..360 or
-180..180 longitudes, a grid across the seam or around the globe).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import GridError
from ..grid import _lon_extent

__all__ = ["EDGE_TOLERANCE", "stencil"]

#: Distance (degrees) beyond the outermost grid points still counted as inside.
EDGE_TOLERANCE = 1e-6


def _bracket(
    coord: np.ndarray, x: np.ndarray, period: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours ``i0, i1`` of each `x` in `coord` (any order), fraction ``f`` and inside mask.

    The linear interpolant at `x` is ``(1 - f) v[i0] + f v[i1]``. With `period`
    (a global longitude), the first point is repeated one period on, closing the circle.
    """
    order = np.argsort(coord, kind="stable")
    s = coord[order]
    if s.size > 1 and np.any(np.diff(s) <= 0):
        raise GridError(f"the grid coordinate repeats values ({s[:-1][np.diff(s) <= 0][:3]})")
    if period is not None:
        s, order = np.append(s, s[0] + period), np.append(order, order[0])
    inside = (x >= s[0] - EDGE_TOLERANCE) & (x <= s[-1] + EDGE_TOLERANCE)
    if s.size == 1:  # a single row or column: only stations on it are inside
        zero = np.zeros(x.shape, dtype=np.intp)
        return zero, zero, np.zeros(x.shape), inside
    xc = np.clip(x, s[0], s[-1])
    pos = np.clip(np.searchsorted(s, xc, side="right") - 1, 0, s.size - 2)
    frac = (xc - s[pos]) / (s[pos + 1] - s[pos])
    return order[pos], order[pos + 1], frac, inside


def stencil(
    field: xr.Dataset | xr.DataArray, lat: str, lon: str, slat: np.ndarray, slon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear stencil of each station: rows, columns, weights (S, 4 corners), inside (S,)."""
    glat = np.asarray(field[lat].values, dtype="float64")
    glon = np.asarray(field[lon].values, dtype="float64")
    west, span = _lon_extent(field, lon)
    step = float(np.median(np.abs(np.diff(glon)))) if glon.size > 1 else 0.0
    periodic = span + step >= 360.0 - EDGE_TOLERANCE
    unwrap = west + (glon - west) % 360.0  # increasing eastwards from the western edge
    x = west + (slon - west) % 360.0
    x = np.where(x > west + 360.0 - EDGE_TOLERANCE, x - 360.0, x)  # just west of `west`
    y0, y1, fy, in_y = _bracket(glat, slat)
    x0, x1, fx, in_x = _bracket(unwrap, x, 360.0 if periodic else None)
    rows = np.stack([y0, y0, y1, y1], axis=-1)
    cols = np.stack([x0, x1, x0, x1], axis=-1)
    weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=-1)
    return rows, cols, weights, in_y & in_x
