"""The README's Quickstart runs as written (so that it cannot rot)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_two_setup_commands():
    text = README.read_text()
    setup = text.split("## Set up", 1)[1].split("## Quickstart", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    assert len(commands) == 2
    assert commands[0].strip().endswith("xdeepr demo")
    assert "pytest" in commands[1]
    # .ci/run calls the README's test command verbatim.
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].strip() in ci


def test_readme_install_gives_the_command_line_what_it_needs():
    """The demo's install line brings what ``xdeepr downscale`` writes with (zarr, dask's
    distributed scheduler) and what the demo plots with."""
    tomllib = pytest.importorskip("tomllib")
    text = README.read_text()
    setup = text.split("## Set up", 1)[1].split("## Quickstart", 1)[0]
    install = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)[0]
    match = re.search(r'pip install -e "\.\[([a-z,]+)\]"', install)
    assert match, install
    extras = match.group(1).split(",")
    pyproject = tomllib.loads((README.parent / "pyproject.toml").read_text())
    optional = pyproject["project"]["optional-dependencies"]
    given = {re.split(r"[<>=\[ ]", req)[0].lower() for e in extras for req in optional[e]}
    assert {"zarr", "distributed", "matplotlib"} <= given, given


@pytest.mark.slow
def test_quickstart_runs(tmp_path):
    pytest.importorskip("matplotlib")
    blocks = _blocks()
    assert len(blocks) >= 2
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        for code in blocks:
            exec(compile(code, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    scores = namespace["scores"]
    rmse = scores.t2m.sel(metric="rmse")
    assert float(rmse.sel(model="xdeepr")) < float(rmse.sel(model="bicubic"))
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
    assert (tmp_path / "t2m_hires.nc").exists()
