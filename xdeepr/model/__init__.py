"""The trained model: its container, the xarray preparation of inputs, its file format.

- :mod:`.container`: :class:`DownscalingModel` (network, schedule, scalers, grids)
  and tensor-level sampling;
- :mod:`.conditioning`: inputs validated, cropped and turned into condition
  channels; static covariates; calendar features;
- :mod:`.fileformat`: :meth:`DownscalingModel.save`, :func:`load_model` and the
  model's identity (safetensors + a JSON header, :mod:`.header`; files written by
  xdeepr 0.1.0 are read by :mod:`.legacy`, with a warning).

Examples
--------
>>> from xdeepr.model import DownscalingModel, load_model
>>> model = load_model("t2m.xdeepr")  # doctest: +SKIP
"""

from __future__ import annotations

from ..errors import ModelFileError
from .conditioning import PREPARED, ConditioningMixin, calendar_features, prepare_static
from .container import DownscalingModel
from .fileformat import FORMAT, FORMAT_VERSION, load_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PREPARED",
    "ConditioningMixin",
    "DownscalingModel",
    "ModelFileError",
    "calendar_features",
    "load_model",
    "prepare_static",
]
