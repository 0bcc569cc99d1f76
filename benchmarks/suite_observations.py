"""observations: leave-stations-out skill of conditioning on, and guidance by, stations.

The embedded sample's 40 synthetic stations (truth + N(0, 0.3 K)) are split at random:
75 % *given* (to training and to downscaling), 25 % *withheld* (never seen; scored
only). Two models with the same budget and seed are trained on the first 18 months:
one with the given stations as condition channels (:mod:`xdeepr.observations`), one
without. On held-out times (every 24th from 2021-07-01) each is sampled with the given
stations, without them, and guided by them at sampling time (diffusion posterior
sampling, :mod:`xdeepr.diffusion.guidance`), three noise seeds each.

Scores: fair CRPS at the withheld stations (the ensemble at the station's grid point
against the station's observation), the ensemble-mean error and the ensemble spread at
the given stations (against their observations: the error cannot fall below the 0.3 K
observation error much), and the spread-skill ratio and fair CRPS over the grid against
the gridded truth. ``±`` is the seed-to-seed standard deviation (noise seeds of the
sampler, same trained weights).
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
GUIDANCE = (0.3, 1.0)
MEMBERS = 8
#: The budget of both models: TrainConfig.small at 400 steps of 8 samples (a few minutes
#: on a free laptop CPU), the skill validation only at the end.
STEPS, BATCH = 400, 8
#: Every EVERY-th of the harness's held-out times (every 24th from 2021-07-01).
EVERY = 4
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


def _train(f: Any, l: Any, s: Any, ctx: H.Context, obs: xr.Dataset | None) -> Any:
    """One model of the comparison (cached by budget and whether it sees stations)."""
    cfg = dict(H.QUICK_TRAIN) if ctx.quick else dict(H.DEMO_TRAIN)
    if not ctx.quick:
        cfg.update(steps=H.train_steps(STEPS), batch_size=BATCH)
    if "validate_every" in xdeepr.TrainConfig.__dataclass_fields__:
        cfg["validate_every"] = 0  # skill validation at the end only
    sl = slice(0, 32) if ctx.quick else slice(None, H.TRAIN_END)
    name = f"observations-{'obs' if obs is not None else 'plain'}-{cfg['steps']}.xdeepr"
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
    obs_model = _train(f, l, s, ctx, given).to(ctx.device)
    plain = _train(f, l, s, ctx, None).to(ctx.device)
    settings: list[tuple[str, Any, bool, float]] = [
        ("trained with stations, stations given", obs_model, True, 0.0),
        ("trained with stations, none given", obs_model, False, 0.0),
        ("trained without stations", plain, False, 0.0),
        *[(f"trained without, guidance {g:g}", plain, True, g) for g in GUIDANCE],
    ]
    rows, results = [], {}
    for label, model, use, g in settings:
        per: dict[str, list[float]] = {}
        cost = []
        for seed in seeds:
            opts = xdeepr.SamplingOptions(members=members, seed=seed, progress=False,
                                          device=str(ctx.device), guidance=g)  # fmt: skip
            t0 = time.perf_counter()
            ens = ft.deepr.downscale(model, options=opts, observations=given if use else None)
            cost.append((time.perf_counter() - t0) / (ft.sizes["time"] * members) * H.MEMBERS)
            for k, v in _scores(ens, truth, given, held).items():
                per.setdefault(k, []).append(v)
        results[label] = per
        rows.append([label, _fmt(per["crps_withheld"]), _fmt(per["mean_err_given"]),
                     _fmt(per["spread_given"]), _fmt(per["crps_grid"]),
                     _fmt(per["ssr_grid"]), min(cost)])  # fmt: skip
    header = ["setting", "CRPS withheld stations (K)", "|mean − obs| given (K)",
              "spread given (K)", "CRPS grid (K)", "spread-skill grid",
              "s / 20 members"]  # fmt: skip
    verdict = _verdict(results)
    body = [
        f"{len(given.station)} stations given, {len(held.station)} withheld (split seed "
        f"{SPLIT_SEED}); {ft.sizes['time']} held-out times, {members} members, the model's "
        f"default sampler; ± over noise seeds {list(seeds)}. Observation error 0.3 K.",
        H.table(header, rows),
        verdict,
    ]
    return H.section(ctx, "observations", "conditioning on stations, leave-stations-out", body)


def _verdict(results: dict[str, dict[str, list[float]]]) -> str:
    """The checks of the issue, and which way of using stations the measurement favours."""
    mean = {k: {m: statistics.fmean(v) for m, v in r.items()} for k, r in results.items()}
    cond, none = mean["trained with stations, stations given"], mean[
        "trained with stations, none given"
    ]
    plain = mean["trained without stations"]
    best_guided = min(
        (k for k in mean if "guidance" in k and k.startswith("trained without")),
        key=lambda k: mean[k]["crps_withheld"],
    )
    checks = [
        ("withheld CRPS: stations given < none given (same model)",
         cond["crps_withheld"] < none["crps_withheld"]),
        ("withheld CRPS: stations given < model trained without",
         cond["crps_withheld"] < plain["crps_withheld"]),
        ("given stations: ensemble mean within the 0.3 K observation error (|mean − obs| "
         "≤ 0.3 K on average)", cond["mean_err_given"] <= 0.3),
        ("given stations: spread shrinks (given < none given)",
         cond["spread_given"] < none["spread_given"]),
        (f"spread-skill over the grid in [{CALIBRATED[0]}, {CALIBRATED[1]}]",
         CALIBRATED[0] <= cond["ssr_grid"] <= CALIBRATED[1]),
    ]  # fmt: skip
    lines = [f"- {'✅' if ok else '❌'} {text}" for text, ok in checks]
    winner = min(mean, key=lambda k: mean[k]["crps_withheld"])
    lines.append(
        f"- lowest withheld-station CRPS: **{winner}** "
        f"({mean[winner]['crps_withheld']:.4f} K); best guidance without retraining: "
        f"{best_guided} ({mean[best_guided]['crps_withheld']:.4f} K)"
    )
    return "\n".join(lines)
