"""Issue 21: ``selection="calibrated"``, weights chosen by their calibrated validation CRPS."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr.metrics import crps_ensemble
from xdeepr.training import select, validation
from xdeepr.training.selection import CALIBRATED_RULE, FALLBACK, RULE, calibrated_crps

from ..conftest import TINY, Killed


def _rec(step: int, crps: float, ssr: float, cal: float | None = None) -> dict[str, float]:
    out = {"step": float(step), "val_crps": crps, "val_spread_skill": ssr, "val_rmse": 0.5}
    if cal is not None:
        out["val_crps_calibrated"] = cal
    return out


def test_calibrated_selection_leaves_the_spread_to_the_calibration():
    # the real case's pattern: skill keeps improving while the spread falls behind
    history = [
        _rec(188, 0.118, 0.92, 0.117),
        _rec(375, 0.110, 0.85, 0.106),
        _rec(1500, 0.100, 0.72, 0.092),
    ]
    assert select(history) == 0  # the band first: the worst-scoring weights
    assert select(history, by="calibrated") == 2
    # ties go to the earlier; NaN never wins
    tied = [_rec(1, 0.3, 1.0, 0.2), _rec(2, 0.3, 1.0, 0.2), _rec(3, 0.1, 1.0, math.nan)]
    assert select(tied, by="calibrated") == 0


def test_calibrated_selection_without_scores_falls_back_to_the_skill_rule():
    history = [_rec(1, 0.30, 1.05), _rec(2, 0.27, 0.97), _rec(3, 0.20, 0.5)]
    assert select(history, by="calibrated") == select(history) == 1
    nan = [_rec(1, 0.30, 1.05, math.nan), _rec(2, 0.27, 0.97, math.nan)]
    assert select(nan, by="calibrated") == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.01, 2.0),
            st.floats(0.1, 3.0),
            st.one_of(st.floats(0.01, 2.0), st.just(math.nan)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_calibrated_selection_is_the_first_least_calibrated_crps(values):
    records = [_rec(i, c, r, k) for i, (c, r, k) in enumerate(values)]
    finite = [k for _, _, k in values if math.isfinite(k)]
    got = select(records, by="calibrated")
    if finite:
        assert got == [k for _, _, k in values].index(min(finite))
    else:
        assert got == select(records)


def _ensemble(spread: float, seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """Truth ~ N(mu, 1) and 8 members ~ N(mu, spread**2): under-dispersive below 1."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(24, 6, 6))
    dims = ("time", "lat", "lon")
    truth = xr.Dataset({"t2m": (dims, mu + rng.normal(size=mu.shape))})
    members = mu + spread * rng.normal(size=(8, *mu.shape))
    return truth, xr.Dataset({"t2m": (("member", *dims), members)})


def test_calibrated_crps_rewards_what_the_spread_factor_can_mend():
    truth, under = _ensemble(0.4)
    raw = float(crps_ensemble(truth, under, fair=True)["t2m"])
    # the spread factor (about x2.5) mends the under-dispersion on held-out halves
    assert calibrated_crps(truth, under) < 0.9 * raw
    truth, right = _ensemble(1.0)
    raw = float(crps_ensemble(truth, right, fair=True)["t2m"])
    assert calibrated_crps(truth, right) == pytest.approx(raw, rel=0.02)


def test_calibrated_crps_of_a_regression_mean_counts_the_recentring():
    # members about a regression mean (0 here) whose 4-member mean is mostly noise: the
    # recentring that downscale would apply mends it, and the score says so
    rng = np.random.default_rng(3)
    dims = ("time", "lat", "lon")
    truth = xr.Dataset({"t2m": (dims, rng.normal(size=(24, 6, 6)))})
    noisy = xr.Dataset({"t2m": (("member", *dims), 1.2 * rng.normal(size=(4, 24, 6, 6)))})
    centre = xr.zeros_like(truth)
    plain = calibrated_crps(truth, noisy)
    moved = calibrated_crps(truth, noisy, centre)
    assert moved < 0.95 * plain
    # it is the calibration train fits: the halves' score of fit_calibration's choices
    from xdeepr.model.calibration import fit_calibration

    fit = fit_calibration(truth, noisy, centre=centre)
    assert fit["recentre"]["t2m"]["enabled"]
    halves = fit["validation"]["t2m"]
    assert moved == pytest.approx(
        min(halves["crps_raw_halves"], halves["crps_crossfitted_halves"]), rel=1e-12
    )
    # members already centred on the regression mean: the recentring changes nothing
    centred = noisy - noisy.mean("member")
    assert calibrated_crps(truth, centred, centre) == pytest.approx(
        calibrated_crps(truth, centred), rel=1e-9
    )


def test_train_selects_by_the_calibrated_crps_and_says_so(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    scores = iter([0.5, 0.2, 0.4])
    centres = []

    def fake(truth, ens, centre=None):
        centres.append(centre)
        return next(scores)

    monkeypatch.setattr(validation, "calibrated_crps", fake)
    kw = {**TINY, "steps": 6, "validate_every": 2}
    m = xdeepr.train(f, l, s, selection="calibrated", **kw)
    records = m.summary["validation"]["records"]
    assert [r["val_crps_calibrated"] for r in records] == [0.5, 0.2, 0.4]
    assert centres == [None] * 3  # a bicubic mean: nothing to recentre towards
    assert m.summary["selected_step"] == 4 and m.final_ema_state is not None
    assert m.summary["validation"]["rule"] == CALIBRATED_RULE
    # the calibration is fitted on the kept weights' validation ensemble (step 4's)
    assert m.calibration["validation"]["t2m"]["spread_skill_raw"] == pytest.approx(
        records[1]["val_spread_skill"], rel=1e-4
    )
    skill = xdeepr.train(f, l, s, **kw)  # the default records no calibrated score
    assert skill.summary["validation"]["rule"] == RULE
    assert all("val_crps_calibrated" not in r for r in skill.summary["validation"]["records"])


def test_an_unknown_selection_is_refused_with_the_choices():
    with pytest.raises(xdeepr.errors.ConfigError, match="calibrated"):
        xdeepr.TrainConfig(selection="calibrate")


def _fit(factor: float, on: bool, ssr_after: float) -> dict:
    return {
        "factors": {"t2m": factor},
        "enabled": {"t2m": on},
        "validation": {"t2m": {"spread_skill_calibrated": ssr_after}},
    }


def test_calibrated_selection_warns_only_when_the_calibration_does_not_mend_it():
    from xdeepr.training.validation import CalibrationWarning, _warn_if_uncalibrated

    rec = _rec(1500, 0.1, 0.72)
    setup = {"mean": "bicubic", "selection": "calibrated"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mended: x1.4 brings it to 1.01
        _warn_if_uncalibrated(rec, setup, _fit(1.4, True, 1.01))
    for fit in (_fit(1.4, False, 1.01), _fit(1.1, True, 0.79), None):
        with pytest.warns(CalibrationWarning, match="selection='skill'") as got:
            _warn_if_uncalibrated(rec, setup, fit)
        assert "fewer steps" not in str(got[0].message)
    with pytest.warns(CalibrationWarning, match="fewer steps"):  # the default: as before
        _warn_if_uncalibrated(rec, {"mean": "bicubic"}, _fit(1.4, True, 1.01))


def test_select_refuses_an_unknown_rule():
    with pytest.raises(ValueError, match="'skill' or 'calibrated'"):
        select([_rec(1, 0.3, 1.0)], by="last")


def test_train_scores_each_validation_as_calibrated_and_keeps_the_least(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 48)), l.isel(time=slice(0, 48))
    kw = {**TINY, "steps": 8, "validate_every": 2, "validation_times": 4}
    m = xdeepr.train(f, l, s, selection="calibrated", **kw)
    records = m.summary["validation"]["records"]
    scores = [r["val_crps_calibrated"] for r in records]
    assert all(math.isfinite(x) and x > 0 for x in scores)
    # the same ensembles, one spread factor apart: scores of the raw CRPS's size
    assert all(0.5 * r["val_crps"] < x < 1.5 * r["val_crps"] for r, x in zip(records, scores))
    best = records[int(np.argmin(scores))]["step"]
    assert m.summary["selected_step"] == best


def test_one_validation_time_falls_back_to_the_skill_rule_and_says_so(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 4, "validate_every": 2, "validation_times": 1}
    m = xdeepr.train(f, l, s, selection="calibrated", **kw)
    records = m.summary["validation"]["records"]
    assert all("val_crps_calibrated" not in r for r in records)
    assert m.summary["selected_step"] == records[select(records)]["step"]
    assert m.summary["validation"]["rule"] == RULE + FALLBACK


def test_calibrated_selection_needs_the_calibration():
    from xdeepr.training.selection import check_selection

    with pytest.raises(xdeepr.errors.ConfigError, match="calibrate=False"):
        check_selection(xdeepr.TrainConfig(selection="calibrated", calibrate=False))
    check_selection(xdeepr.TrainConfig(selection="skill", calibrate=False))  # fine


def test_resume_refuses_a_checkpoint_of_the_other_rule(
    sample_small, tmp_path, die_after_checkpoint
):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 8, "validate_every": 2, "validation_times": 4}
    ckpt = {"checkpoint_dir": str(tmp_path), "checkpoint_every": 4}
    with pytest.raises(Killed):
        xdeepr.train(f, l, s, **kw, **ckpt)  # the default rule: records unscored
    die_after_checkpoint()  # undone: the resumed runs live
    with pytest.raises(xdeepr.errors.ConfigError, match="selection='skill'.*'calibrated'"):
        xdeepr.train(f, l, s, resume=True, selection="calibrated", **kw, **ckpt)
    resumed = xdeepr.train(f, l, s, resume=True, selection="last", **kw, **ckpt)  # alike
    assert resumed.summary["selected_step"] == 8


def test_the_warning_counts_each_variable_as_downscale_returns_it():
    from xdeepr.training.validation import _mended

    both = {
        "factors": {"t2m": 1.4, "tp": 1.0},
        "enabled": {"t2m": True, "tp": False},
        "validation": {
            "t2m": {"spread_skill_raw": 0.7, "spread_skill_calibrated": 0.98},
            "tp": {"spread_skill_raw": 1.0, "spread_skill_calibrated": 1.0},
        },
    }
    assert _mended(both)  # t2m mended, tp fine raw with its calibration off
    both["validation"]["tp"]["spread_skill_raw"] = 0.8  # tp off and out of the band
    assert not _mended(both)
    assert not _mended(None) and not _mended({"factors": {}})


def test_a_regression_mean_is_selected_with_its_recentring_counted(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    centres = []

    def spy(truth, ens, centre=None):
        centres.append(centre)
        return calibrated_crps(truth, ens, centre)

    monkeypatch.setattr(validation, "calibrated_crps", spy)
    kw = {**TINY, "steps": 4, "validate_every": 2}
    m = xdeepr.train(f, l, s, selection="calibrated", mean="regression", mean_steps=2, **kw)
    assert len(centres) == 2 and all(c is not None for c in centres)
    # the validation residual is about the kept net's mean: the centre is zero there
    assert all(float(abs(c["t2m"]).max()) == 0.0 for c in centres)
    assert centres[0]["t2m"].dims == ("time", *l["t2m"].dims[1:])
    assert all(np.isfinite(r["val_crps_calibrated"]) for r in m.summary["validation"]["records"])
