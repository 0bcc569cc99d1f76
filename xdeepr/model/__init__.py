"""The trained model: its container, the xarray preparation of inputs, its file format.

- :mod:`.container`: :class:`DownscalingModel` (network, schedule, scalers, grids)
  and tensor-level sampling;
- :mod:`.conditioning`: inputs validated, cropped and turned into condition
  channels; static covariates; calendar features;
- :mod:`.fileformat`: :meth:`DownscalingModel.save` and :func:`load_model`.
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
