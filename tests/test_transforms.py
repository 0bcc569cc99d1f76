"""Per-variable label transforms: round trips, choice, override, storage, wind speed."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import transforms as T
from xdeepr.errors import ConfigError, InputError, ModelFileError

from .conftest import TINY

PRECIP = {"standard_name": "precipitation_amount", "units": "kg m-2"}
#: Plumbing, not skill: no validation sampling (the slow part of a tiny run).
_NO_VALIDATION = {**TINY, "validation_fraction": 0.0}
_FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("name", ["log1p", "sqrt"])
@settings(max_examples=200, deadline=None)
@given(x=st.floats(0.0, 500.0), scale=st.floats(0.001, 10.0), thr=st.floats(0.0, 1.0))
def test_round_trip_above_the_threshold(name, x, scale, thr):
    t = T.Transform(name, scale=scale, threshold=thr)
    back = float(t.inverse(t.forward(np.float64(x))))
    if x >= thr * (1 + 1e-9):
        assert back == pytest.approx(x, rel=1e-9, abs=1e-12)
    else:  # below the dry threshold: exactly dry (or the value itself at the threshold)
        assert back == 0.0 or back == pytest.approx(x, rel=1e-9)


@pytest.mark.parametrize("name", ["log1p", "sqrt"])
@settings(max_examples=200, deadline=None)
@given(y=_FINITE, thr=st.floats(0.0, 1.0))
def test_inverse_is_never_negative(name, y, thr):
    t = T.Transform(name, scale=1.0, threshold=thr)
    with np.errstate(over="ignore"):
        x = t.inverse(np.array([y, -abs(y), -1e30]))
    assert (x >= 0).all()
    assert ((x == 0) | (x >= thr)).all()  # nothing between 0 and the dry threshold


def test_inverse_on_xarray_keeps_dims_and_is_lazy():
    t = T.choose(PRECIP)
    da = xr.DataArray(np.array([[-2.0, 0.05], [0.2, 3.0]]), dims=("y", "x")).chunk({"y": 1})
    out = t.inverse(da)
    assert out.chunks is not None
    np.testing.assert_allclose(out.values, [[0.0, 0.0], [np.expm1(0.2), np.expm1(3.0)]])


def test_choice_from_standard_name_and_units():
    assert T.choose({"standard_name": "air_temperature", "units": "K"}).name == "identity"
    assert T.choose({"standard_name": "eastward_wind", "units": "m s-1"}).name == "identity"
    tp = T.choose(PRECIP)
    assert (tp.name, tp.scale, tp.threshold, tp.units) == ("log1p", 1.0, 0.1, "kg m-2")
    era5 = T.choose({"standard_name": "precipitation_amount", "units": "m"})
    assert era5.scale == pytest.approx(1e-3) and era5.threshold == pytest.approx(1e-4)
    flux = T.choose({"standard_name": "precipitation_flux", "units": "kg m-2 s-1"})
    assert flux.threshold == pytest.approx(0.1 / 3600)
    snow = T.choose({"standard_name": "snowfall_amount", "units": "kg m-2"})
    assert snow.name == "log1p"
    with pytest.warns(UserWarning, match="not known"):
        odd = T.choose({"standard_name": "precipitation_amount", "units": "inch"}, "pr")
    assert odd.threshold == 0.1


def test_override_by_name_and_by_mapping():
    ds = xr.Dataset({"tp": ((), 0.0, PRECIP), "t2m": ((), 280.0, {"units": "K"})})
    out = T.resolve(ds, ["t2m", "tp"], {"tp": "sqrt"})
    assert out["tp"].name == "sqrt" and out["tp"].threshold == 0.1 and out["tp"].reason == "given"
    out = T.resolve(ds, ["t2m", "tp"], {"tp": {"threshold": 0.5}, "t2m": "identity"})
    assert out["tp"].name == "log1p" and out["tp"].threshold == 0.5
    assert T.resolve(ds, ["tp"], {"tp": "identity"})["tp"].name == "identity"
    with pytest.raises(ConfigError, match="not label variables"):
        T.resolve(ds, ["t2m"], {"tp": "log1p"})
    with pytest.raises(ConfigError, match="unknown transform"):
        T.resolve(ds, ["tp"], {"tp": "cube"})


def test_trainconfig_field_checks_and_parses():
    cfg = xdeepr.TrainConfig(transforms={"tp": {"name": "sqrt", "threshold": 0.2}})
    assert cfg.transforms == {"tp": {"name": "sqrt", "threshold": 0.2}}
    assert xdeepr.TrainConfig.parse_value("transforms", '{"tp": "log1p"}') == {"tp": "log1p"}
    with pytest.raises(ConfigError, match=r"TrainConfig.transforms=.*'tp'"):
        xdeepr.TrainConfig(transforms={"tp": {"name": "log1p", "threshold": -1}})
    with pytest.raises(ConfigError, match="transforms"):
        xdeepr.TrainConfig(transforms={"tp": {"nmae": "log1p"}})


def test_record_round_trip_and_bad_records():
    ts = {"t2m": T.Transform(), "tp": T.choose(PRECIP)}
    assert T.from_record(T.to_record(ts), ["t2m", "tp"]) == ts
    assert T.from_record(None, ["t2m"]) == {"t2m": T.Transform()}
    with pytest.raises(ModelFileError, match="'transforms' entry"):
        T.from_record({"pr": {"name": "log1p"}}, ["tp"])
    with pytest.raises(ModelFileError, match="transform of 'tp'"):
        T.from_record({"tp": {"name": "cube"}}, ["tp"])


def test_wind_speed_from_components():
    u = xr.DataArray([[3.0, -1.0]], dims=("member", "x"), attrs={"standard_name": "eastward_wind"})
    v = xr.DataArray([[4.0, 0.0]], dims=("member", "x"), attrs={"standard_name": "northward_wind"})
    ds = xr.Dataset({"u10": u.assign_attrs(units="m s-1"), "v10": v})
    speed = T.wind_speed(ds)
    assert speed.name == "si10" and speed.attrs["standard_name"] == "wind_speed"
    np.testing.assert_allclose(speed.values, [[5.0, 1.0]])
    with pytest.raises(InputError, match="no wind components"):
        T.wind_speed(ds.drop_vars("v10"))


@pytest.fixture(scope="module")
def multi():
    """A tiny four-variable model (t2m, u10, v10, tp) and a little held-out input."""
    f, l, s = xdeepr.datasets.load_sample(periods=40, variables=("t2m", "u10", "v10", "tp"))
    model = xdeepr.train(
        f.isel(time=slice(0, 32)), l.isel(time=slice(0, 32)), s, steps=3, **_NO_VALIDATION
    )
    return model, f.isel(time=slice(32, 36)), l.isel(time=slice(32, 36))


def test_multi_variable_model_states_stores_and_applies_its_transforms(multi, tmp_path):
    model, f, _ = multi
    assert model.transforms["tp"].name == "log1p" and model.transforms["t2m"].name == "identity"
    text = repr(model)
    assert "transform tp: log(1 + x / 1 kg m-2), dry below 0.1 kg m-2" in text
    assert "u10, v10: wind components, drawn together" in text
    path = model.save(tmp_path / "m.xdeepr")
    back = xdeepr.load_model(path)
    assert back.transforms == model.transforms and back.identity == model.identity
    ens = f.deepr.downscale(back, members=3, steps=2, progress=False)
    tp = ens.tp.values
    assert np.isfinite(tp).all() and tp.min() >= 0.0
    assert ((tp == 0) | (tp >= 0.1)).all()  # dry below the stated threshold: exactly 0
    assert ens.tp.attrs["units"] == "kg m-2"
    speed = T.wind_speed(ens)
    np.testing.assert_allclose(speed.values, np.hypot(ens.u10.values, ens.v10.values), rtol=1e-6)
    assert speed.dims == ens.u10.dims  # one speed per member, from its own u and v
    lazy = f.chunk(time=2).deepr.downscale(back, members=3, steps=2, progress=False)
    xr.testing.assert_allclose(lazy.compute(), ens, atol=1e-5)  # chunk-invariant


def test_override_changes_the_model_and_its_identity():
    f, l, s = xdeepr.datasets.load_sample(periods=40, variables="tp")
    kw = {**_NO_VALIDATION, "steps": 1}
    sq = xdeepr.train(f, l, s, transforms={"tp": "sqrt"}, **kw)
    ident = xdeepr.train(f, l, s, transforms={"tp": "identity"}, **kw)
    assert sq.transforms["tp"].name == "sqrt" and ident.transforms["tp"].name == "identity"
    assert "transform tp" not in repr(ident)
    assert "transforms" not in ident.to_dict()  # identity for all: nothing written
    assert sq.to_dict()["transforms"]["tp"]["name"] == "sqrt"
    assert sq.identity != xdeepr.train(f, l, s, transforms={"tp": "log1p"}, **kw).identity


def test_station_observations_of_a_transformed_label_are_refused():
    f, l, s = xdeepr.datasets.load_sample(periods=40, variables="tp")
    obs = xdeepr.datasets.load_sample_stations(periods=40).rename(t2m="tp")
    obs["tp"] = obs.tp.clip(min=0.0).assign_attrs(units="kg m-2")
    with pytest.raises(InputError, match=r"station observations of \['tp'\] are not supported"):
        xdeepr.train(f, l, s, observations=obs, steps=1, **_NO_VALIDATION)
