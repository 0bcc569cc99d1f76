"""observations: leave-stations-out skill of conditioning on, and guidance by, stations.

The embedded sample's 40 synthetic stations (between grid points, at their own
altitudes, truth + N(0, 0.3 K); docs/sample.md) are split at random: 75 % *given* (to
training and to downscaling), 25 % *withheld* (never seen; scored only). Per seed,
three models with the same budget and that training seed are trained on the first 18
months: one with the given stations as condition channels moved to their cells'
altitude at -6.5 K/km (the default), one with them as measured (``lapse_rate=None``),
one without stations. On held-out times (every 24th from 2021-07-01) each is sampled
(noise seed = training seed) with the given stations, without them, and guided by them
at sampling time (diffusion posterior sampling, :mod:`xdeepr.diffusion.guidance`),
with the altitude adjustment and without.

Scores: fair CRPS at the withheld stations (the ensemble read bilinearly at the
station against its observation moved to the grid's altitude there, and as measured),
the ensemble-mean error against the truth and the ensemble spread at the given
stations' cells, and the spread-skill ratio and fair CRPS over the grid against the
gridded truth. ``±`` is the seed-to-seed standard deviation over the seeds, each a
training seed and the sampler's noise seed (``XDEEPR_BENCH_SEEDS`` chooses them).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
import xarray as xr

import xdeepr
from xdeepr.observations.altitude import adjust

from . import harness as H

SEEDS = (0, 1, 2)
#: ``XDEEPR_BENCH_SEEDS="0"`` measures fewer seeds (a smaller run; the section says so).
SEEDS_ENV = "XDEEPR_BENCH_SEEDS"
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
#: The lapse rate of the adjusted runs (the library's default, K/km); None: not adjusted.
LAPSE = -6.5


def seeds(quick: bool) -> tuple[int, ...]:
    """The seeds measured: :data:`SEEDS`, or those of ``XDEEPR_BENCH_SEEDS``, or one (quick)."""
    if quick:
        return SEEDS[:1]
    text = os.environ.get(SEEDS_ENV, "").strip()
    return tuple(int(x) for x in text.split(",")) if text else SEEDS


def split_stations(obs: xr.Dataset, seed: int = SPLIT_SEED) -> tuple[xr.Dataset, xr.Dataset]:
    """A random 75 % of the stations (given) and the rest (withheld)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(obs.sizes["station"])
    n_given = round(GIVEN_FRACTION * obs.sizes["station"])
    return obs.isel(station=np.sort(order[:n_given])), obs.isel(station=np.sort(order[n_given:]))


def _pixel(field: xr.DataArray, stations: xr.Dataset) -> xr.DataArray:
    """`field` at the stations' nearest grid points (where conditioning places them)."""
    return field.sel(latitude=stations.latitude, longitude=stations.longitude, method="nearest")


def _scores(
    ens: xr.Dataset, truth: xr.Dataset, given: xr.Dataset, held: xr.Dataset, orog: xr.DataArray
) -> dict:
    m = xdeepr.metrics
    at_h = m.at_stations(ens.t2m, held.sel(time=ens.time))  # bilinear, as score_at reads
    z_h = m.at_stations(orog, held).values  # the grid's altitude at each withheld station
    raw = held.t2m.sel(time=ens.time)
    moved = adjust(held.sel(time=ens.time), z_h, LAPSE).t2m  # to the grid's altitude
    at_g = _pixel(ens.t2m, given)
    truth_g = _pixel(truth.t2m, given)  # the truth at the given stations' cells
    return {
        "crps_withheld": float(m.crps_ensemble(moved.where(np.isfinite(moved)), at_h, fair=True)),
        "crps_withheld_raw": float(m.crps_ensemble(raw.where(np.isfinite(raw)), at_h, fair=True)),
        "mean_err_given": float(abs(at_g.mean("member") - truth_g).mean()),
        "spread_given": float(at_g.std("member", ddof=1).mean()),
        "crps_grid": float(m.crps_ensemble(truth.t2m, ens.t2m, fair=True)),
        "ssr_grid": float(m.spread_skill_ratio(truth.t2m, ens.t2m)),
    }


def _train(
    f: Any, l: Any, s: Any, ctx: H.Context, obs: xr.Dataset | None, seed: int, lapse: Any
) -> Any:
    """One model of the comparison (cached by budget, seed, stations and lapse rate)."""
    cfg = {**(H.QUICK_TRAIN if ctx.quick else H.DEMO_TRAIN), "seed": seed}
    if not ctx.quick:
        cfg.update(steps=H.train_steps(STEPS), batch_size=BATCH, patch_size=PATCH)
    if "validate_every" in xdeepr.TrainConfig.__dataclass_fields__:
        cfg["validate_every"] = 0  # skill validation at the end only
    sl = slice(0, 32) if ctx.quick else slice(None, H.TRAIN_END)
    kind = "plain" if obs is None else ("obs-raw" if lapse is None else f"obs-lapse{lapse:g}")
    name = f"observations-v2-{kind}-{cfg['steps']}-seed{seed}.xdeepr"
    path = H.cache_dir() / name
    if path.exists() and not ctx.quick:
        return xdeepr.load_model(path)
    t0 = time.perf_counter()
    kw = {} if obs is None else {"observations": obs, "lapse_rate": lapse}
    fs, ls = (f.isel(time=sl), l.isel(time=sl)) if ctx.quick else (f.sel(time=sl), l.sel(time=sl))
    model = xdeepr.train(fs, ls, s, **kw, **cfg)
    print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    if not ctx.quick:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model


def _fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):.4f}" + ("" if np.isnan(sd) else f" ± {sd:.4f}")


#: (label, model: "adjusted" / "raw" / "plain", stations given, guidance, lapse rate
#: of sampling). "adjusted": trained with the stations moved to their cells' altitude
#: at -6.5 K/km; "raw": trained with them as measured (lapse_rate=None).
SETTINGS: list[tuple[str, str, bool, float, Any]] = [
    ("trained with stations, stations given", "adjusted", True, 0.0, LAPSE),
    ("trained with stations, none given", "adjusted", False, 0.0, LAPSE),
    ("trained without stations", "plain", False, 0.0, LAPSE),
    *[(f"trained without, guidance {g:g}", "plain", True, g, LAPSE) for g in GUIDANCE],
    ("trained with stations, given + guidance 1", "adjusted", True, 1.0, LAPSE),
    ("no adjustment: trained with stations, stations given", "raw", True, 0.0, None),
    ("no adjustment: trained without, guidance 1", "plain", True, 1.0, None),
    ("no adjustment: trained with stations, given + guidance 1", "raw", True, 1.0, None),
]


def run(ctx: H.Context) -> str:
    """Run the observations suite and return its markdown section."""
    f, l, s = ctx.sample()
    obs = xdeepr.datasets.load_sample_stations()
    given, held = split_stations(obs)
    ft, truth = ctx.held_out()
    ft = ft.isel(time=slice(None, None, 1 if ctx.quick else EVERY))
    truth = truth.sel(time=ft.time)
    measured = seeds(ctx.quick)
    members = 2 if ctx.quick else MEMBERS
    results: dict[str, dict[str, list[float]]] = {label: {} for label, *_ in SETTINGS}
    cost: dict[str, list[float]] = {label: [] for label, *_ in SETTINGS}
    steps = 0
    for seed in measured:
        models = {
            "adjusted": _train(f, l, s, ctx, given, seed, LAPSE).to(ctx.device),
            "raw": _train(f, l, s, ctx, given, seed, None).to(ctx.device),
            "plain": _train(f, l, s, ctx, None, seed, LAPSE).to(ctx.device),
        }
        steps = models["plain"].summary["steps"]
        for label, kind, use, g, lapse in SETTINGS:
            opts = xdeepr.SamplingOptions(
                members=members,
                seed=seed,
                progress=False,
                device=str(ctx.device),
                guidance=g,
                lapse_rate=lapse,
            )
            t0 = time.perf_counter()
            ens = ft.deepr.downscale(
                models[kind], options=opts, observations=given if use else None
            )
            n = ft.sizes["time"] * members
            cost[label].append((time.perf_counter() - t0) / n * H.MEMBERS)
            for k, v in _scores(ens, truth, given, held, s.orog).items():
                results[label].setdefault(k, []).append(v)
    rows = []
    for label, per in results.items():
        rows.append(
            [
                label,
                _fmt(per["crps_withheld"]),
                _fmt(per["crps_withheld_raw"]),
                _fmt(per["mean_err_given"]),
                _fmt(per["spread_given"]),
                _fmt(per["crps_grid"]),
                _fmt(per["ssr_grid"]),
                min(cost[label]),
            ]
        )
    header = [
        "setting",
        "CRPS withheld, obs. at grid altitude (K)",
        "CRPS withheld, obs. as measured (K)",
        "\\|mean − truth\\| at given (K)",
        "spread given (K)",
        "CRPS grid (K)",
        "spread-skill grid",
        "s / 20 members",
    ]
    verdict = _verdict(results)
    dz = obs.altitude.values - m_at(s.orog, obs)
    body = [
        f"{len(given.station)} stations given, {len(held.station)} withheld (split seed "
        f"{SPLIT_SEED}), between grid points and {np.abs(dz).mean():.0f} m from the grid's "
        f"altitude on average ({dz.min():.0f}..{dz.max():.0f} m); {ft.sizes['time']} "
        f"held-out times, {members} members, the model's default sampler; models trained "
        f"{steps} steps; seeds {list(measured)} (training and noise; ± over seeds when more "
        f"than one). Observation error 0.3 K. Withheld stations are read bilinearly and "
        f"scored against their observations moved to the grid's altitude at {LAPSE} K/km "
        "(score_at's default) and as measured.",
        H.table(header, rows),
        verdict,
    ]
    return H.section(ctx, "observations", "conditioning on stations, leave-stations-out", body)


def m_at(orog: xr.DataArray, stations: xr.Dataset) -> np.ndarray:
    """The grid's orography at each station (bilinear)."""
    return xdeepr.metrics.at_stations(orog, stations).values


def _verdict(results: dict[str, dict[str, list[float]]]) -> str:
    """What the altitude adjustment is worth, per way of using the stations (paired by seed)."""
    pairs = {
        "conditioning": (
            "trained with stations, stations given",
            "no adjustment: trained with stations, stations given",
        ),
        "guidance 1": ("trained without, guidance 1", "no adjustment: trained without, guidance 1"),
        "both": (
            "trained with stations, given + guidance 1",
            "no adjustment: trained with stations, given + guidance 1",
        ),
    }
    rows: list[list[Any]] = []
    for metric, text in (
        ("crps_withheld", "withheld CRPS (obs. at grid altitude), adjusted − not (K)"),
        ("mean_err_given", "\\|mean − truth\\| at the given stations' cells, adjusted − not (K)"),
        ("crps_grid", "grid CRPS, adjusted − not (K)"),
    ):
        cells = []
        for a, b in pairs.values():
            d = [x - y for x, y in zip(results[a][metric], results[b][metric])]
            cells.append(f"{'✅' if statistics.fmean(d) < 0 else '❌'} {_fmt(d)}")
        rows.append([text, *cells])
    return H.table(["check", *pairs], rows)
