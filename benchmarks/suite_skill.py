"""skill: CRPS, ensemble-mean RMSE and spread-skill against sampler and steps.

Held-out times (every 24th from 2021-07-01), 10 members, the cached demo model;
the bicubic interpolation is the baseline. The cost column is this run's wall
time per 20-member ensemble, so skill can be read against cost.
"""

from __future__ import annotations

import time

import xdeepr

from . import harness as H

GRID = {"dpm++2m": (5, 10, 20, 50), "ddim": (10, 20, 50, 100), "ddpm": (100, 1000)}
QUICK_GRID = {"dpm++2m": (2,), "ddim": (2,), "ddpm": (3,)}
TOLERANCE = 0.01  # "as good as the best": CRPS within 1 %


def run(ctx: H.Context) -> str:
    """Run the skill suite and return its markdown section."""
    model = ctx.model()
    ft, truth = ctx.held_out()
    members = 2 if ctx.quick else 10
    bic = ft.deepr.interpolate(truth)
    rmse_b = float(xdeepr.metrics.rmse(bic.t2m, truth.t2m))
    rows = [["bicubic", "", float(xdeepr.metrics.mae(bic.t2m, truth.t2m)), rmse_b, "", ""]]
    results = []
    n_t = ft.sizes["time"]
    for sampler, steps_list in (QUICK_GRID if ctx.quick else GRID).items():
        for steps in steps_list:
            t0 = time.perf_counter()
            ens = ft.deepr.downscale(
                model,
                members=members,
                sampler=sampler,
                steps=steps,
                progress=False,
                device=ctx.device,
            )
            cost = (time.perf_counter() - t0) / (n_t * members) * H.MEMBERS
            crps = float(xdeepr.metrics.crps_ensemble(ens.t2m, truth.t2m))
            rmse = float(xdeepr.metrics.rmse(ens.t2m.mean("member"), truth.t2m))
            ssr = float(xdeepr.metrics.spread_skill_ratio(ens.t2m, truth.t2m))
            results.append((sampler, steps, crps, cost))
            rows.append([sampler, steps, crps, rmse, ssr, cost])
    best = min(r[2] for r in results)
    good = [r for r in results if r[2] <= best * (1 + TOLERANCE)]
    pick = min(good, key=lambda r: r[3])
    body = H.table(
        [
            "sampler",
            "steps",
            "CRPS (K)",
            "ens.-mean RMSE (K)",
            "spread/skill",
            f"s / {H.MEMBERS}-member ensemble",
        ],
        rows,
    )
    note = (
        f"{n_t} held-out times (every 24th from {H.TEST_START}), {members} members, model "
        f"{model.identity} ({model.n_parameters:,} parameters); the bicubic CRPS is its MAE "
        f"(a one-member ensemble).\n\nCheapest setting within {TOLERANCE:.0%} of the best "
        f"CRPS ({best:.4f} K): **{pick[0]}, {pick[1]} steps** ({pick[2]:.4f} K, "
        f"{pick[3]:.3g} s per {H.MEMBERS}-member ensemble)."
    )
    return H.section(ctx, "skill", "skill against cost", [note, body])
