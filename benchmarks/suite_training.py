"""training: throughput (samples/s) and peak memory of the demo-size model, batch 16.

Each measurement runs in its own process, so the peak resident set size (and the
peak CUDA memory) belongs to the training alone. The second table compares one
process with ``torchrun`` ranks (gloo on the CPU, nccl on GPUs) and the data loading
before (block prepared when needed, every epoch) and after (prefetch thread, prepared
blocks cached); its runs are launched by :func:`launch`, which ``suite_gpu`` shares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from . import harness as H

ROOT = Path(__file__).resolve().parents[1]
#: Data loading settings compared: (label, prefetch, block_cache_mib).
LOADING = (
    ("before: no prefetch, no cache", False, 0.0),
    ("prefetch", True, 0.0),
    ("prefetch + cache (default)", True, 2048.0),
)


def _train(quick: bool, device: str, steps: tuple[int, int]) -> dict[str, Any]:
    """Train twice (short, long) in this process; per-step time is the difference."""
    import xdeepr

    f, l, s = xdeepr.datasets.load_sample()
    sl = slice(0, 64) if quick else slice(None, H.TRAIN_END)
    cfg = dict(H.QUICK_TRAIN if quick else H.DEMO_TRAIN)
    cfg.update(batch_size=4 if quick else 16, device=device)
    walls = []
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for n in steps:
        m = xdeepr.train(
            f.isel(time=sl) if quick else f.sel(time=sl),
            l.isel(time=sl) if quick else l.sel(time=sl),
            s,
            **{**cfg, "steps": n},
        )
        walls.append(m.summary["wall_seconds"])
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {
        "batch": cfg["batch_size"],
        "walls": walls,
        "parameters": m.n_parameters,
        "cuda_peak": cuda_peak,
        "threads": torch.get_num_threads(),
    }


def run(ctx: H.Context) -> str:
    """Run the training suite and return its markdown section."""
    parts = [throughput(ctx), scaling(ctx), scaling(ctx, field=True)]
    return H.section(ctx, "training", "throughput and peak memory", parts)


def throughput(ctx: H.Context) -> str:
    """Note and table: time per step and peak memory of one training process."""
    # the real budget, unless XDEEPR_BENCH_TRAIN_STEPS caps it (then n and 2n steps)
    steps = (2, 4) if ctx.quick else (H.train_steps(20), 2 * H.train_steps(60))
    res, rss = H.isolated(_train, ctx.quick, str(ctx.device), steps)
    b, (w0, w1) = res["batch"], res["walls"]
    per_step = (w1 - w0) / (steps[1] - steps[0])
    rows = [
        [
            f"demo U-Net ({res['parameters']:,} par.)" if not ctx.quick else "tiny U-Net",
            b,
            f"{steps[1] - steps[0]} (difference of {steps[1]}- and {steps[0]}-step runs)",
            per_step,
            b / per_step,
            f"{rss:.0f}",
            f"{res['cuda_peak']:.0f}" if res["cuda_peak"] is not None else "n/a (CPU)",
        ]
    ]
    body = H.table(
        [
            "network",
            "batch",
            "steps timed",
            "s / step",
            "samples / s",
            "peak host RSS (MiB)",
            "peak CUDA allocated (MiB)",
        ],
        rows,
    )
    note = (
        "Reduced domain (32x20, padded), one training process; the time per step is the "
        "difference of two runs, so data preparation and the validation pass cancel. Peak RSS "
        "is the training process's `ru_maxrss` (data loading included). Load average when "
        f"it started: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )
    return note + "\n\n" + body


def synthetic(n_times: int, shape: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Coarse and hi-res ``t2m`` and static fields on a `shape` (lat, lon) 0.05° domain.

    Built with :func:`benchmarks.harness.large_domain` (smooth plausible fields, not
    meteorology): data whose blocks cost real work to prepare (the bicubic condition
    of a large field), unlike the embedded sample's 32x20.
    """
    import types

    import numpy as np

    stand_in = types.SimpleNamespace(
        features=["t2m"], feature_grid={"lat_step": 0.25}, static_names=["orog", "lsm"]
    )
    coarse, target = H.large_domain(stand_in, shape, n_times)  # type: ignore[arg-type]
    static = target.drop_vars(["latitude_coarse", "longitude_coarse"])
    rng = np.random.default_rng(1)
    fine = 285.0 - 0.0065 * static["orog"].values + rng.normal(0, 1, (n_times, *shape))
    labels = (
        static.drop_vars(["orog", "lsm"])
        .assign(t2m=(("time", "latitude", "longitude"), fine.astype("f4"), {"units": "K"}))
        .assign_coords(time=coarse.time)
    )
    return coarse, labels, static


def _ddp_worker(spec: dict[str, Any], out: str) -> None:
    """One rank (or the one process) of a :func:`launch` run; rank 0 writes `out` (JSON)."""
    import xdeepr
    from xdeepr.training import distributed

    torch.set_num_threads(spec["threads"])
    if spec.get("shape"):
        f, l, s = synthetic(spec["times"], tuple(spec["shape"]))
    else:
        f, l, s = xdeepr.datasets.load_sample()
    sl = slice(0, spec["times"])
    f, l = f.isel(time=sl).chunk(time=spec["block"]), l.isel(time=sl).chunk(time=spec["block"])
    cfg = dict(H.QUICK_TRAIN if spec["quick"] or spec.get("tiny") else H.DEMO_TRAIN)
    cfg.update(
        batch_size=spec["batch"],
        steps=spec["steps"],
        device=spec["device"],
        block_size=spec["block"],
        validation_fraction=0.0,
        prefetch=spec["prefetch"],
        block_cache_mib=spec["cache"],
        patch_size=spec.get("patch"),
    )
    cuda = spec["device"] == "cuda"
    model = xdeepr.train(f, l, s, **cfg)
    if distributed.is_main():
        sm = model.summary
        Path(out).write_text(
            json.dumps(
                {
                    "wall": sm["wall_seconds"],
                    "steps": sm["steps"],
                    "world": sm["world_size"],
                    "global_batch": sm["global_batch_size"],
                    "rss": H.maxrss_mib(),
                    "cuda_peak": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                }
            )
        )


def launch(spec: dict[str, Any], world: int, timeout: float = 900) -> dict[str, Any]:
    """Train as `spec` says in a fresh process, or under ``torchrun`` with `world` ranks.

    ``world=1`` is a plain process (no process group); more ranks run through
    ``torchrun --standalone`` (a rendezvous on this machine). Returns rank 0's record:
    wall seconds of the training loop, steps, world size, global batch, peak RSS (MiB)
    and peak CUDA memory (MiB) of rank 0.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result.json")
        code = ["-m", "benchmarks.suite_training", "--worker", json.dumps(spec), out]
        if world == 1:
            cmd = [sys.executable, *code]
        else:
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc-per-node={world}",
                *code,
            ]
        env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
        res = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
        return dict(json.loads(Path(out).read_text()))


def scaling(
    ctx: H.Context,
    worlds: tuple[int, ...] = (1, 2),
    runs: list[tuple[int, int, tuple[str, bool, float]]] | None = None,
    field: bool = False,
) -> str:
    """Table: samples/s of 1 process and of `worlds` ranks, data loading before and after.

    `runs` (world, threads per rank, one of :data:`LOADING`) replaces the default
    grid: each layout with each data-loading setting.

    The global batch is the same in every row (16; 4 in --quick): each of n ranks takes
    16/n. Input is dask-backed (chunks of one block), so every block is read, its
    bicubic condition computed and normalised when prepared. With `field`, the data
    are :func:`synthetic` fields on a 320x512 domain on which the tiny U-Net trains on
    random 32x32 patches (global batch 8): preparing a block (its bicubic condition on
    the whole field) then costs more than training on it.
    """
    cores = os.cpu_count() or 1
    quick = ctx.quick
    load = os.getloadavg()[0]
    busy = not ctx.cuda and load > cores / 2
    times, block, steps, batch = (32, 8, 4, 4) if quick else (256, 64, H.train_steps(96), 16)
    shape, patch = ((48, 64), 16) if quick else ((320, 512), 32)
    if field:
        times, block, steps, batch = (16, 8, 2, 4) if quick else (64, 16, H.train_steps(32), 8)
    # n ranks with cores / n torch threads each (one process: all cores), and one process
    # with one thread, a rank's share of the cores
    layouts = sorted({(1, 1), *((w, max(1, cores // w)) for w in worlds)})
    if busy:  # a thread per core spins against other jobs (OpenMP): one thread each
        layouts = sorted({(w, 1) for w, _ in layouts})
    if runs is None:
        runs = [(w, th, ld) for w, th in layouts for ld in LOADING]
        if quick:  # every code path once: one process before, ranks after
            runs = [(1, 1, LOADING[0]), (max(worlds), 1, LOADING[-1])]
            runs = runs[1:] if field else runs
    rows = []
    for world, threads, (label, prefetch, cache) in runs:
        spec = {
            "quick": quick,
            "device": ctx.device.type,
            "times": times,
            "block": block,
            "steps": steps,
            "batch": batch // world,
            "prefetch": prefetch,
            "cache": cache,
            "threads": threads,
        }
        if field:
            spec.update(shape=shape, patch=patch, tiny=True)
        r = launch(spec, world)
        who = "1 process" if world == 1 else f"{world} ranks ({_backend(ctx)})"
        peak = f"{r['cuda_peak']:.0f}" if r["cuda_peak"] is not None else "n/a (CPU)"
        rows.append(
            [
                who,
                spec["threads"],
                label,
                f"{r['global_batch']} = {spec['batch']} x {r['world']}",
                r["steps"],
                r["wall"],
                r["steps"] * r["global_batch"] / r["wall"],
                f"{r['rss']:.0f}",
                peak,
            ]
        )
    head = [
        "processes",
        "torch threads each",
        "data loading",
        "global batch",
        "steps",
        "loop s",
        "samples / s",
        "rank 0 peak RSS (MiB)",
        "rank 0 peak CUDA (MiB)",
    ]
    data = (
        f"synthetic fields on a {shape[1]}x{shape[0]} domain (`benchmarks.suite_training."
        f"synthetic`), trained on random {patch}x{patch} patches,"
        if field
        else "the embedded sample (32x20),"
    )
    note = (
        f"**One process against `torchrun` ranks, {'data-bound' if field else 'compute-bound'}"
        f".** {'Tiny' if quick or field else 'Demo'} U-Net, "
        f"{times} training times of {data} as dask input in chunks of {block} "
        f"(block_size {block}), {steps} steps at the same global batch (so "
        f"{steps * batch / times:.1f} epochs), no validation; 'loop s' is the training loop's "
        "wall time (`model.summary['wall_seconds']`: block preparation included, start-up and "
        "the one-off checks not). Ranks launched by "
        "`python -m torch.distributed.run --standalone --nproc-per-node N` "
        f"(`benchmarks.suite_training.launch`); {cores} cores shared by all ranks. Load "
        f"average when the table started: {load:.1f} on {cores} cores"
        + (
            ": **a busy machine** (other jobs shared the cores): the times are pessimistic, and "
            "every process ran one torch thread (with a thread per core, OpenMP threads spin "
            "against the other jobs and runs slow down many times)."
            if busy
            else "."
        )
    )
    return note + "\n\n" + H.table(head, rows)


def _backend(ctx: H.Context) -> str:
    return "nccl" if ctx.cuda else "gloo"


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _ddp_worker(json.loads(sys.argv[2]), sys.argv[3])
