"""training: throughput (samples/s) and peak memory of the demo-size model, batch 16.

Each measurement runs in its own process, so the peak resident set size (and the
peak CUDA memory) belongs to the training alone.
"""

from __future__ import annotations

from typing import Any

import torch

from . import harness as H


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
        "is the training process's `ru_maxrss` (data loading included)."
    )
    return H.section(ctx, "training", "throughput and peak memory", [note, body])
