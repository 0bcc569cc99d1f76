"""ablation: what each covariable is worth (the DeepR seed's open question, issue 10).

The same budget (``TrainConfig.small``, :data:`STEPS` steps) with and without the
calendar conditioning (hour-of-day and day-of-year embeddings), the static
covariates (orography and land-sea mask at both resolutions) and the coarse
meteorological covariable ``t850`` of the embedded sample
(``load_sample(covariables=True)``, docs/sample.md) and the 40 synthetic stations of
``load_sample_stations()`` (given to ``train(..., observations=)`` and to
``downscale``; moved to their cells' altitude at -6.5 K/km, the default, and as measured
with ``lapse_rate=None``), over three training seeds, at 180 training times and on all of them;
scored on the held-out times (every 16th from 2021-07-01, 10 members) against the
gridded truth by fair CRPS, ensemble-mean RMSE, spread-skill and spectral ratio, as the
mean and the seed-to-seed standard deviation. What stations are worth away from
themselves is the ``observations`` suite's question (leave-stations-out).
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from . import harness as H
from . import trainruns as R

STEPS = 300
EVERY = 16  # held-out times: every 16th from 2021-07-01 (46 times)
SEEDS = (0, 1, 2)
#: (label, job settings): the inputs of each variant.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("t2m + static + calendar (default)", {}),
    ("without calendar", {"config": {"calendar": False}}),
    ("without static covariates", {"static": False}),
    ("with t850", {"inputs": ("t850",)}),
    ("with 40 stations", {"observations": True}),
    ("with 40 stations, no altitude adjustment", {"observations": True, "lapse_rate": None}),
]
#: Environment variables that choose a smaller run (the section says what was run):
#: seeds (``"0"``), training sizes (``"180"``) and variants (label fragments, ``"default,
#: stations"``), comma-separated.
SEEDS_ENV, SIZES_ENV, VARIANTS_ENV = (
    "XDEEPR_BENCH_SEEDS",
    "XDEEPR_BENCH_SIZES",
    "XDEEPR_BENCH_VARIANTS",
)


def _env(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def _chosen(quick: bool) -> tuple[tuple[int, ...], tuple[str, ...], list[tuple[str, Any]]]:
    """Seeds, sizes and variants of this run: all, or those the environment names."""
    seeds = SEEDS[:1] if quick else tuple(int(x) for x in _env(SEEDS_ENV)) or SEEDS
    sizes = ("180",) if quick else tuple(_env(SIZES_ENV)) or ("180", "full")
    wanted = _env(VARIANTS_ENV)
    variants = [v for v in VARIANTS if not wanted or any(w in v[0] for w in wanted)]
    return seeds, sizes, variants


def run(ctx: H.Context) -> str:
    """Train every variant, size and seed; return the markdown table."""
    seeds, sizes, variants = _chosen(ctx.quick)
    steps = 2 if ctx.quick else STEPS
    extra = {k: v for k, v in H.QUICK_TRAIN.items() if k not in ("steps", "progress")}
    jobs = []
    for size in sizes:
        for label, settings in variants:
            for seed in seeds:
                cfg = {"steps": steps, "seed": seed, **settings.get("config", {})}
                if ctx.quick:
                    cfg.update(extra)
                jobs.append(
                    {
                        **settings,
                        "label": label,
                        "size": size,
                        "config": cfg,
                        "quick": ctx.quick,
                        "every": EVERY,
                    }
                )
    results = R.run_all(jobs, ctx.jobs)
    rows: list[list[Any]] = []
    for size in sizes:
        for label, _ in variants:
            runs = [r["selected"] for r in results if r["size"] == size and r["label"] == label]
            cells: list[Any] = [size, label]
            for key in ("crps", "rmse", "ssr", "spectral"):
                values = [r[key] for r in runs]
                sd = statistics.stdev(values) if len(values) > 1 else float("nan")
                cells.append(f"{statistics.fmean(values):.4f} ± {sd:.4f}")
            rows.append(cells)
    note = (
        f"`TrainConfig.small`, {steps} steps, weights selected by validation skill (the "
        f"default), training seeds {list(seeds)}: mean ± seed-to-seed standard deviation. "
        f"Training on {R.SMALL_TIMES} times evenly spaced before {H.TEST_START} ('180') or "
        f"all of them ('full'); held-out times every {EVERY}th from {H.TEST_START}, "
        f"{R.MEMBERS} members, noise seed 0."
    )
    head = [
        "training times",
        "inputs",
        "fair CRPS (K)",
        "ens.-mean RMSE (K)",
        "spread-skill",
        "spectral ratio",
    ]
    return H.section(ctx, "ablation", "what each covariable is worth", [note, H.table(head, rows)])
