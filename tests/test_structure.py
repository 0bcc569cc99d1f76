"""The package's module structure: no import cycle between files, no module over 450 lines.

The tool is :mod:`benchmarks.structure` (also printed by ``python -m benchmarks imports``);
it reads the sources with :mod:`ast`, so these tests import nothing of xdeepr.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from benchmarks import structure
from benchmarks.structure import LIMIT, PACKAGE, main, report, scan


def _package(root: Path, files: dict[str, str], name: str = "pkg") -> Path:
    """Write a fake package under `root`: ``{"a.py": source, "sub/__init__.py": ...}``."""
    pkg = root / name
    for relative, source in {"__init__.py": "", **files}.items():
        path = pkg / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return pkg


def _cycles(pkg: Path) -> list[list[str]]:
    return [cycle.names for cycle in scan(pkg).cycles]


# --------------------------------------------------------------------------------------
# The real package
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> structure.Structure:
    return scan(PACKAGE)


def test_xdeepr_has_no_import_cycle(found):
    assert not found.cycles, report(found)


def test_xdeepr_has_no_module_over_the_limit(found):
    sizes = {name: found.modules[name].lines for name in found.oversized()}
    assert not sizes, f"modules over {LIMIT} lines: {sizes}"


_SAMPLE = ("_sample", "_covariables", "_geometry", "_terrain", "_weather", "_package", "_stations")


def test_sample_is_split_and_acyclic(found):
    """Issue 19: ``datasets/_sample.py`` (650 lines) and its ``_covariables`` circle."""
    sample = {f"xdeepr.datasets.{name}" for name in _SAMPLE}
    assert sample <= set(found.modules)
    sizes = {name: found.modules[name].lines for name in sample}
    assert not {n: lines for n, lines in sizes.items() if lines > LIMIT}, sizes
    for cycle in found.cycles:
        assert not set(cycle.component) & (sample | {"xdeepr.datasets"}), report(found)
    # Both directions used to be imports: the covariable needs the weather, not the sample.
    edges = {(e.source, e.target) for e in found.edges}
    assert ("xdeepr.datasets._covariables", "xdeepr.datasets._sample") not in edges


def test_scan_reads_the_real_package(found):
    assert found.modules["xdeepr"].is_package
    assert found.modules["xdeepr.datasets._sample"].path == PACKAGE / "datasets" / "_sample.py"
    lines = (PACKAGE / "datasets" / "_sample.py").read_text().count("\n")
    assert found.modules["xdeepr.datasets._sample"].lines == lines


# --------------------------------------------------------------------------------------
# The cycle finder, on fake packages
# --------------------------------------------------------------------------------------


def test_module_level_cycle_is_found_with_its_lines(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "import os\nfrom .b import g\n",
            "b.py": "from pkg.c import h\n",
            "c.py": "\n\nfrom . import a\n",
            "d.py": "from .a import f\n",  # imports into the cycle, is not part of it
        },
    )
    (cycle,) = scan(pkg).cycles
    assert cycle.component == ("pkg.a", "pkg.b", "pkg.c")
    assert cycle.names == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert [(e.line, e.deferred) for e in cycle.edges] == [(2, False), (1, False), (3, False)]
    text = report(scan(pkg))
    assert "pkg.a → pkg.b → pkg.c → pkg.a" in text
    assert "`pkg/a.py:2`" in text and "`pkg/c.py:3`" in text


def test_function_level_import_is_counted(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "container.py": "from .fileformat import save\n",
            "fileformat.py": "def save():\n    from .container import Model\n    return Model\n",
        },
    )
    (cycle,) = scan(pkg).cycles
    assert cycle.names == ["pkg.container", "pkg.fileformat", "pkg.container"]
    deferred = {e.source: e.deferred for e in cycle.edges}
    assert deferred == {"pkg.container": False, "pkg.fileformat": True}
    assert "(in function)" in report(scan(pkg))


@pytest.mark.parametrize(
    "guard",
    [
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n",
        "import typing\nif typing.TYPE_CHECKING:\n",
    ],
)
def test_type_checking_import_is_not_counted(tmp_path, guard):
    pkg = _package(
        tmp_path,
        {
            "a.py": "from .b import g\n",
            "b.py": guard + "    from .a import f\n    import pkg.a\n",
        },
    )
    assert _cycles(pkg) == []
    assert {(e.source, e.target) for e in scan(pkg).edges} == {("pkg.a", "pkg.b")}


def test_else_branch_of_type_checking_is_counted(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "from .b import g\n",
            "b.py": "if TYPE_CHECKING:\n    pass\nelse:\n    from .a import f\n",
        },
    )
    assert _cycles(pkg) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_package_init_reexporting_submodules_makes_no_false_cycle(tmp_path):
    """``p/__init__`` imports ``p.a``; ``p.a`` imports siblings: no edge back to the init."""
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "from . import sub\nfrom .a import f\nfrom .b import g\n",
            "a.py": "from .b import g\nfrom . import c\nimport pkg.sub.x\nfrom pkg.sub import y\n",
            "b.py": "from .c import h\n",
            "c.py": "",
            "sub/__init__.py": "from .x import X\nfrom .y import Y\n",
            "sub/x.py": "from ..b import g\nfrom .y import Y\n",
            "sub/y.py": "from .. import c\n",
        },
    )
    assert _cycles(pkg) == []
    edges = {(e.source, e.target) for e in scan(pkg).edges}
    assert ("pkg.a", "pkg.c") in edges and ("pkg.a", "pkg.sub.x") in edges
    assert ("pkg.a", "pkg.sub.y") in edges and ("pkg.sub.x", "pkg.b") in edges
    assert ("pkg.sub.y", "pkg.c") in edges
    assert not {t for s, t in edges if s != "pkg" and t in ("pkg", "pkg.sub")}


def test_import_of_a_package_namespace_is_an_edge_to_its_init(tmp_path):
    """``from .. import __version__`` uses ``p/__init__``, which imports the file back."""
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "__version__ = '1'\nfrom .sub import m\n",
            "sub/__init__.py": "",
            "sub/m.py": "def f():\n    from .. import __version__\n    return __version__\n",
        },
    )
    assert _cycles(pkg) == [["pkg", "pkg.sub.m", "pkg"]]


def test_import_module_with_a_literal_name_is_counted(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "import importlib\nmod = importlib.import_module('pkg.b')\n",
            "b.py": "from importlib import import_module\n"
            "def f(name):\n"
            "    import_module(name)\n"  # computed: cannot be followed
            "    return import_module('.a', __name__)\n",
        },
    )
    assert _cycles(pkg) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_outside_imports_and_self_imports_are_ignored(tmp_path):
    pkg = _package(tmp_path, {"a.py": "import numpy\nimport pkgx\nfrom . import a\nimport pkg.a\n"})
    assert scan(pkg).edges == []


def test_oversized_modules_and_exit_status(tmp_path, capsys):
    pkg = _package(tmp_path, {"big.py": "x = 1\n" * (LIMIT + 1), "ok.py": "y = 1\n" * LIMIT})
    found = scan(pkg)
    assert found.modules["pkg.big"].lines == LIMIT + 1
    assert found.oversized() == ["pkg.big"]
    assert found.oversized(limit=LIMIT + 1) == []
    assert main([str(pkg)]) == 1
    out = capsys.readouterr().out
    assert f"| `pkg/big.py` | {LIMIT + 1} | **over {LIMIT}** |" in out
    assert f"| `pkg/ok.py` | {LIMIT} |  |" in out
    assert "No import cycle between files." in out
    assert main([str(pkg), "--limit", str(LIMIT + 1)]) == 0


def test_cycle_makes_exit_status_one(tmp_path, capsys):
    pkg = _package(tmp_path, {"a.py": "from . import b\n", "b.py": "from . import a\n"})
    assert main([str(pkg)]) == 1
    assert "1 import cycle(s) between files" in capsys.readouterr().out


def test_two_separate_cycles_are_two_components(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "from . import b\n",
            "b.py": "from . import a\nfrom . import c\n",
            "c.py": "from . import d\n",
            "d.py": "from . import c\n",
        },
    )
    assert _cycles(pkg) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.d", "pkg.c"]]


def test_large_component_lists_the_circles_it_is_made_of(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "from . import b\n",
            "b.py": "from . import a\nfrom . import c\n",
            "c.py": "def f():\n    from . import b\n",
        },
    )
    (cycle,) = scan(pkg).cycles
    assert cycle.component == ("pkg.a", "pkg.b", "pkg.c")
    assert cycle.paths == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.b", "pkg.c"]]
    assert "pkg.c → pkg.b → pkg.c" in report(scan(pkg))
