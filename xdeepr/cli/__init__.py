"""The ``xdeepr`` command line: ``demo``, ``train``, ``downscale`` and ``evaluate``.

Each subcommand is a thin layer over the public API (:func:`xdeepr.train`,
``Dataset.deepr.downscale``, :mod:`xdeepr.writer`, :mod:`xdeepr.metrics`,
:mod:`xdeepr.plot`) in its own module, with its help text beside it; :mod:`.main`
assembles the parser and turns every error into one line on stderr (exit status 2
for bad input, 1 for a failure while running; ``--debug`` adds the traceback).

Examples
--------
>>> from xdeepr.cli import main
>>> main(["--version"])  # doctest: +SKIP
xdeepr 0.1.0
0
"""

from __future__ import annotations

from ..writer import progress_file
from ._common import CLIError, expand_paths, open_input
from .downscale import dask_client
from .main import build_parser, main
from .train import load_config, parse_overrides

__all__ = [
    "CLIError",
    "build_parser",
    "dask_client",
    "expand_paths",
    "load_config",
    "main",
    "open_input",
    "parse_overrides",
    "progress_file",
]
