"""mean="climatology" and mean="auto": a mean that never starts behind the lookup table."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import ConfigError
from xdeepr.model.climatology import climatology_at
from xdeepr.training.means import choose

from ..conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore::xdeepr.training.CalibrationWarning")


def _rmse(a: xr.DataArray, b: xr.DataArray) -> float:
    return float(np.sqrt(((a - b.values) ** 2).mean()))


def test_choose_takes_the_lowest_validation_rmse_and_the_simpler_on_ties():
    r = xr.Dataset({"t2m": (("time", "x"), np.ones((4, 2)))})
    left = {"bicubic": r, "climatology": r * 0.5, "regression": r * 0.5}
    chosen, scores = choose(left, slice(2, 4))
    assert chosen == "climatology" and scores["climatology"] == pytest.approx(0.5)
    left["regression"] = r * 0.4
    assert choose(left, slice(2, 4))[0] == "regression"
    assert choose({"bicubic": r, "climatology": r}, slice(0, 4))[0] == "bicubic"


def test_auto_chooses_by_validation_and_is_no_worse_than_the_static_correction(
    sample_small, caplog
):
    f, l, s = sample_small
    n, n_val = 80, 8
    with caplog.at_level(logging.INFO, logger="xdeepr"):
        m = xdeepr.train(
            f.isel(time=slice(0, n)),
            l.isel(time=slice(0, n)),
            s,
            steps=2,
            mean="auto",
            mean_steps=2,
            validate_every=0,
            validation_fraction=n_val / n,
            validation_members=2,
            **TINY,
        )
    choice = m.summary["mean_choice"]
    assert choice["chosen"] == m.mean == m.config["mean"]
    assert min(choice["validation_rmse"].values()) == choice["validation_rmse"][m.mean]
    assert "chosen by validation" in repr(m) and f"(mean: {m.mean}" in repr(m)
    assert any("mean='auto' chose" in r.getMessage() for r in caplog.records)
    assert (m.regression is not None) == (m.mean == "regression")
    # the static correction: bicubic + the training times' mean residual
    n_train = n - n_val
    tf, tl = f.isel(time=slice(0, n_train)), l.isel(time=slice(0, n_train))
    static = (tl.t2m - tf.deepr.interpolate(tl).t2m).mean("time")

    def means(lo: int, hi: int) -> tuple[float, float]:
        """RMSE of the chosen mean and of the static correction over times lo..hi."""
        ft, lt = f.isel(time=slice(lo, hi)), l.isel(time=slice(lo, hi))
        bic = ft.deepr.interpolate(lt).t2m
        if m.mean == "climatology":
            chosen = bic + climatology_at(m.climatology, ft.time).t2m.values
        elif m.mean == "regression":
            chosen = ft.deepr.predict_mean(m).t2m
        else:
            chosen = bic
        return _rmse(chosen, lt.t2m), _rmse(bic + static.values, lt.t2m)

    val_chosen, val_static = means(n_train, n)
    test_chosen, test_static = means(n, 96)  # held out from training and validation
    if val_chosen <= val_static:  # where validation said so, held-out data agree
        assert test_chosen <= 1.05 * test_static


def test_the_climatology_mean_is_sampled_around_bicubic_plus_climatology(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 40)),
        l.isel(time=slice(0, 40)),
        s,
        steps=2,
        mean="climatology",
        validate_every=0,
        **TINY,
    )
    assert m.mean == "climatology" and not m.learn_residuals and m.regression is None
    ft = f.isel(time=slice(40, 42))
    ens = ft.deepr.downscale(m, members=2, steps=2, progress=False, calibrate=False)
    # the diffusion part, alone, is what the ensemble adds to bicubic + climatology
    bare = copy.copy(m)
    bare.config = {**m.config, "mean": None}  # no mean: the sampled residual alone
    resid = ft.deepr.downscale(bare, members=2, steps=2, progress=False, calibrate=False)
    base = ft.deepr.interpolate(m).t2m + climatology_at(m.climatology, ft.time).t2m.values
    np.testing.assert_allclose(ens.t2m, (resid.t2m + base).transpose(*ens.t2m.dims), atol=1e-3)
    # the climatology is then part of what the model's identity covers
    other = copy.copy(m)
    other.climatology = m.climatology + 1.0
    assert other.digest != m.digest
    with pytest.raises(ConfigError, match="validation times"):
        xdeepr.train(
            f.isel(time=slice(0, 20)),
            l.isel(time=slice(0, 20)),
            s,
            steps=1,
            mean="auto",
            validation_fraction=0.0,
            **TINY,
        )
