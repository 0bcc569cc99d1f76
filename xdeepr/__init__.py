"""xdeepr: downscale coarse reanalysis with conditional diffusion models, on xarray.

``import xdeepr`` registers the ``.deepr`` accessor on :class:`xarray.Dataset`
and :class:`xarray.DataArray`.

Examples
--------
>>> import xdeepr
>>> features, labels, static = xdeepr.datasets.load_sample(periods=8)
>>> features.deepr.spacing
(-0.25, 0.25)
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import accessor as _accessor  # noqa: F401  (registers .deepr)
from . import datasets, grid, metrics, plot
from .fastpath import FastPath
from .model import DownscalingModel, load_model
from .scaling import Scaler
from .training import TrainConfig, train

__all__ = [
    "DownscalingModel",
    "FastPath",
    "Scaler",
    "TrainConfig",
    "__version__",
    "datasets",
    "grid",
    "load_model",
    "metrics",
    "plot",
    "train",
]
