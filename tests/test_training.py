"""xdeepr.train(): pairing, checks, NaN handling, streaming, resume, and real learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr import training
from xdeepr.training import TrainConfig, TrainingError

from .conftest import TINY


def test_config_overrides_and_errors():
    cfg = TrainConfig(steps=3)
    assert cfg.replace(batch_size=2).batch_size == 2
    with pytest.raises(TypeError, match=r"unknown TrainConfig field\(s\) \['n_chanels'\]"):
        cfg.replace(n_chanels=3)
    d = cfg.to_dict()
    assert TrainConfig.from_dict(d) == cfg


def test_pairs_by_time_and_records_split(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(f.isel(time=slice(0, 40)), l.isel(time=slice(10, 60)), s, steps=2, **TINY)
    assert m.summary["train_times"] + m.summary["validation_times"] == 30
    assert m.summary["validation_times"] == 3
    assert m.features == ["t2m"] and m.labels == ["t2m"]
    assert m.label_attrs["t2m"]["units"] == "K"


def test_no_shared_time_names_both_ranges(sample_small):
    f, l, _ = sample_small
    with pytest.raises(ValueError, match=r"no time step is shared by the features \(2020-01-01"):
        xdeepr.train(f.isel(time=slice(0, 10)), l.isel(time=slice(20, 30)), steps=1, **TINY)


def test_grid_checks(sample_small):
    f, l, _ = sample_small
    outside = l.assign_coords(longitude=l.longitude + 5)
    with pytest.raises(xdeepr.grid.GridError, match="east edge"):
        xdeepr.train(f, outside, steps=1, **TINY)
    coarse = l.isel(latitude=slice(None, None, 2), longitude=slice(None, None, 3))
    with pytest.raises(xdeepr.grid.GridError, match="integer ratio"):
        xdeepr.train(f, coarse, steps=1, **TINY)
    with pytest.raises(ValueError, match="learn_residuals=True needs"):
        xdeepr.train(f, l.rename(t2m="tas"), steps=1, **TINY)


def test_nan_stops_training_naming_times(sample_small):
    f, l, s = sample_small
    l = l.copy(deep=True)
    l["t2m"][5, 3, 4] = np.nan
    with pytest.raises(TrainingError, match=r"2020-01-02T06:00.*non-finite values in: target"):
        xdeepr.train(f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40)), s, steps=8,
                     validation_fraction=0.0, **TINY)  # fmt: skip


def test_dask_inputs_are_streamed_by_blocks(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 48)), l.isel(time=slice(0, 48))
    loaded = []
    original = training._Blocks.load

    def spy(self, b):
        out = original(self, b)
        loaded.append(out[0].shape[0])
        return out

    monkeypatch.setattr(training._Blocks, "load", spy)
    kw = {**TINY, "steps": 6, "block_size": 12, "seed": 3}
    lazy = xdeepr.train(f.chunk(time=12), l.chunk(time=12), s, **kw)
    assert max(loaded) <= 12
    eager = xdeepr.train(f, l, s, **kw)
    for (k, a), b in zip(lazy.network.state_dict().items(), eager.network.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


class _CountingArray:
    """A lazily indexed array that counts the time steps read from it."""

    def __init__(self, values):
        self.values, self.shape, self.dtype, self.ndim = values, values.shape, values.dtype, 3
        self.reads = 0

    def __getitem__(self, key):
        out = self.values[key]
        self.reads += out.shape[0]
        return out


def test_streamed_blocks_read_each_feature_once(sample_small):
    """Condition and residual target both need the features: one read per block serves both."""
    import dask.array as dsa

    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24))
    counter = _CountingArray(f.t2m.values)
    lazy_f = f.copy()
    lazy_f["t2m"] = (f.t2m.dims, dsa.from_array(counter, chunks=(12, -1, -1)))
    kw = {**TINY, "steps": 2, "block_size": 12, "validation_fraction": 0.0, "batch_size": 24}
    model = xdeepr.train(lazy_f, l.chunk(time=12), s, **kw)
    assert model.learn_residuals
    # fitting the two scalers reads the 24 steps twice (the feature statistics, then the
    # residual's, which need the fitted baseline); then each of the 2 blocks reads its 12
    # once for both the condition and the target (twice before they were computed together)
    assert counter.reads == 2 * 24 + 2 * 12


def test_patch_training(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(f.isel(time=slice(0, 30)), l.isel(time=slice(0, 30)), s, steps=3,
                     patch_size=16, **TINY)  # fmt: skip
    assert m.summary["steps"] == 3
    msg = r"patch_size=10 must be a multiple of 4 \(2\*\*\(levels-1\)\)"
    with pytest.raises(ValueError, match=msg):
        xdeepr.train(f.isel(time=slice(0, 30)), l.isel(time=slice(0, 30)), s, steps=3,
                     patch_size=10, channel_multipliers=(1, 2, 2), is_attention=(False,) * 3,
                     **{k: v for k, v in TINY.items() if k not in ("channel_multipliers",
                                                                    "is_attention")})  # fmt: skip


def test_resume_gives_the_same_weights(sample_small, tmp_path, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 10, "seed": 5, "dropout": 0.1}
    full = xdeepr.train(f, l, s, **kw)

    ckpt = tmp_path / "ckpt"
    original = training._save_checkpoint

    class Killed(Exception):
        pass

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise Killed  # the process dies right after its first checkpoint

    monkeypatch.setattr(training, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        xdeepr.train(f, l, s, checkpoint_dir=str(ckpt), checkpoint_every=4, **kw)
    monkeypatch.setattr(training, "_save_checkpoint", original)
    state = torch.load(ckpt / training.CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == 4
    resumed = xdeepr.train(f, l, s, checkpoint_dir=str(ckpt), checkpoint_every=4, resume=True,
                           **kw)  # fmt: skip
    assert resumed.summary["steps"] == 10
    assert resumed.summary["history"] == full.summary["history"]  # every epoch validated once
    for (k, a), b in zip(full.network.state_dict().items(), resumed.network.state_dict().values()):
        assert torch.equal(a, b), k
    for k, a in full.training_state.items():
        assert torch.equal(a, resumed.training_state[k]), k


def test_resume_needs_a_checkpoint(sample_small, tmp_path):
    f, l, s = sample_small
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        xdeepr.train(f, l, s, checkpoint_dir=str(tmp_path), resume=True, steps=1, **TINY)


def test_cftime_and_covariables(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24))
    times = xr.date_range("2001-01-01", periods=24, freq="6h", calendar="360_day",
                          use_cftime=True)  # fmt: skip
    f = f.assign_coords(time=times)
    l = l.assign_coords(time=times)
    f["msl"] = f.t2m * 0 + 101325.0 + np.random.default_rng(0).normal(0, 100, f.t2m.shape)
    m = xdeepr.train(f, l, s, steps=2, **TINY)
    assert m.features == ["t2m", "msl"]
    assert m.network.conditioned_on_input == 2 + len(s.data_vars)
    out = f.isel(time=slice(0, 2)).deepr.downscale(m, members=2, steps=2, progress=False)
    assert out.time.values[0] == times[0]


@pytest.mark.slow
def test_model_learns_and_beats_bicubic():
    """End to end: the ensemble mean beats bicubic interpolation on held-out times."""
    f, l, s = xdeepr.datasets.load_sample()
    train = slice(None, "2021-06-30")
    test = slice("2021-07-01", None)
    model = xdeepr.train(
        f.sel(time=train), l.sel(time=train), s, config=TrainConfig.small(steps=400),
        progress=False,
    )
    ft, truth = f.sel(time=test).isel(time=slice(None, None, 24)), l.sel(time=test)
    ens = ft.deepr.downscale(model, members=6, progress=False)
    truth = truth.sel(time=ens.time)
    bicubic = ft.deepr.interpolate(truth)
    rmse_model = float(xdeepr.metrics.rmse(ens.t2m.mean("member"), truth.t2m))
    rmse_bicubic = float(xdeepr.metrics.rmse(bicubic.t2m, truth.t2m))
    print(f"RMSE ensemble mean {rmse_model:.3f} K, bicubic {rmse_bicubic:.3f} K")
    assert rmse_model < 0.7 * rmse_bicubic
    crps = float(xdeepr.metrics.crps_ensemble(ens.t2m, truth.t2m))
    assert crps < float(xdeepr.metrics.mae(bicubic.t2m, truth.t2m))


def test_spatially_chunked_dask_input(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24))
    kw = {**TINY, "steps": 2, "seed": 1}
    lazy = xdeepr.train(f.chunk(time=6, latitude=7), l.chunk(time=6, longitude=9), s, **kw)
    eager = xdeepr.train(f, l, s, **kw)
    for a, b in zip(lazy.network.state_dict().values(), eager.network.state_dict().values()):
        torch.testing.assert_close(a, b)
