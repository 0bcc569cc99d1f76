"""Training runs shared by the ``calibration`` and ``ablation`` suites.

A run trains one configuration on the embedded sample (all of it before 2021-07-01,
or 180 of those times evenly spaced) and scores it on the held-out times from
2021-07-01 (every 8th, 10 members): fair CRPS, ensemble-mean RMSE, spread-skill and
spectral ratio, for the selected weights and, when training selected another step,
for the last EMA weights too. Runs go to a pool of spawned processes (``--jobs``),
each with one torch thread, so independent trainings share the cores.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import numpy as np

from . import harness as H

#: Training times of the small-data case (issue 10).
SMALL_TIMES = 180
#: Held-out times: every 8th from 2021-07-01; members of the scored ensembles.
EVERY, MEMBERS = 8, 10


def sample(covariables: bool = False) -> tuple[Any, ...]:
    """Training (features, labels) of both sizes, held-out (features, labels), static."""
    import xdeepr

    f, l, s = xdeepr.datasets.load_sample(covariables=covariables)
    train_f = f.sel(time=slice(None, H.TRAIN_END))
    idx = np.linspace(0, train_f.sizes["time"] - 1, SMALL_TIMES).round().astype(int)
    test_f = f.sel(time=slice(H.TEST_START, None)).isel(time=slice(None, None, EVERY))
    return train_f, train_f.isel(time=idx), l, test_f, s


def scores(truth: Any, ens: Any, spectral: bool = True) -> dict[str, float]:
    """Fair CRPS, RMSE of the mean, spread-skill, spectral ratio (ensemble) or MAE/RMSE.

    ``spectral=False`` leaves the spectral ratio out (NaN): on grids coarser than its
    default wavelengths (the ``cmip`` case's 1.25°) it has nothing to measure.
    """
    import xdeepr

    m = xdeepr.metrics
    ratio = float(m.spectral_ratio(truth, ens)) if spectral else float("nan")
    if "member" not in ens.dims:
        return {
            "crps": float(m.mae(truth, ens)),
            "rmse": float(m.rmse(truth, ens)),
            "ssr": float("nan"),
            "spectral": ratio,
        }
    return {
        "crps": float(m.crps_ensemble(truth, ens, fair=True)),
        "rmse": float(m.rmse(truth, ens.mean("member"))),
        "ssr": float(m.spread_skill_ratio(truth, ens)),
        "spectral": ratio,
    }


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train `job['config']` on `job['size']` times, score it; a row of results.

    `job` holds ``size`` ("180" or "full"), ``config`` (TrainConfig overrides),
    ``inputs`` (extra feature variables: ``("t850",)``), ``static`` (False: no static
    covariates), ``observations`` (True: the sample's stations, in training and
    sampling), ``lapse_rate`` (of the stations' altitude adjustment in training;
    sampling uses the model's) and ``quick``.
    """
    import torch

    import xdeepr

    torch.set_num_threads(1)
    covariables = "t850" in job.get("inputs", ())
    full_f, small_f, labels, test_f, static = sample(covariables)
    test_f = test_f.isel(time=slice(None, None, job.get("every", EVERY) // EVERY))
    train_f = small_f if job["size"] == "180" else full_f
    if job.get("quick"):
        train_f, test_f = train_f.isel(time=slice(0, 24)), test_f.isel(time=slice(0, 2))
    train_l = labels.sel(time=train_f.time)
    truth = labels.sel(time=test_f.time).t2m
    if not covariables and "t850" in train_f:
        train_f, test_f = train_f.drop_vars("t850"), test_f.drop_vars("t850")
    use_static = job.get("static", True)
    # station observations: a condition of training and of sampling alike
    obs = xdeepr.datasets.load_sample_stations() if job.get("observations") else None
    with_obs = {} if obs is None else {"observations": obs}
    cfg = {**job["config"]}
    cfg["steps"] = H.train_steps(cfg["steps"])
    start = time.perf_counter()
    config = xdeepr.TrainConfig.small(progress=False)
    static = static if use_static else None
    lapse = {"lapse_rate": job["lapse_rate"]} if obs is not None and "lapse_rate" in job else {}
    model = xdeepr.train(train_f, train_l, static, config=config, **with_obs, **lapse, **cfg)
    wall = time.perf_counter() - start
    members = 2 if job.get("quick") else MEMBERS
    ens = test_f.deepr.downscale(model, members=members, progress=False, seed=0, **with_obs)
    val = model.summary.get("validation", {})
    out: dict[str, Any] = {
        **{k: v for k, v in job.items() if k != "config"},
        "config": job["config"],
        "selected_step": model.summary.get("selected_step"),
        "steps_done": model.summary["steps"],
        "wall_s": wall,
        "val_share": val.get("share_of_time", float("nan")),
        "selected": scores(truth, ens.t2m),
        # what the run really used: station channels in training, stations at sampling
        "observation_channels": len((model.observations or {}).get("channels", [])),
        "stations": int(ens.attrs.get("xdeepr_stations", 0)),
    }
    if job.get("baselines"):
        bic = test_f.deepr.interpolate(truth.to_dataset())
        out["bicubic"] = scores(truth, bic.t2m)
        sc = ens.deepr.score(
            truth.to_dataset(), baseline="climatology", features=test_f, model=model
        )
        out["climatology"] = {
            "crps": float(sc.t2m.sel(model="climatology", metric="crps")),
            "rmse": float(sc.t2m.sel(model="climatology", metric="rmse")),
            "ssr": float("nan"),
            "spectral": float(sc.t2m.sel(model="climatology", metric="spectral_ratio")),
        }
        if model.regression is not None:
            out["regression"] = scores(truth, test_f.deepr.predict_mean(model).t2m)
    if model.final_ema_state is not None:
        model.network.load_state_dict(model.final_ema_state)
        model.network = model.network  # a new identity: the weights changed
        last = test_f.deepr.downscale(model, members=members, progress=False, seed=0, **with_obs)
        out["last"] = scores(truth, last.t2m)
        if job.get("measure_posthoc"):  # spread scaled by 1 / the last validation's spread-skill
            rec = val["records"][-1]
            factor = 1.0 / rec["val_spread_skill"]
            mean = last.t2m.mean("member")
            out["posthoc"] = scores(truth, mean + factor * (last.t2m - mean))
            out["posthoc_factor"] = factor
    else:
        out["last"] = out["selected"]
    return out


def run_all(jobs: list[dict[str, Any]], n_jobs: int) -> list[dict[str, Any]]:
    """Every job's row, in order, from a pool of `n_jobs` spawned processes."""
    if n_jobs <= 1:
        return [run_one(j) for j in jobs]

    def cost(i: int) -> float:  # the longest first, so the pool ends together
        c = jobs[i]["config"]
        return -(c["steps"] + c.get("mean_steps", 0)) * (3 if jobs[i]["size"] == "full" else 1)

    order = sorted(range(len(jobs)), key=cost)
    with mp.get_context("spawn").Pool(n_jobs, maxtasksperchild=1) as pool:
        done = pool.map(run_one, [jobs[i] for i in order], chunksize=1)
    out: list[dict[str, Any]] = [{}] * len(jobs)
    for i, r in zip(order, done):
        out[i] = r
    return out
