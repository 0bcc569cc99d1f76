"""shift: skill outside the training season and climate (issue 21).

Cases, on the embedded sample (``TrainConfig.small``, 1500 steps, 180 training times,
validating as the default ``validation_split="auto"`` chooses (case ``a``: June, the
season of its last time, held out; ``b`` and ``in``: the last 10 %); 10 members, noise
seed 0, every 8th test time):

- ``a`` (season): train on 180 times evenly spaced over 2020-01-01 .. 2020-06-30, test
  on 2021-07-01 .. 2021-09-30: a season training never saw, a year later.
- ``b`` (warming): the sample with a warming trend added to features and labels
  alike, uniform in space, :data:`TREND_K` kelvin per year from 2020-01-01 (so about
  +6 K by the end of 2021, a scenario-sized shift in two years); train on 180 times
  evenly spaced over 2020, test on 2021-07-01 .. 2021-12-31. The trend moves the
  inputs outside the range training saw; the residual (label − bicubic) is unchanged.
- ``in`` (in distribution): 180 times evenly spaced before 2021-07-01 (both halves of
  2020 and 2021-H1), 3000 steps, test from 2021-07-01: the ``calibration`` suite's case.
- ``full`` (in distribution, the full sample): every time before 2021-07-01, 600 steps
  (the demo's budget), test from 2021-07-01: the generous case, where a mean must not
  cost what it gains on little data.

Rows: bicubic; the static correction (bicubic + the mean training residual, the
one-line correction); bicubic + the stored month x hour climatology; each model's
ensemble raw (``calibrate=False``) and with the spread calibration fitted on its
validation times (the default), for ``mean="bicubic"`` and ``mean="regression"``
(cross-fitted, :data:`~xdeepr.training.folds.AUTO_FOLDS` folds), with the regression
mean alone. Every training run's scores are cached as JSON under
``benchmarks/.cache/shift`` (keyed by case, mean, seed and steps) so seeds and cases
can be added run by run; ``XDEEPR_BENCH_SHIFT`` chooses the runs
(``case/mean/seed`` separated by commas, e.g. ``a/bicubic/0,a/regression/0``, a run
with ``@SPLIT`` validating with ``validation_split=SPLIT``, e.g. ``a/bicubic/0@season``,
``/0`` for the in-sample regression mean, ``/mSTEPS`` for its nets' steps (default
:data:`MEAN_STEPS`), e.g. ``in/regression/0/m3000``, ``/calibrated`` or ``/last`` for
``TrainConfig.selection``, ``/default`` for ``TrainConfig()`` (its 4 levels and
``epochs``) instead of ``TrainConfig.small``; default :data:`DEFAULT_RUNS`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

from . import harness as H

#: Warming added in case ``b``: kelvin per year since 2020-01-01.
TREND_K = 3.0
STEPS = {"a": 1500, "b": 1500, "in": 3000, "full": 600, "cmip": 1500}
#: Steps of each regression net of ``mean="regression"`` (the final one and one per fold),
#: as in the ``calibration`` suite: the mean costs (folds + 1) x MEAN_STEPS steps.
MEAN_STEPS = 600
EVERY, MEMBERS, TIMES = 8, 10, 180
#: Training times by case where not :data:`TIMES` (None: every time of the period).
CASE_TIMES: dict[str, int | None] = {"full": None}
DEFAULT_RUNS = "a/bicubic/0,a/regression/0"
RUNS_ENV = "XDEEPR_BENCH_SHIFT"
CASES = {
    "a": ("season: train 2020-01..06, test 2021-07..09", ("2020-01-01", "2020-06-30")),
    "b": (f"warming +{TREND_K:g} K/yr: train 2020, test 2021-07..12", ("2020-01-01", "2020-12-31")),
    "in": ("in distribution: train before 2021-07, test 2021-07..12", (None, H.TRAIN_END)),
    "full": ("full sample: every time before 2021-07, test 2021-07..12", (None, H.TRAIN_END)),
}
TEST = {
    "a": ("2021-07-01", "2021-09-30"),
    "b": ("2021-07-01", None),
    "in": (H.TEST_START, None),
    "full": (H.TEST_START, None),
}
#: The variable scored, by case (``cmip``: the CMIP name of near-surface air temperature).
VARIABLE = {"cmip": "tas"}
MEANS = ("bicubic", "climatology", "regression", "auto")
#: Selections a run may name besides the default, "skill" (``.../calibrated``).
SELECTIONS = ("calibrated", "last")


def _data(case: str, quick: bool) -> tuple[Any, ...]:
    """(train features, train labels, test features, test labels, static) of `case`."""
    import xdeepr

    if case == "cmip":  # a real climate model: HadCM3, A1B -> E1 (the ``cmip`` suite)
        from .realcase import data

        return data(quick)
    f, l, s = xdeepr.datasets.load_sample()
    if case == "b":  # a uniform warming trend on features and labels alike
        years = (f.time - np.datetime64("2020-01-01")) / np.timedelta64(365 * 24, "h")
        f, l = _warmed(f, years), _warmed(l, years)
    train = f.sel(time=slice(*CASES[case][1]))
    n = CASE_TIMES.get(case, TIMES)
    if n is not None:  # evenly spaced over the period
        train = train.isel(time=np.linspace(0, train.sizes["time"] - 1, n).round().astype(int))
    test = f.sel(time=slice(*TEST[case])).isel(time=slice(None, None, EVERY))
    if quick:
        train, test = train.isel(time=slice(0, 24)), test.isel(time=slice(0, 2))
    return train, l.sel(time=train.time), test, l.sel(time=test.time), s


def _warmed(ds: Any, years: Any) -> Any:
    """`ds` with :data:`TREND_K` kelvin per year added to every variable, attributes kept."""
    out = ds.copy()
    for v in ds.data_vars:
        out[v] = (ds[v] + TREND_K * years).transpose(*ds[v].dims)
        out[v].attrs = dict(ds[v].attrs)
    return out


def _scores(truth: Any, fc: Any) -> dict[str, float]:
    from . import trainruns as R

    return R.scores(truth, fc, spectral=False)  # the table shows no spectra


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train `job`'s model, score it and the baselines on its case's test times."""
    import torch

    import xdeepr

    torch.set_num_threads(1)
    case, mean, seed, quick = job["case"], job["mean"], job["seed"], job["quick"]
    tf, tl, _, _, static = _data(case, quick)
    cfg = xdeepr.TrainConfig.small(**{**(H.QUICK_TRAIN if quick else {}), "progress": False})
    if job.get("config") == "default":  # the defaults (4 levels, trained for `epochs`)
        cfg = xdeepr.TrainConfig(progress=False, **({"epochs": 1} if quick else {}))
    start = time.perf_counter()
    mean_steps = 2 if quick else job.get("mean_steps") or MEAN_STEPS
    extra = {"mean_steps": mean_steps} if mean in ("regression", "auto") else {}
    if job.get("folds") is not None:  # e.g. 0: the in-sample regression mean, for comparison
        extra["mean_folds"] = job["folds"]
    if job.get("split"):  # e.g. "season": validation on the season held out
        extra["validation_split"] = job["split"]
    if job.get("selection"):  # e.g. "calibrated": the weights' calibrated validation CRPS
        extra["selection"] = job["selection"]
    model = xdeepr.train(
        tf, tl, static, config=cfg, steps=job["steps"], mean=mean, seed=seed, **extra
    )
    return score(job, model, time.perf_counter() - start)


def score(job: dict[str, Any], model: Any, wall: float) -> dict[str, Any]:
    """`job`'s result: its trained `model` and the baselines scored on the case's test times."""
    import xdeepr
    from xdeepr.model.climatology import add_climatology
    from xdeepr.model.recentre import weight

    case, quick = job["case"], job["quick"]
    var = VARIABLE.get(case, "t2m")
    tf, tl, sf, sl, _ = _data(case, quick)
    truth = sl[var]
    members = 2 if quick else MEMBERS
    kw = {"members": members, "progress": False, "seed": 0}
    raw = sf.deepr.downscale(model, calibrate=False, **kw)
    cal = model.calibration or {}
    val = model.summary.get("validation", {}).get("selected") or {}
    choice = model.summary.get("mean_choice") or {}
    out: dict[str, Any] = {
        **job,
        "wall_s": wall,
        "selected_step": model.summary.get("selected_step"),
        "val_ssr": val.get("val_spread_skill", float("nan")),
        "val_crps": val.get("val_crps", float("nan")),
        "factor": cal.get("factors", {}).get(var, float("nan")),
        "enabled": bool(cal.get("enabled", {}).get(var, False)),
        "raw": _scores(truth, raw[var]),
        "mean_chosen": choice.get("chosen"),
        "mean_validation_rmse": choice.get("validation_rmse"),
        "folds_used": model.summary.get("regression_mean", {}).get("folds"),
        "mean_steps_used": model.summary.get("regression_mean", {}).get("steps"),
        "split_used": model.summary.get("split_choice", {}).get("split"),
        "records": model.summary.get("validation", {}).get("records"),
        "steps_used": model.summary.get("steps"),
        "mean_check": (model.summary.get("mean_check") or {}).get("variables", {}).get(var),
    }
    moved = xdeepr.model.calibration.active_recentre(cal).get(var)
    out["recentre_weight"] = None if moved is None else weight(moved, members)
    if out["enabled"] or moved:
        out["calibrated"] = _scores(truth, sf.deepr.downscale(model, **kw)[var])
    if moved and out["enabled"]:  # the factor without the recentring it was fitted after
        alone = {**cal, "recentre": {}}
        out["spread_only"] = _scores(truth, xdeepr.model.calibration.apply(raw, alone)[var])
    if not np.isnan(out["factor"]):  # the fitted factor applied whatever the decision
        forced = xdeepr.model.calibration.apply(
            raw, {"factors": {var: out["factor"]}, "enabled": {var: True}}
        )
        out["forced"] = _scores(truth, forced[var])
    if model.regression is not None:
        out["regression"] = _scores(truth, sf.deepr.predict_mean(model)[var])
    bic = sf.deepr.interpolate(sl)
    resid = (tl[var] - tf.deepr.interpolate(tl)[var]).mean("time")
    out["bicubic"] = _scores(truth, bic[var])
    out["static"] = _scores(truth, bic[var] + resid.values)
    out["climatology"] = _scores(truth, add_climatology(model.climatology, bic)[var])
    return out


def _path(job: dict[str, Any]) -> Any:
    more = f"-m{job.get('mean_steps') or MEAN_STEPS}" if job["mean"] == "regression" else ""
    more += "" if job.get("folds") is None else f"-f{job['folds']}"
    more += f"-v{job['split']}" if job.get("split") else ""
    more += f"-sel{job['selection']}" if job.get("selection") else ""
    more += "-default" if job.get("config") == "default" else ""
    name = f"{job['case']}-{job['mean']}-s{job['seed']}-{job['steps'] or 'epochs'}{more}.json"
    return H.cache_dir() / "shift" / name


def jobs(
    ctx: H.Context,
    cases: Any = None,
    env: str = RUNS_ENV,
    default: str = DEFAULT_RUNS,
) -> list[dict[str, Any]]:
    """The runs `env` names (`default` without it; ``case/mean/seed`` of `cases`)."""
    cases = CASES if cases is None else cases
    spec = default if ctx.quick else os.environ.get(env, default)
    out = []
    for item in spec.split(","):
        item, _, split = item.strip().partition("@")  # "@season": season-out validation
        case, mean, seed, *more = item.split("/")
        folds = [int(m) for m in more if m.isdigit()]  # "/0": the in-sample mean
        msteps = [int(m[1:]) for m in more if m[:1] == "m" and m[1:].isdigit()]  # "/m1500"
        sel = [m for m in more if m in SELECTIONS]  # "/calibrated": TrainConfig.selection
        default = [m for m in more if m == "default"]  # "/default": TrainConfig()
        bad = len(folds) + len(msteps) + len(sel) + len(default) != len(more)
        bad = bad or max(len(folds), len(msteps), len(sel), len(default)) > 1
        if case not in cases or mean not in MEANS or bad:
            raise ValueError(
                f"{env}: unknown run {item!r} (case/mean/seed[/folds][/mSTEPS][/selection]"
                "[@split], "
                f"case in {sorted(cases)}, mean in {MEANS})"
            )
        steps = 3 if ctx.quick else H.train_steps(STEPS[case])
        job = {"case": case, "mean": mean, "seed": int(seed), "steps": steps, "split": split}
        job["mean_steps"] = msteps[0] if msteps else None
        job["selection"] = sel[0] if sel else None
        if default:  # TrainConfig(), trained for its epochs
            job["config"], job["steps"] = "default", None
        out.append({**job, "folds": folds[0] if folds else None})
    return [{**j, "quick": ctx.quick} for j in out]


def run_all(jobs: list[dict[str, Any]], n_jobs: int, quick: bool) -> list[dict[str, Any]]:
    """Each job's result: from the cache (real runs), else trained (in a pool of `n_jobs`).

    Each real run is cached as soon as it finishes, so a run that fails or is stopped
    late keeps the ones before it.
    """
    todo = [j for j in jobs if quick or not _path(j).exists()]
    fresh: dict[str, dict[str, Any]] = {}

    def keep(r: dict[str, Any]) -> None:
        if not quick:
            _path(r).parent.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            _path(r).write_text(json.dumps({**r, "measured": stamp}))
        fresh[str(_path(r))] = r

    if n_jobs > 1 and len(todo) > 1:
        with mp.get_context("spawn").Pool(n_jobs, maxtasksperchild=1) as pool:
            for r in pool.imap_unordered(run_one, todo, chunksize=1):
                keep(r)
    else:
        for j in todo:
            keep(run_one(j))
    return [fresh.get(str(_path(j))) or json.loads(_path(j).read_text()) for j in jobs]


def _cells(s: dict[str, float]) -> list[Any]:
    return [s["crps"], s["rmse"], s["ssr"]]


def table(results: list[dict[str, Any]], cases: Any) -> tuple[str, str]:
    """The markdown table of `results`, case by case, and the runs it shows."""
    head = ["case", "setting", "seed", "fair CRPS (K)", "ens.-mean RMSE (K)", "spread-skill"]
    head += ["validation spread-skill", "spread factor (on?)"]
    rows: list[list[Any]] = []
    for case in cases:
        done = [r for r in results if r["case"] == case]
        if not done:
            continue
        first = done[0]
        for key, name in (
            ("bicubic", "bicubic"),
            ("static", "static correction (bicubic + mean training residual)"),
            ("climatology", "bicubic + month x hour climatology"),
        ):
            rows.append([case, name, "", *_cells(first[key]), "", ""])
        for r in done:
            folds = r.get("folds_used", r.get("folds"))
            label = f"mean='{r['mean']}'" + (
                "" if not folds else " (in-sample)" if folds == 1 else f" ({folds} folds)"
            )
            if r.get("mean_chosen"):  # mean="auto": what validation chose
                label += f" -> '{r['mean_chosen']}'"
            if r.get("mean_steps"):
                label += f", mean_steps={r['mean_steps']}"
            if r.get("config") == "default":
                label += f", TrainConfig() ({r.get('steps_used')} steps)"
            if r.get("selection"):
                label += f", selection='{r['selection']}'"
            if r.get("split"):
                label += f", validation_split='{r['split']}'"
            elif r.get("split_used"):  # the default, "auto": say what it chose
                label += f", auto split: '{r['split_used']}'"
            on = f"x{r['factor']:.3g} ({'on' if r['enabled'] else 'off'})"
            if r.get("recentre_weight") is not None:  # the mean recentred, weight at M members
                on += f"; mean recentred, weight {r['recentre_weight']:.2f}"
            if "regression" in r:
                rows.append([case, "regression mean alone", r["seed"], *_cells(r["regression"])])
                rows[-1] += ["", ""]
            rows.append([case, label + ", raw", r["seed"], *_cells(r["raw"]), r["val_ssr"], on])
            if "spread_only" in r:
                rows.append([case, label + ", spread factor only", r["seed"]])
                rows[-1] += [*_cells(r["spread_only"]), r["val_ssr"], on]
            if "calibrated" in r:
                rows.append([case, label + ", calibrated (default)", r["seed"]])
                rows[-1] += [*_cells(r["calibrated"]), r["val_ssr"], on]
            elif "forced" in r:
                rows.append([case, label + ", factor forced on", r["seed"]])
                rows[-1] += [*_cells(r["forced"]), r["val_ssr"], on]
    runs = ", ".join(
        f"{r['case']}/{r['mean']}/{r['seed']}"
        + ("" if r.get("folds") is None else f"/{r['folds']}")
        + (f"/m{r['mean_steps']}" if r.get("mean_steps") else "")
        + (f"/{r['selection']}" if r.get("selection") else "")
        + ("/default" if r.get("config") == "default" else "")
        + (f"@{r['split']}" if r.get("split") else "")
        for r in results
    )
    return H.table(head, rows), runs


def run(ctx: H.Context) -> str:
    """Train (or read) every selected run, score, and return the markdown."""
    results = run_all(jobs(ctx), ctx.jobs, ctx.quick)
    body, runs = table(results, CASES)
    note = (
        f"`TrainConfig.small`, {TIMES} training times (case `full`: every time before "
        f"2021-07), steps {STEPS} by case (regression "
        f"nets: {MEAN_STEPS} steps each, 3 cross-fitting folds + the kept net); validation "
        "(12 validation times, 4 members: selection by skill and the spread calibration's "
        "fit) on the split named in each row: the default `validation_split='auto'` holds "
        "out June, the last time's season, in case `a` (training saw no autumn) and the "
        "last 10 % of the times in `b`, `in` and `full` (every season present); test: every "
        f"{EVERY}th time, {MEMBERS} members, noise seed 0. Cases: "
        + "; ".join(f"`{k}`: {v[0]}" for k, v in CASES.items())
        + f". Runs shown (case/mean/seed): {runs}. 'raw': `downscale(calibrate=False)`; "
        "'calibrated (default)': as `downscale` returns it, with what validation switched "
        "on because it improved the fair CRPS of held-out validation halves: the spread "
        "factor and, for a regression mean, the recentring of the members' mean towards "
        "it (`xdeepr.model.recentre`; its weight at 10 members in the last column); "
        "'spread factor only': that factor (fitted on the recentred validation members) "
        "applied without the recentring; 'factor forced on': the fitted factor applied, "
        "alone, although validation "
        "switched it off. Deterministic "
        "rows: CRPS is their MAE. The static correction's mean residual is over all "
        "the training times given (validation ones included); the climatology, the "
        "model's, over its training split, by month and hour, with the all-times mean "
        "for months training never saw (case `a`: all test months), of each case's "
        "first run."
    )
    return H.section(ctx, "shift", "skill outside the training season", [note, body])
