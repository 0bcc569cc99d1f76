"""Inputs named the way climate data names them, and inputs of another time step.

``downscale(..., variables={"tas": "t2m"})`` maps input names to the model's; without
it an unambiguous CF ``standard_name`` match is used; both say so in the output's
history. Input whose time step or time ``cell_methods`` differ from the training
data's (daily means to a 6-hourly model) gets a :class:`TimeStepWarning`.
"""

from __future__ import annotations

import copy
import types
import warnings

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import ConfigError, InputError, TimeStepWarning
from xdeepr.model.inputs import match_variables, median_step, time_method

from ..conftest import TINY

OPTS = {"members": 2, "steps": 2, "sampler": "ddim", "seed": 3, "progress": False}


@pytest.fixture(scope="module")
def coarse(sample_small):
    f, _, _ = sample_small
    return f.isel(time=slice(80, 84))


@pytest.fixture(scope="module")
def reference(coarse, tiny_model):
    return coarse.deepr.downscale(tiny_model, **OPTS)


def _cmip(ds: xr.Dataset, standard_name: bool = True) -> xr.Dataset:
    """`ds` as CMIP names it: ``tas``, with (or without) its standard_name."""
    out = ds.rename({"t2m": "tas"})
    attrs = {"units": "K", "long_name": "Near-Surface Air Temperature"}
    if standard_name:
        attrs["standard_name"] = "air_temperature"
    out["tas"].attrs = attrs
    return out


def test_training_records_feature_attrs_and_time_step(tiny_model, tmp_path):
    rec = tiny_model.inputs
    assert rec["time_step"] == 6 * 3600.0
    assert rec["attrs"]["t2m"]["standard_name"] == "air_temperature"
    assert rec["attrs"]["t2m"]["units"] == "K"
    back = xdeepr.load_model(tiny_model.save(tmp_path / "m.xdeepr"))
    assert back.inputs == rec


def test_tas_matched_by_variables(coarse, reference, tiny_model):
    out = _cmip(coarse, standard_name=False).deepr.downscale(
        tiny_model, variables={"tas": "t2m"}, **OPTS
    )
    np.testing.assert_array_equal(out.t2m.values, reference.t2m.values)
    first = out.attrs["history"].splitlines()[0]
    assert "input 'tas' (variables=) used as the model's 't2m'" in first


def test_tas_matched_by_standard_name(coarse, reference, tiny_model):
    out = _cmip(coarse).deepr.downscale(tiny_model, **OPTS)
    np.testing.assert_array_equal(out.t2m.values, reference.t2m.values)
    assert "'tas' (standard_name air_temperature)" in out.attrs["history"].splitlines()[0]
    assert "'t2m'" in out.attrs["history"].splitlines()[0]
    # no note when the input already uses the model's names
    assert "used as the model's" not in reference.attrs["history"]


def test_lazy_path_renames_like_the_eager_one(coarse, reference, tiny_model):
    lazy = _cmip(coarse).chunk(time=2).deepr.downscale(tiny_model, **OPTS)
    assert lazy.t2m.chunks is not None
    assert "standard_name air_temperature" in lazy.attrs["history"]
    np.testing.assert_allclose(lazy.t2m.values, reference.t2m.values, rtol=0, atol=1e-5)


def test_dataarray_input_of_another_name(coarse, reference, tiny_model):
    da = _cmip(coarse)["tas"]
    out = da.deepr.downscale(tiny_model, variables={"tas": "t2m"}, **OPTS)
    assert isinstance(out, xr.DataArray) and out.name == "tas"
    np.testing.assert_array_equal(out.values, reference.t2m.values)


def test_old_model_without_record_matches_by_label_standard_name(coarse, tiny_model):
    old = copy.copy(tiny_model)
    old.inputs = None  # as loaded from a file written before the record existed
    assert "inputs" not in old.to_dict()
    back = xdeepr.model.DownscalingModel.from_dict(old.to_dict())
    assert back.inputs is None and back.digest == tiny_model.digest
    renamed, used = match_variables(back, _cmip(coarse))
    assert "t2m" in renamed.data_vars and "standard_name" in used["t2m"]


def test_without_standard_name_the_error_names_variables(coarse, tiny_model):
    with pytest.raises(InputError, match=r"\['t2m'\].*\['tas'\].*variables="):
        _cmip(coarse, standard_name=False).deepr.downscale(tiny_model, **OPTS)


@pytest.mark.parametrize(
    ("variables", "match"),
    [
        ({"pr": "t2m"}, r"input variable\(s\) \['pr'\].*lacks.*\['tas', 'tas2'\]"),
        ({"tas": "tas2m"}, r"maps to \['tas2m'\].*does not read.*\['t2m'\]"),
        ({"tas": "t2m", "tas2": "t2m"}, r"maps \['tas', 'tas2'\] all to 't2m'"),
        ("tas", "must map input names"),
    ],
)
def test_variables_is_validated(coarse, tiny_model, variables, match):
    ds = _cmip(coarse)
    ds["tas2"] = ds["tas"] + 1
    with pytest.raises(ConfigError, match=match):
        ds.deepr.downscale(tiny_model, variables=variables, **OPTS)


def test_variables_to_a_name_the_input_has_is_refused(coarse, tiny_model):
    ds = coarse.assign(tas=coarse.t2m + 1)
    with pytest.raises(ConfigError, match=r"'tas' to 't2m'.*also has.*drop_vars"):
        ds.deepr.downscale(tiny_model, variables={"tas": "t2m"}, **OPTS)
    out, _ = match_variables(tiny_model, ds.drop_vars("t2m"), {"tas": "t2m"})
    np.testing.assert_array_equal(out.t2m.values, ds.tas.values)


def test_two_inputs_of_one_standard_name_are_not_guessed(coarse, tiny_model):
    ds = _cmip(coarse)
    ds["tasmax"] = ds["tas"] + 1
    with pytest.raises(InputError, match=r"\['tas', 'tasmax'\].*pass variables="):
        ds.deepr.downscale(tiny_model, **OPTS)
    out, used = match_variables(tiny_model, ds, {"tasmax": "t2m"})
    np.testing.assert_array_equal(out.t2m.values, ds.tasmax.values)
    assert used == {"t2m": "'tasmax' (variables=)"}


def test_two_model_variables_of_one_standard_name_are_not_guessed():
    air = {"standard_name": "air_temperature", "units": "K"}
    model = types.SimpleNamespace(
        features=["t2m", "t850"],
        inputs={"attrs": {"t2m": air, "t850": air}, "time_step": None},
        label_attrs={},
        feature_scaler=types.SimpleNamespace(units={"t2m": "K", "t850": "K"}),
    )
    ds = xr.Dataset(
        {"t2m": ("x", [1.0], air), "ta": ("x", [2.0], {"standard_name": "air_temperature"})}
    )
    with pytest.raises(InputError, match=r"\['ta'\].*\['t2m', 't850'\].*variables="):
        match_variables(model, ds)
    out, _ = match_variables(model, ds, {"ta": "t850"})
    assert set(out.data_vars) == {"t2m", "t850"}


def test_units_that_do_not_convert_are_no_match(coarse, tiny_model):
    ds = _cmip(coarse)
    ds["tas"].attrs["units"] = "m s-1"
    out, used = match_variables(tiny_model, ds)
    assert used == {} and "tas" in out.data_vars
    ds["tas"].attrs["units"] = "degC"  # converts: matched (and converted later)
    assert match_variables(tiny_model, ds)[1] == {"t2m": "'tas' (standard_name air_temperature)"}


def test_daily_means_are_warned(sample_small, tiny_model):
    f, _, _ = sample_small
    daily = _cmip(f.isel(time=slice(64, 96)).resample(time="1D").mean())
    daily["tas"].attrs["cell_methods"] = "area: mean time: mean"
    with pytest.warns(TimeStepWarning) as caught:
        out = daily.deepr.downscale(tiny_model, members=1, steps=1, progress=False)
    msg = str(caught[0].message)
    assert "6 h apart" in msg and "1 day apart" in msg
    assert "t2m: instantaneous" in msg and "'time: mean'" in msg
    assert caught[0].filename == __file__  # at the user's call
    assert out.t2m.sizes["time"] == 8


def test_time_mean_cell_methods_alone_are_warned(coarse, tiny_model):
    ds = coarse.copy()
    ds["t2m"].attrs = {**coarse.t2m.attrs, "cell_methods": "area: mean time: mean"}
    with pytest.warns(TimeStepWarning, match="fields 6 h apart .*'time: mean'"):
        xdeepr.inference.downscale(ds, tiny_model, xdeepr.SamplingOptions(**OPTS))


def test_another_step_alone_is_warned_unless_declared_instantaneous(sample_small, tiny_model):
    f, _, _ = sample_small
    daily = f.isel(time=slice(80, 96, 4))  # 00 UTC only: instantaneous, or daily means?
    with pytest.warns(TimeStepWarning, match="1 day apart.*say so with cell_methods"):
        daily.deepr.downscale(tiny_model, members=1, steps=1, progress=False)
    daily["t2m"].attrs["cell_methods"] = "area: mean time: point"
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimeStepWarning)
        daily.deepr.downscale(tiny_model, members=1, steps=1, progress=False)


def test_training_kind_and_old_models_are_not_warned(sample_small, coarse, tiny_model):
    f, _, _ = sample_small
    daily = f.isel(time=slice(64, 96)).resample(time="1D").mean()
    old = copy.copy(tiny_model)
    old.inputs = None  # unknown: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimeStepWarning)
        coarse.deepr.downscale(tiny_model, **OPTS)
        coarse.isel(time=[0]).deepr.downscale(tiny_model, **OPTS)  # one time: step unknown
        daily.isel(time=slice(0, 2)).deepr.downscale(old, members=1, steps=1, progress=False)


def test_predict_mean_shares_the_matching(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 24)),
        l.isel(time=slice(0, 24)),
        s,
        steps=1,
        mean="regression",
        mean_steps=1,
        **TINY,
    )
    ft = f.isel(time=slice(40, 42))
    mean = ft.deepr.predict_mean(m)
    other = _cmip(ft).deepr.predict_mean(m, variables={"tas": "t2m"})
    np.testing.assert_array_equal(other.t2m.values, mean.t2m.values)
    assert "'tas' (variables=)" in other.attrs["history"]


def test_helpers():
    assert time_method("area: mean time: maximum") == "maximum"
    assert time_method("time: point") == time_method("") == "point"
    noleap = xr.date_range("2001-01-01", periods=3, freq="D", calendar="noleap", use_cftime=True)
    assert median_step(xr.DataArray(noleap)) == 86400.0
    assert median_step(xr.DataArray(noleap[:1])) is None
