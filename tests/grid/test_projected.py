"""Projected (Lambert conformal, rotated pole, ...) and curvilinear label grids, end to end.

Grids of CERRA's and EURO-CORDEX's parameters (:mod:`tests.grid.synthetic`), labels
from an analytic field: interpolation, crop, pad, areas, training, model files,
downscaling (eager and dask), CF output through netCDF and zarr, scores, stations, plots.
"""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import xarray as xr

import xdeepr
from xdeepr import grid
from xdeepr.errors import GridError

from ..conftest import TINY
from . import synthetic

KINDS = ("lambert", "rotated", "curvilinear")


@pytest.fixture(scope="module", params=KINDS)
def case(request):
    kind = request.param
    return (kind, *synthetic.labels_on(kind, times=12))


@pytest.fixture(scope="module", params=("lambert", "rotated"))
def trained(request):
    """(kind, features, labels, tiny model, its 3-member ensemble of times 8..11)."""
    f, l, s = synthetic.labels_on(request.param, times=12)
    model = xdeepr.train(f, l, s, steps=2, validation_fraction=0.0, **TINY)
    ens = f.isel(time=slice(8, 12)).deepr.downscale(model, members=3, steps=2, progress=False)
    return request.param, f, l, model, ens


def test_find_grid_kinds(case):
    kind, _, labels, _ = case
    spec = grid.find_grid(labels)
    assert spec.kind == {"lambert": "projected", "rotated": "projected"}.get(kind, "curvilinear")
    assert spec.dims == {"rotated": ("rlat", "rlon")}.get(kind, ("y", "x"))
    if spec.kind == "projected":
        assert spec.grid_mapping == "crs"
        assert spec.crs == pyproj.CRS.from_cf(labels["crs"].attrs)
    bare = labels.drop_vars(["latitude", "longitude", "crs"], errors="ignore")
    with pytest.raises(GridError, match="no latitude coordinate.*curvilinear|mapping 'crs'"):
        grid.find_grid(bare)  # names what was looked for


def test_interpolation_reproduces_a_smooth_field(case):
    _, features, labels, _ = case
    hi = features.isel(time=slice(0, 3)).deepr.interpolate(labels)
    la, lo = labels["latitude"].values, labels["longitude"].values
    truth = np.stack([synthetic.field(la, lo, p) for p in np.linspace(0, 3, 12)[:3]])
    assert hi["t2m"].dims == ("time", *labels["latitude"].dims)
    assert float(np.abs(hi["t2m"].values - truth).max()) < 0.01  # well under 0.1 K
    lazy = features.isel(time=slice(0, 3)).chunk(time=1).deepr.interpolate(labels)
    assert lazy["t2m"].chunks is not None
    np.testing.assert_allclose(lazy["t2m"].values, hi["t2m"].values, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "mapping",
    [
        {
            "grid_mapping_name": "polar_stereographic",
            "straight_vertical_longitude_from_pole": -10.0,
            "latitude_of_projection_origin": 90.0,
            "standard_parallel": 60.0,
        },
        {
            "grid_mapping_name": "transverse_mercator",
            "longitude_of_central_meridian": 9.0,
            "latitude_of_projection_origin": 0.0,
            "scale_factor_at_central_meridian": 0.9996,
            "false_easting": 500000.0,
        },
    ],
    ids=lambda m: m["grid_mapping_name"],
)
def test_other_projections_from_projection_coordinates_only(mapping):
    crs = pyproj.CRS.from_cf(mapping)
    x0, y0 = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(9.0, 50.0)
    x, y = x0 + 4000.0 * np.arange(10), y0 + 4000.0 * np.arange(8)
    target = xr.Dataset(
        {"crs": ((), 0, mapping)},
        coords={
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
        },
    )
    features, _, _ = synthetic.labels_on("lambert", n=4, times=1)
    hi = grid.interpolate(features, target)
    xx, yy = np.meshgrid(x, y)
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    assert float(np.abs(hi["t2m"].isel(time=0).values - synthetic.field(lat, lon)).max()) < 0.01
    assert hi["t2m"].attrs["grid_mapping"] == "crs" and hi["latitude"].dims == ("y", "x")


def test_crop_selects_the_covering_index_window(case):
    _, _, labels, _ = case
    box = {"latitude": (50.6, 50.2), "longitude": (8.0, 8.6)}
    out = labels.deepr.crop(**box)
    la, lo = labels["latitude"].values, labels["longitude"].values
    inside = (la >= 50.2) & (la <= 50.6) & (lo >= 8.0) & (lo <= 8.6)
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    y, x = grid.horizontal_dims(labels)
    assert out.sizes[y] == rows[-1] - rows[0] + 1 and out.sizes[x] == cols[-1] - cols[0] + 1
    np.testing.assert_array_equal(
        out["latitude"].values, la[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    )
    with pytest.raises(GridError, match="no point"):
        labels.deepr.crop(latitude=(10, 11), longitude=(8, 9))


def test_pad_and_unpad_restore_the_grid(case):
    kind, _, labels, _ = case
    y, x = grid.horizontal_dims(labels)
    part = labels.isel({y: slice(0, 29)})
    padded = grid.pad(part, levels=4)
    assert padded.sizes[y] == 32 and padded.sizes[x] == 32
    assert np.isfinite(padded["latitude"].values).all()
    # 2-D latitude extended linearly: the padded rows continue the grid's rows
    step = np.diff(padded["latitude"].values[:, 5])
    np.testing.assert_allclose(step, step.mean(), rtol=0.05)
    back = grid.unpad(padded)
    for name in ("latitude", "longitude", "t2m"):
        np.testing.assert_array_equal(back[name].values, part[name].values)
    if kind == "curvilinear":  # no index coordinates: integer ones, kept
        assert back[y].values.tolist() == list(range(29))
    else:
        xr.testing.assert_identical(back[y], part[y])


def test_cell_areas_match_geodesic_polygons(case):
    kind, _, labels, _ = case
    area = grid.cell_area(labels)
    la, lo = labels["latitude"].values, labels["longitude"].values
    geod = pyproj.Geod(a=6371229.0, b=6371229.0)
    for i, j in ((5, 5), (20, 25)):  # the cell's corners: means of neighbouring centres
        corners = [
            (
                la[i + a : i + a + 2, j + b : j + b + 2].mean(),
                lo[i + a : i + a + 2, j + b : j + b + 2].mean(),
            )
            for a, b in ((-1, -1), (-1, 0), (0, 0), (0, -1))
        ]
        ref, _ = geod.polygon_area_perimeter([c[1] for c in corners], [c[0] for c in corners])
        assert abs(float(area[i, j]) / abs(ref) - 1) < 0.01
    if kind == "lambert":  # 5.5 km cells, LCC scale close to 1 near 50°N
        assert abs(float(area.mean()) / 5500.0**2 - 1) < 0.01


def test_train_save_load_downscale_eager_and_lazy(trained, tmp_path):
    _, features, labels, model, eager = trained
    spec = grid.find_grid(model.label_grid)
    assert spec.kind == "projected" and spec.grid_mapping == "crs"
    path = model.save(tmp_path / "m.xdeepr")
    loaded = xdeepr.load_model(path)
    xr.testing.assert_identical(loaded.label_grid, model.label_grid)
    assert loaded.digest == model.digest
    coarse = features.isel(time=slice(8, 12))
    lazy = coarse.chunk(time=1).deepr.downscale(loaded, members=3, steps=2, progress=False)
    assert lazy["t2m"].chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute(), atol=1e-4)  # same ensemble
    dims = grid.horizontal_dims(labels)
    assert eager["t2m"].dims == ("member", "time", *dims)
    assert eager["t2m"].attrs["grid_mapping"] == "crs"
    assert eager["latitude"].dims == dims and "crs" in eager.coords
    np.testing.assert_allclose(eager["latitude"].values, labels["latitude"].values, atol=1e-9)


def test_output_round_trips_with_its_projection(trained, tmp_path):
    import cf_xarray  # noqa: F401

    _, _, labels, _, out = trained
    out.to_netcdf(tmp_path / "out.nc")
    out.to_zarr(tmp_path / "out.zarr")
    for path, engine in ((tmp_path / "out.nc", "netcdf4"), (tmp_path / "out.zarr", "zarr")):
        back = xr.open_dataset(path, engine=engine, decode_coords="all")
        assert back.cf.grid_mapping_names == {labels["crs"].attrs["grid_mapping_name"]: ["crs"]}
        assert back["t2m"].cf["latitude"].dims == grid.horizontal_dims(labels)
        assert pyproj.CRS.from_cf(back["crs"].attrs) == pyproj.CRS.from_cf(labels["crs"].attrs)
        spec = grid.find_grid(back)
        assert spec.kind == "projected" and spec.crs == grid.find_grid(labels).crs
        xr.testing.assert_allclose(back["t2m"].load(), out["t2m"])
        plain = xr.open_dataset(path, engine=engine)  # the mapping as a data variable
        assert grid.find_grid(plain).grid_mapping == "crs"


def test_scores_with_area_weights_and_stations(trained):
    _, _, labels, _, ens = trained
    truth = labels.isel(time=slice(8, 12))[["t2m"]]
    weights = xdeepr.metrics.area_weights(truth)
    assert weights.dims == grid.horizontal_dims(labels) and float(weights.std()) > 0
    scores = ens.deepr.score(truth, weights="area")
    assert np.isfinite(scores["t2m"].sel(metric=["rmse", "crps"]).values).all()
    assert scores.attrs["weights"] == "area (cell area)"  # what was used, not cos latitude
    assert np.isfinite(scores["t2m"].sel(metric="spectral_ratio").values).all()  # (y, x) spectra
    # stations at three grid points and one far outside: values read back at the points
    la, lo = labels["latitude"].values, labels["longitude"].values
    pts = [(3, 4), (17, 9), (28, 30)]
    stations = xr.Dataset(
        {"t2m": (("time", "station"), np.zeros((4, 4)), {"units": "K"})},
        coords={
            "time": truth["time"].values,
            "station": ["a", "b", "c", "far"],
            "latitude": ("station", [la[p] for p in pts] + [10.0]),
            "longitude": ("station", [lo[p] for p in pts] + [100.0]),
        },
    )
    with pytest.warns(UserWarning, match="1 of 4 stations lie outside"):
        at = xdeepr.metrics.at_stations(truth["t2m"], stations)
    want = np.stack([truth["t2m"].values[:, i, j] for i, j in pts], axis=1)
    np.testing.assert_allclose(at.values[:, :3], want, atol=1e-3)
    assert np.isnan(at.values[:, 3]).all()
    near = stations.isel(station=slice(0, 3))
    rows, cols = xdeepr.observations.station_pixels(near, labels)
    assert list(zip(rows.tolist(), cols.tolist())) == pts
    skill = ens.deepr.score_at(near.assign(t2m=(("time", "station"), want, {"units": "K"})))
    assert np.isfinite(skill["t2m"].sel(metric="crps").values).all()


def test_comparison_plot_draws_cells_at_their_coordinates(trained):
    pytest.importorskip("matplotlib")
    from matplotlib.collections import QuadMesh

    kind, features, labels, _, ens = trained
    if kind != "lambert":
        pytest.skip("one projection is enough for the drawing code")
    coarse = features.isel(time=slice(8, 12))
    bicubic = coarse.deepr.interpolate(labels)
    fig = xdeepr.plot.comparison(coarse, bicubic, labels.isel(time=slice(8, 12)), ens)
    panels = fig.axes[:7]  # then the two colour bars
    meshes = [[c for c in ax.collections if isinstance(c, QuadMesh)] for ax in panels]
    assert [len(m) for m in meshes] == [0, 1, 1, 1, 1, 1, 1]  # the coarse input: an image
    left, right = panels[2].get_xlim()
    assert left >= labels["longitude"].min() - 0.1 and right <= labels["longitude"].max() + 0.1


@pytest.mark.slow  # the slowest here: a second training, with station channels
def test_station_channels_and_guidance_on_a_projected_grid(trained):
    kind, features, labels, plain, _ = trained
    if kind != "lambert":
        pytest.skip("one projection is enough: stations are placed by the same xdeepr.grid.locate")
    la, lo = labels["latitude"].values, labels["longitude"].values
    pts = [(3, 4), (17, 9), (28, 30)]
    values = np.stack([labels["t2m"].values[:, i, j] for i, j in pts], axis=1)
    obs = xr.Dataset(
        {"t2m": (("time", "station"), values, {"units": "K"})},
        coords={
            "time": labels["time"].values,
            "station": ["a", "b", "c"],
            "latitude": ("station", [la[p] for p in pts]),
            "longitude": ("station", [lo[p] for p in pts]),
        },
    )
    model = xdeepr.train(
        features, labels, None, steps=2, validation_fraction=0.0, observations=obs, **TINY
    )
    coarse = features.isel(time=slice(8, 10))
    channels = coarse.deepr.downscale(model, observations=obs, members=2, steps=2, progress=False)
    guided = coarse.deepr.downscale(
        plain, observations=obs, guidance=1.0, members=2, steps=2, progress=False
    )
    for out in (channels, guided):
        assert out.attrs["xdeepr_stations"] == 3 and out["t2m"].attrs["grid_mapping"] == "crs"
        assert np.isfinite(out["t2m"].values).all()


@pytest.mark.parametrize("kind", ["lambert", "rotated", "curvilinear"])
def test_spectra_on_projected_grids_find_a_known_wavelength(kind):
    """A wave of 44 km along the grid's x axis peaks at 44 km (5.5 km or 0.11° cells)."""
    _, labels, _ = synthetic.labels_on(kind, n=64, times=1)
    ydim, xdim = grid.find_grid(labels).dims
    cells = 8  # one period every 8 cells along x
    wave = np.sin(2 * np.pi * np.arange(labels.sizes[xdim]) / cells)
    field = labels["t2m"].isel(time=0) * 0 + xr.DataArray(wave, dims=xdim)
    spec = xdeepr.metrics.power_spectrum(field.transpose(ydim, xdim), detrend=None)
    la, lo = labels["latitude"].values, labels["longitude"].values
    geod = pyproj.Geod(ellps="sphere")
    step_km = np.mean(geod.inv(lo[:, :-1], la[:, :-1], lo[:, 1:], la[:, 1:])[2]) / 1000
    peak = float(spec["wavelength"][int(spec.argmax())])
    assert abs(peak - cells * step_km) <= 0.15 * cells * step_km  # within one ring
    ratio = xdeepr.metrics.spectral_ratio(field, field.expand_dims(member=2))
    assert np.isfinite(float(ratio)) and abs(float(ratio) - 1) < 1e-6
