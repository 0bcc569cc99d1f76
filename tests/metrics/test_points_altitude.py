"""score_at with station altitude: the lapse-rate adjustment and the mismatch (issue 25).

Sign convention: ``mean_error`` (the bias) is forecast minus observation, so a station
500 m above its cell that reads 3.25 K colder than the truth there gives +3.25 K
unadjusted, and 0 once moved to the cell's altitude at -6.5 K/km.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import InputError
from xdeepr.metrics import score_at

LAT, LON = np.array([48.0, 47.95, 47.9]), np.array([9.2, 9.25, 9.3])
TIME = np.array(["2020-01-15", "2020-04-15", "2020-07-15"], dtype="datetime64[ns]")
T2M = {"standard_name": "air_temperature", "units": "K"}


def _grid(values, name="t2m", attrs=None):
    return xr.DataArray(
        values,
        dims=("time", "lat", "lon")[-np.ndim(values) :],
        coords={"time": TIME, "lat": LAT, "lon": LON}
        if np.ndim(values) == 3
        else {"lat": LAT, "lon": LON},
        name=name,
        attrs=attrs or {},
    )


@pytest.fixture()
def case():
    """Truth on a grid whose orography is 1000 m; an ensemble centred on it; two stations.

    ``top`` stands 500 m above its cell (between grid points), ``low`` 400 m below
    another; both read the truth there moved along -6.5 K/km, plus nothing else.
    """
    rng = np.random.default_rng(0)
    truth = _grid(280 + rng.normal(0, 2, (3, 3, 3)), attrs=T2M)
    orog = _grid(np.full((3, 3), 1000.0), "orog", {"standard_name": "surface_altitude"})
    ens = (truth + xr.DataArray([-0.3, 0.0, 0.3], dims="member")).assign_attrs(T2M)
    ens = ens.rename("t2m")
    where = {"top": (47.94, 9.26, 1500.0), "low": (47.99, 9.21, 600.0)}
    at = xdeepr.metrics.at_stations(truth, _stations(where, np.zeros((3, 2))))
    dz = np.array([z for *_, z in where.values()]) - 1000.0
    values = at.transpose("time", "station").values - 0.0065 * dz  # colder aloft
    return _stations(where, values), ens.to_dataset(), orog


def _stations(where, values):
    lat, lon, alt = (np.array(v) for v in zip(*where.values()))
    return xr.Dataset(
        {"t2m": (("time", "station"), values, {"units": "K"})},
        coords={
            "time": TIME,
            "station": list(where),
            "latitude": ("station", lat),
            "longitude": ("station", lon),
            "altitude": ("station", alt),
        },
    )


def _bias(scores, station=None):
    b = scores.t2m.sel(metric="mean_error", model="xdeepr")
    return float(b if station is None else b.sel(station=station))


def test_a_summit_station_scores_no_bias_with_the_adjustment_and_3_25_k_without(case):
    obs, ens, orog = case
    adjusted = score_at(obs, ens, orography=orog, dim="time")
    raw = score_at(obs, ens, orography=orog, dim="time", lapse_rate=None)
    assert abs(_bias(adjusted, "top")) < 0.1
    assert _bias(raw, "top") == pytest.approx(3.25, abs=0.1)  # forecast - obs: obs colder
    assert _bias(raw, "low") == pytest.approx(-2.6, abs=0.1)  # a valley station: warmer
    assert abs(_bias(adjusted, "low")) < 0.1
    # the mismatch per station, and what was applied, are reported
    np.testing.assert_allclose(adjusted.altitude_mismatch.sel(station=["top", "low"]), [500, -400])
    assert adjusted.attrs["xdeepr_lapse_rate"] == -6.5
    assert adjusted.attrs["xdeepr_altitude_adjustment"].startswith(
        "t2m moved to the grid altitude at -6.5 K/km (2 stations"
    )
    assert raw.attrs["xdeepr_altitude_adjustment"] == "none (lapse_rate=None)"
    assert "xdeepr_lapse_rate" not in raw.attrs


def test_the_orography_is_found_in_the_forecasts_or_a_model(case, tiny_model):
    obs, ens, orog = case
    assert abs(_bias(score_at(obs, ens.assign(orog=orog)))) < 0.1  # its standard_name
    none = score_at(obs, ens)  # no orography anywhere: scored as measured, and said so
    assert none.attrs["xdeepr_altitude_adjustment"] == "none (no grid orography)"
    # a model's static orography (the sample's, on its label grid)
    _, l, s = xdeepr.datasets.load_sample(periods=4)
    stations = xdeepr.datasets.load_sample_stations(periods=4)
    hires = l.expand_dims(member=2)
    with_model = score_at(stations, hires, orography=tiny_model)
    with_static = score_at(stations, hires, orography=s.orog)
    assert with_model.attrs["xdeepr_altitude_adjustment"].startswith("t2m moved")
    xr.testing.assert_allclose(with_model.t2m, with_static.t2m, atol=1e-3)


def test_per_month_lapse_rates_and_non_temperatures(case):
    obs, ens, orog = case
    monthly = [-6.5] * 12
    monthly[3] = -2.0  # April: a wrong rate leaves a bias that month only
    s = score_at(obs, ens, orography=orog, lapse_rate=monthly, groupby="month")
    bias = s.t2m.sel(metric="mean_error", model="xdeepr")
    np.testing.assert_allclose(bias.sel(month=[1, 7]), 0.0, atol=0.1)
    # April: 4.5 K/km too little, over +500 and -400 m: +2.25 and -1.8 K, mean +0.225 K
    assert float(bias.sel(month=4)) == pytest.approx(0.225, abs=0.02)
    assert s.attrs["xdeepr_lapse_rate"] == monthly
    # a wind is never moved, even with a station altitude and an orography
    u10 = {"standard_name": "eastward_wind", "units": "m s-1"}
    wind = xr.Dataset({"u10": obs.t2m.copy().assign_attrs(units="m s-1")})
    wind_ens = xr.Dataset({"u10": ens.t2m.copy()}).assign(u10=lambda d: d.u10.copy())
    wind_ens["u10"].attrs = u10
    w = score_at(wind, wind_ens, orography=orog)
    assert w.attrs["xdeepr_altitude_adjustment"] == "none (no temperature-like variable)"
    assert float(w.u10.sel(metric="mean_error", model="xdeepr")) == pytest.approx(
        _bias(score_at(obs, ens, orography=orog, lapse_rate=None)), abs=1e-9
    )


def test_results_group_by_altitude_mismatch(case):
    obs, ens, orog = case
    s = score_at(obs, ens, orography=orog, groupby="altitude", lapse_rate=None)
    assert s.altitude_mismatch.values.tolist() == ["< -300 m", ">= 300 m"]
    assert s.stations.values.tolist() == [1, 1]
    bias = s.t2m.sel(metric="mean_error", model="xdeepr")
    np.testing.assert_allclose(bias, [-2.6, 3.25], atol=0.1)
    wide = score_at(obs, ens, orography=orog, groupby="altitude", altitude_bins=[-1000, 1000])
    assert wide.altitude_mismatch.values.tolist() == ["-1000..1000 m"]
    with pytest.raises(InputError, match="groupby='altitude' needs the stations' altitude"):
        score_at(obs.drop_vars("altitude"), ens, orography=orog, groupby="altitude")
