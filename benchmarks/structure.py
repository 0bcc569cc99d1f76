"""Module sizes and import cycles of a package, read with :mod:`ast` (nothing is imported).

``python -m benchmarks.structure [PACKAGE_DIR] [--limit N]`` prints a markdown report:
every module's line count (those over the limit, 450 by default, flagged) and every
import cycle between files, each strongly connected component of the import graph with
one concrete cycle through it (file and line of each import). It exits with status 1
when it finds a cycle or an oversized module. ``python -m benchmarks imports`` prints
the same report after its import timings; ``tests/test_structure.py`` asserts it clean.

Which imports are edges, and between which files:

- Every ``import`` and ``from ... import`` of the package's own modules counts, at
  module level, in class bodies, inside functions (marked "in function" in the
  report: they run later, but the two files still need each other) and under
  ``try``. Only those in the body of ``if TYPE_CHECKING:`` (or
  ``if typing.TYPE_CHECKING:``) are left out: they never run. So does
  ``importlib.import_module`` with a literal name (absolute, or relative with
  ``__name__`` / ``__package__``); a name computed at run time cannot be followed.
- An import names files explicitly, never implicitly. ``import p.x``,
  ``from p import x`` and ``from . import x`` (``x`` a submodule or subpackage) are
  edges to ``p/x.py`` (or ``p/x/__init__.py``) alone. Python runs ``p/__init__.py``
  before ``p/x.py``, but that implicit step is **not** an edge: ``p/__init__.py``'s
  own imports are its edges, and counting the implicit step would turn every
  package that re-exports its submodules into a false cycle (``p/__init__`` imports
  ``p/x``, whose ``from .y import z`` would run ``p/__init__`` "again").
- An import of a name that is not a submodule, ``from p import name`` or
  ``import p``, is an edge to ``p/__init__.py``: the file uses the package's
  namespace, so a package ``__init__`` that (through its submodules) imports that
  file back closes a real cycle. ``from .. import __version__`` in ``p/q/m.py`` is
  such an edge, to ``p/__init__.py``.
- Imports of anything outside the package are ignored, and so is a module importing
  itself.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp()) / "pkg"
>>> root.mkdir()
>>> _ = (root / "__init__.py").write_text("from .a import f\\n")
>>> _ = (root / "a.py").write_text("from .b import g\\ndef f():\\n    return g()\\n")
>>> _ = (root / "b.py").write_text("def g():\\n    from .a import f\\n    return 1\\n")
>>> found = scan(root)
>>> [cycle.names for cycle in found.cycles]
[['pkg.a', 'pkg.b', 'pkg.a']]
>>> found.oversized(limit=2)
['pkg.a', 'pkg.b']
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

#: The most lines a module may have.
LIMIT = 450
#: The package this repository holds, beside ``benchmarks/``.
PACKAGE = Path(__file__).resolve().parent.parent / "xdeepr"


@dataclasses.dataclass(frozen=True)
class Module:
    """One file of the package: dotted name, path, line count, whether it is an ``__init__``."""

    name: str
    path: Path
    lines: int
    is_package: bool

    @property
    def package(self) -> str:
        """The package its relative imports start from (itself for an ``__init__``)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclasses.dataclass(frozen=True)
class Edge:
    """An import of `target` by `source`, at `line`; `deferred` when inside a function."""

    source: str
    target: str
    line: int
    deferred: bool


@dataclasses.dataclass(frozen=True)
class Cycle:
    """A strongly connected component of the import graph and cycles through its files.

    `edges` is a shortest cycle through its first file (by name); `others` adds a
    shortest cycle through each other file that no earlier cycle passed through, so a
    large component shows the small circles it is made of.
    """

    component: tuple[str, ...]
    edges: tuple[Edge, ...]
    others: tuple[tuple[Edge, ...], ...] = ()

    @property
    def names(self) -> list[str]:
        """The first cycle as module names, its first repeated at the end."""
        return _names(self.edges)

    @property
    def paths(self) -> list[list[str]]:
        """Every cycle listed, as :attr:`names` does the first."""
        return [_names(edges) for edges in (self.edges, *self.others)]


def _names(edges: Sequence[Edge]) -> list[str]:
    return [edges[0].source, *(e.target for e in edges)]


@dataclasses.dataclass
class Structure:
    """What :func:`scan` found: the modules and the import edges between them."""

    root: Path
    modules: dict[str, Module]
    edges: list[Edge]

    def graph(self) -> dict[str, dict[str, Edge]]:
        """``source -> target -> first edge`` (module-level edges preferred in the listing)."""
        out: dict[str, dict[str, Edge]] = {name: {} for name in self.modules}
        for e in sorted(self.edges, key=lambda e: (e.deferred, e.line)):
            out[e.source].setdefault(e.target, e)
        return out

    def oversized(self, limit: int = LIMIT) -> list[str]:
        """Names of the modules with more than `limit` lines."""
        return sorted(n for n, m in self.modules.items() if m.lines > limit)

    @property
    def cycles(self) -> list[Cycle]:
        """Every import cycle: one per strongly connected component of two files or more."""
        graph = self.graph()
        found = []
        for component in _components({s: sorted(t) for s, t in graph.items()}):
            if len(component) > 1:
                members, seen = set(component), set[str]()
                cycles: list[tuple[Edge, ...]] = []
                for start in component:
                    if start not in seen:
                        cycles.append(_cycle_through(start, members, graph))
                        seen.update(e.source for e in cycles[-1])
                found.append(Cycle(tuple(component), cycles[0], tuple(cycles[1:])))
        return sorted(found, key=lambda c: c.component)


def scan(root: str | Path) -> Structure:
    """Read every module under the package directory `root` and the imports between them.

    Parameters
    ----------
    root : str or pathlib.Path
        The package's directory (the one holding its ``__init__.py``); its name is the
        package's name.

    Returns
    -------
    Structure
        Modules (line counts) and import edges, as the module docstring defines them.

    Examples
    --------
    >>> found = scan(PACKAGE)
    >>> found.modules["xdeepr"].path.name
    '__init__.py'
    >>> any(e.target == "xdeepr.grid" for e in found.edges if e.source == "xdeepr")
    True
    """
    root = Path(root).resolve()
    modules = {m.name: m for m in _discover(root)}
    edges = []
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        for target, line, deferred in _imports(tree, module, modules):
            if target != module.name:
                edges.append(Edge(module.name, target, line, deferred))
    return Structure(root, modules, edges)


def _discover(root: Path) -> Iterator[Module]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if not all(p.isidentifier() for p in parts):
            continue  # not importable (e.g. a "foo-bar.py" script)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        yield Module(name, path, lines, is_package)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(node: ast.AST, deferred: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under `node` with whether it runs inside a function; skips TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:  # the else branch does run
                yield stmt, deferred
                yield from _walk(stmt, deferred)
            continue
        inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield child, deferred
        yield from _walk(child, inner)


def _absolute(module: Module, name: str | None, level: int) -> str:
    """The absolute dotted name of ``from <level dots><name> import ...`` in `module`."""
    if level == 0:
        return name or ""
    base = module.package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _owner(name: str, modules: dict[str, Module]) -> str | None:
    """The longest prefix of dotted `name` that is a module of the package."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def _imports(
    tree: ast.Module, module: Module, modules: dict[str, Module]
) -> Iterator[tuple[str, int, bool]]:
    """``(target module, line, deferred)`` for each import of the package in `tree`."""
    for node, deferred in _walk(tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_owner(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.module, node.level)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else _owner(base, modules))
        elif isinstance(node, ast.Call):
            targets = [_dynamic(node, module, modules)]
        for target in targets:
            if target is not None:
                yield target, getattr(node, "lineno", 0), deferred


def _dynamic(call: ast.Call, module: Module, modules: dict[str, Module]) -> str | None:
    """The target of ``importlib.import_module("literal"[, __name__])``, else None."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called != "import_module" or not call.args:
        return None
    first = call.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    name = first.value
    if name.startswith("."):
        anchor = call.args[1] if len(call.args) > 1 else None
        if not (isinstance(anchor, ast.Name) and anchor.id in ("__name__", "__package__")):
            return None
        stripped = name.lstrip(".")
        name = _absolute(module, stripped or None, len(name) - len(stripped))
    return _owner(name, modules)


def _components(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), each sorted, in no set order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def _cycle_through(
    first: str, members: set[str], graph: dict[str, dict[str, Edge]]
) -> tuple[Edge, ...]:
    """A shortest cycle from `first` back to it inside `members` (breadth first)."""
    came: dict[str, Edge] = {}
    queue = [first]
    for node in queue:
        for target, edge in graph[node].items():
            if target not in members:
                continue
            if target == first:
                path = [edge]
                while path[0].source != first:
                    path.insert(0, came[path[0].source])
                return tuple(path)
            if target not in came:
                came[target] = edge
                queue.append(target)
    raise AssertionError(f"{first} is on no cycle inside {members}")  # pragma: no cover


def report(found: Structure, limit: int = LIMIT) -> str:
    """Markdown: a summary line, the module sizes table and the import cycles.

    Examples
    --------
    >>> print(report(scan(PACKAGE)).splitlines()[0])  # doctest: +ELLIPSIS
    **xdeepr**: ... modules, ... lines; ... over 450 lines; ... import cycle...
    """
    big, cycles = found.oversized(limit), found.cycles
    root = found.root.parent

    def where(e: Edge) -> str:
        path = found.modules[e.source].path.relative_to(root)
        return f"`{path}:{e.line}`" + (" (in function)" if e.deferred else "")

    total = sum(m.lines for m in found.modules.values())
    summary = (
        f"**{found.root.name}**: {len(found.modules)} modules, {total} lines; "
        f"{len(big)} over {limit} lines; {len(cycles)} import cycle(s) between files"
    )
    rows = ["| module | lines | |", "|---|---|---|"]
    for _, m in sorted(found.modules.items(), key=lambda kv: (-kv[1].lines, kv[0])):
        flag = f"**over {limit}**" if m.lines > limit else ""
        rows.append(f"| `{m.path.relative_to(root)}` | {m.lines} | {flag} |")
    lines = [summary, "Module sizes, largest first:", "\n".join(rows)]
    if cycles:
        text = ["Import cycles (each a strongly connected component, and cycles through it):"]
        for c in cycles:
            text.append(f"- {len(c.component)} files: {', '.join(c.component)}")
            for edges in (c.edges, *c.others):
                text.append(f"  - {' → '.join(_names(edges))}")
                text.append(f"    (imports at {', '.join(where(e) for e in edges)})")
        lines.append("\n".join(text))
    else:
        lines.append("No import cycle between files.")
    return "\n\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report of the package at ``argv[0]`` (default: xdeepr); 1 if not clean.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()) / "tiny"
    >>> root.mkdir()
    >>> _ = (root / "__init__.py").write_text("from . import a\\n")
    >>> _ = (root / "a.py").write_text("x = 1\\n")
    >>> main([str(root)])  # doctest: +ELLIPSIS
    **tiny**: 2 modules, 2 lines; 0 over 450 lines; 0 import cycle(s) between files
    ...
    No import cycle between files.
    0
    """
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.structure", description=__doc__.splitlines()[0]
    )
    p.add_argument("package", nargs="?", type=Path, default=PACKAGE, help="the package's directory")
    p.add_argument(
        "--limit", type=int, default=LIMIT, help=f"most lines a module may have (default {LIMIT})"
    )
    args = p.parse_args(argv)
    found = scan(args.package)
    print(report(found, args.limit))
    return 1 if found.cycles or found.oversized(args.limit) else 0


if __name__ == "__main__":
    sys.exit(main())
