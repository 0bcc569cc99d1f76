"""The post-hoc spread calibration: its fit, its switch, its record, its chunk invariance."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import InputError
from xdeepr.model import calibration as C
from xdeepr.training.advice import advice
from xdeepr.training.recalibrate import recalibrate


def _gaussian(spread: float, members: int = 10, n: int = 600, seed: int = 0):
    """Truth ~ N(0, 1) per point; members ~ N(0, spread²) about the same (zero) centre."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    truth = xr.Dataset({"t2m": (("time", "x"), rng.normal(size=(n, 4)))}, coords={"time": t})
    ens = xr.Dataset(
        {"t2m": (("member", "time", "x"), spread * rng.normal(size=(members, n, 4)))},
        coords={"time": t},
    )
    return truth, ens


@pytest.mark.parametrize("spread", [0.5, 1.0, 2.0])
def test_the_fitted_factor_recovers_a_known_dispersion_error(spread):
    truth, ens = _gaussian(spread)
    m = ens.sizes["member"]
    # the factor that makes the spread-skill ratio 1: error² of the mean = 1 + spread²/m
    expected = np.sqrt(1 + spread**2 / m) / np.sqrt((m + 1) / m * spread**2)
    assert expected == pytest.approx(1 / spread, rel=0.15)  # about 2, 1, 1/2
    k = C.fit_spread(truth.t2m, ens.t2m)
    assert k == pytest.approx(expected, rel=0.07)
    fit = C.fit_calibration(truth, ens)
    rec = fit["validation"]["t2m"]
    assert fit["factors"]["t2m"] == pytest.approx(k)
    assert rec["spread_skill_calibrated"] == pytest.approx(1.0, abs=0.1)
    if spread == 0.5:  # a real repair: on, and the held-out halves' fair CRPS improved
        assert fit["enabled"]["t2m"]
        assert rec["crps_crossfitted_halves"] < 0.95 * rec["crps_raw_halves"]


def test_the_factor_does_not_depend_on_the_ensemble_size():
    for members in (4, 10, 30):
        truth, ens = _gaussian(0.5, members=members, n=1500, seed=members)
        assert C.fit_spread(truth.t2m, ens.t2m) == pytest.approx(2.0, rel=0.1)


def test_apply_keeps_the_mean_scales_deviations_and_is_lazy_and_chunk_invariant():
    _, ens = _gaussian(0.5, n=8)
    cal = {"factors": {"t2m": 2.0}, "enabled": {"t2m": True}}
    out = C.apply(ens, cal)
    xr.testing.assert_allclose(out.t2m.mean("member"), ens.t2m.mean("member"))
    dev, dev0 = out.t2m - out.t2m.mean("member"), ens.t2m - ens.t2m.mean("member")
    xr.testing.assert_allclose(dev, 2.0 * dev0)
    lazy = C.apply(ens.chunk({"member": 3, "time": 2}), cal)
    assert lazy.t2m.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), out)
    off = {"factors": {"t2m": 2.0}, "enabled": {"t2m": False}}
    xr.testing.assert_identical(C.apply(ens, off), ens)
    assert C.describe(off) == "none (off for t2m: it did not improve validation)"
    assert C.describe(cal, applied=False) == "none (calibrate=False)"


def test_train_fits_and_stores_the_calibration(tiny_model, tmp_path):
    cal = tiny_model.calibration
    assert cal["kind"] == "spread" and set(cal["factors"]) == {"t2m"}
    assert tiny_model.summary["calibration"]["members"] == 4
    assert "calibration:" in repr(tiny_model)
    back = xdeepr.load_model(tiny_model.save(tmp_path / "m.xdeepr"))
    assert back.calibration["factors"] == pytest.approx(cal["factors"])
    assert back.digest == tiny_model.digest
    other = copy.copy(tiny_model)
    other.calibration = {**cal, "factors": {"t2m": 1.5}}
    assert other.digest != tiny_model.digest  # the calibration changes results


def test_downscale_applies_the_calibration_and_calibrate_false_gives_the_raw_ensemble(
    tiny_model, sample_small
):
    f, _, _ = sample_small
    model = copy.copy(tiny_model)
    model.calibration = {
        "kind": "spread",
        "factors": {"t2m": 2.0},
        "enabled": {"t2m": True},
        "validation": {},
    }
    ft = f.isel(time=slice(80, 84))
    kw = {"members": 3, "steps": 2, "progress": False, "batch_size": 1}
    raw = ft.deepr.downscale(model, calibrate=False, **kw)
    plain = ft.deepr.downscale(tiny_model, calibrate=False, **kw)
    np.testing.assert_allclose(raw.t2m, plain.t2m, atol=1e-5)  # same weights, raw: equal
    cal = ft.deepr.downscale(model, **kw)
    mean = raw.t2m.mean("member")
    expected = (mean + 2.0 * (raw.t2m - mean)).transpose(*raw.t2m.dims)
    np.testing.assert_allclose(cal.t2m, expected, atol=1e-4)
    assert "spread x2 (t2m)" in cal.attrs["xdeepr_calibration"]
    assert raw.attrs["xdeepr_calibration"] == "none (calibrate=False)"
    # lazy, time chunks of 1: the same calibrated ensemble
    lazy = ft.chunk({"time": 1}).deepr.downscale(model, **kw)
    np.testing.assert_allclose(lazy.t2m.values, cal.t2m.values, atol=1e-4)
    assert xdeepr.SamplingOptions(calibrate=False).calibrate is False


def test_recalibrate_refits_on_held_out_data(tiny_model, sample_small):
    f, l, _ = sample_small
    m2 = recalibrate(tiny_model, f.isel(time=slice(80, 90)), l.isel(time=slice(80, 90)), members=3)
    assert m2.calibration["times"] == 10 and m2.calibration["members"] == 3
    assert m2 is not tiny_model and tiny_model.calibration is not m2.calibration
    with pytest.raises(InputError, match="at least 2 members"):
        recalibrate(tiny_model, f, l, members=1)
    with pytest.raises(InputError, match="lack the model's variable"):
        recalibrate(tiny_model, f, l.rename(t2m="tas"))


def test_the_warnings_advice_depends_on_what_the_model_already_does():
    _, tips = advice(0.5, {"mean": "bicubic", "dropout": 0.0, "calibrate": True})
    assert "mean='regression'" in tips and "dropout=0.1" in tips
    _, tips = advice(0.5, {"mean": "regression", "mean_folds": 3, "dropout": 0.1})
    assert "mean='regression'" not in tips and "dropout" not in tips
    assert "mean_folds" not in tips  # already cross-fitted
    _, tips = advice(0.5, {"mean": "regression", "mean_folds": 1})
    assert "mean_folds=3" in tips
    _, tips = advice(0.5, {"calibrate": False})
    assert "calibrate=True" in tips
    on = {"factors": {"t2m": 1.4}, "enabled": {"t2m": True}}
    _, tips = advice(0.5, {"calibrate": True}, on)
    assert "(x1.4 (t2m)) is applied" in tips and "calibrate=False" in tips
    what, tips = advice(1.3, {"mean": "bicubic"})
    assert what.startswith("over-dispersive") and "mean='regression'" not in tips
