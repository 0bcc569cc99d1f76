"""xdeepr: downscale coarse reanalysis with conditional diffusion models, on xarray.

``import xdeepr`` registers the ``.deepr`` accessor on :class:`xarray.Dataset`
and :class:`xarray.DataArray`.
"""

from __future__ import annotations

from . import accessor as _accessor  # noqa: F401  (registers .deepr)
from . import datasets, grid
from .scaling import Scaler

__version__ = "0.1.0"

__all__ = ["Scaler", "__version__", "datasets", "grid"]
