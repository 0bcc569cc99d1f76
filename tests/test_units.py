"""Units and packing of inputs: convert what converts, refuse the rest by name."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from xdeepr.errors import InputError
from xdeepr.units import canonical_units, check_packed, check_range, convert_units


def _ds(values, units, name="t2m", dtype="float32"):
    return xr.Dataset({name: ("x", np.asarray(values, dtype), {"units": units, "long_name": "T"})})


@pytest.mark.parametrize(
    ("units", "value", "kelvin"),
    [
        ("degC", 0.0, 273.15),
        ("degrees_Celsius", 20.0, 293.15),
        ("°C", -10.0, 263.15),
        ("degF", 32.0, 273.15),
        ("degree_Fahrenheit", 212.0, 373.15),
        ("K", 280.0, 280.0),
        ("kelvin", 280.0, 280.0),
        ("degK", 280.0, 280.0),
    ],
)
def test_temperatures_convert_to_kelvin(units, value, kelvin):
    out = convert_units(_ds([value], units, dtype="float64"), {"t2m": "K"})
    assert out.t2m.values[0] == pytest.approx(kelvin, abs=1e-9)
    assert out.t2m.attrs == {"units": "K", "long_name": "T"}


TEMPERATURE = st.sampled_from(["degC", "degF", "K"])


@given(st.floats(-80, 60), TEMPERATURE, TEMPERATURE)
def test_conversions_round_trip(value, a, b):
    ds = _ds([value + 273.15 if a == "K" else value], a, dtype="float64")
    there = convert_units(ds, {"t2m": b})
    back = convert_units(there, {"t2m": a})
    np.testing.assert_allclose(back.t2m.values, ds.t2m.values, rtol=0, atol=1e-9)


def test_pressure_and_spellings():
    out = convert_units(_ds([1013.25], "hPa", "msl", "float64"), {"msl": "Pa"})
    assert out.msl.values[0] == pytest.approx(101325.0)
    assert canonical_units("millibar") == "hPa"


def test_unconvertible_units_are_refused_by_name():
    with pytest.raises(InputError, match=r"'t2m' is in 'm s-1', but the model was trained on 'K'"):
        convert_units(_ds([1.0], "m s-1"), {"t2m": "K"}, what="input")
    with pytest.raises(InputError, match="cannot convert"):
        convert_units(_ds([1.0], "hPa"), {"t2m": "K"})


def test_missing_units_attribute_and_unknown_variables_pass():
    ds = xr.Dataset({"t2m": ("x", np.array([280.0]))})
    xr.testing.assert_identical(convert_units(ds, {"t2m": "K", "msl": "Pa"}), ds)


def test_packed_data_is_refused_with_how_to_decode():
    attrs = {"scale_factor": 0.002, "add_offset": 275.0}
    raw = xr.Dataset({"t2m": ("x", np.array([-3902, 2219], "int16"), attrs)})
    with pytest.raises(InputError, match=r"'t2m' is still packed \(int16 values with scale_factor"):
        check_packed(raw)
    with pytest.raises(InputError, match="decode_cf"):
        convert_units(raw, {"t2m": "K"})


def test_range_check_names_variable_and_range():
    stats = {"t2m": (280.0, 8.0)}
    check_range(_ds([250.0, 310.0], "K"), stats)
    with pytest.raises(InputError, match=r"'t2m' ranges over \[-3902, 2219\].*\[200, 360\]"):
        check_range(_ds([-3902.0, 2219.0], "K"), stats)
    with pytest.raises(InputError, match="more than 10 training standard deviations"):
        check_range(_ds([-5.8, 10.0], "K").chunk(), stats)  # °C labelled K, lazy
