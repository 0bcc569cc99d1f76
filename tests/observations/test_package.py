"""Issue 19: stations in one package, one word for them, defaults that work, one band."""

from __future__ import annotations

import warnings

import cftime
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdeepr
from xdeepr import metrics, observations
from xdeepr.errors import ConfigError, InputError

TIMES = pd.to_datetime(["2020-01-01T00", "2020-01-01T06", "2020-01-01T12"]).values


def _obs(lat=(47.5,), lon=(9.5,), times=TIMES) -> xr.Dataset:
    ids = [f"S{i}" for i in range(len(lat))]
    return xr.Dataset(
        {"t2m": (("time", "station"), np.ones((len(times), len(ids))), {"units": "K"})},
        coords={
            "time": times,
            "station": ids,
            "latitude": ("station", np.asarray(lat, float)),
            "longitude": ("station", np.asarray(lon, float)),
        },
    )


def _field(times=TIMES) -> xr.DataArray:
    lat, lon = np.array([48.0, 47.0]), np.array([9.0, 10.0])
    return xr.DataArray(
        np.zeros((len(times), 2, 2)),
        dims=("time", "lat", "lon"),
        coords={"time": times, "lat": lat, "lon": lon},
        name="t2m",
    )


# ------------------------------------------------------------------ one package


def test_datasets_reexports_the_observation_package():
    assert xdeepr.datasets.check_observations is observations.check_observations
    assert xdeepr.datasets.stations_from_table is observations.stations_from_table
    assert xdeepr.datasets.stations_to_table is observations.stations_to_table
    assert observations.table.stations_from_table is observations.stations_from_table


# ------------------------------------------------------------ one time matcher


@pytest.mark.parametrize(
    ("tolerance", "match"), [("soon", "not a time span"), ("-1h", "must be a time span >= 0")]
)
def test_a_bad_tolerance_gets_one_error_everywhere(tolerance, match):
    """Before: InputError from the encoder, ValueError / ConfigError from at_stations."""
    obs = _obs()
    with pytest.raises(InputError, match=match):
        observations.match_times(obs, TIMES, tolerance)
    with pytest.raises(InputError, match=match):
        metrics.at_stations(_field(), obs, time_tolerance=tolerance)
    with pytest.raises(InputError, match=match):
        metrics.score_at(obs, _field(), time_tolerance=tolerance)


def test_time_types_that_differ_get_one_error_everywhere():
    """Before: at_stations named the kinds, match_times gave all-NaN rows silently."""
    cf = np.array([cftime.DatetimeNoLeap(2020, 1, 1, h) for h in (0, 6, 12)])
    obs = _obs()
    with pytest.raises(InputError, match=r"times are numpy datetime64 but .* cftime"):
        observations.match_times(obs, cf)
    with pytest.raises(InputError, match=r"times are cftime .* but .* numpy datetime64"):
        metrics.at_stations(_field(cf), obs)


def test_match_times_nearest_and_exact_agree_with_at_stations():
    shifted = TIMES + np.timedelta64(10, "m")
    obs = _obs(times=shifted)
    near = observations.match_times(obs, TIMES, "15min", few=0)
    assert near.t2m.values.ravel().tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(InputError, match="none of the 3 observation values"):
        observations.match_times(obs, TIMES)  # none used: refused (issue 24)
    assert metrics.at_stations(_field(), obs, time_tolerance="15min").sizes["time"] == 3
    positions = observations.time_positions(pd.DatetimeIndex(TIMES), shifted[::-1], "15min")
    assert positions.tolist() == [2, 1, 0]


# ------------------------------------------------------- one position check


def test_a_missing_position_gets_one_error_everywhere():
    """Before: at_stations said 'missing position', check_observations named the station."""
    bad = _obs(lat=(47.5, np.nan), lon=(9.5, 9.6))
    grid = _field().isel(time=0)
    message = r"latitude is missing or not finite at 1 station\(s\): 'S1'"
    with pytest.raises(InputError, match=message):
        observations.check_observations(bad)
    with pytest.raises(InputError, match=message):
        metrics.at_stations(_field(), bad)
    with pytest.raises(InputError, match=message):
        observations.station_pixels(bad, grid)  # before: a NaN position became pixel 0


# -------------------------------------------------------- one word, aliases


def test_at_stations_stations_keyword_is_a_deprecated_alias():
    obs = _obs()
    expected = metrics.at_stations(_field(), obs)
    with pytest.warns(FutureWarning, match=r"at_stations\(stations=...\) is deprecated.*observ"):
        old = metrics.at_stations(_field(), stations=obs)
    xr.testing.assert_identical(old, expected)
    with pytest.raises(ConfigError, match="observations= only"):
        metrics.at_stations(_field(), obs, stations=obs)


def test_accessor_score_at_takes_observations_and_the_old_keyword():
    features, labels, _ = xdeepr.datasets.load_sample(periods=4)
    obs = xdeepr.datasets.load_sample_stations(periods=4)
    ens = xr.concat([labels + d for d in (-0.3, 0.3)], "member")
    new = ens.deepr.score_at(observations=obs, features=features)
    with pytest.warns(FutureWarning, match="use observations="):
        old = ens.deepr.score_at(stations=obs, features=features)
    xr.testing.assert_identical(old, new)
    with pytest.raises(ConfigError, match="needs the observations"):
        ens.deepr.score_at(features=features)


# ------------------------------------------------------- defaults that work


def test_score_without_features_skips_the_default_baseline_and_says_so():
    features, labels, _ = xdeepr.datasets.load_sample(periods=4)
    ens = xr.concat([labels + d for d in (-0.3, 0.3)], "member")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the result says it
        alone = ens.deepr.score(labels)
    assert alone.model.values.tolist() == ["xdeepr"]
    assert alone.attrs[metrics.SKIPPED_BASELINES] == "bicubic: needs the coarse input (features=)"
    table = metrics.format_table(alone)
    assert (
        table.splitlines()[-1] == "skipped baselines: bicubic: needs the coarse input (features=)"
    )
    full = ens.deepr.score(labels, features=features)
    assert metrics.SKIPPED_BASELINES not in full.attrs
    xr.testing.assert_allclose(alone.t2m, full.t2m.sel(model=["xdeepr"]))
    both = ens.deepr.score(labels, baseline=["bicubic", "climatology"])
    assert both.attrs[metrics.SKIPPED_BASELINES] == (
        "bicubic: needs the coarse input (features=); "
        "climatology: needs the coarse input (features=) and the model (model=)"
    )
    with pytest.raises(ConfigError, match="unknown baseline"):  # a typo is still an error
        ens.deepr.score(labels, baseline="bicubik")


# ---------------------------------------------------------- one band


def test_one_calibration_band_for_selection_and_warning():
    from xdeepr.training import validation

    assert metrics.CALIBRATED_SPREAD_SKILL == (0.9, 1.1)
    assert "[0.9, 1.1]" in validation.RULE
    records = [
        {"val_crps": 0.2, "val_spread_skill": 0.86},  # calibrated by the old band only
        {"val_crps": 0.3, "val_spread_skill": 0.95},
    ]
    assert validation.select(records) == 1
    with pytest.warns(validation.CalibrationWarning, match=r"outside \[0.9, 1.1\]"):
        validation._warn_if_uncalibrated({"step": 1, "val_spread_skill": 0.85, "val_crps": 0.3})
    for old in ("SELECTION_BAND", "WARN_BAND"):
        with pytest.warns(FutureWarning, match="CALIBRATED_SPREAD_SKILL"):
            assert getattr(validation, old) == metrics.CALIBRATED_SPREAD_SKILL
