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

Examples
--------
>>> from xdeepr.adapters.deepr import read_deepr_config
>>> deepr = read_deepr_config("configuration_diffusion.yml")  # doctest: +SKIP
>>> deepr.train.channel_multipliers, deepr.labels_coverage  # doctest: +SKIP
"""

from __future__ import annotations

from .keys import DEEPR_DEFAULTS, IGNORED
from .reader import DeepRConfig, read_deepr_config
from .split import DeepRSplit
from .warning import DeepRConfigWarning

__all__ = [
    "DEEPR_DEFAULTS",
    "IGNORED",
    "DeepRConfig",
    "DeepRConfigWarning",
    "DeepRSplit",
    "read_deepr_config",
]
