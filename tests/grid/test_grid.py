"""Grid operations: finding coordinates, cropping, padding, interpolation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import grid
from xdeepr.grid import GridError


def make_grid(
    lat0: float = 50.0,
    nlat: int = 20,
    lon0: float = 6.0,
    nlon: int = 32,
    step: float = 0.25,
    descending: bool = True,
    names: tuple[str, str] = ("latitude", "longitude"),
    cf: bool = True,
    ntime: int = 2,
) -> xr.Dataset:
    lat = lat0 - step * np.arange(nlat) if descending else lat0 - step * np.arange(nlat)[::-1]
    lon = lon0 + step * np.arange(nlon)
    lon = np.where(lon >= 360, lon - 360, lon) if lon0 >= 0 else lon
    rng = np.random.default_rng(0)
    data = rng.normal(280, 3, (ntime, nlat, nlon)).astype("float32")
    ds = xr.Dataset(
        {"t2m": (("time", names[0], names[1]), data, {"units": "K", "long_name": "t"})},
        coords={
            "time": np.arange(ntime).astype("datetime64[D]"),
            names[0]: lat,
            names[1]: lon,
        },
        attrs={"title": "test"},
    )
    if cf:
        ds[names[0]].attrs = {"standard_name": "latitude", "units": "degrees_north"}
        ds[names[1]].attrs = {"standard_name": "longitude", "units": "degrees_east"}
    return ds


@pytest.mark.parametrize(
    ("names", "cf"),
    [
        (("latitude", "longitude"), True),
        (("lat", "lon"), False),
        (("y", "x"), True),
        (("rlat_odd", "rlon_odd"), True),
    ],
)
def test_find_latlon(names, cf):
    ds = make_grid(names=names, cf=cf)
    assert grid.find_latlon(ds) == names
    assert ds.deepr.latlon == names
    assert ds.t2m.deepr.latlon == names


def test_find_latlon_error_names_what_was_looked_for():
    ds = make_grid(names=("y", "x"), cf=False)
    with pytest.raises(GridError, match=r"latitude.*standard_name.*\['y', 'x'\]|latitude"):
        grid.find_latlon(ds)
    with pytest.raises(GridError, match="degrees_north"):
        grid.find_latlon(ds)


def test_grid_step_and_irregular_error():
    ds = make_grid()
    assert grid.grid_spacing(ds) == (-0.25, 0.25)
    bad = ds.assign_coords(longitude=np.r_[ds.longitude.values[:-1], 20.0])
    with pytest.raises(GridError, match="'longitude' is not regular"):
        grid.grid_step(bad, "longitude")


def test_scale_factor():
    c = make_grid()
    f = make_grid(lat0=48.0, lon0=9.2, step=0.05)
    assert grid.scale_factor(c, f) == 5
    g = make_grid(lat0=48.0, lon0=9.2, step=0.1)
    with pytest.raises(GridError, match="integer ratio"):
        grid.scale_factor(c, make_grid(step=0.07))
    with pytest.raises(GridError, match="2.5"):
        grid.scale_factor(c, g)


def test_check_inside_names_edge():
    c = make_grid()  # lat 50..45.25, lon 6..13.75
    inside = make_grid(lat0=48.0, lon0=9.2, step=0.05)
    grid.check_inside(inside, c)
    north = make_grid(lat0=50.5, lon0=9.2, step=0.05)
    with pytest.raises(GridError, match=r"north edge 50.5°N lies 0.5° north"):
        grid.check_inside(north, c)
    east = make_grid(lat0=48.0, lon0=13.0, step=0.05)
    with pytest.raises(GridError, match="east edge"):
        grid.check_inside(east, c)
    west = make_grid(lat0=48.0, lon0=5.0, step=0.05)
    with pytest.raises(GridError, match="west edge 5°E lies 1° west"):
        grid.check_inside(west, c)


# ------------------------------------------------------------------------------ crop


@settings(max_examples=40, deadline=None)
@given(
    descending=st.booleans(),
    convention=st.sampled_from(["-180", "360"]),
    swap_lat=st.booleans(),
    swap_lon=st.booleans(),
    w=st.integers(0, 20),
    width=st.integers(1, 10),
    s=st.integers(0, 15),
    height=st.integers(0, 4),
)
def test_crop_properties(descending, convention, swap_lat, swap_lon, w, width, s, height):
    lon0 = -10.0 if convention == "-180" else 350.0
    ds = make_grid(lat0=50.0, nlat=20, lon0=lon0, nlon=60, descending=descending)
    lon_vals = np.asarray(ds.longitude.values)
    west = float(lon_vals[w])
    east = float(lon_vals[w + width])
    north = 50.0 - 0.25 * s
    south = north - 0.25 * height
    # Perturb bounds by float noise: matched with a tolerance.
    lon_b = (west + 1e-7, east - 1e-7)
    lat_b = (north, south)
    if swap_lat:
        lat_b = lat_b[::-1]
    if swap_lon and west <= east:
        lon_b = lon_b[::-1]
    out = ds.deepr.crop(longitude=lon_b, latitude=lat_b)
    assert out.sizes["longitude"] == width + 1
    assert out.sizes["latitude"] == height + 1
    # Orientation and attrs kept.
    if height:
        assert (np.diff(out.latitude.values) < 0).all() == descending
    assert out.attrs == ds.attrs and out.t2m.attrs == ds.t2m.attrs
    assert out.latitude.attrs == ds.latitude.attrs
    # Values are the corresponding input points.
    for lat in out.latitude.values:
        for i, lon in enumerate(out.longitude.values):
            ref = ds.t2m.sel(latitude=lat).isel(longitude=w + i)
            np.testing.assert_array_equal(out.t2m.sel(latitude=lat).isel(longitude=i), ref)
            assert (lon - ds.longitude.values[w + i]) % 360 == pytest.approx(0, abs=1e-9)


def test_crop_coverage_mapping_as_in_deepr_yaml():
    ds = make_grid(lat0=52.0, nlat=40, lon0=0.0, nlon=80)
    cov = {"longitude": [6.0, 13.75], "latitude": [50, 45.25]}
    out = ds.deepr.crop(coverage=cov)
    assert out.sizes == {"time": 2, "latitude": 20, "longitude": 32}
    assert out.latitude.values[0] == 50.0 and out.longitude.values[-1] == 13.75


def test_crop_across_seam_on_0_360_data():
    ds = make_grid(lat0=10.0, nlat=4, lon0=0.0, nlon=1440)
    out = ds.deepr.crop(longitude=(-10, 10), latitude=(10, 9.25))
    assert out.sizes["longitude"] == 81
    lon = out.longitude.values
    assert np.allclose(np.diff(lon), 0.25)  # continuous
    assert lon[0] == pytest.approx(-10.0) and lon[-1] == pytest.approx(10.0)
    np.testing.assert_array_equal(out.t2m.isel(longitude=0), ds.t2m.sel(longitude=350.0))
    same = ds.deepr.crop(longitude=(350, 10), latitude=(10, 9.25))
    np.testing.assert_array_equal(same.t2m.values, out.t2m.values)


def test_crop_errors():
    ds = make_grid()
    with pytest.raises(GridError, match="no 'latitude' point lies in"):
        ds.deepr.crop(latitude=(80, 85))
    with pytest.raises(ValueError, match="unknown key"):
        ds.deepr.crop(coverage={"lon": [6, 7], "height": [0, 1]})
    with pytest.raises(ValueError, match="pair of numbers"):
        ds.deepr.crop(longitude=6.0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- pad


@settings(max_examples=30, deadline=None)
@given(
    nlat=st.integers(2, 30),
    nlon=st.integers(2, 30),
    levels=st.integers(1, 5),
    descending=st.booleans(),
    mode=st.sampled_from(["edge", "reflect", "symmetric", "constant"]),
)
def test_pad_unpad_roundtrip(nlat, nlon, levels, descending, mode):
    ds = make_grid(nlat=nlat, nlon=nlon, descending=descending)
    m = 2 ** (levels - 1)
    try:
        padded = ds.deepr.pad(levels=levels, mode=mode)
    except GridError:
        assert mode == "reflect"
        return
    assert padded.sizes["latitude"] % m == 0 and padded.sizes["longitude"] % m == 0
    assert padded.sizes["latitude"] - nlat < m and padded.sizes["longitude"] - nlon < m
    # Coordinates extended with the grid step, orientation kept.
    for name in ("latitude", "longitude"):
        d = np.diff(padded[name].values)
        assert np.allclose(d, grid.grid_step(ds, name))
    back = padded.deepr.unpad()
    xr.testing.assert_identical(back, ds)


def test_crop_is_lazy_on_dask():
    ds = make_grid().chunk({"time": 1})
    out = ds.deepr.crop(longitude=(7, 9), latitude=(49, 47))
    assert out.t2m.chunks is not None
    xr.testing.assert_identical(
        out.compute(), make_grid().deepr.crop(longitude=(7, 9), latitude=(49, 47))
    )


def test_pad_is_lazy_on_dask_and_reflects():
    ds = make_grid(nlat=5, nlon=6).chunk({"time": 1})
    padded = ds.deepr.pad(levels=3)
    assert padded.t2m.chunks is not None
    assert padded.sizes["latitude"] == 8
    np.testing.assert_array_equal(
        padded.t2m.isel(latitude=0, longitude=slice(1, 7)).values, ds.t2m.isel(latitude=1).values
    )
    with pytest.raises(ValueError, match="nothing to unpad"):
        ds.deepr.unpad()


# ----------------------------------------------------------------------- interpolate


def _smooth(lat, lon):
    return 280 + 3 * np.sin(np.deg2rad(lat) * 8)[:, None] + 2 * np.cos(np.deg2rad(lon) * 5)[None, :]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("target_desc", [True, False])
def test_interpolate_is_coordinate_aware(descending, target_desc):
    ds = make_grid(descending=descending)
    ds["t2m"] = (
        ("time", "latitude", "longitude"),
        np.broadcast_to(_smooth(ds.latitude.values, ds.longitude.values), (2, 20, 32)).copy(),
        ds.t2m.attrs,
    )
    target = make_grid(lat0=48.0, lon0=9.2, step=0.05, descending=target_desc, names=("lat", "lon"))
    out = ds.deepr.interpolate(target)
    assert out.t2m.dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(out.lat.values, target.lat.values)
    np.testing.assert_array_equal(out.lon.values, target.lon.values)
    assert out.lat.attrs == target.lat.attrs
    assert out.t2m.attrs == ds.t2m.attrs
    expected = _smooth(target.lat.values, target.lon.values)
    np.testing.assert_allclose(out.t2m.isel(time=0).values, expected, atol=2e-3)
    # Matches scipy's bicubic RectBivariateSpline.
    from scipy.interpolate import RectBivariateSpline

    la, lo = ds.latitude.values, ds.longitude.values
    o = np.argsort(la)
    spl = RectBivariateSpline(la[o], lo, ds.t2m.isel(time=0).values[o], kx=3, ky=3, s=0)
    tl = target.lat.values
    ref = spl(np.sort(tl), target.lon.values, grid=True)[np.argsort(np.argsort(tl))]
    np.testing.assert_allclose(out.t2m.isel(time=0).values, ref, rtol=1e-5, atol=1e-4)


def test_interpolate_other_longitude_convention_and_dask():
    ds = make_grid(lat0=50, lon0=350.0, nlon=60)  # 350 .. 4.75 across the seam
    ds = ds.deepr.crop(longitude=(350, 4.75))
    target = {"lat": [48.0, 47.95], "lon": [-5.0, -4.95, 0.0, 1.0]}
    out = ds.chunk({"time": 1}).deepr.interpolate(target)
    assert out.t2m.chunks is not None
    eager = ds.deepr.interpolate(target)
    xr.testing.assert_allclose(out.compute(), eager)
    near = ds.deepr.interpolate(target, method="nearest")
    np.testing.assert_array_equal(
        near.t2m.isel(lat=0, lon=2).values, ds.t2m.sel(latitude=48.0, longitude=360.0).values
    )


def test_interpolate_target_outside_source_is_an_error():
    ds = make_grid()
    with pytest.raises(GridError, match="north edge"):
        ds.deepr.interpolate({"lat": [55.0, 54.95], "lon": [9.0, 9.05]})
    with pytest.raises(ValueError, match="unknown method"):
        ds.deepr.interpolate({"lat": [48.0, 47.95], "lon": [9.0, 9.05]}, method="spline")


# ------------------------------------------------------------- global, real-shaped grids

COMPLETE = {
    "features": {"longitude": [-20.5, 39.25], "latitude": [66.25, 29]},
    "labels": {"longitude": [-10, 29.95], "latitude": [60, 35.05]},
}
REDUCED = {
    "features": {"longitude": [6.0, 13.75], "latitude": [50, 45.25]},
    "labels": {"longitude": [9.2, 10.75], "latitude": [48, 47.05]},
}


def global_grid(step: float, descending: bool, convention: str) -> xr.Dataset:
    import dask.array as dsa

    n_lat = round(180 / step) + 1
    lat = np.round(np.linspace(90, -90, n_lat), 6)
    if not descending:
        lat = lat[::-1]
    n_lon = round(360 / step)
    start = 0.0 if convention == "360" else -180.0
    lon = np.round(start + step * np.arange(n_lon), 6)
    data = dsa.zeros((1, n_lat, n_lon), chunks=(1, 512, 512), dtype="float32")
    return xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), data)},
        coords={"time": [np.datetime64("2020-01-01", "ns")], "latitude": lat, "longitude": lon},
    )


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("convention", ["360", "180"])
def test_crop_global_era5_and_cerra_shaped_grids(descending, convention):
    era5 = global_grid(0.25, descending, convention)
    cerra = global_grid(0.05, descending, convention)
    expected = {
        ("complete", "features"): (150, 240),
        ("complete", "labels"): (500, 800),
        ("reduced", "features"): (20, 32),
        ("reduced", "labels"): (20, 32),
    }
    for name, cov in (("complete", COMPLETE), ("reduced", REDUCED)):
        for what, ds in (("features", era5), ("labels", cerra)):
            out = ds.deepr.crop(coverage=cov[what])
            assert (out.sizes["latitude"], out.sizes["longitude"]) == expected[(name, what)]
            assert out.t2m.chunks is not None  # lazy
            lon = out.longitude.values
            assert np.allclose(np.diff(lon), abs(np.diff(lon)[0]))  # continuous, even across 0
            assert (np.diff(out.latitude.values) < 0).all() == descending
        grid.check_inside(cerra.deepr.crop(coverage=cov["labels"]), era5)
        grid.check_inside(
            cerra.deepr.crop(coverage=cov["labels"]), era5.deepr.crop(coverage=cov["features"])
        )


def test_interpolate_from_a_global_grid_and_spatial_chunks():
    era5 = global_grid(0.25, True, "180").isel(latitude=slice(100, 200))
    rng = np.random.default_rng(0)
    era5["t2m"] = era5.t2m.copy(data=rng.normal(size=era5.t2m.shape).astype("f4")).chunk(
        {"latitude": 30, "longitude": 500}
    )
    target = {"latitude": [48.0, 47.95], "longitude": [9.2, 9.25, 359.0]}
    out = era5.deepr.interpolate(target)
    ref = era5.compute().deepr.interpolate(target)
    xr.testing.assert_allclose(out.compute(), ref)


def test_squeeze_extra_dims_squeezes_size_one_and_keeps_bounds():
    ds = make_grid(nlat=3, nlon=4)
    var = next(iter(ds.data_vars))
    extra = ds.expand_dims(level=[850]).expand_dims(number=[0], axis=2)
    extra["time_bnds"] = (("time", "bnds"), np.zeros((2, 2)))
    out = grid.squeeze_extra_dims(extra, what="features")
    assert out[var].dims == ds[var].dims
    assert "level" not in out.coords and "number" not in out.coords
    assert out["time_bnds"].dims == ("time", "bnds")  # not gridded: left alone
    xr.testing.assert_identical(out[var], ds[var])
    kept = grid.squeeze_extra_dims(extra, drop=False)
    assert int(kept["level"]) == 850
    assert grid.squeeze_extra_dims(ds) is ds  # nothing to do: the same object
    da = grid.squeeze_extra_dims(extra[var])
    assert da.dims == ds[var].dims


def test_squeeze_extra_dims_names_a_larger_dim_and_how_to_pick_one():
    ds = make_grid(nlat=3, nlon=4)
    var = next(iter(ds.data_vars))
    many = ds.expand_dims(level=[500.0, 850.0])
    with pytest.raises(xdeepr.errors.InputError) as info:
        grid.squeeze_extra_dims(many, what="labels")
    msg = str(info.value)
    assert f"the labels have an extra dimension 'level' of size 2 (in {var!r})" in msg
    assert ".sel(level=500.0) or .isel(level=0)" in msg
    bare = ds.expand_dims(member=3).drop_vars("member", errors="ignore")
    with pytest.raises(ValueError, match=r"'member' of size 3.*pick one with \.isel\(member=0\)$"):
        grid.squeeze_extra_dims(bare)
