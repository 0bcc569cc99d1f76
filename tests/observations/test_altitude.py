"""Station altitude against the grid's orography: the lapse-rate adjustment (issue 25)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import ConfigError, InputError
from xdeepr.observations.altitude import (
    DEFAULT_LAPSE_RATE,
    adjust,
    altitude_groups,
    check_lapse_rate,
    find_orography,
    fit_lapse_rate,
    is_temperature,
    rate_at,
    station_altitude,
)
from xdeepr.observations.cells import cell_altitude


def _obs(values, altitude, times=("2020-01-15",), attrs=None, **coords):
    values = np.atleast_2d(np.asarray(values, dtype="float64"))
    n = values.shape[1]
    alt = {} if altitude is None else {"altitude": ("station", np.asarray(altitude, "float64"))}
    return xr.Dataset(
        {"t2m": (("time", "station"), values, {"units": "K"} if attrs is None else attrs)},
        coords={
            "time": pd.to_datetime(list(times)),
            "station": [f"S{i}" for i in range(n)],
            "latitude": ("station", np.full(n, 47.5)),
            "longitude": ("station", np.full(n, 9.5)),
            **alt,
            **coords,
        },
    )


def test_a_summit_station_is_moved_down_to_its_cell_and_said_so():
    # 500 m above its cell, 3.25 K colder: at -6.5 K/km it reads the cell's value
    out = adjust(_obs([[276.75]], [1500.0]), np.array([1000.0]), DEFAULT_LAPSE_RATE)
    assert float(out.t2m[0, 0]) == pytest.approx(280.0, abs=1e-9)
    assert float(out.altitude_mismatch[0]) == 500.0
    assert out.attrs["xdeepr_lapse_rate"] == -6.5
    assert "t2m moved to the grid altitude at -6.5 K/km" in out.attrs["xdeepr_altitude_adjustment"]
    # a valley station 400 m below its cell is moved up: colder
    valley = adjust(_obs([[282.6]], [600.0]), np.array([1000.0]), -6.5)
    assert float(valley.t2m[0, 0]) == pytest.approx(280.0, abs=1e-9)


def test_lapse_rate_none_and_missing_inputs_leave_the_values_as_measured():
    obs = _obs([[276.75]], [1500.0])
    for out, why in (
        (adjust(obs, np.array([1000.0]), None), "lapse_rate=None"),
        (adjust(obs, None, -6.5), "no grid orography"),
        (adjust(obs.drop_vars("altitude"), np.array([1000.0]), -6.5), "no station altitude"),
    ):
        xr.testing.assert_identical(
            out.t2m.reset_coords(drop=True), obs.t2m.reset_coords(drop=True)
        )
        assert out.attrs["xdeepr_altitude_adjustment"] == f"none ({why})"
        assert "xdeepr_lapse_rate" not in out.attrs
    # the mismatch is reported whenever both altitudes are known, adjusted or not
    assert float(adjust(obs, np.array([1000.0]), None).altitude_mismatch[0]) == 500.0


@pytest.mark.parametrize(
    ("attrs", "adjusted"),
    [
        ({"standard_name": "air_temperature", "units": "K"}, True),
        ({"standard_name": "dew_point_temperature", "units": "K"}, True),
        ({"units": "degC"}, True),
        ({"standard_name": "eastward_wind", "units": "m s-1"}, False),
        ({"standard_name": "precipitation_amount", "units": "kg m-2"}, False),
        ({"standard_name": "air_potential_temperature", "units": "K"}, False),
        ({}, False),
    ],
)
def test_only_temperature_like_variables_are_adjusted(attrs, adjusted):
    obs = _obs([[5.0]], [1500.0], attrs=attrs)
    out = adjust(obs, np.array([1000.0]), -6.5)
    assert is_temperature(attrs) is adjusted
    assert float(out.t2m[0, 0]) == pytest.approx(5.0 + 3.25 * adjusted)


def test_fahrenheit_moves_by_the_same_temperature_difference():
    out = adjust(_obs([[40.0]], [1500.0], attrs={"units": "degF"}), np.array([1000.0]), -6.5)
    assert float(out.t2m[0, 0]) == pytest.approx(40.0 + 3.25 * 1.8)


def test_a_wind_beside_a_temperature_is_never_adjusted():
    obs = _obs([[276.75]], [1500.0])
    obs["u10"] = obs.t2m.copy(data=[[4.0]]).assign_attrs(units="m s-1")
    out = adjust(obs, np.array([1000.0]), -6.5)
    assert float(out.u10[0, 0]) == 4.0 and float(out.t2m[0, 0]) == pytest.approx(280.0)
    assert out.attrs["xdeepr_altitude_adjustment"].startswith("t2m moved")


def test_per_month_lapse_rates_apply_by_the_month_of_each_time():
    monthly = tuple(-5.0 - 0.2 * m for m in range(12))  # January -5.0 ... July -6.2
    obs = _obs([[270.0], [290.0]], [1500.0], times=("2020-01-15", "2020-07-15"))
    out = adjust(obs, np.array([1000.0]), check_lapse_rate(monthly))
    np.testing.assert_allclose(out.t2m[:, 0], [270.0 + 2.5, 290.0 + 3.1])
    assert out.attrs["xdeepr_lapse_rate"] == list(monthly)
    assert "per month -7.2..-5 K/km" in out.attrs["xdeepr_altitude_adjustment"]
    np.testing.assert_allclose(rate_at(monthly, obs.time.values), [-5.0, -6.2])


def test_fit_recovers_a_known_lapse_rate():
    rng = np.random.default_rng(1)
    mismatch = rng.uniform(-600, 600, 30)  # m, station minus grid
    times = 200
    noise = rng.normal(0, 0.4, (times, 30))
    departure = 0.3 + (-5.2) * mismatch / 1000.0 + noise  # station minus grid, biased 0.3 K
    fit = fit_lapse_rate(departure, mismatch)
    assert fit["rate"] == pytest.approx(-5.2, abs=0.1)
    assert fit["pairs"] == times * 30 and 0 < fit["stderr"] < 0.1
    with pytest.raises(InputError, match="altitude differences spanning 10 m"):
        fit_lapse_rate(departure[:, :2], np.array([0.0, 10.0]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fit", "'fit' is for training"),
        ("steep", "got 'steep'"),
        ((-6.5,) * 11, "got 11 numbers"),
        (-0.0065, "did you give K/m"),
        (float("nan"), "must be finite"),
        (True, "got True"),
    ],
)
def test_bad_lapse_rates_are_refused_with_what_is_allowed(value, message):
    with pytest.raises(ConfigError, match=message):
        check_lapse_rate(value)
    with pytest.raises(ConfigError, match=message):
        xdeepr.SamplingOptions(lapse_rate=value)


def test_sampling_options_carry_the_lapse_rate_and_resolve_the_models(tiny_model):
    assert xdeepr.SamplingOptions().lapse_rate == "model"
    assert xdeepr.SamplingOptions(lapse_rate=-6).lapse_rate == -6.0
    # a model trained without observations: the standard lapse rate
    assert xdeepr.SamplingOptions().resolve(tiny_model).lapse_rate == DEFAULT_LAPSE_RATE
    assert xdeepr.SamplingOptions(lapse_rate=None).resolve(tiny_model).lapse_rate is None


def test_altitude_is_found_by_cf_standard_name_and_converted_from_km():
    obs = _obs([[270.0]], None, z=("station", [1.2], {"standard_name": "surface_altitude"}))
    obs.z.attrs["units"] = "km"
    assert station_altitude(obs).tolist() == [1200.0]
    height = _obs([[270.0]], None, h=("station", [700.0], {"standard_name": "height"}))
    assert station_altitude(height).tolist() == [700.0]
    assert station_altitude(_obs([[270.0]], None)) is None
    with pytest.raises(InputError, match="missing at 1 station"):
        station_altitude(_obs([[270.0]], [np.nan]))


def test_orography_is_found_among_static_fields_and_grouped_by_mismatch():
    _, _, static = xdeepr.datasets.load_sample(periods=1)
    assert find_orography(static).name == "orog"
    obs = xdeepr.datasets.load_sample_stations(periods=1)
    z = cell_altitude(obs, static.orog)
    cell = static.orog.sel(latitude=obs.latitude, longitude=obs.longitude, method="nearest")
    np.testing.assert_array_equal(z, cell.values)
    groups = altitude_groups(obs.altitude.values - z)
    assert sum(len(i) for _, i in groups) == 40 and len(groups) >= 3
    with pytest.raises(ConfigError, match="increasing edges"):
        altitude_groups(np.zeros(2), [100.0, -100.0])


def test_cli_lapse_rate_flag_is_parsed_checked_and_needs_the_stations(tmp_path, capsys):
    from xdeepr.cli._stations import lapse_rate_flag
    from xdeepr.cli.main import main

    assert lapse_rate_flag("-6") == -6.0 and lapse_rate_flag("none") is None
    assert lapse_rate_flag(",".join(["-6.5"] * 12)) == (-6.5,) * 12
    assert lapse_rate_flag("fit", fit=True) == "fit"
    out = str(tmp_path / "out")
    for argv, message in (
        (
            [
                "downscale",
                "in.nc",
                "--model",
                "m.xdeepr",
                "-o",
                out + ".zarr",
                "--lapse-rate",
                "-6",
            ],
            "--lapse-rate acts on --observations",
        ),
        (["evaluate", "p.nc", "t.nc", "--lapse-rate", "none"], "--lapse-rate acts on"),
        (
            [
                "train",
                "f.nc",
                "l.nc",
                "-o",
                out + ".xdeepr",
                "--observations",
                "o.csv",
                "--lapse-rate",
                "-0.0065",
            ],
            "did you give K/m",
        ),
        (
            [
                "downscale",
                "in.nc",
                "--model",
                "m.xdeepr",
                "-o",
                out + ".zarr",
                "--observations",
                "o.csv",
                "--lapse-rate",
                "fit",
            ],
            "'fit' is for training",
        ),
    ):
        assert main(argv) == 2
        assert message in capsys.readouterr().err
