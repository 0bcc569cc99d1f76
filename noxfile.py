"""nox sessions: ``nox -s lint typecheck tests docs``.

Each session installs what it needs into its own virtualenv. CI installs everything
once and runs the sessions in that environment: ``nox --no-venv --no-install -s lint``
(``--no-install`` makes ``session.install`` a no-op there).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
TORCH = "torch==2.13.0"  # the CPU build; an unpinned torch pulls a CUDA build
CODE = ["xdeepr", "tests", "benchmarks", "docs", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff and check that ``ruff format`` holds the code."""
    session.install("ruff")
    session.run("ruff", "check", *CODE)
    session.run("ruff", "format", "--check", *CODE)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy (for the lowest supported Python)."""
    session.install(TORCH)
    session.install("-e", ".[lint]")
    session.run("mypy", "xdeepr")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install(TORCH)
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation: warnings are errors, the tutorial notebooks are executed."""
    session.install(TORCH)
    session.install("-e", ".[docs]")
    # the notebooks run on this session's interpreter, through its own Jupyter kernel
    session.run("python", "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-q", "-b", "html", "docs", "docs/_build/html"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks: ``nox -s bench -- [suite ...] [--quick] [--write BENCHMARKS.md]``."""
    session.install(TORCH)
    session.install("-e", ".[distributed]")
    session.run("python", "-m", "benchmarks", *session.posargs)
