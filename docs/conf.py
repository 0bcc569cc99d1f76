"""Sphinx configuration for the xdeepr documentation (``nox -s docs``)."""

import sphinx_autosummary_accessors

import xdeepr  # noqa: F401  (registers the .deepr accessors documented as Dataset.deepr.*)

project = "xdeepr"
author = "xdeepr developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx_autosummary_accessors",
    "numpydoc",
    "myst_parser",
]
templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
autosummary_generate = True
numpydoc_show_class_members = False
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
