"""Figures: sizes, panel counts, nothing blank, saving."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from xdeepr import metrics, plot  # noqa: E402

LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north"}
LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east"}


def grid(step: float, lat0: float, lon0: float, ny: int, nx: int, seed: int = 0, nt: int = 2):
    lat = lat0 - step * np.arange(ny)
    lon = lon0 + step * np.arange(nx)
    rng = np.random.default_rng(seed)
    base = 285.0 - 2.0 * (lat[:, None] - 47.5) + 3.0 * np.sin(3.0 * lon[None, :])
    return xr.DataArray(
        base + rng.normal(size=(nt, ny, nx)),
        dims=("time", "latitude", "longitude"),
        coords={
            "time": np.arange(nt).astype("datetime64[D]"),
            "latitude": ("latitude", lat, LAT_ATTRS),
            "longitude": ("longitude", lon, LON_ATTRS),
        },
        name="t2m",
        attrs={"long_name": "2 metre temperature", "units": "K"},
    )


@pytest.fixture(scope="module")
def fields():
    coarse = grid(0.25, 50.0, 6.0, 20, 32)
    truth = grid(0.05, 48.0, 9.2, 20, 32)
    bicubic = coarse.interp(latitude=truth.latitude, longitude=truth.longitude, method="cubic")
    ensemble = xr.concat([grid(0.05, 48.0, 9.2, 20, 32, seed=s) for s in range(1, 5)], "member")
    return coarse, bicubic, truth, ensemble


def rgba(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def assert_image_panels_not_blank(fig, pixels: np.ndarray) -> int:
    height = pixels.shape[0]
    n = 0
    for ax in fig.axes:
        images = ax.get_images()
        if not images:
            continue
        n += 1
        data = np.ma.getdata(images[0].get_array()).astype("float64")
        assert np.isfinite(data).all(), ax.get_title()
        assert np.nanstd(data) > 0, ax.get_title()
        box = ax.get_window_extent()
        x0, x1 = int(box.x0) + 2, int(box.x1) - 2
        y0, y1 = height - int(box.y1) + 2, height - int(box.y0) - 2  # display y is upward
        region = pixels[y0:y1, x0:x1, :3].reshape(-1, 3)
        assert len(np.unique(region, axis=0)) > 10, ax.get_title()
    return n


def test_comparison_panels(fields, tmp_path):
    coarse, bicubic, truth, ensemble = fields
    fig = plot.comparison(xr.Dataset({"t2m": coarse}), bicubic, truth, ensemble, time=1)
    pixels = rgba(fig)
    assert pixels.shape[:2] == (750, 1600)
    assert len(fig.axes) == 9  # 7 maps + 2 colour bars
    assert assert_image_panels_not_blank(fig, pixels) == 7
    titles = [ax.get_title() for ax in fig.axes[:7]]
    assert titles[:3] == ["coarse input", "bicubic", "truth"]
    assert titles[-1] == "ensemble spread (std)"
    assert fig.axes[0].get_ylabel() == "latitude [°N]"
    assert "2 metre temperature [K]" in {ax.get_ylabel() for ax in fig.axes[7:]}
    # the fields share one colour scale, the spread has its own
    climits = [ax.get_images()[0].get_clim() for ax in fig.axes[:7]]
    assert len(set(climits[:6])) == 1 and climits[6] != climits[0]
    assert "1970-01-02" in fig.get_suptitle()


def test_comparison_options_and_errors(fields):
    coarse, bicubic, truth, ensemble = fields

    def ds(da):
        return xr.Dataset({"t2m": da, "other": da * 0})

    fig = plot.comparison(
        ds(coarse), ds(bicubic), ds(truth), ds(ensemble), variable="t2m", members=(2, 3)
    )
    assert [ax.get_title() for ax in fig.axes[4:6]] == ["member 2", "member 3"]
    with pytest.raises(ValueError, match="member"):
        plot.comparison(coarse, bicubic, truth, truth)
    with pytest.raises(ValueError, match="nope"):
        plot.comparison(ds(coarse), ds(bicubic), ds(truth), ds(ensemble), variable="nope")


def test_spectra_lines(fields):
    _, bicubic, truth, ensemble = fields
    fig = plot.spectra(truth, ensemble, bicubic)
    pixels = rgba(fig)
    assert pixels.shape[:2] == (550, 800)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == ensemble.sizes["member"] + 2
    for line in lines:
        assert np.isfinite(line.get_xydata()).all()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    left, right = ax.get_xlim()
    assert left > right  # large scales on the left
    assert "wavelength" in ax.get_xlabel()


def test_rank_histogram_figure(fields, tmp_path):
    _, _, truth, ensemble = fields
    hist = metrics.rank_histogram(truth, ensemble)
    path = tmp_path / "rank.png"
    fig = plot.rank_histogram(hist, path=path)
    pixels = rgba(fig)
    assert pixels.shape[:2] == (450, 700)
    (ax,) = fig.axes
    assert len(ax.patches) == ensemble.sizes["member"] + 1
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, hist.values)
    (flat,) = ax.get_lines()
    np.testing.assert_allclose(flat.get_ydata(), hist.values.mean())
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saving_png(fields, tmp_path):
    coarse, bicubic, truth, ensemble = fields
    path = tmp_path / "comparison.png"
    plot.comparison(coarse, bicubic, truth, ensemble, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    spec = tmp_path / "spectra.png"
    plot.spectra(truth, ensemble, bicubic, path=spec)
    assert spec.stat().st_size > 10_000


def test_no_pyplot_state(fields):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    _, bicubic, truth, ensemble = fields
    plot.spectra(truth, ensemble, bicubic)
    assert plt.get_fignums() == before


def test_missing_matplotlib_message(fields, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    _, bicubic, truth, ensemble = fields
    with pytest.raises(ImportError, match=r"pip install xdeepr\[plot\]"):
        plot.spectra(truth, ensemble, bicubic)


# ------------------------------------------------------------------------- station figures


@pytest.fixture(scope="module")
def station_case():
    import xdeepr

    features, labels, static = xdeepr.datasets.load_sample(periods=16)
    obs = xdeepr.datasets.load_sample_stations(periods=16)
    rng = np.random.default_rng(0)
    ens = xr.concat([labels + rng.normal(0, 0.5, labels.t2m.shape) for _ in range(6)], "member")
    return obs, ens, features.deepr.interpolate(labels), static


def test_station_series_band_mean_and_observations(station_case, tmp_path):
    obs, ens, bicubic, _ = station_case
    path = tmp_path / "series.png"
    fig = plot.station_series(obs, ens, "S03", {"bicubic": bicubic}, path=path)
    assert rgba(fig).shape[:2] == (450, 1000)
    (ax,) = fig.axes
    assert len(ax.collections) == 2  # min-max and 10-90 % bands
    mean, bic, seen = ax.get_lines()
    assert "CRPS" in mean.get_label() and "MAE" in bic.get_label()
    expected = obs.t2m.sel(station="S03").values
    np.testing.assert_allclose(seen.get_ydata(), expected)  # gaps stay NaN, so unplotted
    assert "S03" in ax.get_title() and ax.get_ylabel().endswith("[K]")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not found"):
        plot.station_series(obs, ens, "nope")


def test_station_series_cftime_and_deterministic(station_case):
    import cftime

    obs, ens, _, _ = station_case
    days = [cftime.Datetime360Day(2000, 1, 1 + i // 4, 6 * (i % 4)) for i in range(16)]
    fig = plot.station_series(
        obs.assign_coords(time=days), ens.mean("member").assign_coords(time=days), 0
    )
    (ax,) = fig.axes
    assert len(ax.collections) == 0 and len(ax.get_lines()) == 2
    assert "360_day" in ax.get_xlabel()
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata()[:2], [0.0, 0.25])


def test_station_map_colours_each_station(station_case, tmp_path):
    from xdeepr import metrics as m

    obs, ens, bicubic, static = station_case
    scores = m.score_at(obs, ens, {"bicubic": bicubic}, dim="time")
    fig = plot.station_map(scores, background=static, path=tmp_path / "map.png")
    ax = fig.axes[0]
    (dots,) = ax.collections
    np.testing.assert_allclose(
        dots.get_array(), scores.t2m.sel(metric="crps", model="xdeepr").values
    )
    assert len(ax.get_images()) == 1 and len(ax.patches) == 1  # orography and its outline
    assert len(fig.axes) == 3  # map, scores' colour bar, orography's colour bar
    assert "crps of t2m [K]" in {a.get_ylabel() for a in fig.axes}
    bic = plot.station_map(scores, model="bicubic", metric="rmse")
    assert len(bic.axes) == 2 and "rmse of bicubic" in bic.axes[0].get_title()
    with pytest.raises(ValueError, match="model"):
        plot.station_map(scores, model="nope")
    with pytest.raises(ValueError, match="one value per station"):
        plot.station_map(m.score_at(obs, ens, dim="time", groupby="hour"))


def test_error_boxplots_by_hour_month_season(station_case, tmp_path):
    obs, ens, bicubic, _ = station_case
    fig = plot.error_boxplots(obs, ens, {"bicubic": bicubic}, path=tmp_path / "box.png")
    hour, month, season = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["by hour", "by month", "by season"]
    assert len(hour.patches) == 4 * 2  # 4 hours x 2 models
    assert len(month.patches) == len(season.patches) == 2
    assert [t.get_text() for t in season.get_xticklabels()] == ["DJF"]
    assert hour.get_ylabel() == "forecast − observation [K]"
    fig = plot.error_boxplots(obs, ens, groupby="season")
    assert len(fig.axes) == 1
    with pytest.raises(Exception, match="groupby"):
        plot.error_boxplots(obs, ens, groupby="weekday")


@pytest.mark.parametrize("groupby", ["season", "hour", ("hour", "month", "season")])
def test_error_boxplots_title_fits_the_figure(station_case, groupby):
    """One narrow panel still shows its whole title (it was clipped at 3.3 inches)."""
    obs, ens, bicubic, _ = station_case
    long_name = "2 metre temperature (station observation), a long title"
    obs = obs.assign(t2m=obs.t2m.assign_attrs(long_name=long_name))  # the title's source
    fig = plot.error_boxplots(obs, ens, {"bicubic": bicubic}, groupby=groupby)
    fig.canvas.draw()
    title = fig._suptitle
    box = title.get_window_extent(fig.canvas.get_renderer())
    assert "2 metre temperature" in title.get_text().replace("\n", " ")
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1, (box, fig.bbox)


def test_station_series_refuses_an_ensemble_as_baseline():
    import xdeepr

    _, labels, _ = xdeepr.datasets.load_sample(periods=8)
    obs = xdeepr.datasets.load_sample_stations(periods=8)
    ens = xr.concat([labels + 0.5 * k for k in range(-2, 3)], dim="member")
    with pytest.raises(xdeepr.InputError, match=r"baseline 'other' has a 'member' dimension"):
        xdeepr.plot.station_series(obs, ens, "S01", baselines={"other": ens})
