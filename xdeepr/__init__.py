"""xdeepr: downscale coarse reanalysis with conditional diffusion models, on xarray.

``import xdeepr`` registers the ``.deepr`` accessor on :class:`xarray.Dataset`
and :class:`xarray.DataArray`. Torch is imported only when a model is trained,
loaded or used: grid, scaling and metrics work never loads it.

Examples
--------
>>> import xdeepr
>>> features, labels, static = xdeepr.datasets.load_sample(periods=8)
>>> features.deepr.spacing
(-0.25, 0.25)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import accessor as _accessor  # noqa: F401  (registers .deepr)
from . import datasets, errors, grid, metrics
from ._version import __version__
from .errors import (
    ConfigError,
    DataFetchError,
    GridError,
    InputError,
    ModelFileError,
    OutputError,
    TrainingError,
    XdeeprError,
)
from .options import SamplingOptions
from .scaling import Scaler

if TYPE_CHECKING:
    from . import plot, writer
    from .adapters.deepr.importer import from_deepr
    from .fastpath import FastPath
    from .model import DownscalingModel, load_model
    from .training import TrainConfig, train
    from .training.distill import distill

#: Names loaded on first use, so that ``import xdeepr`` does not import torch.
_LAZY = {
    "DownscalingModel": ("model", "DownscalingModel"),
    "load_model": ("model", "load_model"),
    "FastPath": ("fastpath", "FastPath"),
    "TrainConfig": ("training", "TrainConfig"),
    "train": ("training", "train"),
    "distill": ("training.distill", "distill"),
    "from_deepr": ("adapters.deepr.importer", "from_deepr"),
    "plot": ("plot", None),
    "writer": ("writer", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xdeepr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ConfigError",
    "DataFetchError",
    "DownscalingModel",
    "FastPath",
    "GridError",
    "InputError",
    "ModelFileError",
    "OutputError",
    "SamplingOptions",
    "Scaler",
    "TrainConfig",
    "TrainingError",
    "XdeeprError",
    "__version__",
    "datasets",
    "distill",
    "errors",
    "from_deepr",
    "grid",
    "load_model",
    "metrics",
    "plot",
    "train",
    "writer",
]
