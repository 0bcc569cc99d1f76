"""Dry cuts: a precipitation ensemble made dry as often as the truth, fitted on validation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr import transforms as T
from xdeepr.errors import ConfigError
from xdeepr.model import drycut
from xdeepr.training.recalibrate import recalibrate

from ..conftest import TINY

TP = T.Transform("log1p", scale=1.0, threshold=0.1, units="kg m-2")


def _drizzling(seed: int, times: int = 120, members: int = 6) -> tuple[xr.Dataset, xr.Dataset]:
    """Truth dry 70 % of the time; members that drizzle (0.1–0.6) where it is dry."""
    rng = np.random.default_rng(seed)
    wet = rng.random((times, 10)) > 0.7
    amount = np.where(wet, rng.gamma(2.0, 1.5, (times, 10)), 0.0)
    noise = rng.gamma(2.0, 0.15, (members, times, 10))
    members_ = np.where(wet, amount * rng.lognormal(0, 0.2, (members, times, 10)), noise)
    truth = xr.Dataset({"tp": (("time", "x"), amount)})
    ens = xr.Dataset({"tp": (("member", "time", "x"), members_)})
    return truth, ens


def _dry(x: xr.DataArray, below: float) -> float:
    return float((x < below).mean())


def test_cut_fitted_on_one_period_matches_the_dry_fraction_of_another():
    truth, ens = _drizzling(0)
    fit = drycut.fit_cuts(truth, ens, {"tp": TP})["tp"]
    assert fit["enabled"] and fit["cut"] > TP.threshold
    assert abs(fit["cut_dry"] - fit["truth_dry"]) < 0.01  # in-sample: the quantile
    assert fit["raw_dry"] < fit["truth_dry"] - 0.3  # the drizzle it repairs
    assert fit["halves_error_cut"] < fit["halves_error_raw"]
    held_truth, held_ens = _drizzling(1)  # the same model on other times
    cut = drycut.with_cuts({"tp": TP}, {"tp": fit})["tp"]
    physical = cut.inverse(cut.forward(held_ens.tp))
    assert abs(_dry(physical, TP.threshold) - _dry(held_truth.tp, TP.threshold)) < 0.03
    assert abs(_dry(TP.inverse(TP.forward(held_ens.tp)), 0.1) - _dry(held_truth.tp, 0.1)) > 0.3


def test_an_ensemble_as_dry_as_the_truth_or_drier_gets_no_cut():
    truth, ens = _drizzling(2)
    dry = ens.where(ens.tp > 2.0, 0.0)  # drier than the truth: a cut can only make it worse
    fit = drycut.fit_cuts(truth, dry, {"tp": TP, "t2m": T.Transform()})
    assert set(fit) == {"tp"}  # temperature-like labels get none
    assert fit["tp"]["cut"] == TP.threshold and not fit["tp"]["enabled"]
    assert drycut.with_cuts({"tp": TP}, fit)["tp"].cut is None


def test_the_cut_is_stated_stored_and_optional():
    cut = T.Transform("log1p", threshold=0.1, units="kg m-2", cut=0.4)
    y = cut.forward(np.array([0.05, 0.2, 0.39, 0.4, 3.0]))
    assert cut.inverse(y).round(6).tolist() == [0.0, 0.0, 0.0, 0.4, 3.0]
    assert cut.inverse(y, calibrated=False).round(6).tolist() == [0.0, 0.2, 0.39, 0.4, 3.0]
    assert "members cut below 0.4 kg m-2" in str(cut)
    assert "cut" not in T.to_record({"tp": TP})["tp"]  # models without a cut: identity kept
    assert T.from_record(T.to_record({"tp": cut}), ["tp"]) == {"tp": cut}
    with pytest.raises(ConfigError, match="dry cut"):
        T.Transform("log1p", cut=-1.0)
    with pytest.raises(ConfigError, match="dry cut"):
        T.Transform("log1p", cut=float("nan"))


@pytest.fixture(scope="module")
def tp_model():
    """A tiny precipitation model trained with validation (its cut fitted there)."""
    f, l, s = xdeepr.datasets.load_sample(periods=48, variables=("t2m", "tp"))
    cfg = {**TINY, "validation_times": 4, "validation_members": 3, "validation_fraction": 0.25}
    model = xdeepr.train(f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40)), s, steps=4, **cfg)
    return model, f.isel(time=slice(40, 44)), l.isel(time=slice(40, 44))


def test_train_fits_the_cut_on_validation_and_downscale_applies_it(tp_model, tmp_path):
    model, f, l = tp_model
    fit = model.summary["dry_cut"]["tp"]
    assert fit["times"] == 4 and fit["members"] == 3 and fit["cut"] >= 0.1
    assert set(model.summary["dry_cut"]) == {"tp"}
    assert (model.transforms["tp"].cut is not None) == fit["enabled"]
    forced = drycut.with_cuts(model.transforms, {"tp": {**fit, "cut": 0.5, "enabled": True}})
    model.transforms = forced  # a cut set whatever the tiny run fitted
    back = xdeepr.load_model(model.save(tmp_path / "m.xdeepr"))
    assert back.transforms["tp"].cut == 0.5 and back.identity == model.identity
    assert "members cut below 0.5 kg m-2" in repr(back)
    back.calibration = None  # below, the cut is the only difference calibrate= makes
    ens = f.deepr.downscale(back, members=3, steps=2, progress=False)
    tp = ens.tp.values
    assert ((tp == 0) | (tp >= 0.5)).all() and "tp members below 0.5" in ens.attrs[
        "xdeepr_calibration"
    ]
    raw = f.deepr.downscale(back, members=3, steps=2, progress=False, calibrate=False)
    assert ((raw.tp.values == 0) | (raw.tp.values >= 0.1)).all()
    assert "set dry" not in raw.attrs["xdeepr_calibration"]
    assert (raw.tp.values >= tp).all() and (raw.tp.values[tp > 0] == tp[tp > 0]).all()
    lazy = f.chunk(time=2).deepr.downscale(back, members=3, steps=2, progress=False)
    xr.testing.assert_allclose(lazy.compute(), ens, atol=1e-5)  # chunk-invariant
    refit = recalibrate(back, f, l, members=3, steps=2)
    assert refit.summary["dry_cut"]["fitted_on"] == "recalibrate()"
    assert back.transforms["tp"].cut == 0.5  # the model recalibrated is unchanged


def test_spread_calibration_of_precipitation_never_gives_a_negative_amount(tp_model):
    model, f, _ = tp_model
    model.calibration = {"kind": "spread", "factors": {"tp": 4.0}, "enabled": {"tp": True}}
    try:
        ens = f.deepr.downscale(model, members=4, steps=2, progress=False)
    finally:
        model.calibration = None
    assert float(ens.tp.min()) >= 0.0  # scaled in the learnt (log1p) space, then turned back
