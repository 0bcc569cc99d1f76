"""calibration: what keeps small-data ensembles calibrated, measured (issue 10).

At 180 training times (the embedded sample before 2021-07-01, evenly spaced) and on
all of them, ``TrainConfig.small``, held-out times every 8th from 2021-07-01, 10
members. Each training run is scored twice: with the weights validation by skill
selected (the default) and with the last EMA weights (what ``train`` returned
before), so the table separates what selection does from what each remedy does.
Remedies: dropout, weight decay, EMA decay and augmentation by random crops (at 1500
steps, where the last weights have collapsed; crops move the window over the domain
and the static covariates move with it, so no mountain moves: flips and rotations are
not offered), the regression mean, and post-hoc calibration (the members' spread
about their mean scaled by 1 / the last validation's spread-skill ratio). Baselines:
bicubic, bicubic + climatology, and the regression mean alone.
"""

from __future__ import annotations

from typing import Any

from xdeepr.metrics import CALIBRATED_SPREAD_SKILL

from . import harness as H
from . import trainruns as R

MEAN_STEPS = 600  # regression-mean steps of the "mean='regression'" rows
REGRESSION: dict[str, Any] = {"mean": "regression", "mean_steps": MEAN_STEPS}
#: (label, training size, TrainConfig overrides, post-hoc calibration measured)
RUNS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("default", "180", {"steps": 400}, False),
    ("default", "180", {"steps": 3000}, True),
    ("dropout 0.1", "180", {"steps": 1500, "dropout": 0.1}, False),
    ("weight decay 0.1", "180", {"steps": 1500, "weight_decay": 0.1}, False),
    ("EMA decay 0.999", "180", {"steps": 1500, "ema_decay": 0.999}, False),
    # augmentation that keeps geography: random 16x16 crops, statics cropped alike
    ("random 16x16 crops", "180", {"steps": 1500, "patch_size": 16}, False),
    ("mean='regression'", "180", {"steps": 400, **REGRESSION}, False),
    ("default", "full", {"steps": 600}, False),
    ("mean='regression'", "full", {"steps": 600, **REGRESSION}, False),
]
QUICK_RUNS = [
    ("default", "180", {"steps": 3, "validate_every": 1, **H.QUICK_TRAIN}, True),
    (
        "mean='regression'",
        "180",
        {**H.QUICK_TRAIN, "steps": 3, **REGRESSION, "mean_steps": 2},
        False,
    ),
]


def _cells(s: dict[str, float]) -> list[Any]:
    return [s["crps"], s["rmse"], s["ssr"], s["spectral"]]


def run(ctx: H.Context) -> str:
    """Train every configuration of :data:`RUNS`, score, and return the markdown."""
    runs = QUICK_RUNS if ctx.quick else RUNS
    jobs = [
        {
            "label": label,
            "size": size,
            "config": {k: v for k, v in cfg.items() if k != "progress"},
            "measure_posthoc": post,
            "baselines": True,
            "quick": ctx.quick,
        }
        for label, size, cfg, post in runs
    ]
    results = R.run_all(jobs, ctx.jobs)
    head = [
        "training times",
        "setting",
        "steps requested",
        "weights",
        "fair CRPS (K)",
        "ens.-mean RMSE (K)",
        "spread-skill",
        "spectral ratio",
        "validation share of training time",
    ]
    rows: list[list[Any]] = []
    for size in ("180", "full"):
        done = [r for r in results if r["size"] == size]
        if not done:
            continue
        first = done[0]
        for name in ("bicubic", "climatology"):
            rows.append([size, name, "", "", *_cells(first[name]), ""])
        for r in done:
            if "regression" in r:
                rows.append(
                    [
                        size,
                        "regression mean alone (deterministic)",
                        r["config"]["steps"],
                        "",
                        *_cells(r["regression"]),
                        "",
                    ]
                )
        for r in done:
            steps = r["config"]["steps"]
            rows.append(
                [
                    size,
                    r["label"],
                    steps,
                    f"selected: step {r['selected_step']}",
                    *_cells(r["selected"]),
                    f"{r['val_share']:.1%}",
                ]
            )
            if r["last"] is not r["selected"] and r["last"] != r["selected"]:
                rows.append(
                    [
                        size,
                        r["label"],
                        steps,
                        f"last (step {r['steps_done']})",
                        *_cells(r["last"]),
                        "",
                    ]
                )
            if "posthoc" in r:
                rows.append(
                    [
                        size,
                        r["label"] + f" + post-hoc spread x{r['posthoc_factor']:.2f}",
                        steps,
                        f"last (step {r['steps_done']})",
                        *_cells(r["posthoc"]),
                        "",
                    ]
                )
    n_test = "2 (quick)" if ctx.quick else f"every {R.EVERY}th from {H.TEST_START}"
    note = (
        f"`TrainConfig.small` (600-step demo network), training on {R.SMALL_TIMES} times "
        f"evenly spaced before {H.TEST_START} ('180') or all 2172 of them ('full'); the "
        f"last 10 % of them validate. Held-out times: {n_test}, {R.MEMBERS} members, seed "
        "0, the default sampler. 'selected': the weights validation by skill kept "
        "(lowest validation fair CRPS with spread-skill in "
        f"[{CALIBRATED_SPREAD_SKILL[0]}, {CALIBRATED_SPREAD_SKILL[1]}]; 12 validation "
        "times, 4 members, about 8 validations a run); 'last': the last EMA weights of "
        "the same run. The regression mean trains for "
        f"{MEAN_STEPS} steps before the diffusion network. CRPS of deterministic rows: "
        "their MAE."
    )
    return H.section(ctx, "calibration", "calibrated at any data size", [note, H.table(head, rows)])
