"""observations: leave-stations-out skill of conditioning on, and guidance by, stations.

The embedded sample's 40 synthetic stations (truth + N(0, 0.3 K)) are split at random:
75 % *given* (to training and to downscaling), 25 % *withheld* (never seen; scored
only). Per seed, two models with the same budget and that training seed are trained
on the first 18 months: one with the given stations as condition channels
(:mod:`xdeepr.observations`), one without. On held-out times (every 24th from
2021-07-01) each is sampled (noise seed = training seed) with the given stations,
without them, and guided by them at sampling time (diffusion posterior sampling,
:mod:`xdeepr.diffusion.guidance`).

Scores: fair CRPS at the withheld stations (the ensemble at the station's grid point
against the station's observation), the ensemble-mean error and the ensemble spread at
the given stations (against their observations: the error cannot fall below the 0.3 K
observation error much), and the spread-skill ratio and fair CRPS over the grid against
the gridded truth. ``±`` is the seed-to-seed standard deviation over three seeds, each
a training seed and the sampler's noise seed.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import xarray as xr

import xdeepr

from . import harness as H

SEEDS = (0, 1, 2)
GIVEN_FRACTION = 0.75
SPLIT_SEED = 2024
#: Guidance strengths measured (SamplingOptions.guidance).
GUIDANCE = (0.3, 1.0, 3.0)
MEMBERS = 10
#: The budget of both models: TrainConfig.small at 1500 steps of 16 random 16x16 crops
#: (about 7 minutes each on one busy CPU thread), the skill validation only at the end.
STEPS, BATCH, PATCH = 1500, 16, 16
#: Every EVERY-th of the harness's held-out times (every 24th from 2021-07-01).
EVERY = 1
CALIBRATED = (0.9, 1.1)


def split_stations(obs: xr.Dataset, seed: int = SPLIT_SEED) -> tuple[xr.Dataset, xr.Dataset]:
    """A random 75 % of the stations (given) and the rest (withheld)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(obs.sizes["station"])
    n_given = round(GIVEN_FRACTION * obs.sizes["station"])
    return obs.isel(station=np.sort(order[:n_given])), obs.isel(station=np.sort(order[n_given:]))


def _at(ens: xr.DataArray, stations: xr.Dataset) -> xr.DataArray:
    """The ensemble at the stations' grid points, ``(member, time, station)``."""
    return ens.sel(latitude=stations.latitude, longitude=stations.longitude, method="nearest")


def _scores(ens: xr.Dataset, truth: xr.Dataset, given: xr.Dataset, held: xr.Dataset) -> dict:
    m = xdeepr.metrics
    obs_h = held.t2m.sel(time=ens.time)
    obs_g = given.t2m.sel(time=ens.time)
    at_h, at_g = _at(ens.t2m, held), _at(ens.t2m, given)
    ok_h, ok_g = np.isfinite(obs_h), np.isfinite(obs_g)
    return {
        "crps_withheld": float(m.crps_ensemble(obs_h.where(ok_h), at_h, fair=True)),
        "mean_err_given": float(abs(at_g.mean("member") - obs_g).where(ok_g).mean()),
        "spread_given": float(at_g.std("member", ddof=1).mean()),
        "crps_grid": float(m.crps_ensemble(truth.t2m, ens.t2m, fair=True)),
        "ssr_grid": float(m.spread_skill_ratio(truth.t2m, ens.t2m)),
    }


def _train(f: Any, l: Any, s: Any, ctx: H.Context, obs: xr.Dataset | None, seed: int) -> Any:
    """One model of the comparison (cached by budget, seed and whether it sees stations)."""
    cfg = {**(H.QUICK_TRAIN if ctx.quick else H.DEMO_TRAIN), "seed": seed}
    if not ctx.quick:
        cfg.update(steps=H.train_steps(STEPS), batch_size=BATCH, patch_size=PATCH)
    if "validate_every" in xdeepr.TrainConfig.__dataclass_fields__:
        cfg["validate_every"] = 0  # skill validation at the end only
    sl = slice(0, 32) if ctx.quick else slice(None, H.TRAIN_END)
    kind = "obs" if obs is not None else "plain"
    name = f"observations-{kind}-{cfg['steps']}-seed{seed}.xdeepr"
    path = H.cache_dir() / name
    if path.exists() and not ctx.quick:
        return xdeepr.load_model(path)
    t0 = time.perf_counter()
    kw = {} if obs is None else {"observations": obs}
    fs, ls = (f.isel(time=sl), l.isel(time=sl)) if ctx.quick else (f.sel(time=sl), l.sel(time=sl))
    model = xdeepr.train(fs, ls, s, **kw, **cfg)
    print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    if not ctx.quick:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model


def _fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}"


def run(ctx: H.Context) -> str:
    """Run the observations suite and return its markdown section."""
    f, l, s = ctx.sample()
    obs = xdeepr.datasets.load_sample_stations()
    given, held = split_stations(obs)
    ft, truth = ctx.held_out()
    ft = ft.isel(time=slice(None, None, 1 if ctx.quick else EVERY))
    truth = truth.sel(time=ft.time)
    seeds = SEEDS[:1] if ctx.quick else SEEDS
    members = 2 if ctx.quick else MEMBERS
    # (label, trained with stations, stations given, guidance)
    settings: list[tuple[str, bool, bool, float]] = [
        ("trained with stations, stations given", True, True, 0.0),
        ("trained with stations, none given", True, False, 0.0),
        ("trained without stations", False, False, 0.0),
        *[(f"trained without, guidance {g:g}", False, True, g) for g in GUIDANCE],
        ("trained with stations, given + guidance 1", True, True, 1.0),
    ]
    results: dict[str, dict[str, list[float]]] = {label: {} for label, *_ in settings}
    cost: dict[str, list[float]] = {label: [] for label, *_ in settings}
    for seed in seeds:
        models = {
            True: _train(f, l, s, ctx, given, seed).to(ctx.device),
            False: _train(f, l, s, ctx, None, seed).to(ctx.device),
        }
        for label, trained, use, g in settings:
            opts = xdeepr.SamplingOptions(
                members=members, seed=seed, progress=False, device=str(ctx.device), guidance=g
            )
            t0 = time.perf_counter()
            ens = ft.deepr.downscale(
                models[trained], options=opts, observations=given if use else None
            )
            n = ft.sizes["time"] * members
            cost[label].append((time.perf_counter() - t0) / n * H.MEMBERS)
            for k, v in _scores(ens, truth, given, held).items():
                results[label].setdefault(k, []).append(v)
    rows = []
    for label, per in results.items():
        rows.append(
            [
                label,
                _fmt(per["crps_withheld"]),
                _fmt(per["mean_err_given"]),
                _fmt(per["spread_given"]),
                _fmt(per["crps_grid"]),
                _fmt(per["ssr_grid"]),
                min(cost[label]),
            ]
        )
    header = [
        "setting",
        "CRPS withheld stations (K)",
        "\\|mean − obs\\| given (K)",
        "spread given (K)",
        "CRPS grid (K)",
        "spread-skill grid",
        "s / 20 members",
    ]
    verdict = _verdict(results)
    body = [
        f"{len(given.station)} stations given, {len(held.station)} withheld (split seed "
        f"{SPLIT_SEED}); {ft.sizes['time']} held-out times, {members} members, the model's "
        f"default sampler; ± over seeds {list(seeds)} (training and noise). Observation "
        "error 0.3 K.",
        H.table(header, rows),
        verdict,
    ]
    return H.section(ctx, "observations", "conditioning on stations, leave-stations-out", body)


def _verdict(results: dict[str, dict[str, list[float]]]) -> str:
    """The issue's checks for each way of using the stations, and the one they favour.

    Ways: conditioning (a model trained with stations, given them), guidance (the model
    trained without, guided at the strength with the lowest withheld CRPS) and both.
    Differences of the withheld-station CRPS are paired by seed.
    """
    mean = {k: {m: statistics.fmean(v) for m, v in r.items()} for k, r in results.items()}
    with_none, plain = "trained with stations, none given", "trained without stations"
    guided = min(
        (k for k in mean if k.startswith("trained without, guidance")),
        key=lambda k: mean[k]["crps_withheld"],
    )
    ways = {  # way: (setting, the same model without stations)
        "conditioning": ("trained with stations, stations given", with_none),
        f"guidance ({guided.rsplit(' ', 1)[1]})": (guided, plain),
        "both": ("trained with stations, given + guidance 1", with_none),
    }

    def paired(a: str, b: str) -> str:
        d = [x - y for x, y in zip(results[a]["crps_withheld"], results[b]["crps_withheld"])]
        return _fmt(d)

    header = ["check", *ways]
    rows: list[list[Any]] = []
    passed = dict.fromkeys(ways, 0)

    def add(text: str, cells: dict[str, tuple[bool, str]]) -> None:
        rows.append([text, *(f"{'✅' if ok else '❌'} {v}" for ok, v in cells.values())])
        for way, (ok, _) in cells.items():
            passed[way] += ok

    add(
        "withheld CRPS − same model without stations (K)",
        {
            w: (mean[a]["crps_withheld"] < mean[b]["crps_withheld"], paired(a, b))
            for w, (a, b) in ways.items()
        },
    )
    add(
        "withheld CRPS − model trained without stations (K)",
        {
            w: (mean[a]["crps_withheld"] < mean[plain]["crps_withheld"], paired(a, plain))
            for w, (a, _) in ways.items()
        },
    )
    add(
        "given stations: mean \\|ens. mean − obs\\| ≤ 0.3 K (obs. error)",
        {
            w: (mean[a]["mean_err_given"] <= 0.3, f"{mean[a]['mean_err_given']:.3f}")
            for w, (a, _) in ways.items()
        },
    )
    add(
        "given stations: spread shrinks (K, vs without stations)",
        {
            w: (
                mean[a]["spread_given"] < mean[b]["spread_given"],
                f"{mean[a]['spread_given']:.3f} vs {mean[b]['spread_given']:.3f}",
            )
            for w, (a, b) in ways.items()
        },
    )
    add(
        f"spread-skill over the grid in [{CALIBRATED[0]}, {CALIBRATED[1]}]",
        {
            w: (CALIBRATED[0] <= mean[a]["ssr_grid"] <= CALIBRATED[1], f"{mean[a]['ssr_grid']:.3f}")
            for w, (a, _) in ways.items()
        },
    )
    best = max(ways, key=lambda w: (passed[w], -mean[ways[w][0]]["crps_withheld"]))
    return (
        H.table(header, rows)
        + f"\n\nThe measurement favours **{best}**: {passed[best]} of {len(rows)} checks, "
        f"withheld-station CRPS {mean[ways[best][0]]['crps_withheld']:.4f} K (model trained "
        f"without stations: {mean[plain]['crps_withheld']:.4f} K)."
    )
