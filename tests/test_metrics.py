"""Verification metrics: values against numpy/properscoring, calibration, spectra, score()."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from xdeepr import metrics

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
    np.testing.assert_allclose(metrics.rmse(pred, truth, dim=dim), np.sqrt((err**2).mean(axes)))
    np.testing.assert_allclose(metrics.mae(pred, truth, dim=dim), np.abs(err).mean(axes))
    np.testing.assert_allclose(metrics.mean_error(pred, truth, dim=dim), err.mean(axes))
    sst = ((t - t.mean(axes, keepdims=True)) ** 2).sum(axes)
    np.testing.assert_allclose(metrics.r2(pred, truth, dim=dim), 1 - (err**2).sum(axes) / sst)


def test_deterministic_keeps_member_and_attrs():
    truth = field()
    ens = xr.concat([field(seed=s) for s in (1, 2)], dim="member")
    out = metrics.rmse(ens, truth)
    assert out.dims == ("member",)
    assert out.attrs["units"] == "K"
    np.testing.assert_allclose(out[1], metrics.rmse(ens.isel(member=1), truth))
    assert metrics.r2(truth, truth).attrs["units"] == "1"
    assert float(metrics.r2(truth, truth)) == 1.0


def test_nan_points_are_skipped_consistently():
    truth = field()
    pred = field(seed=1)
    holed = truth.where(truth.latitude != truth.latitude[0])
    sub = dict(latitude=slice(1, None))
    for fn in (metrics.rmse, metrics.mae, metrics.mean_error, metrics.r2):
        np.testing.assert_allclose(fn(pred, holed), fn(pred.isel(sub), truth.isel(sub)))


def test_dataset_scored_per_variable():
    truth = xr.Dataset({"t2m": field(seed=0), "u10": field(seed=2)})
    pred = xr.Dataset({"t2m": field(seed=1), "u10": field(seed=3)})
    out = metrics.mae(pred, truth)
    assert isinstance(out, xr.Dataset)
    np.testing.assert_allclose(out["u10"], metrics.mae(pred["u10"], truth["u10"]))


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
    got = metrics._crps_numpy(ens, obs, fair=False)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    da = metrics.crps_ensemble(xr.DataArray(ens, dims=("x", "member")), xr.DataArray(obs, dims="x"))
    np.testing.assert_allclose(float(da), expected.mean(), rtol=1e-6)


def test_crps_nan_members_ignored_like_properscoring():
    properscoring = pytest.importorskip("properscoring")
    rng = np.random.default_rng(1)
    ens = rng.normal(size=(50, 8))
    ens[::3, 2] = np.nan
    obs = rng.normal(size=50)
    obs[7] = np.nan
    np.testing.assert_allclose(
        metrics._crps_numpy(ens, obs, fair=False),
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
    np.testing.assert_allclose(metrics._crps_numpy(ens, obs, fair=True), expected, rtol=1e-9)


def test_deterministic_crps_is_mae():
    truth, pred = field(), field(seed=1)
    xr.testing.assert_allclose(metrics.crps_ensemble(pred, truth), metrics.mae(pred, truth))
    one = metrics.crps_ensemble(pred.expand_dims(member=1), truth)
    np.testing.assert_allclose(one, metrics.mae(pred, truth))


def test_crps_dim_subset_and_units():
    truth = field()
    ens = xr.concat([field(seed=s) for s in range(1, 6)], dim="member")
    out = metrics.crps_ensemble(ens, truth, dim="time")
    assert set(out.dims) == {"latitude", "longitude"}
    assert out.attrs["units"] == "K"
    np.testing.assert_allclose(out.mean(), metrics.crps_ensemble(ens, truth))


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
        assert abs(float(metrics.spread_skill_ratio(ens, truth)) - 1.0) < 0.05
    ens, truth = calibrated(spread=0.4)
    assert float(metrics.spread_skill_ratio(ens, truth)) < 0.6


def test_rank_histogram_shapes():
    m = 10
    ens, truth = calibrated(m=m)
    hist = metrics.rank_histogram(ens, truth)
    assert hist.dims == ("rank",)
    assert hist["rank"].values.tolist() == list(range(m + 1))
    assert int(hist.sum()) == truth.size
    expected = truth.size / (m + 1)
    chi2 = float(((hist - expected) ** 2 / expected).sum())
    assert chi2 < 40  # 10 degrees of freedom: p ≈ 2e-5
    ens, truth = calibrated(m=m, spread=0.4)
    under = metrics.rank_histogram(ens, truth).values
    assert under[0] > 2 * under[m // 2] and under[-1] > 2 * under[m // 2]


def test_rank_histogram_ties_random_but_seeded():
    ens = xr.DataArray(np.zeros((3000, 4)), dims=("case", "member"))
    truth = xr.DataArray(np.zeros(3000), dims="case")
    a = metrics.rank_histogram(ens, truth, seed=1)
    assert (a > 450).all()  # spread over all 5 ranks
    xr.testing.assert_identical(a, metrics.rank_histogram(ens, truth, seed=1))


def test_rank_histogram_keeps_other_dims_and_skips_nan():
    truth = field()
    ens = xr.concat([field(seed=s) for s in range(1, 4)], dim="member")
    truth = truth.where(truth.latitude != truth.latitude[0])
    hist = metrics.rank_histogram(ens, truth, dim=["latitude", "longitude"])
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
    assert float(metrics.spectral_ratio(smooth, da)) < 0.5
    noisy = da + np.random.default_rng(0).normal(0, da.std().item(), da.shape)
    assert float(metrics.spectral_ratio(noisy, da)) > 1.5
    ens = xr.concat([da, da], dim="member")
    assert float(metrics.spectral_ratio(ens, da)) == pytest.approx(1.0)
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
    scores = metrics.score(ens, truth, baselines={"bicubic": bicubic})
    assert list(scores.data_vars) == ["t2m"]
    assert scores["t2m"].dims == ("metric", "model")
    assert scores["model"].values.tolist() == ["xdeepr", "bicubic"]
    assert scores["metric"].values.tolist() == list(metrics.SCORE_METRICS)
    s = scores["t2m"]
    mean = ens.mean("member")
    np.testing.assert_allclose(s.sel(model="xdeepr", metric="rmse"), metrics.rmse(mean, truth))
    np.testing.assert_allclose(
        s.sel(model="xdeepr", metric="crps"), metrics.crps_ensemble(ens, truth)
    )
    np.testing.assert_allclose(s.sel(model="bicubic", metric="crps"), metrics.mae(bicubic, truth))
    assert np.isnan(s.sel(model="bicubic", metric="spread_skill"))
    assert np.isfinite(s.sel(model="xdeepr", metric="spread_skill"))
    assert float(s.sel(model="bicubic", metric="spectral_ratio")) < 1.0
    table = metrics.format_table(scores)
    assert table.splitlines()[0] == "t2m [K]"
    assert "xdeepr" in table and "bicubic" in table
    assert len(table.splitlines()) == 2 + len(metrics.SCORE_METRICS)


def test_score_dataset_and_kept_dims():
    truth, ens, bicubic = score_inputs()

    def ds(da):
        return xr.Dataset({"t2m": da, "u10": da * 0.1})

    scores = metrics.score(
        ds(ens), ds(truth), baselines={"bicubic": ds(bicubic)}, dim=["latitude", "longitude"]
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
            xr.Dataset({"t2m": ens}),
            xr.Dataset({"t2m": truth, "u10": truth}),
        )


# ----------------------------------------------------------------- errors


def test_grid_mismatch_names_the_coordinate():
    truth = field()
    shifted = field(seed=1).assign_coords(longitude=truth.longitude + 0.5)
    with pytest.raises(ValueError, match="longitude"):
        metrics.rmse(shifted, truth)
    with pytest.raises(ValueError, match="latitude"):
        metrics.mae(field(shape=(3, 7, 5)), truth)


def test_float_noise_in_coordinates_is_tolerated_and_names_matched():
    truth = field()
    pred = field(seed=1)
    noisy = pred.assign_coords(latitude=pred.latitude + 1e-9)
    assert metrics.rmse(noisy, truth).size == 1
    renamed = pred.rename(latitude="lat", longitude="lon")
    np.testing.assert_allclose(metrics.rmse(renamed, truth), metrics.rmse(pred, truth))


def test_missing_member_dim_error():
    truth, pred = field(), field(seed=1)
    for fn in (metrics.spread_skill_ratio, metrics.rank_histogram):
        with pytest.raises(ValueError, match=r"'member'.*\['time', 'latitude', 'longitude'\]"):
            fn(pred, truth)
    with pytest.raises(ValueError, match="ens"):
        metrics.crps_ensemble(pred.expand_dims(member=2), truth.expand_dims(member=2))


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
        (metrics.rmse, (b, t)),
        (metrics.r2, (b, t)),
        (metrics.crps_ensemble, (e, t)),
        (metrics.spread_skill_ratio, (e, t)),
        (metrics.rank_histogram, (e, t)),
        (metrics.power_spectrum, (e,)),
    ]:
        out = fn(*args)
        assert out.chunks is not None, fn.__name__
        eager = fn(*(x.compute() for x in args))
        xr.testing.assert_allclose(out.compute(), eager)
    lazy_scores = metrics.score(e, t, baselines={"bicubic": b})
    assert lazy_scores["t2m"].chunks is not None
    xr.testing.assert_allclose(
        lazy_scores.compute(), metrics.score(ens, truth, baselines={"bicubic": bicubic})
    )
