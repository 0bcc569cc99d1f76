"""Station observations: table ⇄ CF timeSeries Dataset, validation, the sample's stations."""

from __future__ import annotations

import warnings
from pathlib import Path

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import cftime
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdeepr.datasets import (
    check_observations,
    load_sample,
    load_sample_stations,
    stations_from_table,
    stations_to_table,
)
from xdeepr.errors import InputError

LABEL_LAT = (47.05, 48.0)
LABEL_LON = (9.2, 10.75)


def _table(n_stations: int = 3, n_times: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2020-01-01", periods=n_times, freq="6h")
    rows = []
    for s in range(n_stations):
        lat, lon, alt = 47.1 + 0.8 * rng.random(), 9.3 + 1.4 * rng.random(), 1e3 * rng.random()
        for t in times:
            rows.append((f"S{s}", lat, lon, alt, t, rng.normal(280, 5)))
    return pd.DataFrame(rows, columns=["station", "latitude", "longitude", "alt", "time", "value"])


# --------------------------------------------------------------------------------------
# Table ⇄ Dataset
# --------------------------------------------------------------------------------------


def test_from_table_is_cf_timeseries(tmp_path: Path) -> None:
    table = _table().iloc[1:]  # S0 has no row at the first time
    obs = stations_from_table(table, altitude="alt", units="K", attrs={"long_name": "T2m"})
    assert obs.t2m.dims == ("time", "station")
    assert obs.attrs["featureType"] == "timeSeries"
    assert obs.attrs["Conventions"].startswith("CF-")
    assert obs.station.attrs["cf_role"] == "timeseries_id"
    assert obs.station.values.tolist() == ["S0", "S1", "S2"]
    for name, sn, units, axis in (
        ("latitude", "latitude", "degrees_north", "Y"),
        ("longitude", "longitude", "degrees_east", "X"),
        ("altitude", "altitude", "m", "Z"),
    ):
        assert obs[name].dims == ("station",)
        assert (obs[name].attrs["standard_name"], obs[name].attrs["units"]) == (sn, units)
        assert obs[name].attrs["axis"] == axis
    assert obs.t2m.attrs == {"long_name": "T2m", "units": "K"}
    assert obs.t2m.encoding["coordinates"] == "latitude longitude altitude"
    assert np.isnan(obs.t2m.sel(station="S0").values[0])
    assert np.isfinite(obs.t2m.values.ravel()[1:]).all()
    assert obs.cf["latitude"].name == "latitude"  # cf-xarray finds the station positions
    # Writable as it is, and read back identical (CF "coordinates" written to the file).
    path = tmp_path / "obs.nc"
    obs.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), obs)
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        assert nc["t2m"].coordinates == "latitude longitude altitude"
        assert nc.featureType == "timeSeries"


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    table = _table(n_stations=5, n_times=7).sample(frac=0.8, random_state=1)  # gaps, shuffled
    table["name"] = table["station"].map(lambda s: f"Station {s}")
    obs = stations_from_table(table, altitude="alt", name="name", units="K")
    csv = tmp_path / "obs.csv"
    stations_to_table(obs).to_csv(csv, index=False)
    back = stations_from_table(
        csv, value="t2m", altitude="altitude", name="station_name", units="K"
    )
    xr.testing.assert_identical(back, obs)
    assert back.t2m.encoding["coordinates"] == obs.t2m.encoding["coordinates"]


def test_table_round_trip_without_missing_rows() -> None:
    table = _table(n_stations=3, n_times=5)
    obs = stations_from_table(table, altitude="alt")
    out = stations_to_table(obs, dropna=True)
    expected = table.rename(columns={"alt": "altitude", "value": "t2m"})
    expected = expected[["station", "latitude", "longitude", "altitude", "time", "t2m"]]
    pd.testing.assert_frame_equal(out, expected.reset_index(drop=True), check_dtype=False)


def test_station_ids_stay_text_in_csv(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "station": ["06610", "NA"],
            "latitude": [47.5, 47.6],
            "longitude": [9.5, 9.6],
            "time": ["2020-01-01T06:00", "2020-01-01T06:00"],
            "value": [1.0, np.nan],
        }
    )
    csv = tmp_path / "ids.csv"
    table.to_csv(csv, index=False)
    obs = stations_from_table(csv, variable="tas")
    assert obs.station.values.tolist() == ["06610", "NA"]
    assert np.isnan(obs.tas.sel(station="NA").item())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n_stations=st.integers(1, 6),
    n_times=st.integers(1, 6),
    keep=st.lists(st.booleans(), min_size=36, max_size=36),
    nan=st.lists(st.booleans(), min_size=36, max_size=36),
    cols=st.sampled_from([("station", "lat", "lon"), ("id", "y", "x")]),
)
def test_csv_round_trip_property(tmp_path_factory, n_stations, n_times, keep, nan, cols) -> None:
    rng = np.random.default_rng(n_stations * 10 + n_times)
    times = pd.date_range("1999-12-31T18", periods=n_times, freq="1h")
    lat = rng.uniform(-90, 90, n_stations)
    lon = rng.uniform(-180, 360, n_stations)
    rows = [
        (f"s{s}", lat[s], lon[s], t, np.nan if nan[i] else rng.normal(0, 1e3))
        for i, (s, t) in enumerate((s, t) for s in range(n_stations) for t in times)
        if keep[i] or t == times[0]  # every station keeps at least one row
    ]
    table = pd.DataFrame(rows, columns=[cols[0], cols[1], cols[2], "when", "obs"])
    obs = stations_from_table(
        table, station=cols[0], latitude=cols[1], longitude=cols[2], time="when", value="obs"
    )
    assert obs.sizes["station"] == n_stations
    csv = tmp_path_factory.mktemp("rt") / "obs.csv"
    stations_to_table(obs).to_csv(csv, index=False)
    xr.testing.assert_identical(stations_from_table(csv, value="t2m"), obs)


# --------------------------------------------------------------------------------------
# Bad input: one clear error each
# --------------------------------------------------------------------------------------


def test_missing_column_is_named() -> None:
    with pytest.raises(InputError, match=r"no column 'latitude'.*columns are"):
        stations_from_table(_table().drop(columns="latitude"))


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("latitude", np.nan, r"latitude is missing or not finite at 1 station\(s\): 'S1'"),
        ("longitude", np.inf, r"longitude is missing or not finite at 1 station\(s\): 'S1'"),
        ("latitude", 91.0, r"latitude is outside \[-90, 90\] at 1 station\(s\): 'S1' \(91\)"),
        ("longitude", -200.0, r"longitude is outside \[-180, 360\].*'S1' \(-200\)"),
        ("longitude", 361.0, r"longitude is outside \[-180, 360\].*'S1' \(361\)"),
    ],
)
def test_bad_coordinates_name_the_station(column, value, match) -> None:
    table = _table()
    table.loc[table.station == "S1", column] = value
    with pytest.raises(InputError, match=match):
        stations_from_table(table)
    # The same check on a Dataset.
    obs = stations_from_table(_table())
    obs[column].values[1] = value
    with pytest.raises(InputError, match=match):
        check_observations(obs)


def test_missing_coordinates_in_dataset() -> None:
    obs = stations_from_table(_table()).drop_vars("longitude")
    with pytest.raises(InputError, match=r"no longitude coordinate found"):
        check_observations(obs)


def test_duplicated_id_with_different_positions() -> None:
    table = _table()
    table.loc[(table.station == "S2") & (table.index % 2 == 0), "latitude"] = 47.0
    with pytest.raises(
        InputError, match=r"1 station id\(s\) appear with different 'latitude'.*'S2'"
    ):
        stations_from_table(table)
    # Positions equal within 1e-6° are one station.
    table = _table()
    table.loc[table.station == "S2", "latitude"] += np.linspace(0, 1e-7, 4)
    assert stations_from_table(table).sizes["station"] == 3


def test_conflicting_values_and_repeated_ids() -> None:
    table = _table()
    doubled = pd.concat([table, table.iloc[[0]]])  # an exact repeat is harmless
    xr.testing.assert_identical(stations_from_table(doubled), stations_from_table(table))
    clash = table.iloc[[0]].assign(value=0.0)
    with pytest.raises(InputError, match=r"several different values: 'S0' at 2020-01-01 00:00:00"):
        stations_from_table(pd.concat([table, clash]))
    obs = stations_from_table(table)
    twice = xr.concat([obs, obs.isel(station=[0])], dim="station")
    with pytest.raises(InputError, match=r"appear more than once.*'S0'"):
        check_observations(twice)


def test_time_type_mismatch_names_both() -> None:
    obs = stations_from_table(_table())
    noleap = xr.DataArray([0.0], dims="time", coords={"time": [cftime.DatetimeNoLeap(2020, 1, 1)]})
    with pytest.raises(
        InputError, match=r"numpy datetime64 but the features' times are cftime \(noleap"
    ):
        check_observations(obs, time_like=noleap)
    check_observations(obs, time_like=obs)  # same type: fine
    cf = obs.assign_coords(time=[cftime.Datetime360Day(2020, 1, 1, h) for h in (0, 6, 12, 18)])
    check_observations(cf, time_like=cf.time.values)
    with pytest.raises(InputError, match=r"cftime \(360_day calendar\).*numpy datetime64"):
        check_observations(cf, time_like=obs.time)


def test_cftime_table() -> None:
    table = _table(n_times=2)
    table["time"] = [cftime.Datetime360Day(2020, 2, 30, 6 * (i % 2)) for i in range(len(table))]
    obs = stations_from_table(table)
    assert obs.time.values[0] == cftime.Datetime360Day(2020, 2, 30)


def test_missing_variable_is_named() -> None:
    obs = stations_from_table(_table(), variable="tas")
    with pytest.raises(InputError, match=r"no variable 't2m'; they hold \['tas'\]"):
        check_observations(obs, variables=["t2m"])
    out = check_observations(obs, variables={"t2m": "tas"})
    assert list(out.data_vars) == ["t2m"]
    np.testing.assert_array_equal(out.t2m.values, obs.tas.values)


def test_unreadable_time_and_missing_id() -> None:
    table = _table().astype({"time": str})
    table.loc[2, "time"] = "yesterday"
    with pytest.raises(InputError, match=r"time column 'time' cannot be read as dates"):
        stations_from_table(table)
    table = _table()
    table.loc[5, "station"] = None
    with pytest.raises(InputError, match=r"station id \(column 'station'\) is missing in 1 row"):
        stations_from_table(table)


# --------------------------------------------------------------------------------------
# check_observations: canonical form, domain
# --------------------------------------------------------------------------------------


def test_check_canonicalises_other_names() -> None:
    obs = stations_from_table(_table(), altitude="alt")
    other = obs.rename(
        {"station": "id", "latitude": "lat", "longitude": "lon", "time": "valid_time"}
    ).transpose("id", "valid_time")
    for c in ("lat", "lon"):
        other[c].attrs = {}
    other["valid_time"].attrs = {"standard_name": "time"}
    other = other.isel(valid_time=[3, 1, 0, 2])  # unsorted
    out = check_observations(other)
    xr.testing.assert_identical(out, obs)
    assert other.lat.attrs == {}  # the input is not modified


def test_infinite_values_become_missing() -> None:
    obs = stations_from_table(_table())
    obs.t2m.values[0, 0] = np.inf
    with pytest.warns(UserWarning, match=r"1 infinite value"):
        out = check_observations(obs)
    assert np.isnan(out.t2m.values[0, 0])
    assert np.isinf(obs.t2m.values[0, 0])


def test_stations_outside_the_domain_are_dropped_with_a_count() -> None:
    _, labels, _ = load_sample(periods=1)
    table = pd.DataFrame(
        {
            "station": ["in", "north", "west", "in_360", "east", "corner"],
            "latitude": [47.5, 48.2, 47.5, 47.5, 47.5, 48.0],
            "longitude": [9.5, 9.5, 9.0, 370.0 - 360.0, 11.0, 10.75],
            "time": ["2020-01-01"] * 6,
            "value": [1.0] * 6,
        }
    )
    obs = stations_from_table(table)
    with pytest.warns(
        UserWarning, match=r"3 of 6 stations lie outside the domain.*'north', 'west', 'east'"
    ):
        out = check_observations(obs, domain=labels)
    assert out.station.values.tolist() == ["in", "in_360", "corner"]


@pytest.mark.parametrize(
    ("grid_lon", "station_lon"),
    [
        ([-2.0, -1.0, 0.0, 1.0, 2.0], [358.5, 1.5, 3.0]),  # grid -180..180, stations 0..360
        ([358.0, 359.0, 0.0, 1.0, 2.0], [-1.5, 1.5, -3.0]),  # grid 0..360, stations -180..180
    ],
)
def test_domain_longitude_conventions_mix(grid_lon, station_lon) -> None:
    grid = xr.Dataset(coords={"lat": [1.0, 0.0], "lon": grid_lon})
    table = pd.DataFrame(
        {
            "station": list("abc"),
            "latitude": [0.5] * 3,
            "longitude": station_lon,
            "time": ["2020-01-01"] * 3,
            "value": [1.0] * 3,
        }
    )
    with pytest.warns(UserWarning, match=r"1 of 3 stations.*'c'"):
        out = check_observations(stations_from_table(table), domain=grid)
    assert out.station.values.tolist() == ["a", "b"]


def test_domain_across_the_dateline() -> None:
    grid = xr.Dataset(coords={"lat": [1.0, 0.0], "lon": [178.0, 179.0, 180.0, -179.0, -178.0]})
    table = pd.DataFrame(
        {
            "station": list("abcd"),
            "latitude": [0.5] * 4,
            "longitude": [179.5, -178.5, 181.0, 170.0],
            "time": ["2020-01-01"] * 4,
            "value": [1.0] * 4,
        }
    )
    with pytest.warns(UserWarning, match=r"1 of 4 stations.*'d'"):
        out = check_observations(stations_from_table(table), domain=grid)
    assert out.station.values.tolist() == list("abc")


# --------------------------------------------------------------------------------------
# The sample's stations
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def year() -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    obs = load_sample_stations(periods=1460)
    _, labels, static = load_sample(periods=1460)
    return obs, labels, static


def test_sample_stations_form_and_placement(year) -> None:
    obs, labels, static = year
    assert dict(obs.sizes) == {"time": 1460, "station": 40}
    assert obs.station.values.tolist() == [f"S{i:02d}" for i in range(1, 41)]
    xr.testing.assert_identical(check_observations(obs, time_like=labels, domain=labels), obs)
    assert LABEL_LAT[0] <= obs.latitude.min() and obs.latitude.max() <= LABEL_LAT[1]
    assert LABEL_LON[0] <= obs.longitude.min() and obs.longitude.max() <= LABEL_LON[1]
    at = {"latitude": obs.latitude, "longitude": obs.longitude, "method": "nearest"}
    assert (static.lsm.sel(**at) == 1).all()  # nearest to land points
    node = static.sel(**at)
    off_lat, off_lon = abs(obs.latitude - node.latitude), abs(obs.longitude - node.longitude)
    assert float(off_lat.max()) <= 0.02 + 1e-9 and float(off_lon.max()) <= 0.02 + 1e-9
    assert int(((off_lat > 1e-3) | (off_lon > 1e-3)).sum()) >= 35  # between grid points
    assert len({(float(a), float(b)) for a, b in zip(node.latitude, node.longitude)}) == 40
    # At their own altitude: valley stations below their cell, summit ones above
    dz = obs.altitude - node.orog
    assert float(dz.min()) < -300 and float(dz.max()) > 200 and float(abs(dz).mean()) > 100
    relief = node.orog - static.orog.rolling(latitude=3, longitude=3, center=True).mean()
    relief = relief.sel(**at)
    valley, summit = relief < -30, relief > 30
    assert float(dz.where(valley).mean()) < -50 < 50 < float(dz.where(summit).mean())
    # Denser in valleys: the stations sit lower than the land, and few on summits.
    land = static.orog.values[static.lsm.values == 1]
    assert float(obs.altitude.median()) < np.median(land) - 100
    assert int((obs.altitude > 1000).sum()) < 40 * np.mean(land > 1000)


def _truth_at(obs: xr.Dataset, labels: xr.Dataset) -> xr.DataArray:
    """The truth at each station's position and altitude, as the sample defines it."""
    from xdeepr.datasets._stations import _lapse_rate
    from xdeepr.metrics import at_stations

    _, _, static = load_sample(periods=1)
    z_grid = at_stations(static.orog.astype("float64"), obs.drop_dims("time"))
    bilinear = at_stations(labels.t2m.astype("float64"), obs)
    rate = xr.DataArray(_lapse_rate(obs.time.values), dims="time")
    return bilinear + rate * (obs.altitude - z_grid) / 1000.0


def test_sample_stations_observe_the_truth(year) -> None:
    obs, labels, _ = year
    err = obs.t2m - _truth_at(obs, labels)
    assert abs(float(err.std()) - 0.3) < 0.01
    assert abs(float(err.mean())) < 0.01
    assert abs(float(err.std("time").max()) - 0.3) < 0.05  # every station, not on average
    # the truth's dT/dz over land is the sample's lapse rate gamma(t) and its diurnal part:
    # about -6.5 K/km on average, so the stations' altitude explains their departures
    from xdeepr.metrics import at_stations
    from xdeepr.observations.altitude import fit_lapse_rate

    _, _, static = load_sample(periods=1)
    mismatch = obs.altitude - at_stations(static.orog.astype("float64"), obs.drop_dims("time"))
    departure = obs.t2m - at_stations(labels.t2m.astype("float64"), obs)
    assert fit_lapse_rate(departure.values, mismatch.values)["rate"] == pytest.approx(-6.5, abs=0.1)
    missing = float(obs.t2m.isnull().mean())
    assert 0.02 < missing < 0.04
    assert obs.t2m.isnull().any("time").all()  # gaps everywhere, not in a few stations
    assert obs.t2m.attrs["units"] == "K" and obs.t2m.attrs["standard_name"] == "air_temperature"


def test_sample_stations_are_deterministic_and_window_independent(year) -> None:
    obs, labels, _ = year
    xr.testing.assert_identical(load_sample_stations(periods=1460), obs)
    # A shorter window with the same start is a prefix (as load_sample's truth is).
    short = load_sample_stations(periods=8)
    xr.testing.assert_allclose(short.t2m, obs.t2m.isel(time=slice(8)), rtol=0, atol=1e-4)
    # Another start or frequency: positions equal; error and gaps equal at shared times.
    other = load_sample_stations(start="2020-01-03T12", periods=6, freq="12h")
    for c in ("station", "latitude", "longitude", "altitude"):
        np.testing.assert_array_equal(other[c], obs[c])
    _, other_labels, _ = load_sample(start="2020-01-03T12", periods=6, freq="12h")
    err_other = other.t2m - _truth_at(other, other_labels)
    err = (obs.t2m - _truth_at(obs, labels)).sel(time=other.time)
    np.testing.assert_allclose(err_other, err, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(other.t2m.isnull(), err.isnull())
    # The first n stations of a bigger network are the smaller network.
    big = load_sample_stations(periods=8, n=60)
    xr.testing.assert_identical(big.drop_attrs().isel(station=slice(40)), short.drop_attrs())
    # Another seed, another network.
    assert not np.array_equal(load_sample_stations(periods=1, seed=1).latitude, obs.latitude)


def test_sample_stations_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"n must be an integer from 1 to 597"):
        load_sample_stations(periods=1, n=1000)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer"):
        load_sample_stations(periods=1, seed=-1)


def test_sample_stations_csv_round_trip(tmp_path: Path) -> None:
    obs = load_sample_stations(periods=12)
    csv = tmp_path / "stations.csv"
    stations_to_table(obs, dropna=True).to_csv(csv, index=False)
    back = stations_from_table(
        csv, value="t2m", altitude="altitude", units="K", attrs=obs.t2m.attrs
    )
    xr.testing.assert_identical(back.assign_attrs(obs.attrs), obs)


#: (mean, std, first value, a middle value) of each field, recorded before the stations
#: were added to the sample generator. Compared at 1e-3 (K, m, fraction): a change of the
#: generator moves them by far more, float32 rounding on another machine by far less
#: (a checksum of the bytes was red on machines whose last bit differs).
_STATICS = [
    ("orog", 663.387567615509, 404.8824221075338, 456.5260009765625, 396.57623291015625),
    ("lsm", 0.9328125, 0.25034643964664244, 1.0, 1.0),
    (
        "orog_coarse",
        830.5406720161438,
        571.7446018910265,
        457.18646240234375,
        656.0543212890625,
    ),
    ("lsm_coarse", 0.9923124998342245, 0.05126794678235362, 1.0, 1.0),
]
_SAMPLE_SUMMARY = {
    (("periods", 40),): [
        ("t2m", 269.0159744656086, 5.99546647015788, 267.3897705078125, 278.7044677734375),
        ("t2m", 270.306951803565, 5.690582070800457, 267.13067626953125, 280.102294921875),
        *_STATICS,
    ],
    (("start", "2019-07-01T12"), ("periods", 3), ("freq", "1D")): [
        ("t2m", 290.46231417655946, 4.110863190386085, 292.23992919921875, 289.7112121582031),
        ("t2m", 291.5049857457479, 3.222321142361245, 292.336181640625, 292.93853759765625),
        *_STATICS,
    ],
}


@pytest.mark.parametrize("call", list(_SAMPLE_SUMMARY), ids=["6-hourly", "daily"])
def test_load_sample_unchanged(call) -> None:
    """The sample's fields are those recorded before the stations were added."""
    fields = [(name, ds[name].values) for ds in load_sample(**dict(call)) for name in ds.data_vars]
    assert len(fields) == len(_SAMPLE_SUMMARY[call])
    for (name, values), (want, *summary) in zip(fields, _SAMPLE_SUMMARY[call]):
        assert name == want
        a = np.asarray(values, dtype="float64")
        got = [np.nanmean(a), np.nanstd(a), a.flat[0], a.flat[a.size // 2 + 7]]
        np.testing.assert_allclose(got, summary, rtol=0, atol=1e-3, err_msg=name)


def test_no_warning_for_clean_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_observations(load_sample_stations(periods=2), domain=load_sample(periods=1)[1])
