"""Verification metrics: values against numpy/properscoring, calibration, spectra, score()."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr.errors
from xdeepr import metrics
from xdeepr.metrics.probabilistic import _crps_numpy

LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north"}
LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east"}


def grid_coords(ny: int, nx: int, step: float = 0.05, lat0: float = 48.0) -> dict:
    return {
        "latitude": ("latitude", lat0 - step * np.arange(ny), LAT_ATTRS),
        "longitude": ("longitude", 9.2 + step * np.arange(nx), LON_ATTRS),
    }


def field(
    shape: tuple[int, ...] = (3, 6, 5),
    dims: tuple[str, ...] = ("time", "latitude", "longitude"),
    seed: int = 0,
    name: str = "t2m",
) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    sizes = dict(zip(dims, shape))
    coords = grid_coords(sizes["latitude"], sizes["longitude"])
    if "time" in sizes:
        coords["time"] = np.arange(sizes["time"]).astype("datetime64[D]")
    return xr.DataArray(
        rng.normal(280.0, 3.0, shape),
        dims=dims,
        coords=coords,
        name=name,
        attrs={"units": "K", "long_name": "2 metre temperature"},
    )


def synthetic_spectrum(beta: float, n: int = 128, nt: int = 4, seed: int = 0) -> xr.DataArray:
    """Random fields with E(k) ∝ k^-beta (physical wavenumbers), plus a gradient."""
    rng = np.random.default_rng(seed)
    step = 0.05
    lat = 47.0 + step * (n / 2 - np.arange(n))
    lon = 9.0 + step * np.arange(n)
    dy = 111.2 * step
    dx = dy * np.cos(np.radians(lat.mean()))
    k = np.hypot(np.fft.fftfreq(n, dy)[:, None], np.fft.fftfreq(n, dx)[None, :])
    k[0, 0] = np.inf
    noise = rng.normal(size=(nt, n, n)) + 1j * rng.normal(size=(nt, n, n))
    # 2-D density ∝ k^-(beta+1): integrated over rings of circumference ∝ k, k^-beta.
    values = np.fft.ifft2(noise * k ** (-(beta + 1) / 2)).real
    values = values + 0.01 * (lat[:, None] - 47.0)
    return xr.DataArray(
        values,
        dims=("time", "latitude", "longitude"),
        coords={
            "latitude": ("latitude", lat, LAT_ATTRS),
            "longitude": ("longitude", lon, LON_ATTRS),
        },
    )


# ----------------------------------------------------------------- deterministic


@pytest.mark.parametrize("dim", [None, "time", ["latitude", "longitude"]])
def test_deterministic_against_numpy(dim):
    truth = field(seed=0)
    pred = field(seed=1)
    axes = {None: (0, 1, 2), "time": (0,), "latitude,longitude": (1, 2)}[
        dim if dim is None or isinstance(dim, str) else ",".join(dim)
    ]
    p, t = pred.values, truth.values
    err = p - t
    np.testing.assert_allclose(metrics.rmse(truth, pred, dim=dim), np.sqrt((err**2).mean(axes)))
    np.testing.assert_allclose(metrics.mae(truth, pred, dim=dim), np.abs(err).mean(axes))
    np.testing.assert_allclose(metrics.mean_error(truth, pred, dim=dim), err.mean(axes))
    sst = ((t - t.mean(axes, keepdims=True)) ** 2).sum(axes)
    np.testing.assert_allclose(metrics.r2(truth, pred, dim=dim), 1 - (err**2).sum(axes) / sst)


def test_deterministic_keeps_member_and_attrs():
    truth = field()
    ens = xr.concat([field(seed=s) for s in (1, 2)], dim="member")
    out = metrics.rmse(truth, ens)
    assert out.dims == ("member",)
    assert out.attrs["units"] == "K"
    np.testing.assert_allclose(out[1], metrics.rmse(truth, ens.isel(member=1)))
    assert metrics.r2(truth, truth).attrs["units"] == "1"
    assert float(metrics.r2(truth, truth)) == 1.0


def test_nan_points_are_skipped_consistently():
    truth = field()
    pred = field(seed=1)
    holed = truth.where(truth.latitude != truth.latitude[0])
    sub = dict(latitude=slice(1, None))
    for fn in (metrics.rmse, metrics.mae, metrics.mean_error, metrics.r2):
        np.testing.assert_allclose(fn(holed, pred), fn(truth.isel(sub), pred.isel(sub)))


def test_dataset_scored_per_variable():
    truth = xr.Dataset({"t2m": field(seed=0), "u10": field(seed=2)})
    pred = xr.Dataset({"t2m": field(seed=1), "u10": field(seed=3)})
    out = metrics.mae(truth, pred)
    assert isinstance(out, xr.Dataset)
    np.testing.assert_allclose(out["u10"], metrics.mae(truth["u10"], pred["u10"]))


# ----------------------------------------------------------------- CRPS


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    m=st.integers(1, 25),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
)
def test_crps_matches_properscoring(n, m, seed, ties):
    properscoring = pytest.importorskip("properscoring")
    rng = np.random.default_rng(seed)
    ens = rng.normal(size=(n, m))
    obs = rng.normal(size=n)
    if ties:
        ens = np.round(ens)
        obs = np.round(obs)
    expected = properscoring.crps_ensemble(obs, ens)
    got = _crps_numpy(obs, ens, fair=False)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    da = metrics.crps_ensemble(xr.DataArray(obs, dims="x"), xr.DataArray(ens, dims=("x", "member")))
    np.testing.assert_allclose(float(da), expected.mean(), rtol=1e-6)


def test_crps_nan_members_ignored_like_properscoring():
    properscoring = pytest.importorskip("properscoring")
    rng = np.random.default_rng(1)
    ens = rng.normal(size=(50, 8))
    ens[::3, 2] = np.nan
    obs = rng.normal(size=50)
    obs[7] = np.nan
    np.testing.assert_allclose(
        _crps_numpy(obs, ens, fair=False),
        properscoring.crps_ensemble(obs, ens),
        rtol=1e-6,
    )


@settings(max_examples=30, deadline=None)
@given(m=st.integers(2, 15), seed=st.integers(0, 2**16))
def test_fair_crps_against_pairwise_formula(m, seed):
    rng = np.random.default_rng(seed)
    ens = rng.normal(size=(20, m))
    obs = rng.normal(size=20)
    skill = np.abs(ens - obs[:, None]).mean(-1)
    pairs = np.abs(ens[:, :, None] - ens[:, None, :]).sum((-1, -2))
    expected = skill - pairs / (2 * m * (m - 1))
    np.testing.assert_allclose(_crps_numpy(obs, ens, fair=True), expected, rtol=1e-9)


def test_deterministic_crps_is_mae():
    truth, pred = field(), field(seed=1)
    xr.testing.assert_allclose(metrics.crps_ensemble(truth, pred), metrics.mae(truth, pred))
    one = metrics.crps_ensemble(truth, pred.expand_dims(member=1))
    np.testing.assert_allclose(one, metrics.mae(truth, pred))


def test_crps_dim_subset_and_units():
    truth = field()
    ens = xr.concat([field(seed=s) for s in range(1, 6)], dim="member")
    out = metrics.crps_ensemble(truth, ens, dim="time")
    assert set(out.dims) == {"latitude", "longitude"}
    assert out.attrs["units"] == "K"
    np.testing.assert_allclose(out.mean(), metrics.crps_ensemble(truth, ens))


# ----------------------------------------------------------------- calibration


def calibrated(n: int = 20000, m: int = 10, spread: float = 1.0, seed: int = 0):
    """Truth and members drawn around a common, varying mean."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0.0, 5.0, n)
    truth = xr.DataArray(centre + rng.normal(0.0, 1.0, n), dims="case")
    ens = xr.DataArray(centre[:, None] + rng.normal(0.0, spread, (n, m)), dims=("case", "member"))
    return ens, truth


def test_spread_skill_calibrated_and_underdispersive():
    for m in (3, 10, 30):
        ens, truth = calibrated(m=m)
        assert abs(float(metrics.spread_skill_ratio(truth, ens)) - 1.0) < 0.05
    ens, truth = calibrated(spread=0.4)
    assert float(metrics.spread_skill_ratio(truth, ens)) < 0.6


def test_spread_skill_allows_for_the_observation_error():
    """Noisy observations make a calibrated ensemble look overconfident, unless stated."""
    ens, truth = calibrated(m=10, n=40000)
    noisy = truth + np.random.default_rng(7).normal(0.0, 0.6, truth.size)
    plain = float(metrics.spread_skill_ratio(noisy, ens))
    aware = float(metrics.spread_skill_ratio(noisy, ens, observation_error=0.6))
    assert plain == pytest.approx((1 / (1 + 0.36)) ** 0.5, abs=0.03)  # about 0.86
    assert aware == pytest.approx(1.0, abs=0.03)
    as_map = metrics.spread_skill_ratio(
        noisy.to_dataset(name="t2m"), ens.to_dataset(name="t2m"), observation_error={"t2m": 0.6}
    )
    assert float(as_map.t2m) == pytest.approx(aware)
    assert float(metrics.spread_skill_ratio(noisy, ens, observation_error=0)) == plain


@settings(max_examples=25, deadline=None)
@given(
    sigmas=st.lists(st.floats(0, 5, allow_nan=False), min_size=2, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_spread_skill_grows_with_the_stated_observation_error(sigmas, seed):
    rng = np.random.default_rng(seed)
    ens = xr.DataArray(rng.normal(size=(30, 4)), dims=("case", "member"))
    obs = xr.DataArray(rng.normal(size=30), dims="case")
    low, high = sorted(sigmas)
    r_low = float(metrics.spread_skill_ratio(obs, ens, observation_error=low))
    r_high = float(metrics.spread_skill_ratio(obs, ens, observation_error=high))
    assert r_low <= r_high + 1e-12
    rmse = float(metrics.rmse(obs, ens.mean("member")))
    assert r_high >= high / rmse - 1e-12  # the error alone is spread enough for this


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.3", None])
def test_observation_error_refused_by_value(bad):
    ens, truth = calibrated(m=3, n=50)
    with pytest.raises(xdeepr.errors.ConfigError, match="observation_error"):
        if bad is None:  # a mapping that misses the variable, named in the error
            metrics.score(
                truth.to_dataset(name="t2m"),
                ens.to_dataset(name="t2m"),
                observation_error={"tp": 0.1},
            )
        else:
            metrics.spread_skill_ratio(truth, ens, observation_error=bad)


def test_score_passes_the_observation_error_to_spread_skill_only():
    obs = field(shape=(4, 6, 5), seed=1)
    ens = xr.concat([field(shape=(4, 6, 5), seed=s) for s in (2, 3, 4)], "member")
    plain = metrics.score(obs, ens, groupby="month")
    aware = metrics.score(obs, ens, groupby="month", observation_error=0.5)
    others = [m for m in plain.metric.values if m != "spread_skill"]
    xr.testing.assert_allclose(plain.t2m.sel(metric=others), aware.t2m.sel(metric=others))
    assert (aware.t2m.sel(metric="spread_skill") > plain.t2m.sel(metric="spread_skill")).all()


def test_rank_histogram_shapes():
    m = 10
    ens, truth = calibrated(m=m)
    hist = metrics.rank_histogram(truth, ens)
    assert hist.dims == ("rank",)
    assert hist["rank"].values.tolist() == list(range(m + 1))
    assert int(hist.sum()) == truth.size
    expected = truth.size / (m + 1)
    chi2 = float(((hist - expected) ** 2 / expected).sum())
    assert chi2 < 40  # 10 degrees of freedom: p ≈ 2e-5
    ens, truth = calibrated(m=m, spread=0.4)
    under = metrics.rank_histogram(truth, ens).values
    assert under[0] > 2 * under[m // 2] and under[-1] > 2 * under[m // 2]


def test_rank_histogram_ties_random_but_seeded():
    ens = xr.DataArray(np.zeros((3000, 4)), dims=("case", "member"))
    truth = xr.DataArray(np.zeros(3000), dims="case")
    a = metrics.rank_histogram(truth, ens, seed=1)
    assert (a > 450).all()  # spread over all 5 ranks
    xr.testing.assert_identical(a, metrics.rank_histogram(truth, ens, seed=1))


def test_rank_histogram_keeps_other_dims_and_skips_nan():
    truth = field()
    ens = xr.concat([field(seed=s) for s in range(1, 4)], dim="member")
    truth = truth.where(truth.latitude != truth.latitude[0])
    hist = metrics.rank_histogram(truth, ens, dim=["latitude", "longitude"])
    assert set(hist.dims) == {"rank", "time"}
    assert (hist.sum("rank") == 5 * 5).all()


# ----------------------------------------------------------------- spectra


@pytest.mark.parametrize("beta", [3.0, 5.0 / 3.0])
def test_power_spectrum_recovers_slope(beta):
    spec = metrics.power_spectrum(synthetic_spectrum(beta), mean_dims="time")
    assert spec.dims == ("wavelength",)
    assert spec["wavelength"].attrs["units"] == "km"
    assert (np.diff(spec["wavelength"].values) < 0).all()  # large scales first
    k = spec["wavenumber"].values
    n = k.size
    middle = slice(n // 8, n // 2)
    slope = np.polyfit(np.log(k[middle]), np.log(spec.values[middle]), 1)[0]
    assert abs(slope + beta) < 0.3


def test_power_spectrum_parseval_and_dims():
    da = synthetic_spectrum(3.0, n=64, nt=2)
    spec = metrics.power_spectrum(da, window=None, detrend="constant")
    assert spec.dims == ("time", "wavelength")
    dk = float(spec["wavenumber"][0])
    total = (spec * dk).sum("wavelength")
    variance = da.var(["latitude", "longitude"])
    # the rings stop at the inscribed circle: a little of the variance is outside
    assert ((total / variance) > 0.9).all() and ((total / variance) <= 1.0).all()
    tukey = metrics.power_spectrum(da, window=("tukey", 0.25), mean_dims="time")
    assert tukey.dims == ("wavelength",) and np.isfinite(tukey).all()


def test_spectral_ratio():
    da = synthetic_spectrum(5.0 / 3.0, n=64, nt=2)
    assert float(metrics.spectral_ratio(da, da)) == pytest.approx(1.0)
    smooth = da.rolling(latitude=3, longitude=3, center=True, min_periods=1).mean()
    assert float(metrics.spectral_ratio(da, smooth)) < 0.5
    noisy = da + np.random.default_rng(0).normal(0, da.std().item(), da.shape)
    assert float(metrics.spectral_ratio(da, noisy)) > 1.5
    ens = xr.concat([da, da], dim="member")
    assert float(metrics.spectral_ratio(da, ens)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no wavelength"):
        metrics.spectral_ratio(da, da, max_wavelength_km=1.0)


# ----------------------------------------------------------------- score


def score_inputs():
    truth = field(shape=(3, 16, 16))
    rng = np.random.default_rng(5)
    ens = truth + xr.DataArray(rng.normal(0, 1, (4, *truth.shape)), dims=("member", *truth.dims))
    bicubic = truth.rolling(latitude=3, longitude=3, center=True, min_periods=1).mean()
    return truth, ens, bicubic


def test_score_layout_and_values():
    truth, ens, bicubic = score_inputs()
    scores = metrics.score(truth, ens, baselines={"bicubic": bicubic})
    assert list(scores.data_vars) == ["t2m"]
    assert scores["t2m"].dims == ("metric", "model")
    assert scores["model"].values.tolist() == ["xdeepr", "bicubic"]
    assert scores["metric"].values.tolist() == list(metrics.SCORE_METRICS)
    s = scores["t2m"]
    mean = ens.mean("member")
    np.testing.assert_allclose(s.sel(model="xdeepr", metric="rmse"), metrics.rmse(truth, mean))
    np.testing.assert_allclose(
        s.sel(model="xdeepr", metric="crps"), metrics.crps_ensemble(truth, ens)
    )
    np.testing.assert_allclose(s.sel(model="bicubic", metric="crps"), metrics.mae(truth, bicubic))
    assert np.isnan(s.sel(model="bicubic", metric="spread_skill"))
    assert np.isfinite(s.sel(model="xdeepr", metric="spread_skill"))
    assert float(s.sel(model="bicubic", metric="spectral_ratio")) < 1.0
    table = metrics.format_table(scores)
    assert table.splitlines()[0] == "t2m [K]"
    assert "xdeepr" in table and "bicubic" in table
    # header, column names, one row a metric, then a blank line and the weights
    assert len(table.splitlines()) == 2 + len(metrics.SCORE_METRICS) + 2
    assert table.splitlines()[-1] == "weights: none"


def test_score_dataset_and_kept_dims():
    truth, ens, bicubic = score_inputs()

    def ds(da):
        return xr.Dataset({"t2m": da, "u10": da * 0.1})

    scores = metrics.score(
        ds(truth), ds(ens), baselines={"bicubic": ds(bicubic)}, dim=["latitude", "longitude"]
    )
    assert set(scores.data_vars) == {"t2m", "u10"}
    assert scores["u10"].dims == ("metric", "model", "time")
    with pytest.raises(ValueError, match="time"):
        metrics.format_table(scores)
    assert "u10" in metrics.format_table(scores.mean("time"))


def test_score_baseline_missing_variable():
    truth, ens, _ = score_inputs()
    with pytest.raises(ValueError, match="u10"):
        metrics.score(
            xr.Dataset({"t2m": truth, "u10": truth}),
            xr.Dataset({"t2m": ens}),
        )


# ----------------------------------------------------------------- errors


def test_grid_mismatch_names_the_coordinate():
    truth = field()
    shifted = field(seed=1).assign_coords(longitude=truth.longitude + 0.5)
    with pytest.raises(ValueError, match="longitude"):
        metrics.rmse(truth, shifted)
    with pytest.raises(ValueError, match="latitude"):
        metrics.mae(truth, field(shape=(3, 7, 5)))


def test_float_noise_in_coordinates_is_tolerated_and_names_matched():
    truth = field()
    pred = field(seed=1)
    noisy = pred.assign_coords(latitude=pred.latitude + 1e-9)
    assert metrics.rmse(truth, noisy).size == 1
    renamed = pred.rename(latitude="lat", longitude="lon")
    np.testing.assert_allclose(metrics.rmse(truth, renamed), metrics.rmse(truth, pred))


def test_missing_member_dim_error():
    truth, pred = field(), field(seed=1)
    for fn in (metrics.spread_skill_ratio, metrics.rank_histogram):
        with pytest.raises(ValueError, match=r"'member'.*\['time', 'latitude', 'longitude'\]"):
            fn(truth, pred)
    with pytest.raises(ValueError, match="ens"):
        metrics.crps_ensemble(truth.expand_dims(member=2), pred.expand_dims(member=2))


def test_unknown_dim_error():
    with pytest.raises(ValueError, match="height"):
        metrics.rmse(field(), field(seed=1), dim="height")


# ----------------------------------------------------------------- dask


def test_lazy_on_dask_equals_numpy():
    pytest.importorskip("dask")
    truth, ens, bicubic = score_inputs()
    lazy = {"chunks": {"time": 1}}
    t, e, b = (x.chunk(**lazy) for x in (truth, ens.chunk(member=2), bicubic))
    for fn, args in [
        (metrics.rmse, (t, b)),
        (metrics.r2, (t, b)),
        (metrics.crps_ensemble, (t, e)),
        (metrics.spread_skill_ratio, (t, e)),
        (metrics.rank_histogram, (t, e)),
        (metrics.power_spectrum, (e,)),
    ]:
        out = fn(*args)
        assert out.chunks is not None, fn.__name__
        eager = fn(*(x.compute() for x in args))
        xr.testing.assert_allclose(out.compute(), eager)
    lazy_scores = metrics.score(t, e, baselines={"bicubic": b})
    assert lazy_scores["t2m"].chunks is not None
    xr.testing.assert_allclose(
        lazy_scores.compute(), metrics.score(truth, ens, baselines={"bicubic": bicubic})
    )
    lazy_area = metrics.score(t, e, baselines={"bicubic": b}, weights="area")
    assert lazy_area["t2m"].chunks is not None
    xr.testing.assert_allclose(
        lazy_area.compute(),
        metrics.score(truth, ens, baselines={"bicubic": bicubic}, weights="area"),
    )


# ----------------------------------------------------------------- xskillscore conventions


PAIRWISE = (metrics.rmse, metrics.mae, metrics.mean_error, metrics.r2)
ENSEMBLE = (metrics.crps_ensemble, metrics.spread_skill_ratio, metrics.rank_histogram)


def test_argument_names_and_order_follow_xskillscore():
    def positional(fn):
        params = inspect.signature(fn).parameters.values()
        return [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]

    for fn in PAIRWISE:
        assert positional(fn) == [
            "observations",
            "forecasts",
            "dim",
            "weights",
            "skipna",
            "keep_attrs",
        ], fn.__name__
    for fn in ENSEMBLE:
        assert positional(fn) == [
            "observations",
            "forecasts",
            "member_dim",
            "dim",
            "weights",
            "keep_attrs",
        ], fn.__name__
    assert positional(metrics.spectral_ratio) == [
        "observations",
        "forecasts",
        "member_dim",
        "dim",
        "keep_attrs",
    ]
    assert positional(metrics.score) == ["observations", "forecasts", "baselines"]
    keywords = inspect.signature(metrics.score).parameters
    for name in ("member_dim", "dim", "weights", "keep_attrs"):
        assert keywords[name].kind is inspect.Parameter.KEYWORD_ONLY
    for fn in (*ENSEMBLE, metrics.spectral_ratio):
        assert inspect.signature(fn).parameters["member_dim"].default == "member"


def test_ensemble_first_is_refused_with_the_order_to_use():
    truth = field()
    ens = xr.concat([field(seed=s) for s in (1, 2)], dim="member")
    for fn in (*ENSEMBLE, metrics.spectral_ratio, metrics.score):
        with pytest.raises(xdeepr.errors.InputError, match="observations first"):
            fn(ens, truth)


def test_area_weights_equal_a_hand_computed_cos_latitude_mean():
    lat = {"latitude": ("latitude", [80.0, 50.0, 20.0, -10.0], LAT_ATTRS)}  # cos 0.17 .. 0.98
    truth = field(shape=(2, 4, 3)).assign_coords(lat)
    pred = field(shape=(2, 4, 3), seed=1).assign_coords(lat)
    truth = truth.where(~((truth.latitude == truth.latitude[1]) & (truth.longitude == 9.2)))
    w = np.cos(np.radians(truth.latitude.values))[None, :, None] * np.ones(truth.shape)
    err = pred.values - truth.values
    valid = np.isfinite(err)
    w = np.where(valid, w, 0.0)
    err = np.where(valid, err, 0.0)
    expected_mse = (w * err**2).sum() / w.sum()
    np.testing.assert_allclose(float(metrics.rmse(truth, pred, weights="area")), expected_mse**0.5)
    assert abs(float(metrics.rmse(truth, pred)) - expected_mse**0.5) > 1e-3  # weights matter
    np.testing.assert_allclose(
        float(metrics.mae(truth, pred, weights="area")), (w * abs(err)).sum() / w.sum()
    )
    np.testing.assert_allclose(
        float(metrics.mean_error(truth, pred, weights="area")), (w * err).sum() / w.sum()
    )
    # per time: the sums run over latitude and longitude only
    per_time = metrics.rmse(truth, pred, dim=["latitude", "longitude"], weights="area")
    expected = np.sqrt((w * err**2).sum((1, 2)) / w.sum((1, 2)))
    np.testing.assert_allclose(per_time, expected)
    xr.testing.assert_allclose(
        metrics.area_weights(truth), np.cos(np.radians(truth.latitude)).rename("area_weights")
    )
    ens = xr.concat([pred, field(shape=(2, 4, 3), seed=2).assign_coords(lat)], dim="member")
    point = _crps_numpy(truth.values, np.moveaxis(ens.values, 0, -1), fair=False)
    np.testing.assert_allclose(
        float(metrics.crps_ensemble(truth, ens, weights="area")),
        (w * np.nan_to_num(point)).sum() / w.sum(),
    )


def test_weights_given_as_dataarray_and_refused_when_wrong():
    truth, pred = field(), field(seed=1)
    w = xr.DataArray(np.arange(1.0, 4.0), dims="time", coords={"time": truth.time})
    err = (pred - truth).values
    expected = (w.values[:, None, None] * abs(err)).sum() / (w.values.sum() * 30)
    np.testing.assert_allclose(float(metrics.mae(truth, pred, weights=w)), expected)
    with pytest.raises(xdeepr.errors.ConfigError, match="'area'"):
        metrics.rmse(truth, pred, weights="cos")
    with pytest.raises(xdeepr.errors.InputError, match="height"):
        metrics.rmse(truth, pred, weights=xr.DataArray([1.0, 2.0], dims="height"))
    with pytest.raises(xdeepr.errors.InputError, match="time"):
        metrics.rmse(truth, pred, weights=w.assign_coords(time=w.time + np.timedelta64(1, "D")))
    flat = truth.drop_vars(["latitude", "longitude"])
    with pytest.raises(xdeepr.errors.GridError, match="latitude"):
        metrics.rmse(flat, flat, weights="area")


@settings(max_examples=12, deadline=None)
@given(
    ny=st.integers(1, 5),
    nx=st.integers(1, 5),
    level=st.floats(0.1, 100.0),
    seed=st.integers(0, 2**16),
)
def test_uniform_weights_equal_unweighted(ny, nx, level, seed):
    truth = field(shape=(2, ny, nx), seed=seed)
    pred = field(shape=(2, ny, nx), seed=seed + 1)
    truth = truth.where(np.random.default_rng(seed).random(truth.shape) > 0.2)
    uniform = xr.full_like(truth.latitude, level, dtype="float64")
    for fn in PAIRWISE:
        for dim in (None, "time"):
            expected = fn(truth, pred, dim=dim)
            finite = np.isfinite(expected)  # r2 of a single valid point is -inf (SST = 0)
            xr.testing.assert_allclose(
                fn(truth, pred, dim=dim, weights=uniform).where(finite), expected.where(finite)
            )
    ens = xr.concat([pred, field(shape=(2, ny, nx), seed=seed + 2)], dim="member")
    for fn in ENSEMBLE:
        xr.testing.assert_allclose(
            fn(truth, ens, weights=uniform).astype("float64"), fn(truth, ens).astype("float64")
        )


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 2**16),
    area=st.booleans(),
)
def test_one_member_crps_is_mae(shape, seed, area):
    truth, pred = field(shape=shape, seed=seed), field(shape=shape, seed=seed + 1)
    weights = "area" if area else None
    np.testing.assert_allclose(
        metrics.crps_ensemble(truth, pred.expand_dims(member=1), weights=weights),
        metrics.mae(truth, pred, weights=weights),
    )


def test_keep_attrs():
    truth, pred = field(), field(seed=1)
    ens = xr.concat([pred, field(seed=2)], dim="member")
    truth.attrs["source"] = "CERRA"
    for fn, args in [
        (metrics.rmse, (truth, pred)),
        (metrics.r2, (truth, pred)),
        (metrics.crps_ensemble, (truth, ens)),
        (metrics.spread_skill_ratio, (truth, ens)),
        (metrics.rank_histogram, (truth, ens)),
    ]:
        plain = fn(*args)
        assert "source" not in plain.attrs, fn.__name__
        kept = fn(*args, keep_attrs=True)
        assert kept.attrs["source"] == "CERRA", fn.__name__
        assert kept.attrs["long_name"] == plain.attrs["long_name"] != truth.attrs["long_name"]
        assert kept.attrs["units"] == plain.attrs["units"]
    spec = metrics.power_spectrum(truth, keep_attrs=True)
    assert spec.attrs["source"] == "CERRA" and spec.attrs["units"] == "K2 km"
    ds = xr.Dataset({"t2m": truth}, attrs={"institution": "here"})
    out = metrics.mae(ds, xr.Dataset({"t2m": pred}), keep_attrs=True)
    assert out.attrs == {"institution": "here"} and out["t2m"].attrs["source"] == "CERRA"
    assert metrics.mae(ds, xr.Dataset({"t2m": pred})).attrs == {}
    scores = metrics.score(ds, xr.Dataset({"t2m": ens}), keep_attrs=True)
    assert scores.attrs["institution"] == "here" and scores["t2m"].attrs["source"] == "CERRA"
    assert scores["t2m"].attrs["units"] == "K"


def test_skipna_false_propagates_missing_values():
    truth, pred = field(), field(seed=1)
    holed = truth.where(truth.latitude != truth.latitude[0])
    assert np.isnan(float(metrics.rmse(holed, pred, skipna=False)))
    assert np.isfinite(float(metrics.rmse(holed, pred)))


def test_weighted_rank_histogram_sums_to_cases():
    truth = field()
    ens = xr.concat([field(seed=s) for s in range(1, 4)], dim="member")
    hist = metrics.rank_histogram(truth, ens, weights="area")
    assert hist.dtype == np.float64
    np.testing.assert_allclose(float(hist.sum()), truth.size)


# ----------------------------------------------------------------- score: weights, times


def test_score_says_how_it_was_weighted():
    truth, ens, bicubic = score_inputs()
    plain = metrics.score(truth, ens, {"bicubic": bicubic})
    area = metrics.score(truth, ens, {"bicubic": bicubic}, weights="area")
    assert plain.attrs["weights"] == "none"
    assert area.attrs["weights"] == "area (cos latitude)"
    assert metrics.format_table(area).splitlines()[-1] == "weights: area (cos latitude)"
    np.testing.assert_allclose(
        area["t2m"].sel(model="xdeepr", metric="rmse"),
        metrics.rmse(truth, ens.mean("member"), weights="area"),
    )
    np.testing.assert_allclose(
        area["t2m"].sel(model="xdeepr", metric="crps"),
        metrics.crps_ensemble(truth, ens, weights="area"),
    )
    assert not np.allclose(area["t2m"].sel(metric="rmse"), plain["t2m"].sel(metric="rmse"))
    # the spectra ignore the weights
    xr.testing.assert_allclose(
        area["t2m"].sel(metric="spectral_ratio"), plain["t2m"].sel(metric="spectral_ratio")
    )
    w = xr.ones_like(truth.time, dtype="float64")
    assert metrics.score(truth, ens, weights=w).attrs["weights"] == "custom (DataArray over time)"


def longer(da: xr.DataArray, before: int, after: int) -> xr.DataArray:
    """`da` with extra time steps before and after (different values)."""
    times = da.time.values
    step = times[1] - times[0]
    extra = [
        (da.isel(time=0) + 1.0).assign_coords(time=times[0] - step * (before - i))
        for i in range(before)
    ] + [
        (da.isel(time=-1) - 1.0).assign_coords(time=times[-1] + step * (i + 1))
        for i in range(after)
    ]
    return xr.concat([*extra[:before], da, *extra[before:]], dim="time")


def test_score_aligns_on_shared_times():
    truth, ens, bicubic = score_inputs()
    expected = metrics.score(truth, ens, baselines={"bicubic": bicubic})
    # the truth covers more times than the prediction (issue 14, item 13)
    got = metrics.score(longer(truth, 2, 3), ens, baselines={"bicubic": bicubic})
    xr.testing.assert_allclose(got, expected)
    # a baseline covering more times too, and a prediction covering one time fewer
    got = metrics.score(
        longer(truth, 1, 0), ens.isel(time=slice(1, None)), {"bicubic": longer(bicubic, 0, 2)}
    )
    xr.testing.assert_allclose(
        got,
        metrics.score(
            truth.isel(time=slice(1, None)),
            ens.isel(time=slice(1, None)),
            {"bicubic": bicubic.isel(time=slice(1, None))},
        ),
    )


def test_score_without_shared_times_names_both_ranges():
    truth, ens, _ = score_inputs()
    later = ens.assign_coords(time=ens.time + np.timedelta64(10, "D"))
    with pytest.raises(xdeepr.errors.InputError) as err:
        metrics.score(truth, later)
    message = str(err.value)
    assert "1970-01-01" in message and "1970-01-11" in message and "1970-01-13" in message


def test_import_does_not_load_torch():
    code = "import sys, xdeepr.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
