"""Normalisation: the three DeepR methods, by month, calendars, dask, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import Scaler


def make_ds(calendar: str = "standard", ntime: int = 48, freq_days: int = 15) -> xr.Dataset:
    rng = np.random.default_rng(1)
    if calendar == "standard":
        time = pd.date_range("2001-01-01", periods=ntime, freq=f"{freq_days}D")
    else:
        time = xr.date_range(
            "2001-01-01", periods=ntime, freq=f"{freq_days}D", calendar=calendar, use_cftime=True
        )
    lat = np.array([48.0, 47.95, 47.9, 47.85])
    lon = np.array([9.2, 9.25, 9.3])
    month = np.asarray(xr.DataArray(time, dims="time").dt.month)
    base = 270 + 2 * month[:, None, None] + np.arange(12).reshape(1, 4, 3)
    data = base + rng.normal(0, 1 + month[:, None, None] / 6, (ntime, 4, 3))
    return xr.Dataset(
        {
            "t2m": (("time", "latitude", "longitude"), data.astype("float32"), {"units": "K"}),
            "tp": (
                ("time", "latitude", "longitude"),
                rng.gamma(1, 1, (ntime, 4, 3)),
                {"units": "m"},
            ),
        },
        coords={"time": time, "latitude": lat, "longitude": lon},
    )


def landmask(ds: xr.Dataset) -> xr.DataArray:
    m = np.zeros((4, 3))
    m[:2] = 1
    return xr.DataArray(
        m,
        dims=("latitude", "longitude"),
        coords={"latitude": ds.latitude, "longitude": ds.longitude},
    )


@pytest.mark.parametrize("method", ["domain-wise", "pixel-wise", "landmask-wise"])
@pytest.mark.parametrize("by_month", [False, True])
@pytest.mark.parametrize("calendar", ["standard", "360_day", "noleap"])
def test_roundtrip_and_moments(method, by_month, calendar):
    ds = make_ds(calendar)
    s = Scaler.fit(ds, method=method, by_month=by_month, landmask=landmask(ds))
    n = ds.deepr.normalize(s)
    assert n.t2m.attrs["units"] == "1"
    back = n.deepr.denormalize(s)
    xr.testing.assert_allclose(back, ds, rtol=1e-5)
    assert back.t2m.attrs["units"] == "K"
    # Normalised data have zero mean / unit std over the groups the method defines.
    groups = n.t2m.groupby("time.month") if by_month else [(None, n.t2m)]
    for _, g in groups:
        if method == "domain-wise":
            assert abs(float(g.mean())) < 1e-3
            assert float(g.std()) == pytest.approx(1, abs=1e-3)
        elif method == "pixel-wise":
            np.testing.assert_allclose(g.mean("time"), 0, atol=1e-3)
            np.testing.assert_allclose(g.std("time"), 1, atol=1e-3)
        else:
            land = landmask(ds) > 0.5
            for part in (g.where(land), g.where(~land)):
                assert abs(float(part.mean())) < 1e-3
                assert float(part.std()) == pytest.approx(1, abs=1e-3)


def test_by_month_shapes_and_missing_months():
    ds = make_ds(ntime=6, freq_days=10)  # January and February only
    s = Scaler.fit(ds, method="pixel-wise", by_month=True)
    assert s.mean["t2m"].shape == (12, 4, 3)
    all_months = Scaler.fit(ds, method="pixel-wise")
    np.testing.assert_allclose(s.mean["t2m"][6], all_months.mean["t2m"])


def test_lazy_on_dask():
    ds = make_ds()
    s = Scaler.fit(ds.chunk({"time": 10}), method="pixel-wise", by_month=True)
    s_np = Scaler.fit(ds, method="pixel-wise", by_month=True)
    np.testing.assert_allclose(s.mean["t2m"], s_np.mean["t2m"], rtol=1e-6)
    lazy = ds.chunk({"time": 10}).deepr.normalize(s)
    assert lazy.t2m.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), ds.deepr.normalize(s_np))


@settings(max_examples=10, deadline=None)
@given(
    method=st.sampled_from(["domain-wise", "pixel-wise", "landmask-wise"]), by_month=st.booleans()
)
def test_dict_roundtrip(method, by_month):
    ds = make_ds()
    s = Scaler.fit(ds, method=method, by_month=by_month, landmask=landmask(ds))
    d = s.to_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return isinstance(v, (str, bool, np.ndarray))

    assert plain(d)
    s2 = Scaler.from_dict(d)
    xr.testing.assert_identical(ds.deepr.normalize(s2), ds.deepr.normalize(s))


def test_dataarray_forwarding():
    ds = make_ds()
    s = Scaler.fit(ds.t2m)
    out = ds.t2m.deepr.normalize(s)
    assert isinstance(out, xr.DataArray) and out.name == "t2m"


def test_errors_name_the_problem():
    ds = make_ds()
    with pytest.raises(ValueError, match="unknown scaling method 'zscore'"):
        Scaler.fit(ds, method="zscore")
    with pytest.raises(ValueError, match="needs landmask="):
        Scaler.fit(ds, method="landmask-wise")
    with pytest.raises(ValueError, match=r"variables \['q'\] not found"):
        Scaler.fit(ds, variables=["q"])
    const = ds.assign(t2m=ds.t2m * 0 + 1)
    with pytest.raises(ValueError, match="'t2m' has a zero"):
        Scaler.fit(const, variables=["t2m"])
    s = Scaler.fit(ds, method="pixel-wise")
    padded = ds.deepr.pad(levels=3, mode="edge")
    with pytest.raises(ValueError, match="coordinate 'longitude'.*differs from the grid"):
        padded.deepr.normalize(s)
    with pytest.raises(ValueError, match="none of the scaler's variables"):
        ds[["tp"]].rename(tp="x").deepr.normalize(Scaler.fit(ds, variables=["t2m"]))


def test_top_level_export():
    assert xdeepr.Scaler is Scaler


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["domain-wise", "pixel-wise", "landmask-wise"]),
    by_month=st.booleans(),
    calendar=st.sampled_from(["standard", "360_day", "noleap"]),
    ntime=st.integers(3, 60),
    freq_days=st.integers(1, 40),
    chunked=st.booleans(),
)
def test_roundtrip_property(method, by_month, calendar, ntime, freq_days, chunked):
    ds = make_ds(calendar, ntime=ntime, freq_days=freq_days)
    counts = ds.time.dt.month.to_series().value_counts()
    assume(not by_month or method == "domain-wise" or counts.min() >= 2)
    s = Scaler.fit(ds, method=method, by_month=by_month, landmask=landmask(ds))
    src = ds.chunk({"time": 7}) if chunked else ds
    n = src.deepr.normalize(s)
    assert (n.t2m.chunks is not None) == chunked  # stays lazy on dask
    xr.testing.assert_allclose(n.deepr.denormalize(s).compute(), ds, rtol=1e-5)


def test_month_with_one_step_is_named():
    ds = make_ds(ntime=5, freq_days=10)  # 2001-02-10 is February's only step
    with pytest.raises(ValueError, match=r"'t2m' has a zero .* in calendar month\(s\) \[2\]"):
        Scaler.fit(ds, method="pixel-wise", by_month=True, variables=["t2m"])
