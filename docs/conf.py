"""Sphinx configuration for the xdeepr documentation (``nox -s docs``).

The tutorials are MyST-NB text notebooks (``docs/tutorials/*.md``), executed at every
build; the U-Net diagram is drawn from :class:`xdeepr.nn.UNet` at build time by
``docs/_ext/unet_diagram.py``; Benchmarks and Changelog include the repository's
BENCHMARKS.md and CHANGELOG.md, so there is one copy of each.
"""

import os
import sys
from pathlib import Path

import sphinx_autosummary_accessors

import xdeepr  # (also registers the .deepr accessors documented as Dataset.deepr.*)

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
# one torch thread per notebook kernel: on a shared or busy machine, OpenMP threads that
# spin-wait for each other slow training by orders of magnitude
os.environ.setdefault("OMP_NUM_THREADS", "1")

project = "xdeepr"
author = "xdeepr developers"
copyright = "xdeepr developers"
release = xdeepr.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_autosummary_accessors",
    "numpydoc",
    "myst_nb",  # MyST markdown + text notebooks executed at build time
    "unet_diagram",
]
templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
autosummary_generate = True
numpydoc_show_class_members = False
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "generated/*.md", "**.ipynb_checkpoints", "jupyter_execute"]

# MyST: $...$ and $$...$$ maths (MathJax), ::: fences, definition lists, heading anchors
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# MyST-NB: execute every notebook at build time; an error in a cell fails the build
nb_execution_mode = "cache"
nb_execution_cache_path = str(Path(__file__).parent / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "furo"
html_title = f"xdeepr {release}"
