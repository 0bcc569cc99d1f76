"""``python -m xdeepr``: the ``xdeepr`` command line (see :mod:`xdeepr.cli`)."""

from __future__ import annotations

import sys

from xdeepr.cli import main

if __name__ == "__main__":
    sys.exit(main())
