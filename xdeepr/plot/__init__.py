"""Figures for downscaled ensembles, on grids and at weather stations.

- fields (:mod:`~xdeepr.plot.fields`): :func:`comparison` (maps side by side),
  :func:`spectra` (power spectra), :func:`rank_histogram`;
- stations (:mod:`~xdeepr.plot.stations`): :func:`station_series` (an
  ensemble band against one station's observations), :func:`station_map`
  (per-station scores on a map), :func:`error_boxplots` (errors by hour,
  month and season).

matplotlib is an optional dependency (``pip install xdeepr[plot]``), imported
when a function is called. Functions build a :class:`matplotlib.figure.Figure`
directly on the Agg canvas, without pyplot: nothing is shown, no global figure
state is kept, and figures display inline in Jupyter all the same. Each takes
``path=`` to save a PNG as well.
"""

from __future__ import annotations

from ._figure import DPI
from .fields import comparison, rank_histogram, spectra
from .stations import error_boxplots, station_map, station_series

__all__ = [
    "DPI",
    "comparison",
    "error_boxplots",
    "rank_histogram",
    "spectra",
    "station_map",
    "station_series",
]
