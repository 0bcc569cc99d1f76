"""xdeepr's version, in a module of its own so that any module can import it.

``from xdeepr._version import __version__`` adds no import edge to ``xdeepr/__init__.py``,
which imports most of the package (an edge to it from inside would close a cycle).
"""

from __future__ import annotations

__version__ = "0.2.0.dev0"  # the one place the version is written (pyproject reads it)
