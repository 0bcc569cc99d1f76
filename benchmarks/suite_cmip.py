"""cmip: a real climate-model case under shift (issue 21), HadCM3 A1B -> E1.

Perfect-model downscaling of HadCM3's annual-mean near-surface air temperature
(``tas``) over North America, from 5° x 7.5° block means to the model's 1.25° x 1.875°
grid (:mod:`benchmarks.realcase`: the data, their licence and the grids): train on the
first 180 years of the A1B scenario (1860-2039, ``TrainConfig.small``, 1500 steps),
test on the 60 years 2040-2099 of the E1 scenario, 10 members, noise seed 0. The runs
are the ``shift`` suite's (:func:`benchmarks.suite_shift.run_one`, cached alike), chosen
by ``XDEEPR_BENCH_CMIP`` (``cmip/MEAN/SEED`` separated by commas, MEAN one of
``bicubic``, ``climatology``, ``regression``, ``auto``, with the ``shift`` suite's
suffixes, e.g. ``/calibrated``, ``/default``; default :data:`DEFAULT_RUNS`).
Needs ``pip install iris-sample-data``; without it the section says so and trains
nothing.
"""

from __future__ import annotations

from . import harness as H
from . import realcase
from . import suite_shift as S

TITLE = "a real climate model (HadCM3), another scenario"
DEFAULT_RUNS = "cmip/bicubic/0,cmip/regression/0"
RUNS_ENV = "XDEEPR_BENCH_CMIP"
CASE = {"cmip": ("HadCM3 tas: train A1B 1860-2039, test E1 2040-2099", None)}


def run(ctx: H.Context) -> str:
    """Train (or read) the selected runs, score them, and return the markdown."""
    if not realcase.available():
        why = "Not run: `pip install iris-sample-data` provides the HadCM3 fields."
        return H.section(ctx, "cmip", TITLE, [why])
    jobs = S.jobs(ctx, CASE, RUNS_ENV, DEFAULT_RUNS)
    results = S.run_all(jobs, ctx.jobs, ctx.quick)
    body, runs = S.table(results, CASE)
    first, tenth = realcase.FIRST_YEAR, realcase.TRAIN_YEARS - realcase.TRAIN_YEARS // 10
    note = (
        f"HadCM3 annual means ({realcase.TRAIN_YEARS} training years of A1B, "
        f"{realcase.TEST_YEARS} test years of E1; data: iris-sample-data, UK Open "
        "Government Licence), features 4 x 4 block means of the native grid; "
        f"`TrainConfig.small`, {S.STEPS['cmip']} steps (regression nets: "
        f"{S.MEAN_STEPS} steps at most, early-stopped on 3 cross-fitting folds); "
        "validation: the default `validation_split='auto'` (the last 10 % of the "
        f"training years, {first + tenth}-{first + realcase.TRAIN_YEARS - 1}); test: all "
        f"{realcase.TEST_YEARS} E1 years, {S.MEMBERS} members, noise seed 0. Runs shown "
        f"(case/mean/seed): {runs}. Rows as in the "
        "`shift` table: 'raw' is `downscale(calibrate=False)`; deterministic rows' CRPS "
        "is their MAE; the static correction adds the mean training residual (all "
        f"{realcase.TRAIN_YEARS} years) to bicubic; the climatology, the model's (one "
        "month and hour: June). Rows marked `TrainConfig()` train the default "
        "configuration (4 levels, its 10 epochs) instead of `TrainConfig.small`; rows "
        "marked `selection='calibrated'` keep the weights of least calibrated "
        "validation CRPS (`xdeepr.training.selection`) instead of the default rule."
    )
    return H.section(ctx, "cmip", TITLE, [note, body])
