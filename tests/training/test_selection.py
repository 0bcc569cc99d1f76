"""Issue 10: validation by skill, selection, calibration warning, climatology, regression mean."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr.errors import ConfigError
from xdeepr.model.climatology import climatology_at, fit_climatology
from xdeepr.training import CalibrationWarning, TrainConfig, select
from xdeepr.training.validation import _warn_if_uncalibrated

from ..conftest import TINY, Killed


def _rec(step: int, crps: float, ssr: float) -> dict[str, float]:
    return {"step": float(step), "val_crps": crps, "val_spread_skill": ssr, "val_rmse": 0.5}


def test_selection_rule_picks_the_best_calibrated_checkpoint():
    # the pattern: skill first improves, then the ensemble collapses
    history = [
        _rec(100, 0.30, 1.05),
        _rec(200, 0.27, 0.97),
        _rec(300, 0.26, 0.80),
        _rec(400, 0.29, 0.40),
        _rec(500, 0.36, 0.14),
    ]
    assert select(history) == 1  # step 300 has a lower CRPS but ratio 0.80 < 0.9
    assert select(history, band=(0.75, 1.2)) == 2  # a wider band admits it
    # none calibrated: closest to 1 in log ratio, whatever the CRPS
    assert select([_rec(1, 0.2, 0.5), _rec(2, 0.4, 1.6), _rec(3, 0.1, 0.3)]) == 1
    # ties between calibrated ones go to the earlier checkpoint; NaN never wins
    assert select([_rec(1, 0.3, 1.0), _rec(2, 0.3, 1.1), _rec(3, float("nan"), 1.0)]) == 0
    assert select([]) is None


def test_calibration_warning_fires_outside_the_band_and_says_what_to_try():
    with pytest.warns(
        CalibrationWarning,
        match=r"step 300\) have a validation spread-skill "
        r"ratio of 0.62, outside \[0.9, 1.1\].*over-confident.*Try:",
    ):
        _warn_if_uncalibrated(_rec(300, 0.3, 0.62))
    with pytest.warns(CalibrationWarning, match="over-dispersive"):
        _warn_if_uncalibrated(_rec(300, 0.3, 1.4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_uncalibrated(_rec(300, 0.3, 1.0))


def test_train_warns_when_the_selected_weights_are_not_calibrated(sample_small, monkeypatch):
    f, l, s = sample_small
    monkeypatch.setattr(xdeepr.metrics, "spread_skill_ratio", lambda obs, ens: obs.mean() * 0 + 0.5)
    with pytest.warns(CalibrationWarning, match="ratio of 0.50"):
        xdeepr.train(f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40)), s, steps=2, **TINY)


def test_climatology_baseline_equals_its_definition():
    t = pd.date_range("2001-01-30", periods=16, freq="12h")  # January and February, 0 and 12 h
    rng = np.random.default_rng(0)
    res = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), rng.normal(size=(16, 2, 3)))},
        coords={"time": t, "lat": [1.0, 0.0], "lon": [0.0, 1.0, 2.0]},
    )
    clim = fit_climatology(res)
    assert clim.hour.values.tolist() == [0, 12, -1]
    for month in (1, 2):
        for hour in (0, 12):
            keep = xr.DataArray((t.month == month) & (t.hour == hour), dims="time")
            sel = res.t2m.where(keep).dropna("time", how="all")
            np.testing.assert_allclose(
                clim.t2m.sel(month=month, hour=hour), sel.mean("time"), rtol=1e-6
            )
    # a month never seen takes the overall mean; an hour never seen, the month's mean
    np.testing.assert_allclose(clim.t2m.sel(month=7, hour=0), res.t2m.mean("time"), rtol=1e-6)
    at = climatology_at(clim, pd.DatetimeIndex(["2005-02-03T12", "2005-01-01T06"]))
    np.testing.assert_allclose(at.t2m[0], clim.t2m.sel(month=2, hour=12))
    np.testing.assert_allclose(at.t2m[1], clim.t2m.sel(month=1, hour=-1))


def test_score_climatology_is_bicubic_plus_the_stored_mean_residual(tiny_model, sample_small):
    f, l, _ = sample_small
    ft, truth = f.isel(time=slice(80, 84)), l.isel(time=slice(80, 84))
    ens = ft.deepr.downscale(tiny_model, members=2, steps=2, progress=False)
    scores = ens.deepr.score(
        truth, baseline=["bicubic", "climatology"], features=ft, model=tiny_model
    )
    assert scores.model.values.tolist() == ["xdeepr", "bicubic", "climatology"]
    bicubic = ft.deepr.interpolate(truth)
    expected = bicubic.t2m + climatology_at(tiny_model.climatology, ft.time).t2m.values
    rmse = float(xdeepr.metrics.rmse(truth.t2m, expected))
    np.testing.assert_allclose(
        float(scores.t2m.sel(metric="rmse", model="climatology")), rmse, rtol=1e-5
    )
    # the stored mean residual is the training times' label − bicubic, by month and hour
    train_f, train_l = f.isel(time=slice(0, 72)), l.isel(time=slice(0, 72))
    resid = train_l.t2m - train_f.deepr.interpolate(train_l).t2m
    np.testing.assert_allclose(
        tiny_model.climatology.t2m.sel(month=1, hour=6),
        resid.where(resid.time.dt.hour == 6).mean("time"),
        atol=1e-4,
    )
    # issue 19: no model given, the climatology baseline is skipped and the result says so
    alone = ens.deepr.score(truth, baseline=["bicubic", "climatology"], features=ft)
    assert alone.model.values.tolist() == ["xdeepr", "bicubic"]
    assert alone.attrs["xdeepr_skipped_baselines"] == "climatology: needs the model (model=)"
    # a model given without a climatology is still an error saying what to pass
    bare = copy.copy(tiny_model)
    bare.climatology = None
    with pytest.raises(ConfigError, match="needs model="):
        ens.deepr.score(truth, baseline="climatology", features=ft, model=bare)


def test_regression_mean_model_round_trips_and_predicts(sample_small, tmp_path):
    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 40)),
        l.isel(time=slice(0, 40)),
        s,
        steps=3,
        mean="regression",
        mean_steps=3,
        **TINY,
    )
    assert m.mean == "regression" and not m.learn_residuals and m.regression is not None
    path = m.save(tmp_path / "m.xdeepr")
    back = xdeepr.load_model(path)
    assert back.digest == m.digest and back.mean == "regression"
    xr.testing.assert_identical(back.climatology, m.climatology)
    ft = f.isel(time=slice(40, 42))
    a = ft.deepr.downscale(m, members=2, steps=2, progress=False)
    b = ft.deepr.downscale(back, members=2, steps=2, progress=False)
    np.testing.assert_array_equal(a.t2m.values, b.t2m.values)
    mean = ft.deepr.predict_mean(back)
    assert mean.t2m.dims == ("time", "latitude", "longitude")
    # the ensemble is bicubic + regression + diffusion: its members scatter around the mean
    assert float(abs(a.t2m.mean("member") - mean.t2m).mean()) < 3.0
    with pytest.raises(ConfigError, match="no regression mean"):
        ft.deepr.predict_mean(
            xdeepr.train(f.isel(time=slice(0, 20)), l.isel(time=slice(0, 20)), s, steps=1, **TINY)
        )


def test_mean_and_learn_residuals_are_one_setting():
    assert TrainConfig().mean == "bicubic" and TrainConfig().learn_residuals
    assert TrainConfig(learn_residuals=False).mean is None
    assert not TrainConfig(mean=None).learn_residuals
    assert not TrainConfig(mean="regression").learn_residuals
    cfg = TrainConfig(mean="regression")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.parse_value("mean", "none") is None
    with pytest.raises(ConfigError, match="mean"):
        TrainConfig(mean="linear")


def test_validation_with_dask_input_and_resume(sample_small, tmp_path, die_after_checkpoint):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 48)), l.isel(time=slice(0, 48))
    kw = {**TINY, "steps": 8, "seed": 2, "validate_every": 2, "validation_times": 3}
    full = xdeepr.train(f, l, s, **kw)
    records = full.summary["validation"]["records"]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert full.summary["selected_step"] == records[select(records)]["step"]
    ckpt = {"checkpoint_dir": str(tmp_path), "checkpoint_every": 4}
    with pytest.raises(Killed):
        xdeepr.train(f.chunk(time=12), l.chunk(time=12), s, **kw, **ckpt)
    die_after_checkpoint()  # undone: the resumed run lives
    resumed = xdeepr.train(f.chunk(time=12), l.chunk(time=12), s, resume=True, **kw, **ckpt)
    # dask and numpy sum in another order: the same records to float rounding
    got = resumed.summary["validation"]["records"]
    assert [r["step"] for r in got] == [r["step"] for r in records]
    for a, b in zip(got, records):
        assert a == pytest.approx(b, rel=1e-6)
    assert resumed.summary["selected_step"] == full.summary["selected_step"]
    for (k, a), b in zip(full.network.state_dict().items(), resumed.network.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_patience_stops_early_and_last_selection_keeps_the_last_weights(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    # every validation after the first is worse: patience 2 stops at the third
    crps = iter([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    monkeypatch.setattr(
        xdeepr.metrics, "crps_ensemble", lambda obs, ens, fair: obs.mean() * 0 + next(crps)
    )
    monkeypatch.setattr(xdeepr.metrics, "spread_skill_ratio", lambda obs, ens: obs.mean() * 0 + 1.0)
    kw = {**TINY, "steps": 12, "validate_every": 2}
    m = xdeepr.train(f, l, s, patience=2, **kw)
    assert m.summary["steps"] == 6 and m.summary["stopped_early"]
    assert m.summary["selected_step"] == 2 and m.final_ema_state is not None
    crps = iter([0.6, 0.5, 0.4, 0.3, 0.2, 0.1][::-1])
    last = xdeepr.train(f, l, s, selection="last", **kw)
    assert last.summary["selected_step"] == 12


def test_a_version_2_model_file_still_loads(tiny_model):
    from xdeepr.model import fileformat

    d = fileformat.to_dict(tiny_model)
    del d["climatology"]
    d["format_version"] = 2
    old = fileformat.from_dict(d)
    assert old.climatology is None and old.regression is None and old.mean == "bicubic"
    assert old.digest == tiny_model.digest  # neither the version nor the climatology counts


def test_sample_covariable_is_additive_and_linked_to_t2m():
    f0, l0, _ = xdeepr.datasets.load_sample(periods=120)
    f1, l1, _ = xdeepr.datasets.load_sample(periods=120, covariables=True)
    xr.testing.assert_identical(f0.t2m, f1.t2m)  # the default sample is untouched
    xr.testing.assert_identical(l0, l1)
    assert f1.t850.attrs["units"] == "K" and f1.t850.dims == f1.t2m.dims
    assert "t850" not in f0
    # the same synoptic weather: the domain means move together
    r = np.corrcoef(f1.t2m.mean(["latitude", "longitude"]), f1.t850.mean(["latitude", "longitude"]))
    assert r[0, 1] > 0.5
    shorter = xdeepr.datasets.load_sample(periods=60, covariables=True)[0]
    np.testing.assert_array_equal(shorter.t850.values, f1.t850.values[:60])  # a prefix


def test_evaluate_scores_the_climatology_baseline_with_the_model(
    tiny_model, sample_small, tmp_path, capsys
):
    from xdeepr.cli import main

    f, l, _ = sample_small
    ft, truth = f.isel(time=slice(80, 83)), l.isel(time=slice(80, 83))
    ft.to_netcdf(tmp_path / "coarse.nc")
    truth.to_netcdf(tmp_path / "truth.nc")
    ft.deepr.downscale(tiny_model, members=2, steps=2, progress=False).to_netcdf(
        tmp_path / "ens.nc"
    )
    tiny_model.save(tmp_path / "m.xdeepr")
    files = [str(tmp_path / n) for n in ("ens.nc", "truth.nc")]
    rc = main(
        [
            "evaluate",
            *files,
            "--features",
            str(tmp_path / "coarse.nc"),
            "--model",
            str(tmp_path / "m.xdeepr"),
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "metric",
        "xdeepr",
        "bicubic",
        "climatology",
    ]
    assert main(["evaluate", *files, "--model", str(tmp_path / "m.xdeepr")]) == 2
    assert "needs --features" in capsys.readouterr().err


def test_calibration_warning_points_at_the_callers_line():
    import warnings as _w

    from xdeepr.training import validation

    def finish():
        validation._warn_if_uncalibrated({"step": 3, "val_spread_skill": 0.2, "val_crps": 0.3})

    def _optimise():
        finish()

    def train():
        _optimise()

    import inspect

    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        train()  # the user's line
    assert caught and caught[0].filename == __file__ and caught[0].lineno == line
    assert "spread-skill" in str(caught[0].message)
