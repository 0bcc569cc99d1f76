"""Horizontal grids: find, check, crop, pad and interpolate.

Everything here works on :class:`xarray.Dataset` and :class:`xarray.DataArray`
with any coordinate names (found through cf-xarray), either latitude
orientation and either longitude convention (0..360 or -180..180). Functions
return new objects and never modify their input. Coarse inputs are regular
latitude/longitude grids; label (target) grids may also be projected (a CF
``grid_mapping`` with 1-D projection coordinates: Lambert conformal, rotated
pole, polar stereographic, transverse Mercator, anything pyproj reads) or
curvilinear (2-D latitude/longitude), and are then handled in their index
space ``(y, x)``.

- :mod:`~xdeepr.grid.spec`: :class:`GridSpec`, what a grid is (:func:`find_grid`);
- :mod:`~xdeepr.grid.cf`: a grid's CF coordinates (grids of objects, outputs, model files);
- :mod:`~xdeepr.grid.projected`: point interpolation, windows, cell areas, points;
- :mod:`~xdeepr.grid.coords`: find lat/lon, grid steps, scale factors;
- :mod:`~xdeepr.grid.crop`: containment checks and cropping;
- :mod:`~xdeepr.grid.pad`: padding to a multiple of ``2**(levels-1)`` and back;
- :mod:`~xdeepr.grid.interp`: coordinate-aware interpolation;
- :mod:`~xdeepr.grid.timeaxis`: the time dimension and extra dimensions.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from xdeepr import grid
>>> ds = xr.Dataset(coords={"lat": np.arange(50.0, 45.0, -0.25), "lon": np.arange(6.0, 14.0, 0.25)})
>>> grid.find_latlon(ds), grid.grid_spacing(ds)
(('lat', 'lon'), (-0.25, 0.25))
"""

from __future__ import annotations

from ..errors import GridError
from .cf import attach_grid, finest_grid, grid_coords, template_grid, with_grid_coords
from .coords import (
    LAT_NAMES,
    LON_NAMES,
    TOLERANCE,
    XrObj,
    _lat_range,
    _lon_extent,
    _lon_offsets,
    find_latlon,
    grid_spacing,
    grid_step,
    scale_factor,
)
from .crop import check_inside, crop, latlon_hull
from .interp import INTERP_METHODS, interpolate
from .pad import PAD_ATTR, pad, unpad
from .projected import Stencil, cell_area, locate
from .spec import GRID_KINDS, GridSpec, find_grid, grid_latlon, horizontal_dims
from .timeaxis import find_time, squeeze_extra_dims, standard_time

__all__ = [
    "GRID_KINDS",
    "INTERP_METHODS",
    "LAT_NAMES",
    "LON_NAMES",
    "PAD_ATTR",
    "TOLERANCE",
    "GridError",
    "GridSpec",
    "Stencil",
    "XrObj",
    "attach_grid",
    "cell_area",
    "check_inside",
    "crop",
    "find_grid",
    "find_latlon",
    "find_time",
    "finest_grid",
    "grid_coords",
    "grid_latlon",
    "grid_spacing",
    "grid_step",
    "horizontal_dims",
    "interpolate",
    "latlon_hull",
    "locate",
    "pad",
    "scale_factor",
    "squeeze_extra_dims",
    "standard_time",
    "template_grid",
    "unpad",
    "with_grid_coords",
]
_PRIVATE = (_lat_range, _lon_extent, _lon_offsets)  # used by training and metrics
