"""Forecast steps become valid times (issue 24.5): one time axis, stamped and conditioned right."""

from __future__ import annotations

import cftime
import numpy as np
import pytest
import xarray as xr

from xdeepr import grid
from xdeepr.errors import InputError

H6 = np.timedelta64(6, "h")
INIT = np.array(["2020-01-01T00", "2020-01-01T12"], "datetime64[ns]")


def forecast(init: np.ndarray = INIT, steps: list[int] | None = None) -> xr.Dataset:
    """ERA5 forecast fields as cfgrib opens them: time (initialisation), step, valid_time."""
    rng = np.random.default_rng(0)
    coords = {"time": init, "latitude": [50.0, 49.75], "longitude": [6.0, 6.25, 6.5]}
    if steps is None:  # a scalar step
        data = rng.normal(280, 3, (init.size, 2, 3))
        return xr.Dataset(
            {"t2m": (("time", "latitude", "longitude"), data)},
            coords={**coords, "step": H6},
        )
    lead = np.array(steps, "timedelta64[h]").astype("timedelta64[ns]")
    data = rng.normal(280, 3, (init.size, lead.size, 2, 3))
    return xr.Dataset(
        {"t2m": (("time", "step", "latitude", "longitude"), data)},
        coords={**coords, "step": lead},
    )


def test_scalar_step_is_stamped_with_the_valid_time():
    out, name = grid.standard_time(forecast())
    np.testing.assert_array_equal(out.time.values, INIT + H6)
    assert name == "time" and "step" not in out.coords
    assert out.t2m.dims == ("time", "latitude", "longitude")
    assert out.time.attrs["standard_name"] == "time"  # not forecast_reference_time


def test_a_step_dimension_of_size_one_is_not_dropped_silently():
    out, _ = grid.standard_time(forecast(steps=[6]))
    np.testing.assert_array_equal(out.time.values, INIT + H6)
    assert out.t2m.dims == ("time", "latitude", "longitude")


def test_valid_time_is_used_when_given():
    ds = forecast(steps=[6])
    valid = ds.time + ds.step + np.timedelta64(1, "h")  # a valid_time that is not time + step
    ds = ds.assign_coords(valid_time=valid.assign_attrs(standard_name="time", long_name="time"))
    out, _ = grid.standard_time(ds)
    np.testing.assert_array_equal(out.time.values, INIT + H6 + np.timedelta64(1, "h"))
    assert out.time.attrs["long_name"] == "time"


def test_several_steps_become_one_sorted_valid_time_axis():
    ds = forecast(steps=[3, 6, 9])
    out, _ = grid.standard_time(ds)
    want = np.sort((INIT[:, None] + ds.step.values[None, :]).ravel())
    np.testing.assert_array_equal(out.time.values, want)
    assert out.t2m.dims == ("time", "latitude", "longitude")
    # each field keeps its values: init 12 UTC + 3 h is the 4th valid time
    np.testing.assert_array_equal(out.t2m.isel(time=3), ds.t2m.isel(time=1, step=0))
    lazy, _ = grid.standard_time(ds.chunk(time=1))
    assert lazy.t2m.chunks is not None
    xr.testing.assert_identical(lazy.compute(), out)


def test_one_initialisation_with_steps_and_a_scalar_time():
    ds = forecast(steps=[6, 12]).isel(time=0)  # time is now a scalar coordinate
    out, _ = grid.standard_time(ds)
    np.testing.assert_array_equal(out.time.values, INIT[0] + np.array([6, 12], "m8[h]"))
    one, _ = grid.standard_time(forecast().isel(time=0))
    np.testing.assert_array_equal(one.time.values, [INIT[0] + H6])


def test_repeated_valid_times_name_the_step_readably():
    ds = forecast(steps=[0, 12, 24])  # 00 UTC + 12 h = 12 UTC + 0 h
    with pytest.raises(InputError) as err:
        grid.standard_time(ds)
    msg = str(err.value)
    assert "2020-01-01T12:00" in msg and "2 times" in msg
    assert "step: 0h, 12h, 24h" in msg and ".sel(step='24h')" in msg
    assert "21600000000000" not in msg and "86400000000000" not in msg
    assert ds.sel(step="24h").sizes["time"] == 2  # the advice works as written


def test_the_extra_dimension_hint_names_a_step_readably():
    ds = forecast(steps=[0, 6])
    with pytest.raises(InputError, match=r"\.sel\(step='0h'\)"):
        grid.squeeze_extra_dims(ds, what="features")


def test_cftime_initialisation_plus_step():
    init = np.array([cftime.Datetime360Day(2000, 2, 30), cftime.Datetime360Day(2000, 3, 1)])
    out, _ = grid.standard_time(forecast(init=init))
    assert list(out.time.values) == [
        cftime.Datetime360Day(2000, 2, 30, 6),
        cftime.Datetime360Day(2000, 3, 1, 6),
    ]


def test_dataarray_and_plain_input_unchanged():
    out, _ = grid.standard_time(forecast(steps=[6]).t2m)
    assert isinstance(out, xr.DataArray) and out.dims == ("time", "latitude", "longitude")
    plain = forecast().drop_vars("step")
    same, name = grid.standard_time(plain)
    xr.testing.assert_identical(same, plain)
    assert name == "time"


def test_downscaling_a_forecast_equals_its_valid_time_field(tiny_model, sample_small):
    """The field at 06 UTC given as (time=00 UTC, step=6 h): stamped and conditioned as 06 UTC."""
    features = sample_small[0].isel(time=slice(81, 83))  # 06 and 12 UTC
    as_forecast = features.assign_coords(time=features.time - H6, step=H6)
    kw = {"members": 2, "steps": 2, "seed": 3, "progress": False}
    want = features.deepr.downscale(tiny_model, **kw)
    got = as_forecast.deepr.downscale(tiny_model, **kw)
    np.testing.assert_array_equal(got.time.values, features.time.values)
    # the same computation: float32 rounding only (documented noise: time value + seed)
    xr.testing.assert_allclose(got.t2m, want.t2m, atol=1e-3)
