"""The trained model: its container, the xarray preparation of inputs, its file format.

- :mod:`.container`: :class:`DownscalingModel` (network, schedule, scalers, grids)
  and tensor-level sampling;
- :mod:`.conditioning`: inputs validated, cropped and turned into condition
  channels; static covariates; calendar features (functions of a model);
- :mod:`.guidance`: the model's denoiser guided by observations;
- :mod:`.inputs`: what the model records of its inputs (CF attributes, time step),
  inputs named otherwise matched to its variables, other time steps warned about;
- :mod:`.parts`: the model as tensors and plain values, written to bytes or a file,
  and its identity (the hash of what changes results);
- :mod:`.fileformat`: the file layout and :func:`load_model` (safetensors + a JSON
  header, :mod:`.header`; files written by xdeepr 0.1.0 are read by :mod:`.legacy`,
  with a warning).

Imports run one way: parts and conditioning know nothing of the container, the
container uses them, and fileformat reads files into a container.

Examples
--------
>>> from xdeepr.model import DownscalingModel, load_model
>>> model = load_model("t2m.xdeepr")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import ModelFileError
from .conditioning import PREPARED, calendar_features, prepare_static
from .container import DownscalingModel
from .fileformat import FORMAT, FORMAT_VERSION, load_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PREPARED",
    "DownscalingModel",
    "ModelFileError",
    "calendar_features",
    "load_model",
    "prepare_static",
]


def __getattr__(name: str) -> Any:
    if name == "ConditioningMixin":  # deprecated in 0.2: the container has no mixin
        warnings.warn(
            "xdeepr.model.ConditioningMixin is deprecated: DownscalingModel holds those "
            "methods itself; use xdeepr.model.DownscalingModel, or the functions of "
            "xdeepr.model.conditioning",
            FutureWarning,
            stacklevel=2,
        )
        return DownscalingModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
