"""Station values given to downscale() in other units are converted or refused (issue 24.1)."""

from __future__ import annotations

import numpy as np
import pytest

import xdeepr
from xdeepr.errors import InputError

FAST = {"members": 2, "steps": 2, "progress": False, "guidance": 1.0}


@pytest.fixture(scope="module")
def inputs(sample_small):
    features, _, _ = sample_small
    era5 = features.isel(time=slice(-3, None))
    obs = xdeepr.datasets.load_sample_stations(
        start=str(era5.time.values[0])[:19], periods=3, freq="6h"
    )
    return era5, obs


def test_celsius_stations_guide_as_their_kelvin_values(tiny_model, inputs):
    era5, obs = inputs
    kelvin = era5.deepr.downscale(tiny_model, observations=obs, **FAST)
    celsius = obs.assign(t2m=(obs.t2m - 273.15).assign_attrs(obs.t2m.attrs, units="degC"))
    converted = era5.deepr.downscale(tiny_model, observations=celsius, **FAST)
    np.testing.assert_allclose(converted.t2m.values, kelvin.t2m.values, rtol=0, atol=1e-2)
    assert kelvin.attrs["xdeepr_observations_used"] > 0


def test_celsius_stations_without_units_are_refused(tiny_model, inputs):
    era5, obs = inputs
    attrs = {k: v for k, v in obs.t2m.attrs.items() if k != "units"}
    bare = obs.assign(t2m=(obs.t2m - 273.15).assign_attrs(attrs))
    with pytest.raises(InputError, match="units"):
        era5.deepr.downscale(tiny_model, observations=bare, **FAST)
