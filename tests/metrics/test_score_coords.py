"""Issue 24: ``score(truth)`` takes truth on the prediction's grid up to float rounding or order."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdeepr.errors import GridError
from xdeepr.metrics import score

LAT = np.linspace(60.0, 35.05, 500)[:40]  # CERRA-like 0.05° rows, descending
LON = np.linspace(-10.0, 29.95, 800)[-30:]  # and columns up to 29.95° E
TIMES = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")


def _pair(seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    rng = np.random.default_rng(seed)
    coords = {"time": TIMES, "lat": LAT, "lon": LON}
    truth = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), 270 + rng.normal(size=(2, LAT.size, LON.size)))},
        coords=coords,
    )
    ens = truth + xr.DataArray(
        rng.normal(size=(3, 2, LAT.size, LON.size)), dims=("member", "time", "lat", "lon")
    )
    return truth, ens


def test_float32_coordinates_of_the_truth_are_accepted():
    truth, ens = _pair()
    ref = score(truth, ens)
    t32 = truth.assign_coords(lat=truth.lat.astype("float32"), lon=truth.lon.astype("float32"))
    assert np.abs(t32.lat.values.astype("float64") - LAT).max() > 1e-6  # main refused this
    got = score(t32, ens)
    xr.testing.assert_allclose(got.t2m, ref.t2m, rtol=0, atol=1e-12)


def test_ascending_latitude_of_the_truth_is_reordered():
    truth, ens = _pair()
    ref = score(truth, ens)
    got = score(truth.sortby("lat"), ens)
    xr.testing.assert_allclose(got.t2m, ref.t2m, rtol=0, atol=1e-12)
    both = truth.sortby("lat").assign_coords(lon=truth.lon.astype("float32"))
    xr.testing.assert_allclose(score(both, ens).t2m, ref.t2m, rtol=0, atol=1e-12)


def test_a_different_grid_is_refused_naming_the_coordinate_and_the_difference():
    truth, ens = _pair()
    moved = truth.assign_coords(lat=truth.lat + 0.01)
    with pytest.raises(GridError, match=r"along coordinate 'lat': largest difference 0\.01 "):
        score(moved, ens)
    with pytest.raises(GridError, match=r"'lon': largest difference 0\.025 .*tolerance 5e-05"):
        score(truth.assign_coords(lon=truth.lon + 0.025), ens)
