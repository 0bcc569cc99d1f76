"""Deprecated: DeepR's configuration reader moved to :mod:`xdeepr.adapters.deepr`.

Each name still works here, with a FutureWarning that says where it lives now.
"""

from __future__ import annotations

import warnings
from typing import Any

#: The names this module held; all now in xdeepr.adapters.deepr.
MOVED = (
    "DEEPR_DEFAULTS",
    "IGNORED",
    "DeepRConfig",
    "DeepRConfigWarning",
    "DeepRSplit",
    "read_deepr_config",
)


def __getattr__(name: str) -> Any:
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"xdeepr.training.deepr_config.{name} is deprecated: use "
        f"xdeepr.adapters.deepr.{name} (from xdeepr.adapters.deepr import {name})",
        FutureWarning,
        stacklevel=2,
    )
    from ..adapters import deepr

    return getattr(deepr, name)
