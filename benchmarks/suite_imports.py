"""imports: wall time of ``import xdeepr`` (and of grid work) in fresh processes, torch or not;
then the package's module sizes and import cycles (:mod:`benchmarks.structure`).

Set ``XDEEPR_BENCH_BEFORE`` to a source tree of an older xdeepr (e.g. a ``git worktree``
of the commit before a change) to time it side by side with the installed one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from . import harness as H
from . import structure

_PROBES = {
    "import xdeepr": "import xdeepr",
    "import xdeepr; xdeepr.grid + crop": (
        "import xdeepr; import xarray as xr, numpy as np; "
        "ds = xr.Dataset(coords={'latitude': np.arange(50., 40., -0.25), "
        "'longitude': np.arange(0., 10., 0.25)}); "
        "xdeepr.grid.crop(ds, longitude=(2, 5), latitude=(48, 45))"
    ),
}
_TIMER = (
    "import json, sys, time; t = time.perf_counter(); exec({code!r}); "
    "print(json.dumps([time.perf_counter() - t, 'torch' in sys.modules]))"
)


def _time(code: str, path: str | None, repeats: int) -> tuple[float, bool]:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path
    times, torch_loaded = [], False
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _TIMER.format(code=code)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=path or None,
        )
        seconds, torch_loaded = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(seconds)
    return statistics.median(times), torch_loaded


def run(ctx: H.Context) -> str:
    """Run the imports suite and return its markdown section."""
    repeats = 2 if ctx.quick else 7
    trees: list[tuple[str, str | None]] = [("this tree", None)]
    before = os.environ.get("XDEEPR_BENCH_BEFORE")
    if before:
        trees.insert(0, (f"before ({os.path.basename(before.rstrip('/'))})", before))
    rows = []
    for label, path in trees:
        for probe, code in _PROBES.items():
            seconds, torch_loaded = _time(code, path, repeats)
            rows.append([label, f"`{probe}`", seconds, "yes" if torch_loaded else "no"])
    body = H.table(["xdeepr", "what", "median s", "torch imported"], rows)
    note = (
        f"Median of {repeats} fresh interpreters each; wall time from the first import to "
        "the end of the snippet. `XDEEPR_BENCH_BEFORE=<tree>` adds an older tree's rows."
    )
    layout = structure.report(structure.scan(structure.PACKAGE))
    title = "import time, with and without torch; module sizes and import cycles"
    return H.section(ctx, "imports", title, [note, body, layout])
