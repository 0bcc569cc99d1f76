"""Issue 23: ``xdeepr.from_deepr`` — a DeepR model folder and YAML as an ordinary model.

Downscaling (eager and dask) onto the labels' grid, the safe file round trip, DeepR's
scalers refitted the DeepR way, the weights files accepted and refused, and the
messages when something is missing.
"""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
import torch
import xarray as xr

pytest.importorskip("diffusers")

import xdeepr
from xdeepr.adapters.deepr.model import DeepRModel
from xdeepr.diffusion import num_model_evals
from xdeepr.errors import GridError, InputError, ModelFileError

from . import _deepr_model as dm


@pytest.fixture
def folder(deepr_folder):
    return deepr_folder


@pytest.fixture
def imported(deepr_imported):
    return deepr_imported


def test_downscale_gives_the_labels_grid_units_and_times(imported):
    model, features, labels = imported
    assert isinstance(model, DeepRModel) and isinstance(model, xdeepr.DownscalingModel)
    out = features.deepr.downscale(model, members=2, seed=3)
    assert dict(out.t2m.sizes) == {"member": 2, "time": 4, "latitude": 16, "longitude": 16}
    xr.testing.assert_equal(out.latitude, labels.latitude)
    xr.testing.assert_equal(out.longitude, labels.longitude)
    np.testing.assert_array_equal(out.time.values, labels.time.values)
    assert out.t2m.attrs["units"] == "K" and out.t2m.attrs["standard_name"] == "air_temperature"
    assert out.attrs["xdeepr_sampler"] == "dpm++2m-sde" and out.attrs["xdeepr_steps"] == 10
    assert np.isfinite(out.t2m.values).all()
    assert "imported from DeepR" in repr(model)


def test_ten_steps_by_default_and_deeprs_thousand_with_ddpm(imported):
    model, *_ = imported
    assert model.default_sampler == "dpm++2m-sde" and model.default_steps() == 10
    assert num_model_evals("ddpm", None, model.schedule) == 1000


def test_dask_input_gives_the_same_ensemble(imported):
    model, features, _ = imported
    eager = features.deepr.downscale(model, members=2, steps=3, seed=1)
    lazy = features.chunk(time=1).deepr.downscale(model, members=2, steps=3, seed=1)
    assert lazy.t2m.chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute(), atol=1e-4)


def test_saved_file_is_safe_and_reloads_the_same_ensemble(imported, tmp_path):
    model, features, _ = imported
    path = model.save(tmp_path / "deepr.xdeepr")
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(json.loads(raw[8 : 8 + n])["__metadata__"]["xdeepr"])
    assert header["network"]["config"]["kind"] == "diffusers-unet2d"
    assert header["network"]["config"]["unet"]["block_out_channels"] == [8, 16]
    back = xdeepr.load_model(path)
    assert isinstance(back, DeepRModel) and back.identity == model.identity
    a = features.deepr.downscale(model, members=2, steps=3, seed=2)
    b = features.deepr.downscale(back, members=2, steps=3, seed=2)
    xr.testing.assert_allclose(a, b, atol=1e-5)


def _reference_stats(ds, method):
    """DeepR's XarrayStandardScaler.get_parameters, written out in numpy."""
    v = ds.t2m.values.astype("float64")
    months = ds.time.dt.month.values
    out = {}
    for m in np.unique(months):
        part = v[months == m]
        mean, std = part.mean(0), part.std(0)
        out[m] = (mean.mean(), std.mean()) if method == "domain-wise" else (mean, std)
    return out


@pytest.mark.parametrize("method", ["domain-wise", "pixel-wise"])
def test_scalers_are_fitted_the_deepr_way(folder, method, tmp_path):
    _, model_dir, _ = folder
    features, labels = dm.data(n_times=8)  # January 31st and February 1st
    model = xdeepr.from_deepr(model_dir, dm.write_yaml(tmp_path, method=method), features, labels)
    coarse = features.sel(latitude=slice(48.0, 47.25), longitude=slice(9.0, 9.75))
    for scaler, ds in ((model.feature_scaler, coarse), (model.label_scaler, labels)):
        assert scaler.by_month
        ref = _reference_stats(ds, method)
        for month in range(1, 13):  # absent months: the nearest month present (DeepR's sel)
            want = ref[1] if month == 1 else ref[2]
            np.testing.assert_allclose(scaler.mean["t2m"][month - 1], want[0], rtol=1e-6)
            np.testing.assert_allclose(scaler.std["t2m"][month - 1], want[1], rtol=1e-6)


def test_bin_weights_load_through_weights_only(folder, tmp_path):
    _, model_dir, yml = folder
    features, labels = dm.data()
    bin_dir = dm.model_dir(tmp_path, safe=False)
    assert (bin_dir / "diffusion_pytorch_model.bin").exists()
    a = xdeepr.from_deepr(bin_dir, yml, features, labels)
    b = xdeepr.from_deepr(model_dir, yml, features, labels)
    assert a.identity == b.identity


class _NotATensor:
    pass


def test_bin_weights_needing_unpickling_are_refused(folder, tmp_path):
    _, model_dir, yml = folder
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((model_dir / "config.json").read_text())
    torch.save({"conv_in.weight": torch.zeros(1), "payload": _NotATensor()}, bad / "x.bin")
    (bad / "x.bin").rename(bad / "diffusion_pytorch_model.bin")
    features, labels = dm.data()
    with pytest.raises(ModelFileError, match="refusing DeepR weights.*could run code"):
        xdeepr.from_deepr(bad, yml, features, labels)


def test_without_diffusers_the_messages_name_the_extra(imported, folder, tmp_path, monkeypatch):
    model, features, labels = imported
    path = model.save(tmp_path / "deepr.xdeepr")
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    with pytest.raises(ImportError, match=r"xdeepr\[deepr\]"):
        xdeepr.from_deepr(folder[1], folder[2], features, labels)
    with pytest.raises(ImportError, match=r"loading a model imported from DeepR.*xdeepr\[deepr\]"):
        xdeepr.load_model(path)


def test_bad_inputs_are_refused_by_name(folder):
    root, model_dir, yml = folder
    features, labels = dm.data()
    with pytest.raises(InputError, match="needs features= and labels="):
        xdeepr.from_deepr(model_dir, yml)
    with pytest.raises(InputError, match=r"lack the variable\(s\) \['t2m'\]"):
        xdeepr.from_deepr(model_dir, yml, features.rename(t2m="tas"), labels)
    coarse = labels.isel(latitude=slice(None, None, 2), longitude=slice(None, None, 2))
    with pytest.raises(GridError, match="finer than the features'"):
        xdeepr.from_deepr(model_dir, yml, coarse.assign_coords(time=labels.time), labels)
    with pytest.raises(FileNotFoundError, match="no DeepR model folder"):
        xdeepr.from_deepr(root / "missing", yml, features, labels)


def test_another_target_grid_is_refused(imported):
    model, features, labels = imported
    with pytest.raises(InputError, match="own label grid"):
        features.deepr.downscale(model, members=1, steps=2, target=labels.isel(latitude=slice(8)))


def test_cli_import_deepr_writes_a_model_file(folder, tmp_path, capsys):
    from xdeepr.cli import main

    _, model_dir, yml = folder
    features, labels = dm.data()
    features.to_netcdf(tmp_path / "era5.nc")
    labels.to_netcdf(tmp_path / "cerra.nc")
    out = tmp_path / "deepr.xdeepr"
    argv = ["import-deepr", str(model_dir), str(tmp_path / "era5.nc"), str(tmp_path / "cerra.nc")]
    assert main([*argv, "--config", str(yml), "--output", str(out), "-q"]) == 0
    assert "imported from DeepR" in capsys.readouterr().out
    assert isinstance(xdeepr.load_model(out), DeepRModel)
    assert main([*argv, "--config", str(yml), "--output", str(out), "-q"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_cli_import_deepr_help_reads_like_the_docs(capsys):
    from xdeepr.cli import main

    assert main(["import-deepr", "--help"]) == 0
    out = capsys.readouterr().out
    for word in ("MODEL_DIR", "FEATURES", "LABELS", "--config", "--output", "xdeepr[deepr]"):
        assert word in out


def test_inputs_south_up_give_the_same_model_north_up(folder, imported):
    model, features, labels = imported
    _, model_dir, yml = folder
    flipped = xdeepr.from_deepr(
        model_dir, yml, features.sortby("latitude"), labels.sortby("latitude")
    )
    assert flipped.identity == model.identity  # the network sees DeepR's orientation
    a = features.deepr.downscale(model, members=1, steps=2, seed=4)
    b = features.sortby("latitude").deepr.downscale(flipped, members=1, steps=2, seed=4)
    xr.testing.assert_allclose(a, b, atol=1e-5)
    assert float(b.latitude[0]) > float(b.latitude[-1])
