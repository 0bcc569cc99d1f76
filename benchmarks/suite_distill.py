"""distill: one-pass students against their teacher: skill and seconds per ensemble.

The cached demo model (``TrainConfig.small``, 600 steps, trained to 2021-06-30) is the
teacher. :func:`xdeepr.distill` makes a 1-evaluation and a 2-evaluation student of it
on the same training times (:data:`xdeepr.training.distill.DISTILL_DEFAULTS`); each
is sampled, with the teacher at its default (SDE-DPM-Solver++(2M), 10 steps) and the
teacher sampled with one and two evaluations *without* distillation (the floor any
few-step method starts from), on held-out times (every 24th from 2021-07-01) with
20 members and three noise seeds. Scores: fair CRPS, spread-skill ratio and
ensemble-mean RMSE in K; bicubic interpolation is the baseline (its CRPS is its MAE).
Cost: seconds per 20-member ensemble of one time step of the reduced domain through
``downscale`` (whole ensemble in one batch, fastest of interleaved rounds).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import xdeepr

from . import harness as H

SEEDS = (0, 1, 2)
ROUNDS = 5  # interleaved timing rounds; the fastest counts


def _scores(truth: Any, ens: Any) -> tuple[float, float, float]:
    m = xdeepr.metrics
    return (
        float(m.crps_ensemble(truth.t2m, ens.t2m, fair=True)),
        float(m.spread_skill_ratio(truth.t2m, ens.t2m)),
        float(m.rmse(truth.t2m, ens.t2m.mean("member"))),
    )


def run(ctx: H.Context) -> str:
    """Run the distill suite and return its markdown section."""
    teacher = ctx.model()
    f, l, _ = ctx.sample()
    train = slice(None, H.TRAIN_END)
    ft, truth = ctx.held_out()
    fit: dict[str, Any] = {"progress": False, "device": str(ctx.device)}
    if ctx.quick:
        fit.update(steps=2, validation_times=2, validation_members=2, crps_members=2)
    students, walls = {}, {}
    for n in (1, 2):
        t0 = time.perf_counter()
        students[n] = xdeepr.distill(
            teacher, f.sel(time=train), l.sel(time=train), evaluations=n, **fit
        )
        walls[n] = time.perf_counter() - t0
    settings: list[tuple[str, Any, dict[str, Any]]] = [
        ("teacher, default sampler", teacher, {}),
        ("teacher, dpm++2m-sde 2 steps (no distillation)", teacher, {"steps": 2}),
        ("teacher, onepass 1 evaluation (no distillation)", teacher, {"sampler": "onepass"}),
        ("student, 1 evaluation", students[1], {}),
        ("student, 2 evaluations", students[2], {}),
    ]
    members = 2 if ctx.quick else H.MEMBERS
    seeds = SEEDS[:1] if ctx.quick else SEEDS
    bic = ft.deepr.interpolate(truth)
    mae_b = float(xdeepr.metrics.mae(truth.t2m, bic.t2m))
    rmse_b = float(xdeepr.metrics.rmse(truth.t2m, bic.t2m))
    one = ft.isel(time=[0])
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in settings}
    for _ in range(1 if ctx.quick else ROUNDS):  # interleaved: a busy spell hits all alike
        for name, model, kw in settings:
            t0 = time.perf_counter()
            one.deepr.downscale(
                model,
                members=H.MEMBERS,
                batch_size=H.MEMBERS,
                progress=False,
                device=ctx.device,
                **kw,
            )
            seconds[name].append(time.perf_counter() - t0)
    rows: list[list[Any]] = []
    ref: float | None = None
    for name, model, kw in settings:
        scores = [
            _scores(
                truth,
                ft.deepr.downscale(
                    model, members=members, seed=seed, progress=False, device=ctx.device, **kw
                ),
            )
            for seed in seeds
        ]
        crps, ssr, rmse = (statistics.fmean(s[i] for s in scores) for i in range(3))
        evals = kw.get("steps") or model.default_steps(kw.get("sampler"))
        ref = crps if ref is None else ref
        rows.append([name, evals, crps, f"{crps / ref - 1:+.1%}", rmse, ssr, min(seconds[name])])
    t_teacher = min(seconds[settings[0][0]])
    for row in rows:
        row.append(f"{t_teacher / row[6]:.1f}x")
    ref = rows[0][2]  # the teacher's fair CRPS
    rows.insert(0, ["bicubic", 0, mae_b, f"{mae_b / ref - 1:+.1%}", rmse_b, "", "", ""])
    body = H.table(
        [
            "ensemble",
            "network evaluations",
            "fair CRPS (K)",
            "vs teacher",
            "ens.-mean RMSE (K)",
            "spread/skill",
            f"s / {H.MEMBERS}-member ensemble",
            "speed-up",
        ],
        rows,
    )
    note = (
        f"Teacher {teacher.identity} ({teacher.n_parameters:,} parameters, "
        f"{teacher.default_sampler} {teacher.default_steps()} steps); students distilled "
        f"with {_describe(students[1])} in {walls[1]:.0f} s (1 evaluation) and "
        f"{walls[2]:.0f} s (2 evaluations), selected by validation skill at steps "
        f"{students[1].summary.get('selected_step')} and "
        f"{students[2].summary.get('selected_step')}. {ft.sizes['time']} held-out times "
        f"(every 24th from {H.TEST_START}), {members} members, noise seeds {list(seeds)} "
        f"(scores are means over the seeds); cost: one time step, {H.MEMBERS} members in "
        f"one batch, fastest of {1 if ctx.quick else ROUNDS} interleaved rounds. Bicubic's "
        "CRPS is its MAE."
    )
    title = "one-pass ensembles, students against their teacher (`onestep` below: against "
    title += "DeepR's default, and at 180 training times)"
    return H.section(ctx, "distill", title, [note, body])


def _describe(student: xdeepr.DownscalingModel) -> str:
    c = student.config
    return (
        f"{c['steps']} steps of {c['batch_size']} examples x {c['crps_members']} members, "
        f"almost fair CRPS (alpha {c['crps_alpha']}), learning rate {c['learning_rate']:g}"
    )
