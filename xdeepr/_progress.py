"""Progress bars that render in a terminal and in Jupyter, and never warn.

``tqdm.auto`` picks the notebook widget in a Jupyter kernel and, where ``ipywidgets``
is missing, warns "IProgress not found" before falling back to text. :func:`progress_bar`
decides once, by what is installed: the widget bar in a Jupyter kernel *with*
ipywidgets (the ``plot`` extra installs it), the plain text bar everywhere else. The
text bar works in a notebook too (it writes to the cell's stderr), so no user is shown
a warning for a missing optional package.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["in_notebook", "progress_bar"]


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session.

    Examples
    --------
    >>> in_notebook()
    False
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:  # not imported: not in a kernel
        return False
    shell = ipython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm progress bar fit for where the code runs (arguments as :class:`tqdm.tqdm`).

    Examples
    --------
    >>> bar = progress_bar(total=3, disable=True)  # outside a notebook: the text bar
    >>> type(bar).__module__
    'tqdm.std'
    """
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(**kwargs)
    from tqdm import tqdm

    return tqdm(**kwargs)
