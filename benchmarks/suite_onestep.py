"""onestep: one-pass students against the 10-step teacher and DeepR's default, per ensemble.

Issue 22's table, in one run:

- **skill**, on the held-out times (every 24th from 2021-07-01, 20 members, noise seeds
  :data:`SEEDS`): fair CRPS, ensemble-mean RMSE, spread-skill and spectral ratio
  (small-scale power of the members relative to the truth's,
  :func:`xdeepr.metrics.spectral_ratio`), for the teacher at its default
  (SDE-DPM-Solver++(2M), 10 steps) and its one-evaluation student
  (:func:`xdeepr.distill`, :data:`xdeepr.training.distill.DISTILL_DEFAULTS`), each
  trained on the full sample (the cached demo model, ``TrainConfig.small``, 600 steps)
  and on 180 training times (the same settings on 180 evenly spaced times, as the
  calibration suite's small-data case). The 180-time student is what
  ``xdeepr.train(..., crps_finetune_steps=600)`` returns: that stage is this
  distillation of the trained model;
- **cost**, seconds per 20-member ensemble of one time step of the reduced domain
  (20x32), interleaved rounds, the fastest of each: DeepR's default (a DeepR-configured
  ``diffusers.UNet2DModel``: blocks [16, 24, 32], attention on the two deeper levels,
  24 hour classes, 2 input channels; untrained weights, which cost the same) sampled
  with DeepR's ``cDDPMPipeline`` loop (``LMSDiscreteScheduler``, 1000 steps, instance
  norm and residual), against xdeepr's models at the same level (``model.sample`` on a
  prepared condition: the network loop) and end to end (``downscale``: crop, bicubic
  condition, normalisation, assembly into a Dataset).

Trained models are cached (``benchmarks/.cache/onestep-*.xdeepr``). ``--quick``: a tiny
teacher, 2-step distillations, 24 "small" times, 10 LMS steps, one round.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import xdeepr
from xdeepr.diffusion import StackedRandomGenerator

from . import harness as H
from . import trainruns

SEEDS = (0, 1)
ROUNDS = 2  # interleaved timing rounds; the fastest of each counts
LMS_STEPS = 1000


def _cached(path: Path, quick: bool, make: Any) -> xdeepr.DownscalingModel:
    """The model at `path`, made and saved first if absent (never cached in --quick)."""
    if not quick and path.exists():
        return xdeepr.load_model(path)
    model = make()
    if not quick:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model


def models(ctx: H.Context) -> dict[str, tuple[Any, Any]]:
    """``{"full": (teacher, student), "180": (teacher, student)}``, trained or cached."""
    _, l, s = ctx.sample()
    full_f, small_f, _, _, _ = trainruns.sample()
    fit: dict[str, Any] = {"progress": False, "device": str(ctx.device)}
    steps = H.train_steps(H.DEMO_STEPS)
    if ctx.quick:
        small_f = small_f.isel(time=slice(0, 24))
        fit.update(steps=2, validation_times=2, validation_members=2, crps_members=2)
    teacher = ctx.model()
    cache = H.cache_dir()

    def distil(t: Any, feats: Any) -> Any:
        return xdeepr.distill(t, feats, l.sel(time=feats.time), s, **fit)

    student = _cached(
        cache / f"onestep-student-{teacher.identity}.xdeepr",
        ctx.quick,
        lambda: distil(teacher, full_f),
    )

    def train_small() -> Any:
        kw = H.QUICK_TRAIN if ctx.quick else {**H.DEMO_TRAIN, "steps": steps}
        return xdeepr.train(small_f, l.sel(time=small_f.time), s, **{**kw, "device": fit["device"]})

    t180 = _cached(cache / f"onestep-teacher180-{steps}.xdeepr", ctx.quick, train_small)
    s180 = _cached(
        cache / f"onestep-student-{t180.identity}.xdeepr", ctx.quick, lambda: distil(t180, small_f)
    )
    return {"full": (teacher, student), "180": (t180.to(ctx.device), s180.to(ctx.device))}


def _deepr_loop(ctx: H.Context, cond: torch.Tensor, steps: int) -> Any:
    """DeepR's cDDPMPipeline sampling loop on a DeepR-configured UNet2DModel (untrained)."""
    from .suite_deepr import BLOCKS, _scheduler, _unet

    unet = _unet(BLOCKS).to(ctx.device).eval()
    hours = torch.zeros(cond.shape[0], dtype=torch.long, device=ctx.device)

    def run() -> torch.Tensor:
        lms = _scheduler()
        lms.set_timesteps(steps)
        g = torch.Generator().manual_seed(0)
        m, sd = cond.mean((1, 2, 3), keepdim=True), cond.std((1, 2, 3), keepdim=True)
        c = (cond - m) / sd  # instance_norm
        x = torch.randn(c.shape, generator=g).to(ctx.device) * lms.init_noise_sigma
        with torch.no_grad():
            for t in lms.timesteps:
                inp = lms.scale_model_input(torch.cat([x, c], 1), t)
                eps = unet(inp, t, class_labels=hours).sample
                x = lms.step(eps, t, x).prev_sample
        return (x + c) * sd + m  # learn_residuals, instance norm undone

    return unet, run


def _timings(ctx: H.Context, teacher: Any, student: Any, one: Any) -> dict[str, float]:
    """Seconds per 20-member ensemble (fastest of interleaved rounds) of each setting."""
    n = H.MEMBERS
    cond = torch.as_tensor(teacher.condition(one).values, dtype=torch.float32)
    cond = cond.repeat(n, 1, 1, 1).to(ctx.device)
    cal = torch.as_tensor(xdeepr.model.calendar_features(one.time), dtype=torch.float32)
    cal = cal.repeat(n, 1).to(ctx.device)
    lms_steps = 10 if ctx.quick else LMS_STEPS
    unet, deepr = _deepr_loop(ctx, cond[:, :1].contiguous(), lms_steps)

    def sample(model: Any) -> Any:
        return lambda: model.sample(cond, cal, noise=StackedRandomGenerator.from_seeds(range(n)))

    def downscale(model: Any) -> Any:
        kw = {"members": n, "batch_size": n, "progress": False, "device": ctx.device}
        return lambda: one.deepr.downscale(model, **kw)

    runs = {
        f"DeepR default: UNet2DModel, LMS {lms_steps} steps": deepr,
        "teacher 10 steps: sampling loop": sample(teacher),
        "student 1 evaluation: sampling loop": sample(student),
        "teacher 10 steps: downscale end to end": downscale(teacher),
        "student 1 evaluation: downscale end to end": downscale(student),
    }
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        if fn is not deepr:
            fn()
    with torch.no_grad():
        for _ in range(1 if ctx.quick else ROUNDS):  # a busy spell hits every setting alike
            for name, fn in runs.items():
                H.sync(ctx.device)
                t0 = time.perf_counter()
                fn()
                H.sync(ctx.device)
                seconds[name].append(time.perf_counter() - t0)
    out = {k: min(v) for k, v in seconds.items()}
    out["_deepr_parameters"] = float(sum(p.numel() for p in unet.parameters()))
    return out


def _skill(
    model: Any, ft: Any, truth: Any, members: int, seeds: tuple[int, ...], calibrate: bool
) -> list[float]:
    rows = [
        trainruns.scores(
            truth.t2m,
            ft.deepr.downscale(
                model, members=members, seed=seed, progress=False, calibrate=calibrate
            ).t2m,
        )
        for seed in seeds
    ]
    return [statistics.fmean(r[k] for r in rows) for k in ("crps", "rmse", "ssr", "spectral")]


def _factor(model: Any) -> str:
    """The post-hoc spread factor ``downscale`` applies to t2m, or "off"."""
    cal = getattr(model, "calibration", None) or {}
    if not cal.get("enabled", {}).get("t2m"):
        return "off"
    return f"{cal['factors']['t2m']:.3f}"


def run(ctx: H.Context) -> str:
    """Run the onestep suite and return its markdown section."""
    try:
        import diffusers  # noqa: F401
    except ImportError:  # the DeepR row needs diffusers (an optional extra)
        why = "not measured: diffusers is not installed (pip install 'xdeepr[deepr]')"
        body = [H.table(["suite", "result"], [["onestep", why]])]
        return H.section(ctx, "onestep", "one-pass ensembles against DeepR's default", body)
    load0 = os.getloadavg()
    ms = models(ctx)
    ft, truth = ctx.held_out()
    # instantaneous fields taken days apart: said, so downscale does not warn of a time step
    ft = ft.assign(t2m=ft.t2m.assign_attrs(cell_methods="time: point"))
    members = 2 if ctx.quick else H.MEMBERS
    seeds = SEEDS[:1] if ctx.quick else SEEDS
    teacher, student = ms["full"]
    sec = _timings(ctx, teacher, student, ft.isel(time=[0]))
    deepr_name = next(k for k in sec if k.startswith("DeepR"))
    t_deepr = sec[deepr_name]
    rows: list[list[Any]] = []
    bic = ft.deepr.interpolate(truth)
    b = trainruns.scores(truth.t2m, bic.t2m)
    rows.append(["-", "bicubic (CRPS = MAE)", b["crps"], "", b["rmse"], "", b["spectral"], ""])
    settings = [(size, "", True) for size in ms] + [("180", ", raw (calibrate=False)", False)]
    for size, how, calibrate in settings:
        t, s_ = ms[size]
        ref = None
        for name, model in (("teacher, 10 steps", t), ("student, 1 evaluation", s_)):
            crps, rmse, ssr, spec = _skill(model, ft, truth, members, seeds, calibrate)
            ref = crps if ref is None else ref
            factor = _factor(model) if calibrate else "off"
            rows.append([size, name + how, crps, f"{crps / ref - 1:+.1%}", rmse, ssr, spec, factor])
    skill = H.table(
        [
            "training times",
            "ensemble",
            "fair CRPS (K)",
            "vs teacher",
            "ens.-mean RMSE (K)",
            "spread/skill",
            "spectral ratio",
            "post-hoc spread factor",
        ],
        rows,
    )
    cost = H.table(
        ["setting", f"s / {H.MEMBERS}-member ensemble", "DeepR default / this"],
        [[k, v, f"{t_deepr / v:.0f}x"] for k, v in sec.items() if not k.startswith("_")],
    )
    load1 = os.getloadavg()
    sel = [m.summary.get("selected_step") for _, m in ms.values()]
    note = (
        f"Teachers: the demo model {teacher.identity} ({teacher.n_parameters:,} parameters) "
        f"and the same settings on 180 training times ({ms['180'][0].identity}); students: "
        f"`xdeepr.distill(teacher, ...)` with the defaults (1 evaluation), selected at steps "
        f"{sel} (full, 180). Skill: {ft.sizes['time']} held-out times (every 24th from "
        f"{H.TEST_START}), {members} members, noise seeds {list(seeds)} (means over seeds). "
        f"Cost: one time step of the {'x'.join(map(str, truth.t2m.shape[-2:]))} reduced "
        f"domain, {H.MEMBERS} members in one batch, fastest of {1 if ctx.quick else ROUNDS} "
        f"interleaved rounds; DeepR's UNet2DModel has {int(sec['_deepr_parameters']):,} "
        f"parameters (untrained), its loop takes the upsampled t2m as condition. "
        f"{torch.get_num_threads()} torch thread(s); load average "
        f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end (other processes share "
        "the cores)."
    )
    return H.section(
        ctx, "onestep", "one-pass ensembles against DeepR's default", [note, skill, cost]
    )
