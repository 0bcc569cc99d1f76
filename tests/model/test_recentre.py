"""The recentring towards the regression mean: its weight, its switch, its application."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import transforms
from xdeepr.model import calibration as C
from xdeepr.model import mean as mean_mod
from xdeepr.model import recentre as R
from xdeepr.model.mean import regression_centre
from xdeepr.training.recalibrate import recalibrate

from ..conftest import TINY


def _case(beta: float, junk: float, sigma: float, members: int, n: int = 4000, seed: int = 0):
    """Truth y ~ N(0, 1) about a zero centre; members β y + J + ε (J ~ N(0, junk²), ε ~ σ)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, 3))
    dep = beta * y + junk * rng.normal(size=(n, 3))
    x = dep + sigma * rng.normal(size=(members, n, 3))
    t = np.arange(n)
    truth = xr.DataArray(y, dims=("time", "x"), coords={"time": t})
    ens = xr.DataArray(x, dims=("member", "time", "x"), coords={"time": t})
    return truth, ens, xr.zeros_like(truth)


@pytest.mark.parametrize(
    ("beta", "junk", "sigma"), [(0.0, 0.4, 1.0), (0.3, 0.4, 1.0), (1.0, 0.0, 0.5)]
)
@pytest.mark.parametrize("members", [4, 10, 40])
def test_the_weight_best_estimates_the_infinite_ensembles_mean_for_any_size(
    beta, junk, sigma, members
):
    truth, ens, centre = _case(beta, junk, sigma, members=4)  # validation: 4 members
    p = R.fit_recentre(truth, ens, centre)
    assert p["noise"] == pytest.approx(sigma**2, rel=0.05)
    assert p["departure"] == pytest.approx(beta**2 + junk**2, abs=0.03)
    assert p["signal"] == pytest.approx(beta, abs=0.03)
    # the least-squares weight of R_m for R_inf = β y + J: Q / (Q + σ²/m)
    q = beta**2 + junk**2
    assert R.weight(p, members) == pytest.approx(q / (q + sigma**2 / members), abs=0.03)
    # and it is the weight whose recentred mean is nearest the infinite ensemble's
    y, x, c = _case(beta, junk, sigma, members=members, seed=1)
    inf = _case(beta, junk, 0.0, members=1, seed=1)[1].isel(member=0)  # same β y + J
    dep = x.mean("member") - c
    err = {a: float(((c + a * dep - inf) ** 2).mean()) for a in np.linspace(0, 1, 21)}
    assert R.weight(p, members) == pytest.approx(min(err, key=err.get), abs=0.06)
    # where the departure is skill (β = 1), that is also the mean nearest the truth
    if beta == 1.0:
        mse = {a: float(((c + a * dep - y) ** 2).mean()) for a in np.linspace(0, 1, 21)}
        assert R.weight(p, members) == pytest.approx(min(mse, key=mse.get), abs=0.06)


@settings(max_examples=30, deadline=None)
@given(
    alpha=st.floats(0.0, 1.0),
    m=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_shift_keeps_the_deviations_and_moves_the_mean_to_the_weighted_one(alpha, m, seed):
    rng = np.random.default_rng(seed)
    x = xr.DataArray(rng.normal(size=(m, 3, 5)), dims=("member", "time", "x")).astype("float32")
    c = xr.DataArray(rng.normal(size=(3, 5)), dims=("time", "x"))
    out = R.shift(x, c, alpha)
    assert out.dtype == x.dtype and out.dims == x.dims
    np.testing.assert_allclose(
        out - out.mean("member"), x - x.mean("member"), atol=1e-5
    )  # the spread is untouched
    want = c + alpha * (x.mean("member") - c)
    np.testing.assert_allclose(out.mean("member"), want, atol=1e-5)
    lazy = R.shift(x.chunk({"time": 1}), c, alpha)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.compute(), out, atol=1e-6)


def test_the_calibration_recentres_only_where_it_helps_held_out_halves():
    # members three times noisier than their departure: a 4-member mean is mostly noise
    truth, ens, centre = _case(1.0, 0.0, 3.0, members=4, n=400)
    fit = C.fit_calibration(
        xr.Dataset({"t2m": truth}), xr.Dataset({"t2m": ens}), centre=xr.Dataset({"t2m": centre})
    )
    rec = fit["recentre"]["t2m"]
    assert rec["enabled"] and rec["crps_recentred_halves"] < rec["crps_raw_halves"]
    assert R.weight(rec, 4) == pytest.approx(1 / (1 + 9 / 4), abs=0.08)
    # the spread factor is fitted on the recentred members, whose mean error is smaller
    val = fit["validation"]["t2m"]
    assert val["spread_skill_recentred"] > val["spread_skill_raw"]
    # members with no noise to remove: the weight is 1
    truth, ens, centre = _case(1.0, 0.0, 0.0, members=4, n=40)
    assert R.weight(R.fit_recentre(truth, ens, centre), 4) == pytest.approx(1.0)
    # without a regression mean there is nothing to recentre
    assert "recentre" not in C.fit_calibration(xr.Dataset({"t2m": truth}), xr.Dataset({"t2m": ens}))


def test_apply_needs_the_centre_and_describe_says_the_weight():
    truth, ens, centre = _case(0.0, 0.5, 1.0, members=4, n=40)
    cal = {
        "factors": {"t2m": 1.0},
        "enabled": {"t2m": False},
        "recentre": {"t2m": {**R.fit_recentre(truth, ens, centre), "enabled": True}},
    }
    with pytest.raises(ValueError, match="regression mean"):
        C.apply(xr.Dataset({"t2m": ens}), cal)
    out = C.apply(xr.Dataset({"t2m": ens}), cal, centre=xr.Dataset({"t2m": centre}))
    alpha = R.weight(cal["recentre"]["t2m"], 4)
    np.testing.assert_allclose(out.t2m.mean("member"), alpha * ens.mean("member"), atol=1e-9)
    assert f"weight {alpha:.3g} at 4 members" in C.describe(cal, members=4)
    assert C.describe(cal, applied=False) == "none (calibrate=False)"
    cal["recentre"]["t2m"]["enabled"] = False  # off: nothing applied, no centre needed
    xr.testing.assert_identical(C.apply(xr.Dataset({"t2m": ens}), cal), xr.Dataset({"t2m": ens}))


@pytest.fixture(scope="module")
def regression_model(sample_small):
    f, l, s = sample_small
    return xdeepr.train(
        f.isel(time=slice(0, 80)),
        l.isel(time=slice(0, 80)),
        s,
        steps=12,
        mean="regression",
        mean_steps=4,
        **TINY,
    )


def test_a_regression_mean_model_fits_the_recentring_and_downscale_applies_it(
    regression_model, sample_small, tmp_path
):
    f = sample_small[0].isel(time=slice(80, 84))
    m = copy.copy(regression_model)
    rec = m.calibration["recentre"]["t2m"]
    assert {"signal", "departure", "noise", "members", "enabled"} <= set(rec)
    m.calibration = copy.deepcopy(m.calibration)
    m.calibration["recentre"]["t2m"].update(enabled=True, signal=0.02, departure=0.05)
    m.calibration["enabled"]["t2m"] = False  # the recentring alone
    kw = {"members": 4, "seed": 1, "progress": False}
    raw = f.deepr.downscale(m, calibrate=False, **kw)
    out = f.deepr.downscale(m, **kw)
    lazy = f.chunk(time=2).deepr.downscale(m, **kw)
    assert lazy.t2m.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), out, atol=1e-4)
    centre = f.deepr.predict_mean(m).t2m
    alpha = R.weight(m.calibration["recentre"]["t2m"], 4)
    want = centre + alpha * (raw.t2m.mean("member") - centre)
    np.testing.assert_allclose(out.t2m.mean("member"), want, atol=1e-4)
    np.testing.assert_allclose(out.t2m.std("member"), raw.t2m.std("member"), atol=1e-4)
    assert "recentred towards the regression mean" in out.attrs["xdeepr_calibration"]
    assert raw.attrs["xdeepr_calibration"] == "none (calibrate=False)"
    assert "recentred towards the regression mean (t2m)" in repr(m)
    back = xdeepr.load_model(m.save(tmp_path / "m.pt"))
    assert back.calibration["recentre"] == m.calibration["recentre"]
    np.testing.assert_allclose(f.deepr.downscale(back, **kw).t2m, out.t2m, atol=1e-5)


def test_recalibrate_refits_the_recentring_of_a_regression_mean(regression_model, sample_small):
    f, l, _ = sample_small
    m2 = recalibrate(
        regression_model, f.isel(time=slice(80, 96)), l.isel(time=slice(80, 96)), members=4
    )
    assert set(m2.calibration["recentre"]) == {"t2m"}
    assert m2.calibration["recentre"]["t2m"]["members"] == 4


def test_the_centre_of_precipitation_is_in_its_learnt_space_as_the_members(monkeypatch):
    f, l, s = xdeepr.datasets.load_sample(periods=48, variables=("t2m", "tp"))
    model = xdeepr.train(
        f.isel(time=slice(0, 40)),
        l.isel(time=slice(0, 40)),
        s,
        steps=2,
        mean="regression",
        mean_steps=2,
        **TINY,
    )
    assert model.transforms["tp"].name == "log1p"
    x = f.isel(time=slice(40, 44))
    coarse = model.coarse_features(x)
    centre = regression_centre(coarse, model)
    zero = {v: xr.zeros_like(centre[v]) for v in model.labels}  # the net's departure only
    monkeypatch.setattr(mean_mod, "residual_mean", lambda *a, **k: xr.Dataset(zero))
    base = regression_centre(coarse, model)
    learnt = model.baseline(transforms.forward(coarse, model.transforms), validated=True)
    np.testing.assert_allclose(base.tp, learnt.tp.transpose(*base.tp.dims), atol=1e-5)
    assert float(abs(base.tp - model.baseline(coarse, validated=True).tp).max()) > 0.1
    monkeypatch.undo()
    # the deterministic mean is that centre back in physical units
    phys = transforms.inverse(centre, model.transforms, calibrated=False)
    np.testing.assert_allclose(x.deepr.predict_mean(model).tp, phys.tp, atol=1e-4)


def test_the_warnings_advice_says_when_the_members_are_recentred():
    from xdeepr.training.advice import advice

    cal = {
        "factors": {"t2m": 1.0},
        "enabled": {"t2m": False},
        "recentre": {"t2m": {"departure": 0.01, "noise": 0.2, "enabled": True}},
        "validation": {"t2m": {"spread_skill_raw": 0.8, "spread_skill_recentred": 0.83}},
    }
    _, tips = advice(0.8, {"mean": "regression", "mean_folds": 3}, cal)
    assert "recentres the members of t2m towards the regression mean" in tips
    assert "spread-skill 0.83 recentred" in tips and "fitted but is off" in tips
    _, off = advice(0.8, {"mean": "regression", "calibrate": False}, cal)
    assert "recentres" not in off and "calibrate=True" in off
