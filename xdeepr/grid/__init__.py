"""Regular latitude/longitude grids: find, check, crop, pad and interpolate.

Everything here works on :class:`xarray.Dataset` and :class:`xarray.DataArray`
with any coordinate names (found through cf-xarray), either latitude
orientation and either longitude convention (0..360 or -180..180). Functions
return new objects and never modify their input.

- :mod:`~xdeepr.grid.coords`: find lat/lon, grid steps, scale factors, grids of objects;
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
from .coords import (
    LAT_NAMES,
    LON_NAMES,
    TOLERANCE,
    XrObj,
    _lat_range,
    _lon_extent,
    _lon_offsets,
    find_latlon,
    finest_grid,
    grid_spacing,
    grid_step,
    scale_factor,
    template_grid,
)
from .crop import check_inside, crop
from .interp import INTERP_METHODS, interpolate
from .pad import PAD_ATTR, pad, unpad
from .timeaxis import find_time, squeeze_extra_dims, standard_time

__all__ = [
    "INTERP_METHODS",
    "LAT_NAMES",
    "LON_NAMES",
    "PAD_ATTR",
    "TOLERANCE",
    "GridError",
    "XrObj",
    "check_inside",
    "crop",
    "find_latlon",
    "find_time",
    "finest_grid",
    "grid_spacing",
    "grid_step",
    "interpolate",
    "pad",
    "scale_factor",
    "squeeze_extra_dims",
    "standard_time",
    "template_grid",
    "unpad",
]
_PRIVATE = (_lat_range, _lon_extent, _lon_offsets)  # used by training and metrics
