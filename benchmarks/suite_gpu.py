"""gpu: the GPU check in one command, ``python -m benchmarks gpu --write BENCHMARKS.md``.

On a CUDA machine, within about 8 minutes: (1) the CUDA tests but the slow one
(``pytest -m "gpu and not slow"``); (2) the complete 800x500 domain, 20-member
ensembles per time step with each fast-path switch (bf16, channels_last,
``torch.compile``) and model FLOP utilisation against the device's bf16 peak, then
``downscale`` end to end (the sampling suite's machinery); (3) training: samples per
second, peak device memory and MFU of a training step of the seed and demo U-Nets on
complete-domain fields, and the real pipeline (``xdeepr.train`` on the sample) in one
process and DDP over the GPUs present. ``--quick`` runs every part that needs no CUDA
on tiny settings on the CPU (the test suite does, so the check cannot rot); without
CUDA and without ``--quick`` the section says that nothing was measured.
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from xdeepr.diffusion import DEFAULT_SAMPLER, diffusion_loss, make_schedule

from . import harness as H
from . import suite_sampling as S
from . import suite_training as T

#: Wall-clock budget of the whole check on a GPU machine, seconds.
BUDGET_S = 8 * 60


def cuda_tests(ctx: H.Context) -> str:
    """Run ``pytest -m "gpu and not slow"`` (in --quick on CPU: only collect) and report it.

    The slow CUDA test (guidance compiled, 193 s on an H200, nearly all compiling) is left
    to ``pytest -m gpu``: with it the check outgrew a 15-minute device lease.
    """
    marks = "gpu and not slow"
    cmd = [sys.executable, "-m", "pytest", "-m", marks, "-q", "-p", "no:cacheprovider"]
    # on CPU (--quick) only collected, from one file: proves the command, costs seconds
    cmd += ["tests"] if ctx.cuda else ["tests/test_benchmarks.py", "--collect-only"]
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=T.ROOT, capture_output=True, text=True, timeout=BUDGET_S)
    lines = [ln for ln in res.stdout.strip().splitlines() if ln.strip()]
    outcome = lines[-1].strip("= ") if lines else res.stderr.strip()[-300:]
    how = "run" if ctx.cuda else "collected only: no GPU"
    ok = res.returncode == 0 or (res.returncode == 5 and not ctx.cuda)  # 5: none selected
    rows = [
        [
            f"`{' '.join(['python', *cmd[1:]])}`",
            how,
            outcome,
            time.perf_counter() - start,
            "passed" if ok else f"**failed (exit {res.returncode})**",
        ]
    ]
    return "**CUDA tests.**\n\n" + H.table(["command", "how", "outcome", "s", "status"], rows)


def _train_step(net: Any, opt: Any, sched: Any, inputs: tuple[Any, ...], bf16: bool) -> None:
    """One optimisation step of `net` on `inputs` (x0, t, condition, calendar)."""
    x, _, cond, cal = inputs

    def fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            return net(xt, t, cond, cal).float()  # type: ignore[no-any-return]

    loss, _ = diffusion_loss(fn, x, sched, prediction="v")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _step_rate(
    net: Any, size: tuple[int, int], batch: int, steps: int, ctx: H.Context
) -> tuple[float, int, float, float]:
    """(s per training step, batch used, forward FLOP per sample, peak device GiB)."""
    dev = ctx.device
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    sched = make_schedule("cosine", 1000)
    while True:
        try:
            inputs = S._inputs(net, batch, *size, dev)
            x, _, cond, cal = inputs
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                net(x[:1], torch.zeros(1, device=dev), cond[:1], cal[:1])
            flop = float(counter.get_total_flops())
            _train_step(net, opt, sched, inputs, ctx.cuda)  # warm-up (allocations, kernels)
            if ctx.cuda:
                torch.cuda.reset_peak_memory_stats(dev)
            with H.timer(dev) as wall:
                for _ in range(steps):
                    _train_step(net, opt, sched, inputs, ctx.cuda)
            peak = torch.cuda.max_memory_allocated(dev) / 2**30 if ctx.cuda else float("nan")
            return wall[0] / steps, batch, flop, peak
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()


def training_steps(ctx: H.Context) -> str:
    """Samples/s, peak memory and MFU of bf16 training steps on complete-domain fields."""
    size = (48, 64) if ctx.quick else S.COMPLETE
    batch, steps = (2, 1) if ctx.quick else (8, 5)
    peak_flops = H.peak_bf16(ctx.device)
    model = ctx.model()
    rows = []
    for name, net in (("seed U-Net", H.seed_unet(ctx.device)), ("demo U-Net", model.network)):
        net = copy.deepcopy(net).to(ctx.device).train().requires_grad_(True)  # EMA: no grad
        hw = (H.padded(size[0], net.size_multiple), H.padded(size[1], net.size_multiple))
        per, b, flop, peak = _step_rate(net, hw, batch, steps, ctx)
        # a training step costs about 3 forward passes (forward, and backward twice that)
        mfu = f"{3 * flop * b / per / peak_flops:.1%}" if peak_flops else "n/a (peak unknown)"
        how = f"measured: {steps} step(s) after a warm-up" if ctx.cuda else "code path (CPU)"
        rows.append([name, f"{hw[1]}x{hw[0]}", b, per, b / per, peak, mfu, how])
    head = [
        "network",
        "W x H",
        "batch",
        "s / step",
        "samples / s",
        "peak device GiB",
        "MFU (3x forward FLOP, bf16 peak)",
        "how",
    ]
    return (
        "**Training steps on the complete domain** (synthetic fields, diffusion loss with "
        "v-prediction, bf16 autocast, AdamW; the batch halves on out-of-memory).\n\n"
        + H.table(head, rows)
    )


def run(ctx: H.Context) -> str:
    """Run the GPU check and return its markdown section."""
    start = time.perf_counter()
    if not ctx.cuda and not ctx.quick:
        return H.section(
            ctx,
            "gpu",
            "the GPU check",
            [
                "Not measured: no GPU. On a CUDA machine `python -m benchmarks gpu --write "
                "BENCHMARKS.md` fills this section within about 8 minutes."
            ],
        )
    ctx = dataclasses.replace(ctx, bf16=None, channels_last=None, compile=ctx.cuda, _cache={})
    parts = [cuda_tests(ctx)]
    model = ctx.model()
    parts.append(S.fast_path(ctx, model.network.eval(), DEFAULT_SAMPLER))
    parts.append(S.end_to_end(ctx, model))
    parts.append(training_steps(ctx))
    n = torch.cuda.device_count() if ctx.cuda else 2
    after = T.LOADING[-1]
    runs = [(1, 1, after), (n, 1, after)] if n > 1 else [(1, 1, T.LOADING[0]), (1, 1, after)]
    if ctx.quick:  # the training suite's --quick launches one process; here the ranks
        runs = [(n, 1, after)]
    parts.append(T.scaling(ctx, (1, n), runs=runs))
    used = time.perf_counter() - start
    parts.append(f"Whole check: {used:.0f} s (budget {BUDGET_S} s).")
    return H.section(ctx, "gpu", "the GPU check", parts)
