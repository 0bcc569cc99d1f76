"""DeepR's files in xdeepr's terms: its training configuration, read as a TrainConfig.

One module per concept, in reading order:

- :mod:`.keys`: what DeepR's keys mean to xdeepr (its defaults, ignored keys, names);
- :mod:`.schema`: walking the file by key path, each value checked by the shared rules;
- :mod:`.data` / :mod:`.training`: the ``data_configuration`` and
  ``training_configuration`` sections mapped to TrainConfig fields and the rest;
- :mod:`.warning`: :class:`DeepRConfigWarning`, the one warning a file can give;
- :mod:`.fields`: the file read into fields, without importing TrainConfig (which
  calls it from ``TrainConfig.from_deepr_yaml``);
- :mod:`.split`: :class:`DeepRSplit` and the xarray preparation it asks for;
- :mod:`.reader`: :func:`read_deepr_config`, giving a :class:`DeepRConfig`.

Running DeepR's trained models (:func:`xdeepr.from_deepr`, issue 23; these need the
optional ``diffusers``, ``pip install 'xdeepr[deepr]'``, and are loaded on first use):

- :mod:`.network`: :class:`~.network.DiffusersUNet`, DeepR's ``UNet2DModel`` behind
  xdeepr's network call (hour of day as class labels);
- :mod:`.directory`: the model folder read safely (weights, training schedule);
- :mod:`.scalers`: DeepR's monthly standardisation refitted from data;
- :mod:`.model`: :class:`~.model.DeepRModel`, DeepR's condition (×5 bicubic, centre
  crop, instance norm) and residual output around xdeepr's samplers;
- :mod:`.importer`: :func:`~.importer.from_deepr`, assembling them.

Examples
--------
>>> from xdeepr.adapters.deepr import read_deepr_config
>>> deepr = read_deepr_config("configuration_diffusion.yml")  # doctest: +SKIP
>>> deepr.train.channel_multipliers, deepr.labels_coverage  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from .keys import DEEPR_DEFAULTS, IGNORED
from .reader import DeepRConfig, read_deepr_config
from .split import DeepRSplit
from .warning import DeepRConfigWarning

__all__ = [
    "DEEPR_DEFAULTS",
    "IGNORED",
    "DeepRConfig",
    "DeepRConfigWarning",
    "DeepRModel",
    "DeepRSplit",
    "from_deepr",
    "read_deepr_config",
]

#: Loaded on first use: they import torch (and, when called, diffusers).
_LAZY = {"from_deepr": ".importer", "DeepRModel": ".model"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
