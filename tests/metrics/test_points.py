"""Skill at points: bilinear interpolation to stations, time matching, score_at, groupby."""

from __future__ import annotations

import warnings

import cftime
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import metrics
from xdeepr.errors import ConfigError, InputError

TIMES = np.array(["2020-01-01T00", "2020-01-01T06", "2020-04-01T12", "2020-07-01T18"], "M8[ns]")


def stations(lat, lon, ids=None, times=None, values=None) -> xr.Dataset:
    """Observations in the CF timeSeries form (positions only when `times` is None)."""
    ids = ids if ids is not None else [f"S{i}" for i in range(len(lat))]
    coords = {
        "station": ids,
        "latitude": ("station", np.asarray(lat, float)),
        "longitude": ("station", np.asarray(lon, float)),
    }
    if times is None:
        return xr.Dataset(coords=coords)
    coords["time"] = times
    if values is None:
        values = np.zeros((len(times), len(ids)))
    return xr.Dataset({"t2m": (("time", "station"), values, {"units": "K"})}, coords=coords)


def field(lat, lon, fn, times=TIMES, members=0) -> xr.DataArray:
    """fn(lat, lon) on a grid, repeated over times (and members)."""
    data = fn(*np.meshgrid(lat, lon, indexing="ij"))
    da = xr.DataArray(
        np.broadcast_to(data, (len(times), *data.shape)).copy(),
        dims=("time", "lat", "lon"),
        coords={"time": times, "lat": lat, "lon": lon},
        name="t2m",
        attrs={"units": "K"},
    )
    if members:
        da = da + xr.DataArray(np.arange(members, dtype=float), dims="member")
        da.attrs["units"] = "K"
    return da


# --------------------------------------------------------------------------- at_stations


@settings(max_examples=60, deadline=None)
@given(
    lat0=st.floats(-60, 60),
    dlat=st.floats(0.05, 1.0),
    ny=st.integers(2, 7),
    lon0=st.floats(-180, 359),
    dlon=st.floats(0.05, 1.0),
    nx=st.integers(2, 7),
    flip_lat=st.booleans(),
    flip_lon=st.booleans(),
    other_convention=st.booleans(),
    fractions=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=6),
)
def test_bilinear_is_exact_for_linear_fields(
    lat0, dlat, ny, lon0, dlon, nx, flip_lat, flip_lon, other_convention, fractions
):
    lat = lat0 + dlat * np.arange(ny)
    lon_east = lon0 + dlon * np.arange(nx)  # increasing eastwards, possibly past 180 or 360
    lon = (lon_east + 180.0) % 360.0 - 180.0 if lon0 < 0 else lon_east % 360.0
    if flip_lat:
        lat = lat[::-1]
    if flip_lon:
        lon, lon_east = lon[::-1], lon_east[::-1]
    a, b, c = 0.7, -1.3, 280.0
    da = xr.DataArray(
        c + a * lat[:, None] + b * lon_east[None, :],
        dims=("lat", "lon"),
        coords={"lat": lat, "lon": lon},
    )
    fy = np.array([f[0] for f in fractions])
    fx = np.array([f[1] for f in fractions])
    s_lat = lat.min() + fy * (lat.max() - lat.min())
    s_east = lon_east.min() + fx * (lon_east.max() - lon_east.min())
    s_lon = s_east % 360.0 if other_convention else (s_east + 180.0) % 360.0 - 180.0
    out = metrics.at_stations(da, stations(s_lat, s_lon))
    np.testing.assert_allclose(out.values, c + a * s_lat + b * s_east, rtol=0, atol=1e-8)
    assert out.dims == ("station",)
    np.testing.assert_array_equal(out["longitude"].values, s_lon)  # the stations' own values


def test_ensemble_keeps_members_and_is_lazy():
    lat, lon = np.array([48.0, 47.5, 47.0]), np.array([9.0, 9.5, 10.0])
    ens = field(lat, lon, lambda y, x: 10 * y + x, members=3)
    obs = stations([47.25, 47.9], [9.1, 9.75], times=TIMES[:3])
    eager = metrics.at_stations(ens, obs)
    lazy = metrics.at_stations(ens.chunk({"time": 1, "member": 1}), obs)
    assert lazy.chunks is not None  # nothing computed yet
    assert set(eager.dims) == {"member", "time", "station"}
    xr.testing.assert_allclose(lazy.compute(), eager)
    assert eager.attrs["units"] == "K"
    np.testing.assert_allclose(eager.isel(time=0, member=2).values, [481.6 + 2, 488.75 + 2])
    np.testing.assert_array_equal(eager["time"].values, TIMES[:3])  # the stations' times


def test_global_grid_wraps_around():
    lon = np.arange(0.0, 360.0, 10.0)
    da = xr.DataArray(
        np.tile(np.cos(np.deg2rad(lon)), (2, 1)),
        dims=("lat", "lon"),
        coords={"lat": [0.0, 10.0], "lon": lon},
    )
    out = metrics.at_stations(da, stations([5.0], [-5.0]))  # between 350° and 0°
    np.testing.assert_allclose(out.values, [(np.cos(np.deg2rad(350)) + 1.0) / 2])


def test_nan_grid_point_only_spoils_stations_that_weigh_on_it():
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    da = xr.DataArray(
        [[1.0, np.nan], [3.0, 4.0]], dims=("lat", "lon"), coords={"lat": lat, "lon": lon}
    )
    out = metrics.at_stations(da, stations([47.0, 47.5, 48.0], [9.0, 9.5, 9.0]))
    np.testing.assert_allclose(out.values, [3.0, np.nan, 1.0])


def test_stations_outside_the_grid():
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    da = xr.DataArray(np.ones((2, 2)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    where = stations([47.5, 49.0, 47.5], [9.5, 9.5, 10.5], ids=["in", "north", "east"])
    with pytest.warns(UserWarning, match="2 of 3 stations lie outside.*north, east"):
        out = metrics.at_stations(da, where)
    np.testing.assert_array_equal(out.values, [1.0, np.nan, np.nan])
    with pytest.warns(UserWarning, match="dropped"):
        out = metrics.at_stations(da, where, outside="drop")
    assert out.station.values.tolist() == ["in"]
    with pytest.raises(InputError, match="north"):
        metrics.at_stations(da, where, outside="raise")
    with pytest.raises(ConfigError, match="outside"):
        metrics.at_stations(da, where, outside="clip")


def test_time_matching_exact_and_with_tolerance():
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    da = field(lat, lon, lambda y, x: y + x)
    offset = TIMES[:2] + np.timedelta64(20, "m")
    obs = stations([47.5], [9.5], times=np.concatenate([TIMES[:1], offset]))
    exact = metrics.at_stations(da, obs)
    assert exact.sizes["time"] == 1
    near = metrics.at_stations(da, obs, time_tolerance="30min")
    np.testing.assert_array_equal(near["time"].values, obs["time"].values)
    with pytest.raises(InputError, match="no station time matches"):
        metrics.at_stations(da, stations([47.5], [9.5], times=offset), time_tolerance="10min")


def test_time_matching_cftime_and_type_mismatch():
    times = np.array([cftime.Datetime360Day(2000, 2, 30, h) for h in (0, 6, 12)])
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    da = field(lat, lon, lambda y, x: y + x, times=times)
    later = np.array(
        [
            t + (cftime.Datetime360Day(2000, 1, 1, 0, 15) - cftime.Datetime360Day(2000, 1, 1))
            for t in times[:2]
        ]
    )
    obs = stations([47.5], [9.5], times=later)
    assert metrics.at_stations(da, obs, time_tolerance="20min").sizes["time"] == 2
    with pytest.raises(InputError, match="cftime"):
        metrics.at_stations(field(lat, lon, lambda y, x: y + x), obs)


def test_bad_station_input():
    da = field(np.array([48.0, 47.0]), np.array([9.0, 10.0]), lambda y, x: y)
    with pytest.raises(InputError, match=r"latitude is missing or not finite at 1 station"):
        metrics.at_stations(da, stations([np.nan], [9.5]))
    with pytest.raises(InputError, match="latitude"):
        metrics.at_stations(da, xr.Dataset(coords={"station": ["A"]}))
    with pytest.raises(InputError, match="neither on a grid"):
        metrics.at_stations(xr.DataArray([1.0], dims="x"), stations([47.5], [9.5]))


# --------------------------------------------------------------------------- score_at


@pytest.fixture
def small_case():
    """Two stations on grid points, two times, a two-member ensemble; values by hand."""
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    times = TIMES[:2]
    truth = field(lat, lon, lambda y, x: 0.0 * y, times=times)  # zeros
    # station A at (48, 9), B at (47, 10); members at A: [0, 2], at B: [1, 3] (+ time)
    ens = truth + xr.DataArray([0.0, 2.0], dims="member")
    ens = ens + xr.DataArray(
        [[0.0, 0.0], [0.0, 1.0]], dims=("lat", "lon"), coords={"lat": lat, "lon": lon}
    )
    ens = ens + xr.DataArray([0.0, 1.0], dims="time", coords={"time": times})
    ens = ens.rename("t2m").assign_attrs(units="K")
    obs = stations([48.0, 47.0], [9.0, 10.0], ["A", "B"], times, [[1.0, 0.0], [1.0, np.nan]])
    return obs, ens, truth.rename("t2m")


def crps_two(y, x1, x2):
    return (abs(x1 - y) + abs(x2 - y)) / 2 - abs(x1 - x2) / 4


def test_score_at_equals_hand_computed_values(small_case):
    obs, ens, zero = small_case
    # cases (station, time): A0 obs 1 members (0, 2); B0 obs 0 members (1, 3);
    # A1 obs 1 members (1, 3); B1 missing.
    crps = [crps_two(1, 0, 2), crps_two(0, 1, 3), crps_two(1, 1, 3)]
    err = [1 - 1, 2 - 0, 2 - 1]  # ensemble mean - observation
    var = [2.0, 2.0, 2.0]  # variance (ddof=1) of two members 2 apart
    s = metrics.score_at(obs, ens, {"zero": zero})
    t = s.t2m.sel(model="xdeepr")
    assert float(t.sel(metric="crps")) == pytest.approx(np.mean(crps))
    assert float(t.sel(metric="rmse")) == pytest.approx(np.sqrt(np.mean(np.square(err))))
    assert float(t.sel(metric="mean_error")) == pytest.approx(np.mean(err))
    ratio = np.sqrt(1.5 * np.mean(var)) / np.sqrt(np.mean(np.square(err)))
    assert float(t.sel(metric="spread_skill")) == pytest.approx(ratio)
    z = s.t2m.sel(model="zero")
    assert float(z.sel(metric="mean_error")) == pytest.approx(-2 / 3)
    assert float(z.sel(metric="crps")) == pytest.approx(2 / 3)  # MAE of a deterministic one
    assert "spectral_ratio" not in s.metric.values
    assert s.t2m.attrs["units"] == "K"

    sigma = 0.5  # stations of 0.5 K error: the spread-skill ratio allows for it
    aware = metrics.score_at(obs, ens, {"zero": zero}, observation_error=sigma).t2m
    ratio = np.sqrt(1.5 * np.mean(var) + sigma**2) / np.sqrt(np.mean(np.square(err)))
    assert float(aware.sel(model="xdeepr", metric="spread_skill")) == pytest.approx(ratio)
    xr.testing.assert_equal(aware.sel(metric="crps"), s.t2m.sel(metric="crps"))

    per = metrics.score_at(obs, ens, {"zero": zero}, dim="time").t2m.sel(model="xdeepr")
    assert per.dims == ("metric", "station")
    np.testing.assert_allclose(per.sel(metric="crps").values, [np.mean(crps[::2]), crps[1]])
    np.testing.assert_allclose(per.sel(metric="mean_error").values, [0.5, 2.0])
    assert per["latitude"].values.tolist() == [48.0, 47.0]  # positions kept for maps


def test_score_at_drops_outside_stations_once(small_case):
    obs, ens, zero = small_case
    far = xr.concat(
        [obs, stations([60.0], [9.0], ["far"], obs.time.values, [[1.0], [1.0]])], "station"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = metrics.score_at(far, ens, {"zero": zero}, dim="time")
    assert s.station.values.tolist() == ["A", "B"]
    assert len([w for w in caught if "outside" in str(w.message)]) == 1


def test_score_at_bad_input(small_case):
    obs, ens, _ = small_case
    with pytest.raises(InputError, match="lacks the variable"):
        metrics.score_at(obs, ens.to_dataset(name="tp"))
    with pytest.raises(InputError, match="no variable"):
        metrics.score_at(obs, ens, variables="tp")
    with pytest.raises(ConfigError, match="groupby"):
        metrics.score_at(obs, ens, groupby="week")
    with pytest.raises(InputError, match="dim must include"):
        metrics.score_at(obs, ens, dim="station", groupby="hour")
    cf = obs.assign_coords(time=[cftime.Datetime360Day(2020, 1, 1, h) for h in (0, 6)])
    with pytest.raises(InputError, match="cftime"):
        metrics.score_at(cf, ens)


def test_accessor_score_at_uses_the_bicubic_baseline():
    features, labels, _ = xdeepr.datasets.load_sample(periods=8)
    obs = xdeepr.datasets.load_sample_stations(periods=8)
    ens = xr.concat([labels + d for d in (-0.3, 0.0, 0.3)], "member")
    s = ens.deepr.score_at(obs, features=features)
    assert s.model.values.tolist() == ["xdeepr", "bicubic"]
    bic = metrics.at_stations(features.t2m.deepr.interpolate(labels), obs)
    expected = metrics.mean_error(obs.t2m, bic)
    assert float(s.t2m.sel(metric="mean_error", model="bicubic")) == pytest.approx(float(expected))
    from_array = ens.t2m.deepr.score_at(obs, baseline=None)
    xr.testing.assert_allclose(from_array.t2m, s.t2m.sel(model=["xdeepr"]))
    aware = ens.deepr.score_at(obs, features=features, observation_error=0.3)
    ssr = aware.t2m.sel(metric="spread_skill", model="xdeepr")
    assert float(ssr) > float(s.t2m.sel(metric="spread_skill", model="xdeepr"))
    # issue 19: without features the default baseline is skipped, and the result says so
    alone = ens.deepr.score_at(obs)
    assert alone.model.values.tolist() == ["xdeepr"]
    xr.testing.assert_allclose(alone.t2m, s.t2m.sel(model=["xdeepr"]))
    assert alone.attrs[metrics.SKIPPED_BASELINES] == "bicubic: needs the coarse input (features=)"
    assert "skipped baselines: bicubic: needs the coarse input" in metrics.format_table(alone)
    assert metrics.SKIPPED_BASELINES not in s.attrs


# --------------------------------------------------------------------------- groupby


def _grid(times) -> tuple[xr.DataArray, xr.DataArray]:
    rng = np.random.default_rng(0)
    lat, lon = 48.0 - 0.05 * np.arange(4), 9.0 + 0.05 * np.arange(4)
    truth = field(lat, lon, lambda y, x: y + x, times=times)
    truth = truth + rng.normal(size=truth.shape)
    ens = truth + xr.DataArray(rng.normal(size=(4, *truth.shape)), dims=("member", *truth.dims))
    return truth.rename("t2m"), ens.rename("t2m")


CF_TIMES = np.array(
    [cftime.Datetime360Day(2000, m, 30, h) for m, h in ((12, 0), (1, 6), (2, 6), (6, 12), (9, 18))]
)
NP_TIMES = np.array(
    ["2000-12-31T00", "2001-01-15T06", "2001-02-28T06", "2001-06-30T12", "2001-09-30T18"],
    dtype="M8[ns]",
)


@pytest.mark.parametrize("times", [NP_TIMES, CF_TIMES], ids=["datetime64", "360_day"])
@pytest.mark.parametrize(
    ("groupby", "expected"),
    [
        ("season", {"DJF": [0, 1, 2], "JJA": [3], "SON": [4]}),
        ("month", {1: [1], 2: [2], 6: [3], 9: [4], 12: [0]}),
        ("hour", {0: [0], 6: [1, 2], 12: [3], 18: [4]}),
    ],
)
def test_score_groupby_equals_scores_of_each_group(times, groupby, expected):
    truth, ens = _grid(times)
    grouped = metrics.score(truth, ens, {"mean": ens.mean("member")}, groupby=groupby)
    assert grouped[groupby].values.tolist() == list(expected)
    assert grouped.t2m.dims == ("metric", "model", groupby)
    assert grouped.attrs["groupby"] == groupby
    for key, where in expected.items():
        alone = metrics.score(
            truth.isel(time=where),
            ens.isel(time=where),
            {"mean": ens.mean("member").isel(time=where)},
        )
        xr.testing.assert_allclose(grouped.t2m.sel({groupby: key}, drop=True), alone.t2m)


@pytest.mark.parametrize("times", [NP_TIMES, CF_TIMES], ids=["datetime64", "360_day"])
def test_score_at_groupby_season(times):
    truth, ens = _grid(times)
    obs = stations([47.87, 47.93], [9.02, 9.11], times=times)
    obs["t2m"] = metrics.at_stations(truth, obs) + 0.1
    s = metrics.score_at(obs, ens, groupby="season", dim="time")
    assert s.t2m.dims == ("metric", "model", "season", "station")
    assert s.season.values.tolist() == ["DJF", "JJA", "SON"]
    djf = metrics.score_at(obs.isel(time=[0, 1, 2]), ens, dim="time")
    xr.testing.assert_allclose(s.t2m.sel(season="DJF", drop=True), djf.t2m)


def test_group_labels():
    assert metrics.group_labels(CF_TIMES, "season").values.tolist() == [
        "DJF",
        "DJF",
        "DJF",
        "JJA",
        "SON",
    ]
    with pytest.raises(InputError, match="dates"):
        metrics.group_labels(np.arange(3.0), "month")
    with pytest.raises(ConfigError, match="groupby"):
        metrics.group_labels(NP_TIMES, "weekday")


def test_importing_metrics_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, xdeepr.metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
