"""The embedded sample's 10 m wind and precipitation: ``load_sample(variables=...)``."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdeepr.datasets import _surface, load_sample
from xdeepr.errors import ConfigError

ALL = ("t2m", "u10", "v10", "tp")
# Inner coarse cells: fully inside the label domain, each the mean of 5x5 labels.
INNER = [(lat, lon) for lat in (47.75, 47.5, 47.25) for lon in (9.5, 9.75, 10.0, 10.25, 10.5)]

# (mean, std, first value, value at size // 2 + 7) of the default two years, recorded
# when the variables were added: features then labels.
SUMMARY = {
    ("features", "u10"): (1.0405, 1.8547, 3.5730559825897217, 3.9551284313201904),
    ("features", "v10"): (0.8303, 2.3816, -3.3972015380859375, 0.19552113115787506),
    ("features", "tp"): (1.4264, 2.9789, 0.0, 0.0),
    ("labels", "u10"): (1.0191, 1.9939, 4.604222297668457, 3.9912900924682617),
    ("labels", "v10"): (0.7517, 2.4838, 0.4345764219760895, 0.14662587642669678),
    ("labels", "tp"): (1.0241, 2.4572, 0.0, 0.0),
}


@pytest.fixture(scope="module")
def full() -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    _surface._surface_fields.cache_clear()
    t0 = time.perf_counter()
    result = load_sample(variables=ALL)
    print(f"load_sample(variables={ALL}) took {time.perf_counter() - t0:.2f} s")
    return result


def test_shapes_coords_and_dtypes(full):
    features, labels, _ = full
    default_f, default_l, _ = load_sample()
    assert list(features.data_vars) == list(labels.data_vars) == list(ALL)
    for ds, ref in ((features, default_f), (labels, default_l)):
        for name in ALL:
            assert ds[name].dims == ("time", "latitude", "longitude")
            assert ds[name].shape == (2924, 20, 32)
            assert ds[name].dtype == np.float32
            assert np.isfinite(ds[name]).all()
        for coord in ("time", "latitude", "longitude"):
            xr.testing.assert_identical(ds[coord], ref[coord])


def test_cf_attributes(full):
    features, labels, _ = full
    want = {
        "u10": ("eastward_wind", "m s-1"),
        "v10": ("northward_wind", "m s-1"),
        "tp": ("precipitation_amount", "kg m-2"),
    }
    for name, (standard_name, units) in want.items():
        for ds in (features, labels):
            assert ds[name].attrs["standard_name"] == standard_name
            assert ds[name].attrs["units"] == units
            assert ds[name].attrs["long_name"]
    assert labels.tp.attrs["cell_methods"] == "time: sum"
    assert features.tp.attrs["cell_methods"] == "area: mean time: sum"
    assert features.u10.attrs["cell_methods"] == features.t2m.attrs["cell_methods"] == "area: mean"
    assert "cell_methods" not in labels.u10.attrs
    for ds in (features, labels):
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds.attrs["source"] == "xdeepr synthetic sample"
        assert "precipitation" in ds.attrs["title"] and "wind" in ds.attrs["title"]
        assert "variables=('t2m', 'u10', 'v10', 'tp')" in ds.attrs["history"]


def test_default_and_t2m_unchanged(full):
    """The default sample is untouched, and t2m is the same whatever else is asked for."""
    features, labels, static = full
    default = load_sample()
    xr.testing.assert_identical(load_sample(variables=("t2m",))[0], default[0])
    xr.testing.assert_identical(load_sample(variables="t2m")[1], default[1])
    for ds, ref in zip((features, labels), default[:2]):
        assert list(ref.data_vars) == ["t2m"]
        xr.testing.assert_identical(ds.t2m, ref.t2m)
    xr.testing.assert_identical(static, default[2])
    # The covariable still comes on top.
    both = load_sample(periods=12, covariables=True, variables=ALL)[0]
    assert list(both.data_vars) == [*ALL, "t850"]
    xr.testing.assert_identical(both.t850, load_sample(periods=12, covariables=True)[0].t850)


@pytest.mark.parametrize("key", sorted(SUMMARY))
def test_recorded_summary(full, key):
    """The new fields are those recorded when they were added (guards against drift)."""
    ds = full[0] if key[0] == "features" else full[1]
    a = ds[key[1]].values.astype(np.float64)
    got = [np.mean(a), np.std(a), a.flat[0], a.flat[a.size // 2 + 7]]
    np.testing.assert_allclose(got, SUMMARY[key], rtol=0, atol=1e-3)


def test_deterministic_subsets_and_prefix(full):
    features, labels, _ = full
    _surface._surface_fields.cache_clear()
    short_f, short_l, _ = load_sample(periods=40, variables=("tp", "u10"))
    assert list(short_l.data_vars) == ["tp", "u10"]
    for name in ("tp", "u10"):  # a prefix of the full sample (to float32 rounding)
        np.testing.assert_allclose(short_l[name], labels[name][:40], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(short_f[name], features[name][:40], rtol=1e-5, atol=1e-5)
    again = load_sample(periods=40, variables=("tp", "u10"))[1]
    xr.testing.assert_identical(again, short_l)
    again.tp[:] = -1.0  # copies: the cache is not modified
    assert float(load_sample(periods=40, variables="tp")[1].tp.min()) >= 0


def test_invalid_variables():
    for bad in (("t2m", "pr"), (), ("tp", "tp"), 3, ("t2m", None)):
        with pytest.raises(ConfigError, match="variables"):
            load_sample(periods=2, variables=bad)  # type: ignore[arg-type]


def test_coarse_is_block_mean_of_fine(full):
    """As for t2m: each inner coarse cell is the mean of its 25 hi-res values."""
    features, labels, _ = full
    for name, atol in (("u10", 1e-5), ("v10", 1e-5), ("tp", 1e-5)):
        for lat, lon in INNER:
            block = labels[name].sel(
                latitude=slice(lat + 0.101, lat - 0.101), longitude=slice(lon - 0.101, lon + 0.101)
            )
            assert block.shape[1:] == (5, 5)
            mean = block.values.astype(np.float64).mean(axis=(1, 2))
            coarse = features[name].sel(latitude=lat, longitude=lon).values
            np.testing.assert_allclose(coarse, mean, rtol=1e-6, atol=atol, err_msg=name)


def test_precipitation_never_negative_and_zero_inflated(full):
    features, labels, _ = full
    fine, coarse = labels.tp.values, features.tp.values
    assert fine.min() == 0 and coarse.min() == 0
    dry_fine, dry_coarse = float((fine == 0).mean()), float((coarse == 0).mean())
    print(f"dry fraction (tp == 0): labels {dry_fine:.3f}, features {dry_coarse:.3f}")
    assert 0.55 <= dry_fine <= 0.75  # measured 0.650
    assert 0.30 <= dry_coarse <= 0.55  # measured 0.423: a coarse cell is dry if all 25 are
    assert 0.55 <= float((fine < 0.1).mean()) <= 0.80  # measured 0.680
    # Realistic amounts: ~1500 mm/yr, heavy tail, intermittent in time.
    annual = float(fine.mean()) * 4 * 365.25
    assert 1000 < annual < 2000
    wet = fine[fine >= 0.1]
    skew = float(((wet - wet.mean()) ** 3).mean() / wet.std() ** 3)
    assert skew > 1.5 and np.percentile(fine, 99.9) > 10 * fine.mean()
    w = fine > 0
    p_wet_wet = (w[1:] & w[:-1]).sum() / w[:-1].sum()
    p_wet_dry = (w[1:] & ~w[:-1]).sum() / (~w[:-1]).sum()
    assert p_wet_wet > 0.5 > 0.3 > p_wet_dry


def test_precipitation_seasons_and_hours(full):
    _, labels, static = full
    tp = labels.tp.where(static.lsm == 1)
    month = tp.groupby("time.season").mean(...)
    assert float(month.sel(season="JJA")) > 1.2 * float(month.sel(season="DJF"))
    jja = tp.where(tp.time.dt.season == "JJA", drop=True)
    by_hour = jja.groupby("time.hour").mean(...)
    assert float(by_hour.sel(hour=12)) > 1.5 * float(by_hour.sel(hour=0))  # afternoon showers


def test_amounts_follow_the_time_step():
    """tp is an amount over the step: hourly steps hold about a sixth of 6-hourly ones."""
    hourly = load_sample(periods=24 * 60, freq="1h", variables="tp")[0].tp
    six = load_sample(periods=4 * 60, variables="tp")[0].tp
    ratio = float(hourly.mean() / six.mean())
    assert 1 / 12 < ratio < 1 / 3
    assert float(load_sample(periods=1, freq="3h", variables="tp")[0].tp.min()) >= 0


def _slope(static: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    dy = 0.05 * 111.2e3
    dx = dy * np.cos(np.radians(static.latitude.values))[:, None]
    d_row, d_col = np.gradient(static.orog.values.astype(np.float64))
    return d_col / dx, -d_row / dy  # eastward, northward (latitude descends)


def test_wind_plausible(full):
    features, labels, static = full
    speed = np.hypot(labels.u10, labels.v10)
    land = static.lsm == 1
    mean = float(speed.mean())
    print(f"10 m wind speed: mean {mean:.2f} m/s, max {float(speed.max()):.1f} m/s")
    assert 2.0 < mean < 8.0 and float(speed.max()) < 40.0
    # Stronger over the lake than over land; afternoon mixing over land.
    assert float(speed.where(~land).mean()) > 1.2 * float(speed.where(land).mean())
    hours = speed.where(land).groupby("time.hour").mean(...)
    assert float(hours.sel(hour=12)) > 1.15 * float(hours.sel(hour=0))
    # Stronger in winter, like the synoptic weather.
    seasons = speed.groupby("time.season").mean(...)
    assert float(seasons.sel(season="DJF")) > float(seasons.sel(season="JJA"))
    # u and v belong together: the fine wind mostly blows the way the coarse one does.
    bic = features[["u10", "v10"]].deepr.interpolate(labels)
    dot = labels.u10 * bic.u10 + labels.v10 * bic.v10
    cos = dot / (speed * np.hypot(bic.u10, bic.v10))
    assert 0.6 < float(cos.mean()) < 0.98


def test_orographic_enhancement(full):
    """At the same time, windward slopes get more precipitation than leeward ones."""
    _, labels, static = full
    zx, zy = _slope(static)
    upslope = labels.u10.values * zx + labels.v10.values * zy
    tp = labels.tp.values
    windward = np.nanmean(np.where(upslope > 0, tp, np.nan), axis=(1, 2))
    leeward = np.nanmean(np.where(upslope < 0, tp, np.nan), axis=(1, 2))
    ok = np.isfinite(windward) & np.isfinite(leeward)
    ratio = windward[ok].mean() / leeward[ok].mean()
    print(f"windward / leeward mean precipitation: {ratio:.2f}")
    assert ratio > 1.2  # measured 1.37


def test_fine_structure_beyond_bicubic(full):
    """Bicubic interpolation of the features misses a good part of the hi-res fields."""
    features, labels, _ = full
    bicubic = features.deepr.interpolate(labels)
    rmse = {v: float(np.sqrt(((bicubic[v] - labels[v]) ** 2).mean())) for v in ALL}
    print("bicubic RMSE: " + ", ".join(f"{v} {r:.3f}" for v, r in rmse.items()))
    assert rmse["u10"] > 0.5 and rmse["v10"] > 0.5  # m/s; measured 0.81, 0.86
    assert rmse["tp"] > 0.5  # mm; measured 0.95
    assert rmse["tp"] > 0.3 * float(labels.tp.std())
    assert float(bicubic.tp.min()) < 0  # why precipitation needs its own transform


def test_sub_daily_timestamps():
    times = load_sample(periods=3, start="2021-06-01T03", freq="3h", variables="u10")[1].time
    assert list(pd.DatetimeIndex(times.values).hour) == [3, 6, 9]
