"""Progress bars: the text bar outside Jupyter, the widget bar in a kernel with ipywidgets,
and never the "IProgress not found" warning (issue 25)."""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings

import pytest

from xdeepr import _progress
from xdeepr._progress import in_notebook, progress_bar


class _Kernel:
    """What IPython's get_ipython() returns inside a Jupyter kernel (it has a kernel)."""

    kernel = object()


@pytest.fixture
def notebook(monkeypatch):
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: _Kernel()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert in_notebook()


def test_outside_a_notebook_the_text_bar():
    assert not in_notebook()  # pytest is no Jupyter kernel
    bar = progress_bar(total=2, disable=True)
    assert type(bar).__module__ == "tqdm.std"


def test_notebook_without_ipywidgets_never_warns(notebook, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        _progress.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = progress_bar(total=3, desc="downscaling", file=sys.stderr)
        bar.update(3)
        bar.close()
    assert type(bar).__module__ == "tqdm.std"


def test_notebook_with_ipywidgets_gets_the_widget(notebook):
    pytest.importorskip("ipywidgets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = progress_bar(total=3, desc="downscaling")
        bar.update(3)
        bar.close()
    assert type(bar).__module__ == "tqdm.notebook"
