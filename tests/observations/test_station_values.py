"""Issue 24, the station items: units, observations used, stations outside, time formats."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import InputError
from xdeepr.metrics import score_at
from xdeepr.observations import check_observations, match_times, stations_from_table

TIMES = pd.date_range("2020-01-01", periods=4, freq="6h")
LAT = np.round(np.arange(48.0, 46.99, -0.05), 2)
LON = np.round(np.arange(9.2, 10.21, 0.05), 2)
KELVIN = 273.15


def _obs(values=None, times=TIMES, lat=(47.5, 47.2), lon=(9.5, 9.9), units=None):
    values = np.full((len(times), len(lat)), 270.0) if values is None else np.asarray(values)
    attrs = {} if units is None else {"units": units}
    return xr.Dataset(
        {"t2m": (("time", "station"), values.astype("float64"), attrs)},
        coords={
            "time": times,
            "station": [f"S{i}" for i in range(len(lat))],
            "latitude": ("station", np.asarray(lat, dtype="float64")),
            "longitude": ("station", np.asarray(lon, dtype="float64")),
        },
    )


def _ensemble(mean=270.0, spread=1.0, members=4, seed=0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    shape = (members, TIMES.size, LAT.size, LON.size)
    values = mean + spread * rng.standard_normal(shape)
    return xr.Dataset(
        {"t2m": (("member", "time", "lat", "lon"), values, {"units": "K"})},
        coords={"time": TIMES, "lat": LAT, "lon": LON},
    )


# ------------------------------------------------------------------ units
def test_score_at_converts_celsius_observations_to_the_forecasts_kelvin():
    ens = _ensemble()
    kelvin = _obs(np.full((4, 2), 270.5), units="K")
    celsius = _obs(np.full((4, 2), 270.5 - KELVIN), units="degC")
    ref = score_at(kelvin, ens).t2m.sel(model="xdeepr", metric="rmse")
    got = score_at(celsius, ens).t2m.sel(model="xdeepr", metric="rmse")
    assert float(ref) < 2.0  # not 273 K (main took the °C values as kelvin)
    np.testing.assert_allclose(float(got), float(ref), rtol=0, atol=1e-9)


def test_score_at_refuses_celsius_values_without_units():
    bare = _obs(np.full((4, 2), -2.5))
    with pytest.raises(InputError, match=r"no 'units' attribute.*units'\] = 'degC'") as err:
        score_at(bare, _ensemble())
    assert "t2m" in str(err.value) and "-2.5" in str(err.value)  # names the variable, range


def test_lazy_forecasts_are_checked_against_the_air_s_range_without_computing():
    lazy = _ensemble().chunk({"time": 1})
    with pytest.raises(InputError, match=r"no 'units' attribute.*allowed \[150, 350\]"):
        score_at(_obs(np.full((4, 2), -2.5)), lazy)
    kelvin = score_at(_obs(np.full((4, 2), 270.5), units="K"), lazy)
    celsius = score_at(_obs(np.full((4, 2), 270.5 - KELVIN), units="degC"), lazy)
    xr.testing.assert_allclose(celsius.t2m, kelvin.t2m, rtol=0, atol=1e-9)


def test_score_at_refuses_units_that_cannot_be_converted():
    with pytest.raises(InputError, match=r"'t2m' is in 'm s-1'.*'K'"):
        score_at(_obs(units="m s-1"), _ensemble())


def test_table_units_and_units_column_are_carried(tmp_path: Path):
    table = xdeepr.datasets.stations_to_table(_obs(np.full((4, 2), -3.0)))
    assert stations_from_table(table, value="t2m", units="degC").t2m.attrs["units"] == "degC"
    table["units"] = "degC"
    table.to_csv(tmp_path / "c.csv", index=False)
    obs = stations_from_table(tmp_path / "c.csv", value="t2m")
    assert obs.t2m.attrs["units"] == "degC"
    rmse = score_at(obs, _ensemble(mean=KELVIN - 3.0)).t2m.sel(model="xdeepr", metric="rmse")
    assert float(rmse) < 2.0
    with pytest.raises(InputError, match=r"units='K' contradicts .*'units' \('degC'\)"):
        stations_from_table(tmp_path / "c.csv", value="t2m", units="K")
    table.loc[0, "units"] = "K"
    with pytest.raises(InputError, match=r"several units \('K', 'degC'\)"):
        stations_from_table(table, value="t2m")


# ------------------------------------------------------------------ observations used
def test_no_time_in_common_is_refused_naming_both_ranges_and_the_tolerance():
    obs = check_observations(_obs(times=TIMES + pd.Timedelta("3h")))
    with pytest.raises(InputError) as err:
        match_times(obs, TIMES)
    msg = str(err.value)
    assert "none of the 8 observation values matches a time of the input exactly" in msg
    assert "2020-01-01 00:00:00 to 2020-01-01 18:00:00 (4 steps)" in msg  # the input
    assert "2020-01-01 03:00:00 to 2020-01-01 21:00:00 (4 steps)" in msg  # the stations
    assert "observation_tolerance" in msg
    assert match_times(obs, TIMES, "3h", few=0).attrs["observations_used"] == 8
    empty = check_observations(_obs(np.full((4, 2), np.nan)))
    with pytest.raises(InputError, match="hold no value"):
        match_times(empty, TIMES)


def test_few_observations_used_get_a_warning_with_the_count():
    values = np.full((4, 2), np.nan)
    values[0, 0] = values[2, 1] = 270.0
    with pytest.warns(UserWarning, match=r"only 2 station observation value\(s\).*2 of 4 times"):
        out = match_times(check_observations(_obs(values)), TIMES)
    assert out.attrs["observations_used"] == 2
    many = match_times(check_observations(_obs(times=TIMES)), TIMES, few=8)
    assert many.attrs["observations_used"] == 8


def test_score_at_records_the_observations_used():
    values = np.full((4, 2), 270.0)
    values[1, 1] = np.nan
    out = score_at(_obs(values, units="K"), _ensemble())
    assert out.attrs["observations_used"] == 7


def test_a_header_only_csv_is_refused_naming_the_file(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("station,latitude,longitude,time,value\n")
    with pytest.raises(InputError, match=r"station file '.*empty\.csv' has no row"):
        stations_from_table(path)


# ------------------------------------------------------------------ stations outside
def test_every_station_outside_the_domain_is_refused_naming_both_extents():
    grid = xr.Dataset(coords={"lat": LAT, "lon": LON})
    far = _obs(lat=(52.0, 53.5), lon=(20.0, 21.0))
    with pytest.raises(InputError) as err:
        check_observations(far, domain=grid)
    msg = str(err.value)
    assert "all 2 stations lie outside the domain (lat 47..48, lon 9.2..10.2)" in msg
    assert "stations span lat 52..53.5, lon 20..21" in msg
    with pytest.raises(InputError, match=r"all 2 stations lie outside the field's grid"):
        score_at(far, _ensemble())


# ------------------------------------------------------------------ time stamps
def _table(times):
    return pd.DataFrame(
        {
            "station": ["A"] * len(times),
            "latitude": 47.5,
            "longitude": 9.5,
            "time": times,
            "value": 270.0,
        }
    )


def test_day_month_order_must_be_stated():
    with pytest.raises(InputError, match=r"'01/02/2020 00:00'.*time_format='%d/%m/%Y %H:%M'"):
        stations_from_table(_table(["01/02/2020 00:00"]))
    with pytest.raises(InputError, match="read day first"):
        stations_from_table(_table(["01/02/2020 00:00", "13/02/2020 00:00"]))
    day_first = stations_from_table(_table(["01/02/2020 00:00"]), time_format="%d/%m/%Y %H:%M")
    assert day_first.time.values.tolist() == [np.datetime64("2020-02-01", "ns").astype(int)]
    iso = stations_from_table(_table(["2020-02-01T01:00+01:00", "2020-02-01 07:00+0100"]))
    assert iso.time.values.astype("datetime64[h]").astype(str).tolist() == [
        "2020-02-01T00",
        "2020-02-01T06",
    ]
    with pytest.raises(InputError, match=r"with time_format='%Y'"):
        stations_from_table(_table(["01/02/2020 00:00"]), time_format="%Y")


def test_mixed_time_zones_are_named_with_two_examples():
    times = ["2020-01-01T00:00+01:00", "2020-01-01T06:00+01:00", "2020-01-01T12:00Z"]
    with pytest.raises(InputError) as err:
        stations_from_table(_table(times))
    msg = str(err.value)
    assert "mixes time zones: '2020-01-01T00:00+01:00' (+01:00) and '2020-01-01T12:00Z'" in msg
    assert "UTC" in msg and "utc=True in to_datetime" not in msg
    with pytest.raises(InputError, match=r"'2020-01-01T06:00' \(no zone\)"):
        stations_from_table(_table(["2020-01-01T00:00Z", "2020-01-01T06:00"]))


def test_no_warning_for_clean_stations():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = score_at(_obs(units="K"), _ensemble())
    assert out.attrs["observations_used"] == 8
