"""sampling: seconds per 20-member ensemble per time step, per sampler and domain.

Tables: (1) the reduced 32x20 domain, each sampler at its default steps with the
demo model, plus the DeepR-parity setting (seed U-Net, 1000 DDPM steps); (2) the
complete 800x500 domain, extrapolated from a few timed network evaluations;
(3) cost against members, pixels and steps (linearity); (4) the GPU fast-path
switches (bf16 autocast, channels_last, torch.compile); (5) ``downscale`` end to end
onto a complete-domain target (GPU). The default sampler is the library's (``DEFAULT_SAMPLER``).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from xdeepr.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, make_schedule, sample
from xdeepr.fastpath import FastPath

from . import harness as H

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
REDUCED = (20, 32)  # label grid rows (lat) x columns (lon)
COMPLETE = (500, 800)


def denoiser(net: Any, fast: FastPath, device: torch.device) -> Denoiser:
    """`net` as ``fn(x, t, condition, calendar)`` through the library's fast path.

    The network is copied when a switch changes it (memory format, compilation),
    so each configuration is timed from the same starting point.
    """
    if fast.channels_last or fast.compile:
        net = copy.deepcopy(net)
    return fast.denoiser(net, device)


def _inputs(net: Any, b: int, h: int, w: int, device: torch.device) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(0)
    cfg = net.config  # type: ignore[operator]
    x = torch.randn(b, cfg["image_channels"], h, w, generator=g).to(device)  # (B, C, H, W)
    cond = torch.randn(b, cfg["conditioned_on_input"], h, w, generator=g).to(device)
    t = torch.full((b,), 500.0, device=device)  # (B,)
    cal = torch.rand(b, 2, generator=g).to(device)  # (B, 2)
    return x, t, cond, cal


@torch.no_grad()
def time_sampler(
    fn: Denoiser,
    net: Any,
    size: tuple[int, int],
    members: int,
    sampler: str,
    steps: int | None,
    device: torch.device,
    schedule: Any = None,
    prediction: str = "epsilon",
) -> float:
    """Wall seconds of one `sampler` run on a batch of `members` at `size` (after a warm-up)."""
    schedule = schedule or make_schedule("linear", 1000)
    x, _, cond, cal = _inputs(net, members, *size, device)

    def model_fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return fn(xt, t, cond, cal)

    sample(model_fn, x, schedule, sampler=sampler, steps=1, prediction=prediction)  # warm-up
    with H.timer(device) as t:
        sample(model_fn, x, schedule, sampler=sampler, steps=steps, prediction=prediction)
    return t[0]


@torch.no_grad()
def time_evals(
    fn: Denoiser,
    net: Any,
    size: tuple[int, int],
    batch: int,
    n_evals: int,
    device: torch.device,
    count_flops: bool = True,
) -> tuple[float, int, float]:
    """Seconds per *sample* per network evaluation at `size`, the batch used, FLOP per sample.

    On CUDA the batch halves on out-of-memory. The first (warm-up) evaluation counts
    the FLOP (torch's FlopCounterMode: convolutions, matmuls, attention).
    """
    while True:
        try:
            x, t, cond, cal = _inputs(net, batch, *size, device)
            flop = 0.0
            if count_flops:
                with FlopCounterMode(display=False) as counter:
                    fn(x, t, cond, cal)
                flop = counter.get_total_flops() / batch
            else:
                fn(x, t, cond, cal)
            with H.timer(device) as wall:
                for _ in range(n_evals):
                    fn(x, t, cond, cal)
            return wall[0] / (n_evals * batch), batch, flop
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
            torch.cuda.empty_cache()


def _default_steps(sampler: str) -> int:
    return DEFAULT_STEPS[sampler] or 1000


def run(ctx: H.Context) -> str:
    """Run the sampling suite and return its markdown section."""
    dev, quick = ctx.device, ctx.quick
    model = ctx.model()
    demo = model.network.eval()
    m_demo = demo.size_multiple
    members = 2 if quick else H.MEMBERS
    fp = FastPath(bf16=False, pin_memory=False)
    fn_demo = denoiser(demo, fp, dev)
    seed = H.seed_unet(dev)
    fn_seed = denoiser(seed, fp, dev)
    red = (H.padded(REDUCED[0], m_demo), H.padded(REDUCED[1], m_demo))
    red_seed = (H.padded(REDUCED[0], 8), H.padded(REDUCED[1], 8))
    cap = 3 if quick else None  # --quick: at most 3 steps, whatever the sampler
    default = DEFAULT_SAMPLER  # the library's (the cached model may predate it)
    samplers = [default] + [s for s in SAMPLERS if s != default]  # the default first

    # -- 1. reduced domain
    f, _, _ = ctx.sample()
    rows: list[list[Any]] = []
    for sampler in samplers:
        steps = min(cap or 10**9, _default_steps(sampler))
        sec = time_sampler(
            fn_demo, demo, red, members, sampler, steps, dev, model.schedule, model.prediction
        )
        n_t = 1 if sampler == "ddpm" or quick else 2
        x = f.sel(time=slice(H.TEST_START, None)).isel(time=slice(0, n_t))
        x.deepr.downscale(model, members=1, sampler=sampler, steps=1, progress=False, device=dev)
        t0 = time.perf_counter()
        x.deepr.downscale(
            model, members=members, sampler=sampler, steps=steps, progress=False, device=dev
        )
        e2e = (time.perf_counter() - t0) / n_t
        rows.append([f"demo ({model.n_parameters:,} par.)", sampler, steps, sec, e2e, "measured"])
    p_steps = min(cap or 10**9, ctx.parity_steps)
    sec = time_sampler(fn_seed, seed, red_seed, members, "ddpm", p_steps, dev)
    how = "measured" if p_steps == 1000 else f"extrapolated from {p_steps} of 1000 steps"
    n_seed = sum(p.numel() for p in seed.parameters())
    rows.append(
        [
            f"**DeepR parity**: seed U-Net ({n_seed:,} par.)",
            "ddpm",
            1000,
            sec * 1000 / p_steps,
            "",
            how,
        ]
    )
    speedup = float(rows[-1][3]) / float(rows[0][3])
    t1 = H.table(
        [
            "network",
            "sampler",
            "steps",
            f"s / {members}-member ensemble (network + sampler)",
            "s / ensemble end-to-end (`downscale`)",
            "how",
        ],
        rows,
    )
    t1 = (
        f"**Reduced domain** ({REDUCED[1]}x{REDUCED[0]} padded to {red[1]}x{red[0]}; seed "
        f"U-Net {red_seed[1]}x{red_seed[0]}), batch = {members} members, one time step.\n\n"
        + t1
        + f"\n\nDefault sampler ({default}, {rows[0][2]} steps) vs DeepR parity: "
        f"**{speedup:.0f}x** faster per ensemble."
    )

    # -- 2. complete domain, extrapolated
    full = (64, 48) if quick else COMPLETE
    batch = members if ctx.cuda else 1
    n_evals = 1 if quick or not ctx.cuda else 3
    rows = []
    for name, net, fn in (("seed U-Net", seed, fn_seed), ("demo U-Net", demo, fn_demo)):
        size = (H.padded(full[0], net.size_multiple), H.padded(full[1], net.size_multiple))
        per, b_used, flop = time_evals(fn, net, size, batch, n_evals, dev)
        for sampler in samplers:
            steps = _default_steps(sampler)
            rows.append(
                [
                    name,
                    f"{size[1]}x{size[0]}",
                    sampler,
                    steps,
                    per * H.MEMBERS * steps,
                    f"{flop / 1e9:.3g}",
                    f"extrapolated: {n_evals} eval(s) at batch {b_used}",
                ]
            )
    t2 = (
        f"**Complete domain** ({full[1]}x{full[0]}), s per {H.MEMBERS}-member ensemble per "
        "time step = (s per sample-evaluation) x members x steps.\n\n"
        + H.table(
            [
                "network",
                "padded W x H",
                "sampler",
                "steps",
                f"s / {H.MEMBERS} members",
                "GFLOP / sample-eval",
                "how",
            ],
            rows,
        )
    )

    # -- 3. linearity in members x pixels x steps
    base = (5, red, 5) if not quick else (1, (8, 8), 1)
    m0, (h0, w0), s0 = base
    grid = [
        base,
        (2 * m0, base[1], s0),
        (4 * m0, base[1], s0),
        (m0, (2 * h0, 2 * w0), s0),
        (m0, (4 * h0, 4 * w0), s0),
        (m0, base[1], 2 * s0),
        (m0, base[1], 4 * s0),
    ]
    rows, unit = [], None
    for mem, (h, w), st in grid:
        sec = time_sampler(
            fn_demo, demo, (h, w), mem, default, st, dev, model.schedule, model.prediction
        )
        work = mem * h * w * st
        per = sec / work * 1e9
        unit = unit or per
        rows.append([mem, f"{w}x{h}", st, work, sec, per, per / unit])
    t3 = (
        f"**Linearity**: demo network, {default}; cost / (members x pixels x steps) stays "
        "roughly flat where cost is linear (attention is quadratic in the pixels of its level; "
        "small batches under-use the device).\n\n"
        + H.table(
            [
                "members",
                "W x H",
                "steps",
                "members·pixels·steps",
                "s",
                "ns / (member·pixel·step)",
                "relative",
            ],
            rows,
        )
    )
    return H.section(
        ctx,
        "sampling",
        "seconds per ensemble per time step",
        [t1, t2, t3, fast_path(ctx, demo, default), end_to_end(ctx, model)],
    )


def end_to_end(ctx: H.Context, model: Any) -> str:
    """``downscale`` onto a complete-domain target, timed whole (GPU only, or --quick)."""
    shape = (48, 64) if ctx.quick else COMPLETE
    sampler = DEFAULT_SAMPLER
    members, steps = (2, 2) if ctx.quick else (H.MEMBERS, _default_steps(sampler))
    title = (
        f"**Complete domain end to end**: `downscale(target=...)` of one time step onto a "
        f"{shape[1]}x{shape[0]} 0.05° domain (synthetic statics and input, "
        f"`benchmarks.harness.large_domain`), demo model, {sampler} {steps} steps, batch size "
        "from free device memory; condition, sampling, copies and output included."
    )
    head = ["fast path", f"s / {H.MEMBERS}-member ensemble", "peak device memory (GiB)", "how"]
    if not ctx.cuda and not ctx.quick:
        return title + "\n\n" + H.table(head, [["default", "not measured: no GPU", "", ""]])
    coarse, target = H.large_domain(model, shape)
    configs = [FastPath()]
    if ctx.compile:
        configs.append(FastPath(channels_last=True, compile=True))
    rows = []
    for fp in configs:
        opts = {"target": target, "progress": False, "device": ctx.device, "fast_path": fp}
        coarse.deepr.downscale(model, members=members, steps=1, **opts)  # warm-up, compile
        if ctx.cuda:
            torch.cuda.reset_peak_memory_stats(ctx.device)
        with H.timer(ctx.device) as wall:
            out = coarse.deepr.downscale(
                model, members=members, sampler=sampler, steps=steps, **opts
            )
        assert out[model.labels[0]].shape == (members, 1, *shape)
        peak = torch.cuda.max_memory_allocated(ctx.device) / 2**30 if ctx.cuda else float("nan")
        how = "measured" if ctx.cuda else "code path exercised on CPU (quick)"
        rows.append([fp.resolve(ctx.device).label(), wall[0] * H.MEMBERS / members, peak, how])
    return title + "\n\n" + H.table(head, rows)


def fast_path(ctx: H.Context, net: Any, sampler: str) -> str:
    """Table of the GPU fast-path switches; 'not measured: no GPU' on CPU.

    On CPU, --quick still runs each switch once on a tiny field to test the code path.
    """
    dev = ctx.device
    head = [
        "switches",
        f"s / {H.MEMBERS}-member ensemble, {sampler} {_default_steps(sampler)} steps",
        "batch",
        "model FLOP utilisation (bf16 peak)",
        "how",
    ]
    title = "**GPU fast path** (complete domain, demo network)."
    if not ctx.cuda and not ctx.quick:
        return title + "\n\n" + H.table(head, [["all", "not measured: no GPU", "", "", ""]])
    bf16 = [False, True] if ctx.bf16 is None else [ctx.bf16]
    cl = [False, True] if ctx.channels_last is None else [ctx.channels_last]
    configs = [FastPath(b, c, pin_memory=False) for b, c in itertools.product(bf16, cl)]
    if ctx.compile:
        configs.append(FastPath(bf16[-1], cl[-1], compile=True, pin_memory=False))
    size = (64, 48) if ctx.quick else COMPLETE
    size = (H.padded(size[0], net.size_multiple), H.padded(size[1], net.size_multiple))
    batch = 2 if ctx.quick else H.MEMBERS
    n_evals = 1 if ctx.quick else 5
    peak = H.peak_bf16(dev)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(*_inputs(net, 1, *size, dev))
    flop = counter.get_total_flops()  # per sample-evaluation, eager fp32
    rows = []
    for fp in configs:
        fn = denoiser(net, fp, dev)
        with torch.no_grad():
            fn(*_inputs(net, 1, *size, dev))  # warm-up (and compilation)
        per, b_used, _ = time_evals(fn, net, size, batch, n_evals, dev, count_flops=False)
        mfu = f"{flop / per / peak:.1%}" if peak else "n/a (peak unknown)"
        how = f"extrapolated: {n_evals} evals at batch {b_used}"
        if not ctx.cuda:
            how = "not measured: no GPU (code path exercised on CPU)"
            mfu = "n/a"
        rows.append([fp.label(), per * H.MEMBERS * _default_steps(sampler), b_used, mfu, how])
    return title + "\n\n" + H.table(head, rows)
