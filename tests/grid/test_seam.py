"""A 0–360 longitude split at the seam is regular (issue 24: the message 'not regular')."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdeepr import grid
from xdeepr.errors import GridError

SPLIT = np.concatenate([np.arange(350, 360, 0.25), np.arange(0, 10.001, 0.25)])


def two_grids() -> xr.Dataset:
    """Static fields at two resolutions, the coarse one on a split 0–360 longitude."""
    fine = np.arange(355, 360, 0.05) % 360
    lat = {"standard_name": "latitude", "units": "degrees_north"}
    lon = {"standard_name": "longitude", "units": "degrees_east"}
    return xr.Dataset(
        {
            "orog": (("latitude", "longitude"), np.zeros((3, fine.size))),
            "orog_coarse": (("latitude_coarse", "longitude_coarse"), np.zeros((3, SPLIT.size))),
        },
        coords={
            "latitude": ("latitude", [48.0, 47.95, 47.9], lat),
            "longitude": ("longitude", fine, lon),
            "latitude_coarse": ("latitude_coarse", [50.0, 49.75, 49.5], lat),
            "longitude_coarse": ("longitude_coarse", SPLIT, lon),
        },
    )


def test_split_longitude_of_a_two_grid_dataset_is_regular():
    ds = two_grids()
    assert grid.grid_step(ds, "longitude_coarse") == pytest.approx(0.25)
    assert grid.grid_step(ds, "longitude") == pytest.approx(0.05)


def test_split_coordinate_not_known_as_longitude_says_seam_and_fix():
    ds = xr.Dataset(coords={"x": SPLIT})
    with pytest.raises(GridError) as err:
        grid.grid_step(ds, "x")
    msg = str(err.value)
    assert "not regular" not in msg
    assert "0°/360° seam" in msg and "359.75 to 0" in msg
    fix = 'ds.assign_coords(x=((ds.x + 180) % 360) - 180).sortby("x")'
    assert fix in msg
    rolled = ds.assign_coords(x=((ds.x + 180) % 360) - 180).sortby("x")  # the fix works
    assert grid.grid_step(rolled, "x") == pytest.approx(0.25)


def test_a_truly_irregular_longitude_is_still_refused():
    ds = xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [0.0, 0.25, 0.75, 1.0]})
    with pytest.raises(GridError, match="is not regular"):
        grid.grid_step(ds, "lon")
