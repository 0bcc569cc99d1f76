"""xdeepr.datasets: the embedded sample and the pooch-backed fetch (local server only)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pytest
import xarray as xr
from scipy.interpolate import RectBivariateSpline

from xdeepr import datasets
from xdeepr.datasets import _fetch, load_sample
from xdeepr.errors import DataFetchError

# --------------------------------------------------------------------------------------
# The embedded sample
# --------------------------------------------------------------------------------------

FEATURE_LAT = 50.0 - 0.25 * np.arange(20)
FEATURE_LON = 6.0 + 0.25 * np.arange(32)
LABEL_LAT = 48.0 - 0.05 * np.arange(20)
LABEL_LON = 9.2 + 0.05 * np.arange(32)


@pytest.fixture(scope="module")
def sample() -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    t0 = time.perf_counter()
    result = load_sample()
    print(f"load_sample() took {time.perf_counter() - t0:.2f} s")
    return result


def test_sample_shapes_and_coords(sample):
    features, labels, _ = sample
    assert features.t2m.dims == labels.t2m.dims == ("time", "latitude", "longitude")
    assert features.t2m.shape == labels.t2m.shape == (2924, 20, 32)
    assert features.t2m.dtype == labels.t2m.dtype == np.float32
    np.testing.assert_allclose(features.latitude, FEATURE_LAT, rtol=0, atol=1e-9)
    np.testing.assert_allclose(features.longitude, FEATURE_LON, rtol=0, atol=1e-9)
    np.testing.assert_allclose(labels.latitude, LABEL_LAT, rtol=0, atol=1e-9)
    np.testing.assert_allclose(labels.longitude, LABEL_LON, rtol=0, atol=1e-9)
    assert np.all(np.diff(features.latitude) < 0) and np.all(np.diff(labels.latitude) < 0)
    time_ = features.time.values
    assert time_.dtype == np.dtype("datetime64[ns]")
    assert time_[0] == np.datetime64("2020-01-01T00")
    assert time_[-1] == np.datetime64("2021-12-31T18")
    assert np.all(np.diff(time_) == np.timedelta64(6, "h"))
    xr.testing.assert_identical(features.time, labels.time)
    assert np.isfinite(features.t2m).all() and np.isfinite(labels.t2m).all()
    assert 230 < float(labels.t2m.min()) and float(labels.t2m.max()) < 320


def test_sample_static_grids(sample):
    features, labels, static = sample
    assert static.orog.dims == static.lsm.dims == ("latitude", "longitude")
    assert static.orog_coarse.dims == ("latitude_coarse", "longitude_coarse")
    assert static.lsm_coarse.dims == ("latitude_coarse", "longitude_coarse")
    np.testing.assert_array_equal(static.latitude, labels.latitude)
    np.testing.assert_array_equal(static.longitude, labels.longitude)
    np.testing.assert_array_equal(static.latitude_coarse, features.latitude)
    np.testing.assert_array_equal(static.longitude_coarse, features.longitude)
    orog = static.orog_coarse.values
    assert 200 <= static.orog.min() and static.orog.max() <= 3000
    assert 200 <= orog.min() and orog.max() <= 3000
    assert set(np.unique(static.lsm)) == {0.0, 1.0}
    assert 20 <= int((static.lsm == 0).sum()) <= 100  # the lake in the label domain
    assert 0 <= static.lsm_coarse.min() < 1 and static.lsm_coarse.max() == 1
    # cf-xarray finds each variable's own coordinates.
    assert static.orog_coarse.cf["latitude"].name == "latitude_coarse"
    assert static.lsm_coarse.cf["longitude"].name == "longitude_coarse"
    assert static.orog.cf["latitude"].name == "latitude"


def test_sample_cf_attributes(sample):
    features, labels, static = sample
    for ds in (features, labels):
        assert ds.t2m.attrs["standard_name"] == "air_temperature"
        assert ds.t2m.attrs["units"] == "K"
        assert ds.t2m.attrs["long_name"] == "2 metre temperature"
        assert ds.latitude.attrs["units"] == "degrees_north" and ds.latitude.attrs["axis"] == "Y"
        assert ds.longitude.attrs["units"] == "degrees_east" and ds.longitude.attrs["axis"] == "X"
        assert ds.time.attrs["standard_name"] == "time"
        assert ds.cf.axes == {"T": ["time"], "X": ["longitude"], "Y": ["latitude"]}
    for ds in (features, labels, static):
        assert ds.attrs["source"] == "xdeepr synthetic sample"
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds.attrs["title"] and ds.attrs["history"]
    assert static.orog.attrs["standard_name"] == "surface_altitude"
    assert static.orog.attrs["units"] == static.orog_coarse.attrs["units"] == "m"
    assert static.lsm.attrs["standard_name"] == "land_binary_mask"
    for name in ("latitude_coarse", "longitude_coarse"):
        assert static[name].attrs["standard_name"] == name.split("_")[0]
    assert static.latitude_coarse.attrs["units"] == "degrees_north"
    assert static.longitude_coarse.attrs["units"] == "degrees_east"


def test_features_are_block_means_of_labels(sample):
    """Each coarse cell fully inside the label domain is the mean of its 5x5 labels."""
    features, labels, _ = sample
    checked = 0
    for lat in (47.75, 47.5, 47.25):
        for lon in (9.5, 9.75, 10.0, 10.25, 10.5):
            block = labels.t2m.sel(
                latitude=slice(lat + 0.101, lat - 0.101), longitude=slice(lon - 0.101, lon + 0.101)
            )
            assert block.shape[1:] == (5, 5)
            mean = block.values.astype(np.float64).mean(axis=(1, 2))
            coarse = features.t2m.sel(latitude=lat, longitude=lon).values
            np.testing.assert_allclose(mean, coarse, rtol=0, atol=1e-4)
            checked += 1
    assert checked == 15
    # The static fields are consistent in the same way.
    _, _, static = sample
    block = static.orog.sel(latitude=slice(47.851, 47.649), longitude=slice(9.899, 10.101))
    np.testing.assert_allclose(
        block.values.astype(np.float64).mean(),
        static.orog_coarse.sel(latitude_coarse=47.75, longitude_coarse=10.0),
        rtol=1e-5,
    )


def test_sample_is_deterministic_cached_and_copied():
    a = load_sample(periods=40)
    b = load_sample(periods=40)
    for x, y in zip(a, b):
        xr.testing.assert_identical(x, y)
    a[1].t2m[:] = 0.0  # mutating a result must not reach the cache
    a[2].orog[:] = 0.0
    c = load_sample(periods=40)
    xr.testing.assert_identical(c[1], b[1])
    xr.testing.assert_identical(c[2], b[2])


def test_sample_shorter_is_prefix(sample):
    features, labels, static = sample
    f8, l8, s8 = load_sample(periods=8)
    # Equal up to float32 rounding (BLAS may sum in another order for other sizes).
    xr.testing.assert_allclose(f8.t2m, features.t2m.isel(time=slice(8)), rtol=0, atol=1e-4)
    xr.testing.assert_allclose(l8.t2m, labels.t2m.isel(time=slice(8)), rtol=0, atol=1e-4)
    xr.testing.assert_equal(s8, static)


def test_sample_time_arguments():
    features, labels, _ = load_sample(start="2019-07-01T12", periods=3, freq="1D")
    expected = np.array(["2019-07-01T12", "2019-07-02T12", "2019-07-03T12"], "datetime64[ns]")
    np.testing.assert_array_equal(features.time, expected)
    assert labels.t2m.shape == (3, 20, 32)
    with pytest.raises(ValueError, match="periods"):
        load_sample(periods=0)
    with pytest.raises(ValueError, match="freq"):
        load_sample(periods=2, freq="not-a-frequency")


def test_sample_lapse_rate(sample):
    """Time-mean labels fall with altitude at about 6.5 K/km over land."""
    _, labels, static = sample
    mean = labels.t2m.mean("time").values
    land = static.lsm.values == 1
    lat, lon = np.meshgrid(labels.latitude, labels.longitude, indexing="ij")
    z_km = static.orog.values[land] / 1000.0
    design = np.column_stack([np.ones_like(z_km), z_km, lat[land], lon[land]])
    slope = np.linalg.lstsq(design, mean[land], rcond=None)[0][1]
    print(f"lapse rate: {slope:.2f} K/km")
    assert -8.0 < slope < -5.0


def test_sample_diurnal_cycle_land_sea_contrast(sample):
    _, labels, static = sample
    hourly = labels.t2m.groupby("time.hour").mean()
    amplitude = (hourly.max("hour") - hourly.min("hour")).values
    land = static.lsm.values == 1
    lake, over_land = amplitude[~land].mean(), amplitude[land].mean()
    print(f"diurnal range: lake {lake:.2f} K, land {over_land:.2f} K")
    assert lake < 1.5 < 4.0 < over_land


def test_sample_seasonal_cycle(sample):
    features, _, _ = sample
    monthly = features.t2m.mean(("latitude", "longitude")).groupby("time.month").mean()
    values = monthly.values
    assert int(values.argmax()) + 1 in (6, 7, 8) and int(values.argmin()) + 1 in (12, 1, 2)
    assert 14.0 < float(monthly.max() - monthly.min()) < 26.0


def test_sample_structure_is_predictable_noise_is_not(sample):
    """Static-driven structure beats bicubic interpolation; the rest is noise.

    Fit a per-pixel, per-hour, per-season mean of (labels - bicubic(features)) on
    the first year; on the second year it removes most of the bicubic error, and
    what is left is small-scale noise of about 0.3-0.8 K.
    """
    features, labels, _ = sample
    coarse = features.t2m.values[:, ::-1].astype(np.float64)  # ascending latitude
    lat_c, lon_c = features.latitude.values[::-1], features.longitude.values
    lat_l, lon_l = labels.latitude.values[::-1], labels.longitude.values
    bicubic = np.stack(
        [RectBivariateSpline(lat_c, lon_c, c, kx=3, ky=3)(lat_l, lon_l)[::-1] for c in coarse]
    )
    residual = labels.t2m.values - bicubic
    hours = labels.time.dt.hour.values
    season = (labels.time.dt.month.values % 12) // 3
    train = labels.time.dt.year.values == 2020
    predicted = np.zeros_like(residual)
    for h in np.unique(hours):
        for s in range(4):
            sel = (hours == h) & (season == s)
            predicted[sel] = residual[sel & train].mean(axis=0)
    rmse_bicubic = np.sqrt(np.mean(residual[~train] ** 2))
    rmse_static = np.sqrt(np.mean((residual - predicted)[~train] ** 2))
    print(f"RMSE bicubic {rmse_bicubic:.3f} K, with static structure {rmse_static:.3f} K")
    assert rmse_bicubic > 1.0
    assert 0.3 < rmse_static < 0.6 * rmse_bicubic


# --------------------------------------------------------------------------------------
# fetch, against a local HTTP server
# --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                server.requests[self.path.lstrip("/")] += 1
                super().do_GET()

            def log_message(self, format, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )


@contextlib.contextmanager
def _serving(root: Path) -> Iterator[_Server]:
    """Serve the files under `root` on 127.0.0.1 for the duration of the block."""
    srv = _Server(root)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    small = xr.Dataset(
        {"t2m": (("latitude", "longitude"), np.arange(6.0).reshape(2, 3) + 270.0)},
        coords={"latitude": [48.0, 47.75], "longitude": [9.0, 9.25, 9.5]},
    )
    small.to_netcdf(root / "sample.nc")
    parts = root / "parts"
    (parts / "features").mkdir(parents=True)
    (parts / "labels").mkdir()
    times = np.array(["2020-01-01", "2020-01-02"], "datetime64[ns]")
    for i, name in enumerate(("features/x.nc", "labels/y.nc")):
        ds = small.expand_dims(time=times) + i
        ds.to_netcdf(parts / name)
    with zipfile.ZipFile(root / "deepr-test-data.zip", "w") as zf:
        for name in ("features/x.nc", "labels/y.nc"):
            zf.write(parts / name, arcname=name)
    with _serving(root) as srv:
        yield srv


@pytest.fixture
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every outgoing connection; refuse any that is not to the loopback."""
    seen: list[object] = []
    connect = socket.socket.connect

    def guarded(sock, address):
        seen.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if not ipaddress.ip_address(host).is_loopback:
            raise OSError(f"test tried to reach the network: {address!r}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return seen


@pytest.fixture
def env(tmp_path, server, only_loopback, monkeypatch):
    """Cache in a tmp dir, every file mirrored by the local server."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDEEPR_DATA_DIR", str(cache))
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", server.url)
    return cache


def _use_registry(monkeypatch, tmp_path, lines: list[str]) -> None:
    registry = tmp_path / "registry.txt"
    registry.write_text("# test registry\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(_fetch, "_REGISTRY_FILE", registry)


def test_fetch_netcdf_verifies_and_caches(env, server, only_loopback, monkeypatch, tmp_path):
    digest = _sha256(server.root / "sample.nc")
    _use_registry(monkeypatch, tmp_path, [f"sample.nc {digest} https://example.invalid/x.nc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pinned hash: no warning
        ds = datasets.fetch("sample.nc")
    assert isinstance(ds, xr.Dataset)
    np.testing.assert_array_equal(ds.t2m, np.arange(6.0).reshape(2, 3) + 270.0)
    ds.close()
    assert (env / "sample.nc").is_file()
    again = datasets.fetch("sample.nc")
    again.close()
    assert server.requests == Counter({"sample.nc": 1})  # the second fetch hit the cache
    assert only_loopback and all(addr[0] == "127.0.0.1" for addr in only_loopback)


def test_fetch_deepr_archive_unpinned(env, server, only_loopback, monkeypatch, tmp_path):
    url = "https://cloud.predictia.es/s/zen8PGwJbi7mTCB/download"
    _use_registry(monkeypatch, tmp_path, [f"deepr-test-data.zip none {url}"])
    digest = _sha256(server.root / "deepr-test-data.zip")
    with pytest.warns(UserWarning, match="not pinned") as record:
        features, labels = datasets.fetch("deepr-test-data.zip")
    assert digest in str(record[0].message)
    assert isinstance(features, xr.Dataset) and isinstance(labels, xr.Dataset)
    assert features.t2m.shape == labels.t2m.shape == (2, 2, 3)
    np.testing.assert_array_equal(labels.t2m - features.t2m, 1.0)
    features.close()
    labels.close()
    with pytest.warns(UserWarning, match="not pinned"):
        features, labels = datasets.fetch("deepr-test-data.zip")
    features.close()
    labels.close()
    assert server.requests == Counter({"deepr-test-data.zip": 1})
    assert all(addr[0] == "127.0.0.1" for addr in only_loopback)


def test_fetch_refuses_corrupted_download(env, server, monkeypatch, tmp_path):
    wrong = hashlib.sha256(b"not the served file").hexdigest()
    _use_registry(monkeypatch, tmp_path, [f"sample.nc {wrong}"])
    with pytest.raises(_fetch.DataHashError, match="'sample.nc'") as info:
        datasets.fetch("sample.nc")
    message = str(info.value)
    assert wrong in message and _sha256(server.root / "sample.nc") in message
    assert "corrupted" in message and "Retry" in message
    assert isinstance(info.value, ValueError)
    assert not (env / "sample.nc").exists()  # nothing bad was cached


_HTML = b"""<!DOCTYPE html>
<html><head><title>Sign in</title></head><body>Please log in to download.</body></html>
"""
_DEEPR_URL = "https://cloud.predictia.es/s/zen8PGwJbi7mTCB/download"


@pytest.fixture
def html_mirror(tmp_path: Path) -> Iterator[_Server]:
    """A mirror that answers 200 with an HTML page for every registered name."""
    root = tmp_path / "html"
    root.mkdir()
    for name in ("deepr-test-data.zip", "sample.nc"):
        (root / name).write_bytes(_HTML)
    with _serving(root) as srv:
        yield srv


def _cache_files(cache: Path) -> list[Path]:
    """Every file (temporary ones included) under the cache directory."""
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def _assert_clear(message: str, cache_path: Path, url: str) -> None:
    """A fetch error names the cache path, the URL and what to do."""
    assert str(cache_path) in message, message
    assert url in message, message
    assert "XDEEPR_DATA_MIRROR" in message, message


def test_fetch_html_mirror_caches_nothing_then_good_mirror_works(
    env, server, html_mirror, monkeypatch, tmp_path
):
    """A mirror serving an HTML page: a clear error, nothing cached; a good mirror then works."""
    _use_registry(monkeypatch, tmp_path, [f"deepr-test-data.zip none {_DEEPR_URL}"])
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", html_mirror.url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not pinned" warning for a refused download
        with pytest.raises(DataFetchError) as info:
            datasets.fetch("deepr-test-data.zip")
    message = str(info.value)
    _assert_clear(message, env / "deepr-test-data.zip", f"{html_mirror.url}/deepr-test-data.zip")
    assert "HTML page" in message and "nothing was cached" in message
    assert "check the network" not in message.lower()  # the network is fine; the content is not
    assert _cache_files(env) == []
    assert html_mirror.requests == Counter({"deepr-test-data.zip": 1})

    monkeypatch.setenv("XDEEPR_DATA_MIRROR", server.url)
    with pytest.warns(UserWarning, match="not pinned"):
        features, labels = datasets.fetch("deepr-test-data.zip")
    np.testing.assert_array_equal(labels.t2m - features.t2m, 1.0)
    features.close()
    labels.close()
    assert server.requests == Counter({"deepr-test-data.zip": 1})
    assert _sha256(env / "deepr-test-data.zip") == _sha256(server.root / "deepr-test-data.zip")


def test_fetch_html_page_for_netcdf_is_not_cached(env, html_mirror, monkeypatch, tmp_path):
    _use_registry(monkeypatch, tmp_path, ["sample.nc none"])
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", html_mirror.url)
    with pytest.raises(DataFetchError, match="HTML page") as info:
        datasets.fetch("sample.nc")
    _assert_clear(str(info.value), env / "sample.nc", f"{html_mirror.url}/sample.nc")
    assert _cache_files(env) == []


def _truncate_archive(cache: Path) -> None:
    archive = cache / "deepr-test-data.zip"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])


def _damage_extracted(cache: Path) -> None:
    (cache / "deepr-test-data.zip.unzip" / "labels" / "y.nc").write_bytes(b"\0" * 64)


def _html_in_cache(cache: Path) -> None:  # what a bad mirror left there before
    shutil.rmtree(cache / "deepr-test-data.zip.unzip")
    (cache / "deepr-test-data.zip").write_bytes(_HTML)


@pytest.mark.parametrize("damage", [_truncate_archive, _damage_extracted, _html_in_cache])
def test_fetch_replaces_damaged_cached_archive(env, server, monkeypatch, tmp_path, damage):
    """A cached zip (or what it extracted to) that does not open is removed and re-fetched."""
    _use_registry(monkeypatch, tmp_path, [f"deepr-test-data.zip none {_DEEPR_URL}"])
    with pytest.warns(UserWarning, match="not pinned"):
        features, labels = datasets.fetch("deepr-test-data.zip")
    features.close()
    labels.close()
    damage(env)
    with pytest.warns(UserWarning) as record:
        features, labels = datasets.fetch("deepr-test-data.zip")
    messages = [str(w.message) for w in record]
    assert any(
        "cached copy of 'deepr-test-data.zip'" in m and "removed" in m and str(env) in m
        for m in messages
    ), messages
    np.testing.assert_array_equal(labels.t2m - features.t2m, 1.0)
    features.close()
    labels.close()
    assert server.requests == Counter({"deepr-test-data.zip": 2})  # fetched once more
    assert _sha256(env / "deepr-test-data.zip") == _sha256(server.root / "deepr-test-data.zip")
    assert not [p for p in _cache_files(env) if p.name.endswith(".part")]


def test_fetch_damaged_cache_and_bad_mirror_leaves_nothing(
    env, server, html_mirror, monkeypatch, tmp_path
):
    """A damaged cached zip whose re-fetch gets an HTML page: a clear error, an empty cache."""
    _use_registry(monkeypatch, tmp_path, [f"deepr-test-data.zip none {_DEEPR_URL}"])
    with pytest.warns(UserWarning, match="not pinned"):
        features, labels = datasets.fetch("deepr-test-data.zip")
    features.close()
    labels.close()
    _truncate_archive(env)
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", html_mirror.url)
    with pytest.warns(UserWarning, match="removed"), pytest.raises(DataFetchError) as info:
        datasets.fetch("deepr-test-data.zip")
    _assert_clear(
        str(info.value), env / "deepr-test-data.zip", f"{html_mirror.url}/deepr-test-data.zip"
    )
    assert _cache_files(env) == []


def test_fetch_refuses_hash_mismatch(env, server, html_mirror, monkeypatch, tmp_path):
    """A pinned hash that the download does not have: refused, named, nothing cached."""
    digest = _sha256(server.root / "deepr-test-data.zip")
    _use_registry(monkeypatch, tmp_path, [f"deepr-test-data.zip {digest} {_DEEPR_URL}"])
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", html_mirror.url)
    with pytest.raises(DataFetchError) as info:
        datasets.fetch("deepr-test-data.zip")
    err = info.value
    assert isinstance(err, _fetch.DataHashError) and isinstance(err, ValueError)
    message = str(err)
    _assert_clear(message, env / "deepr-test-data.zip", f"{html_mirror.url}/deepr-test-data.zip")
    assert digest in message and hashlib.sha256(_HTML).hexdigest() in message
    assert "check the network" not in message.lower()
    assert _cache_files(env) == []
    # The good mirror's copy has the pinned hash: accepted, no warning.
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features, labels = datasets.fetch("deepr-test-data.zip")
    features.close()
    labels.close()
    assert server.requests == Counter({"deepr-test-data.zip": 1})


def test_fetch_network_advice_only_for_network_errors(env, server, monkeypatch, tmp_path):
    """'Check the network' for a refused connection, not for a file the server lacks."""
    _use_registry(monkeypatch, tmp_path, ["absent.nc none"])
    with pytest.raises(DataFetchError, match="could not download 'absent.nc'") as info:
        datasets.fetch("absent.nc")
    message = str(info.value)
    assert "404" in message and "check the network" not in message.lower()
    _assert_clear(message, env / "absent.nc", f"{server.url}/absent.nc")

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", closed)
    with pytest.raises(DataFetchError, match="Check the network") as info:
        datasets.fetch("absent.nc")
    _assert_clear(str(info.value), env / "absent.nc", f"{closed}/absent.nc")
    assert _cache_files(env) == []


def test_fetch_reports_missing_file(env, monkeypatch, tmp_path):
    _use_registry(monkeypatch, tmp_path, ["absent.nc none"])
    with pytest.raises(OSError, match="could not download 'absent.nc'"):
        datasets.fetch("absent.nc")


def test_fetch_unknown_name_lists_known(env):
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*deepr-test-data.zip"):
        datasets.fetch("nope")


def test_registry_file_and_environment(monkeypatch, tmp_path):
    hashes, urls = _fetch._read_registry(_fetch._REGISTRY_FILE)
    assert hashes["deepr-test-data.zip"] is None
    assert urls["deepr-test-data.zip"] == "https://cloud.predictia.es/s/zen8PGwJbi7mTCB/download"
    monkeypatch.delenv("XDEEPR_DATA_MIRROR", raising=False)
    monkeypatch.setenv("XDEEPR_DATA_DIR", str(tmp_path / "here"))
    pup = _fetch._registry()
    assert pup.get_url("deepr-test-data.zip") == urls["deepr-test-data.zip"]
    assert Path(pup.abspath) == tmp_path / "here"
    assert not (tmp_path / "here").exists()  # building the Pooch touches nothing
    monkeypatch.setenv("XDEEPR_DATA_MIRROR", "http://mirror.example/data/")
    pup = _fetch._registry()
    assert pup.get_url("deepr-test-data.zip") == "http://mirror.example/data/deepr-test-data.zip"


def test_registry_rejects_malformed_lines(tmp_path):
    bad = tmp_path / "registry.txt"
    bad.write_text("only-a-name\n")
    with pytest.raises(ValueError, match="line 1"):
        _fetch._read_registry(bad)


def test_import_touches_neither_network_nor_disk(tmp_path):
    """In a fresh interpreter: importing xdeepr opens no socket and creates no cache."""
    cache = tmp_path / "cache"
    code = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise SystemExit("import opened a socket")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        import xdeepr, xdeepr.datasets
        assert "pooch" not in sys.modules, "pooch imported at import time"
        """
    )
    env = {**os.environ, "XDEEPR_DATA_DIR": str(cache), "XDEEPR_DATA_MIRROR": "http://10.0.0.1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not cache.exists()


def test_bicubic_baseline_on_the_sample(sample):
    """The interpolation baseline of the accessor on the whole sample (BENCHMARKS.md)."""
    import xdeepr

    features, labels, _ = sample
    bicubic = features.deepr.interpolate(labels)
    rmse = float(xdeepr.metrics.rmse(bicubic.t2m, labels.t2m))
    print(
        f"bicubic baseline RMSE on the embedded sample ({labels.sizes['time']} times): {rmse:.3f} K"
    )
    assert 1.0 < rmse < 1.6
