"""xdeepr: downscale coarse reanalysis with conditional diffusion models, on xarray.

``import xdeepr`` registers the ``.deepr`` accessor on :class:`xarray.Dataset`
and :class:`xarray.DataArray`.
"""

from __future__ import annotations

__version__ = "0.1.0"
