"""Issue 21: the ensemble mean checked against the static correction on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr.training import MeanWarning
from xdeepr.training.holdout import validation_count, validation_indices
from xdeepr.training.meancheck import check_mean, static_correction, warn_if_behind

from ..conftest import TINY

DIMS = ("time", "lat", "lon")


@settings(max_examples=25, deadline=None)
@given(
    skill=st.floats(0.1, 1.0),
    spread=st.floats(0.2, 2.0),
    members=st.integers(2, 10),
    offset=st.floats(0.05, 1.5),
    seed=st.integers(0, 2**16),
)
def test_the_check_sees_the_infinite_ensembles_mean_through_few_members(
    skill, spread, members, offset, seed
):
    # truth = mu + e (rms `skill`); members about mu with `spread`; the static
    # correction off by `offset` everywhere
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(60, 12, 12))
    truth = xr.Dataset({"t2m": (DIMS, mu + skill * rng.normal(size=mu.shape))})
    x = mu + spread * rng.normal(size=(members, *mu.shape))
    ens = xr.Dataset({"t2m": (("member", *DIMS), x)})
    static = xr.full_like(truth, offset)
    got = check_mean(truth, ens, static)["variables"]["t2m"]
    # unbiased in mean square; within 5 standard errors of it (over 8640 points: the
    # mean square error's and the members' variance's, both chi-square means)
    n, noise = mu.size, spread**2 / members
    v = skill**2 + noise
    se = np.sqrt(2 / n) * np.sqrt(v**2 + noise**2 / (members - 1))
    assert abs(got["infinite_ensemble_rmse"] ** 2 - skill**2) <= 5 * se
    assert abs(got["ensemble_mean_rmse"] ** 2 - v) <= 5 * v * np.sqrt(2 / n)
    assert got["static_correction_rmse"] == pytest.approx(offset, rel=1e-9)
    # judged with downscale's 20 members: the limit plus their sampling noise
    at = (
        got["infinite_ensemble_rmse"] ** 2
        + (got["ensemble_mean_rmse"] ** 2 - got["infinite_ensemble_rmse"] ** 2) * members / 20
    )
    if got["infinite_ensemble_rmse"] > 0:
        assert got["rmse_at_members"] ** 2 == pytest.approx(at, rel=1e-9)
    assert got["members"] == 20 and got["behind"] == (got["rmse_at_members"] > offset)
    tie = got["members_to_tie"]
    if got["infinite_ensemble_rmse"] >= offset:
        assert tie is None  # no number of members catches up
    else:  # the fewest members whose mean is level: one fewer would be behind
        var = (got["ensemble_mean_rmse"] ** 2 - got["infinite_ensemble_rmse"] ** 2) * members
        lim = got["infinite_ensemble_rmse"] ** 2
        assert lim + var / tie <= offset**2 * (1 + 1e-9)
        assert tie == 1 or lim + var / (tie - 1) > offset**2
        assert got["behind"] == (tie > 20)


def test_the_check_skips_points_the_ensemble_lacks_and_orders_dims_by_name():
    rng = np.random.default_rng(1)
    truth = xr.Dataset({"t2m": (DIMS, rng.normal(size=(4, 3, 5)))})
    truth["t2m"][:, 0, 0] = np.nan  # e.g. a masked sea point
    ens = xr.Dataset({"t2m": (("member", *DIMS), rng.normal(size=(3, 4, 3, 5)))})
    static = xr.Dataset({"t2m": (("lon", "lat", "time"), np.full((5, 3, 4), 2.0))})
    static["t2m"][0, 1, :] = 5.0  # lon 0, lat 1: kept
    got = check_mean(truth, ens.transpose("member", "lon", "lat", "time"), static)
    expect = np.sqrt((13 * 4 * 4 + 1 * 4 * 25) / (14 * 4))
    assert got["variables"]["t2m"]["static_correction_rmse"] == pytest.approx(expect)
    assert np.isfinite(got["variables"]["t2m"]["infinite_ensemble_rmse"])


def test_the_static_correction_uses_the_training_times_only_and_reads_lazily():
    r = xr.Dataset({"t2m": (DIMS, np.arange(24.0).reshape(6, 2, 2))})
    eager = static_correction(r, slice(0, 4))
    lazy = static_correction(r.chunk(time=2), slice(0, 4))
    assert lazy.residual.t2m.chunks is not None  # kept lazy: no copy of the data
    # the mean of times 0..3 is time 1.5's value: the validation times do not enter it
    later = 4 * (np.arange(4, 6) - 1.5)[:, None, None] * np.ones((2, 2))
    np.testing.assert_allclose(eager.errors([4, 5]).t2m, later)
    xr.testing.assert_allclose(eager.errors([0, 5]), lazy.errors([0, 5]))
    assert lazy.errors([0, 5]).t2m.chunks is None  # computed, the times asked only


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(2, 60),
    step_h=st.sampled_from([6, 12, 24, 30, 72]),
    start=st.integers(0, 364),
    seed=st.integers(0, 2**16),
)
def test_the_climatologys_mean_is_the_training_mean(n, step_h, start, seed):
    # the static correction's mean from the climatology (no pass over the data) is the
    # plain mean over the training times, whatever months and hours they hold
    from xdeepr.model.climatology import fit_climatology

    rng = np.random.default_rng(seed)
    t = pd.date_range("2001-01-01", periods=n + 5, freq=f"{step_h}h") + pd.Timedelta(days=start)
    r = xr.Dataset({"t2m": (DIMS, rng.normal(size=(n + 5, 3, 4)))}, coords={"time": t})
    train = slice(0, n)
    got = static_correction(r, train, fit_climatology(r.isel(time=train))).mean
    xr.testing.assert_allclose(got, static_correction(r, train).mean, atol=1e-6)


def _check(rmse: float, static: float, tie: int | None = None) -> dict:
    return {
        "times": 12,
        "members": 4,
        "variables": {
            "t2m": {
                "rmse_at_members": rmse,
                "members": 20,
                "infinite_ensemble_rmse": rmse - 0.01,
                "static_correction_rmse": static,
                "members_to_tie": tie,
                "behind": rmse > static,
            }
        },
    }


def test_the_warning_says_what_the_model_does_not_already_do():
    match = r"t2m: 0.25 at 20 members \(0.24 for an infinite ensemble\) against 0.236.*'bicubic'"
    with pytest.warns(MeanWarning, match=match) as got:
        warn_if_behind(_check(0.25, 0.236), {"mean": "bicubic", "selection": "skill"})
    text = str(got[0].message)
    assert "mean='climatology'" in text and "selection='calibrated'" in text
    assert "members=" not in text  # not even an infinite ensemble would be level
    with pytest.warns(MeanWarning, match=r"level from 31 members") as got:
        warn_if_behind(_check(0.25, 0.236, tie=31), {"mean": "bicubic"})
    assert "downscale(..., members=31) or more" in str(got[0].message)
    with pytest.warns(MeanWarning) as got:
        warn_if_behind(_check(0.25, 0.236), {"mean": "climatology", "selection": "calibrated"})
    text = str(got[0].message)
    assert "mean='climatology'" not in text and "selection='calibrated'" not in text
    assert "mean='regression'" in text
    with pytest.warns(MeanWarning) as got:  # precipitation: no climatology to offer
        warn_if_behind(_check(0.25, 0.236), {"mean": "regression", "transformed": True})
    text = str(got[0].message)
    assert "climatology" not in text and "'auto'" not in text
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_behind(_check(0.2, 0.236), {"mean": "bicubic"})  # ahead: quiet


def test_train_checks_the_mean_against_the_static_correction(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 4, "validate_every": 0, "validation_split": "block"}
    # four steps: the network has learnt nothing, and the check says so
    with pytest.warns(MeanWarning, match=r"t2m: .* against .*validation times"):
        m = xdeepr.train(f, l, s, **kw)
    check = m.summary["mean_check"]
    got = check["variables"]["t2m"]
    assert got["behind"] and check["members"] == m.config["validation_members"]
    # the static correction's RMSE, computed here from the data: label − bicubic − the
    # mean residual of the training split, on the validated times
    cfg = xdeepr.TrainConfig.from_dict(m.config)
    n_train = 40 - validation_count(40, cfg)
    idx = validation_indices(n_train, 40, cfg)
    resid = l.t2m - f.deepr.interpolate(l).t2m
    static = resid.isel(time=idx) - resid.isel(time=slice(0, n_train)).mean("time")
    assert check["times"] == idx.size
    assert got["static_correction_rmse"] == pytest.approx(
        float(np.sqrt((static**2).mean())), rel=1e-4
    )
    # the ensemble mean's RMSE is the selected validation record's
    rec = m.summary["validation"]["selected"]
    assert got["ensemble_mean_rmse"] == pytest.approx(rec["val_rmse"], rel=1e-4)
    assert got["infinite_ensemble_rmse"] <= got["ensemble_mean_rmse"]


def test_the_check_takes_labels_with_time_last_and_advises_auto_as_asked(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 2, "validate_every": 0, "validation_split": "block"}
    first = xdeepr.train(f, l, s, **kw)
    late = xdeepr.train(f, l.transpose("latitude", "longitude", "time"), s, **kw)
    a, b = (m.summary["mean_check"]["variables"]["t2m"] for m in (first, late))
    assert b["static_correction_rmse"] == pytest.approx(a["static_correction_rmse"], rel=1e-6)
    # here mean="auto" starts from the climatology, already ahead of the static correction
    auto = xdeepr.train(f, l, s, mean="auto", mean_steps=2, **kw)
    assert auto.mean != "bicubic"
    assert not auto.summary["mean_check"]["variables"]["t2m"]["behind"]


def test_the_advice_to_a_model_that_chose_its_mean_does_not_offer_auto_again():
    from types import SimpleNamespace

    from xdeepr.training.meancheck import record_check

    truth = xr.Dataset({"t2m": (DIMS, np.ones((4, 2, 2)))})
    ens = xr.Dataset({"t2m": (("member", *DIMS), np.zeros((2, 4, 2, 2)))})
    static = xr.zeros_like(truth)  # the static correction is perfect: the mean is behind
    chose = SimpleNamespace(summary={"mean_choice": {"chosen": "regression"}}, transforms={})
    with pytest.warns(MeanWarning) as got:
        record_check(chose, truth, ens, static, {"mean": "regression", "selection": "skill"})
    text = str(got[0].message)
    assert "the model's mean: 'auto'" in text and "mean='auto'" not in text
    assert chose.summary["mean_check"]["variables"]["t2m"]["behind"]


def test_a_distilled_student_is_checked_as_well(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 2, "validate_every": 0, "validation_split": "block"}
    teacher = xdeepr.train(f, l, s, **kw)
    with pytest.warns(MeanWarning):
        student = xdeepr.distill(teacher, f, l, s, steps=2, progress=False, validation_times=4)
    got = student.summary["mean_check"]["variables"]["t2m"]
    # the same validation times and training split: the same static correction
    ref = teacher.summary["mean_check"]["variables"]["t2m"]["static_correction_rmse"]
    assert student.summary["mean_check"]["times"] == 4
    assert np.isfinite(got["infinite_ensemble_rmse"]) and got["static_correction_rmse"] > 0
    assert got["static_correction_rmse"] == pytest.approx(ref, rel=0.5)
