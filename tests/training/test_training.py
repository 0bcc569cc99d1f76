"""xdeepr.train(): config checks, pairing, input checks, streaming, resume, real learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr import training
from xdeepr.errors import ConfigError, InputError
from xdeepr.training import TrainConfig, TrainingError

from ..conftest import TINY


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


def test_nan_and_inf_are_found_before_training(sample_small, monkeypatch):
    """Item 9: one check before training names variable, NaN or Inf, and the first times."""
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)).copy(deep=True), l.isel(time=slice(0, 40)).copy(deep=True)
    l["t2m"][5, 3, 4] = np.nan
    for i in (7, 8, 9, 30):
        f["t2m"][i, 0, 0] = np.inf
    monkeypatch.setattr(training, "_optimise", pytest.fail)  # never reached
    with pytest.raises(InputError) as info:
        xdeepr.train(f.chunk(time=10), l.chunk(time=10), s, steps=8, **TINY)
    msg = str(info.value)
    assert "the labels' 't2m' holds NaN at 1 of 40 time step(s) (2020-01-02T06:00:00)" in msg
    assert (
        "the features' 't2m' holds Inf at 4 of 40 time step(s) (2020-01-02T18:00:00, "
        "2020-01-03T00:00:00, 2020-01-03T06:00:00, ...)" in msg
    )
    assert "standard deviation" not in msg  # Inf was once reported as a zero std


def test_inf_alone_is_named_inf_not_a_standard_deviation(sample_small):
    f, l, s = sample_small
    l = l.isel(time=slice(0, 20)).copy(deep=True)
    l["t2m"][:] = np.inf
    with pytest.raises(InputError, match=r"'t2m' holds Inf at 20 of 20 time step"):
        xdeepr.train(f.isel(time=slice(0, 20)), l, s, steps=1, **TINY)


def test_a_diverging_loss_stops_training_naming_times(sample_small, monkeypatch):
    f, l, s = sample_small

    def nan_loss(*args, **kwargs):
        return torch.tensor(float("nan")), None

    monkeypatch.setattr(training.loop, "diffusion_loss", nan_loss)
    with pytest.raises(TrainingError, match=r"at step 0 .*2020-01-0.*the network diverged"):
        xdeepr.train(f.isel(time=slice(0, 16)), l.isel(time=slice(0, 16)), s, steps=2, **TINY)
    assert training.TrainingError is xdeepr.errors.TrainingError  # the old name still works


def test_dask_inputs_are_streamed_by_blocks(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 48)), l.isel(time=slice(0, 48))
    loaded = []
    original = training.data._Blocks.load

    def spy(self, b):
        out = original(self, b)
        loaded.append(out[0].shape[0])
        return out

    monkeypatch.setattr(training.data._Blocks, "load", spy)
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
    # the NaN/Inf check reads the 24 steps once; fitting the two scalers reads them twice
    # (the feature statistics, then the residual's, which need the fitted baseline); then
    # each of the 2 blocks reads its 12 once for both the condition and the target (twice
    # before they were computed together); the residual climatology reads them once more
    assert counter.reads == 24 + 3 * 24 + 2 * 12


def test_patch_training(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 30)), l.isel(time=slice(0, 30)), s, steps=3, patch_size=16, **TINY
    )
    assert m.summary["steps"] == 3
    msg = r"patch_size=10 must be a multiple of 4 \(2\*\*\(levels-1\)\) with 3 levels"
    with pytest.raises(ConfigError, match=msg):
        xdeepr.train(
            f.isel(time=slice(0, 30)),
            l.isel(time=slice(0, 30)),
            s,
            steps=3,
            patch_size=10,
            channel_multipliers=(1, 2, 2),
            is_attention=(False,) * 3,
            **{k: v for k, v in TINY.items() if k not in ("channel_multipliers", "is_attention")},
        )


def test_resume_gives_the_same_weights(sample_small, tmp_path, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)), l.isel(time=slice(0, 40))
    kw = {**TINY, "steps": 10, "seed": 5, "dropout": 0.1}
    full = xdeepr.train(f, l, s, **kw)

    ckpt = tmp_path / "ckpt"
    original = training.loop._save_checkpoint

    class Killed(Exception):
        pass

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise Killed  # the process dies right after its first checkpoint

    monkeypatch.setattr(training.loop, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        xdeepr.train(f, l, s, checkpoint_dir=str(ckpt), checkpoint_every=4, **kw)
    monkeypatch.setattr(training.loop, "_save_checkpoint", original)
    state = torch.load(ckpt / training.CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == 4
    resumed = xdeepr.train(f, l, s, checkpoint_dir=str(ckpt), checkpoint_every=4, resume=True, **kw)
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
    times = xr.date_range("2001-01-01", periods=24, freq="6h", calendar="360_day", use_cftime=True)
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
        f.sel(time=train),
        l.sel(time=train),
        s,
        config=TrainConfig.small(steps=400),
        progress=False,
    )
    ft, truth = f.sel(time=test).isel(time=slice(None, None, 24)), l.sel(time=test)
    ens = ft.deepr.downscale(model, members=6, progress=False)
    truth = truth.sel(time=ens.time)
    bicubic = ft.deepr.interpolate(truth)
    rmse_model = float(xdeepr.metrics.rmse(truth.t2m, ens.t2m.mean("member")))
    rmse_bicubic = float(xdeepr.metrics.rmse(truth.t2m, bicubic.t2m))
    print(f"RMSE ensemble mean {rmse_model:.3f} K, bicubic {rmse_bicubic:.3f} K")
    assert rmse_model < 0.7 * rmse_bicubic
    crps = float(xdeepr.metrics.crps_ensemble(truth.t2m, ens.t2m))  # observations first
    assert crps < float(xdeepr.metrics.mae(truth.t2m, bicubic.t2m))
    # validation said the mean is ahead of the static correction, and held-out times agree
    assert not model.summary["mean_check"]["variables"]["t2m"]["behind"]
    lt, fl = l.sel(time=train), f.sel(time=train)
    offset = (lt.t2m - fl.deepr.interpolate(lt).t2m).mean("time")
    rmse_static = float(xdeepr.metrics.rmse(truth.t2m, bicubic.t2m + offset.values))
    assert rmse_model <= rmse_static


def test_spatially_chunked_dask_input(sample_small):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24))
    kw = {**TINY, "steps": 2, "seed": 1}
    lazy = xdeepr.train(f.chunk(time=6, latitude=7), l.chunk(time=6, longitude=9), s, **kw)
    eager = xdeepr.train(f, l, s, **kw)
    for a, b in zip(lazy.network.state_dict().values(), eager.network.state_dict().values()):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ config validation


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("steps", 0, "an integer >= 1, or None"),
        ("steps", -5, "an integer >= 1"),
        ("steps", "3", "an integer >= 1"),
        ("steps", 2.5, "an integer >= 1"),
        ("steps", True, "an integer >= 1"),
        ("batch_size", 0, "an integer >= 1"),
        ("batch_size", -4, "an integer >= 1"),
        ("n_channels", 0, "an integer >= 1"),
        ("epochs", 0, "an integer >= 1"),
        ("warmup_steps", -1, "an integer >= 0"),
        ("seed", -1, "an integer >= 0 and < 4294967296"),
        ("sampler", "foo", "one of ['ddim', 'ddpm', 'dpm++2m', 'dpm++2m-sde', 'onepass']"),
        ("schedule", "quadratic", "one of ['cosine', 'linear']"),
        ("prediction", "x0", "one of ['epsilon', 'v']"),
        ("feature_scaling", "global", "one of ['domain-wise', 'landmask-wise', 'pixel-wise']"),
        ("learning_rate", 0, "a number > 0"),
        ("learning_rate", math.nan, "a number > 0"),
        ("learning_rate", "1e-3", "a number > 0"),
        ("ema_decay", 1.0, "a number in [0, 1)"),
        ("ema_decay", -0.1, "a number in [0, 1)"),
        ("dropout", 1.0, "a number in [0, 1)"),
        ("validation_fraction", 1.0, "a number in [0, 1)"),
        ("max_minutes", 0, "a number > 0, or None"),
        ("calendar", "yes", "True or False"),
        ("channel_multipliers", (), "a non-empty list of integers >= 1"),
        ("channel_multipliers", (1, 0), "a non-empty list of integers >= 1"),
        ("features", ["t2m", 3], "a variable name or a list of names"),
        ("features", [], "a variable name or a list of names"),
        ("features", ["t2m", "t2m"], "a name is repeated"),
        ("device", 3, "'cpu', 'cuda', 'cuda:N'"),
        ("extra", "x", "a mapping"),
    ],
)
def test_config_refuses_bad_values_naming_field_value_and_allowed(name, value, allowed):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{name: value})
    msg = str(info.value)
    assert msg.startswith(f"TrainConfig.{name}={value!r}"), msg
    assert allowed in msg, msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    with pytest.raises(ConfigError, match=f"TrainConfig.{name}="):
        TrainConfig().replace(**{name: value})  # replace checks too


def test_config_cross_field_checks():
    with pytest.raises(ConfigError, match=r"is_attention=\(False, True\).*has 3"):
        TrainConfig(channel_multipliers=(1, 2, 2), is_attention=(False, True))
    with pytest.raises(ConfigError, match=r"patch_size=6 must be a multiple of 4.*e\.g\. 4"):
        TrainConfig(channel_multipliers=(1, 2, 2), is_attention=(False,) * 3, patch_size=6)
    with pytest.raises(ConfigError, match="zero_terminal_snr=True.*prediction='v'"):
        TrainConfig(zero_terminal_snr=True, prediction="epsilon")


def test_config_normalises_names_and_lists():
    cfg = TrainConfig(
        features="t2m",
        labels=["t2m"],
        channel_multipliers=[1, 2],
        is_attention=[False, True],
        checkpoint_dir=__import__("pathlib").Path("c"),
        learning_rate=1,
        seed=np.int64(3),
    )
    assert cfg.features == ("t2m",) and cfg.labels == ("t2m",)  # one name, not ('t', '2', 'm')
    assert cfg.channel_multipliers == (1, 2) and cfg.is_attention == (False, True)
    assert cfg.checkpoint_dir == "c" and cfg.learning_rate == 1.0 and type(cfg.seed) is int
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"'n_chanels' \(did you mean 'n_channels'\?\)"):
        TrainConfig.from_dict({"n_chanels": 3})


def test_config_device_is_checked_and_a_cpu_config_does_not_probe_cuda(monkeypatch):
    with pytest.raises(ConfigError, match="TrainConfig.device: device 'tpu9' is not a device"):
        TrainConfig(device="tpu9")

    def no_probe():
        raise AssertionError("a CPU config asked torch about CUDA")

    monkeypatch.setattr(torch.cuda, "is_available", no_probe)
    assert TrainConfig(device="cpu").device == "cpu"
    assert TrainConfig().device is None  # resolved when training starts


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_config_refuses_cuda_without_cuda():
    with pytest.raises(ConfigError, match="TrainConfig.device: device 'cuda' asks for CUDA"):
        TrainConfig(device="cuda")


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("steps", "3", 3),
        ("learning_rate", "2e-3", 2e-3),
        ("features", "t2m", ("t2m",)),
        ("features", "t2m, msl", ("t2m", "msl")),
        ("labels", "['t2m']", ("t2m",)),
        ("channel_multipliers", "[1, 2, 2, 4]", (1, 2, 2, 4)),
        ("is_attention", "false,FALSE,true,true", (False, False, True, True)),
        ("calendar", "no", False),
        ("patch_size", "none", None),
        ("device", "cpu", "cpu"),
        ("sampler", "'ddim'", "ddim"),
        ("extra", '{"note": 1}', {"note": 1}),
    ],
)
def test_parse_value_gives_the_fields_type(name, text, value):
    parsed = TrainConfig.parse_value(name, text)
    assert parsed == value and type(parsed) is type(value)
    TrainConfig(**{name: parsed})  # and it passes the checks


def test_parse_value_refuses_text_of_another_type_and_unknown_fields():
    with pytest.raises(ConfigError, match=r"TrainConfig.steps='three' \(str\) is not allowed"):
        TrainConfig.parse_value("steps", "three")
    with pytest.raises(ConfigError, match="TrainConfig.calendar='maybe'"):
        TrainConfig.parse_value("calendar", "maybe")
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field\(s\) \['stpes'\]"):
        TrainConfig.parse_value("stpes", "3")


def test_config_is_frozen_and_replace_checks_again():
    """Issue 19: validated once, never changed later without the checks."""
    import dataclasses

    cfg = TrainConfig(steps=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = -5  # type: ignore[misc]
    assert cfg.steps == 3
    with pytest.raises(ConfigError, match=r"TrainConfig.steps=-5 is not allowed"):
        cfg.replace(steps=-5)
    with pytest.raises(ConfigError, match=r"TrainConfig.steps=-5 is not allowed"):
        dataclasses.replace(cfg, steps=-5)
    assert dataclasses.replace(cfg, steps=7).steps == 7


def test_every_field_declares_its_rule_beside_it():
    """Issue 19: one declaration per field: its default and its rule, no second table."""
    import dataclasses

    from xdeepr._validate import Rule, check

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for name, f in fields.items():
        rule = f.metadata.get("rule")
        assert isinstance(rule, Rule), name
        default = getattr(TrainConfig(), name)
        assert check(name, default, rule) == default, name  # the default fits its rule
    assert not hasattr(training.config, "_RULES")
    # the checks and parse_value read the same rule: both say what it allows
    allowed = fields["steps"].metadata["rule"].allowed
    for make in (lambda: TrainConfig(steps="x"), lambda: TrainConfig.parse_value("steps", "x")):
        with pytest.raises(ConfigError) as info:
            make()
        assert (
            str(info.value)
            == f"TrainConfig.steps='x' (str) is not allowed: steps must be {allowed}, got 'x' (str)"
        )


def test_replace_of_mean_or_its_alias_alone_is_not_undone_by_the_other():
    assert TrainConfig(mean=None).replace(mean="bicubic").mean == "bicubic"
    assert TrainConfig(mean=None).replace(mean="bicubic").learn_residuals
    assert TrainConfig(mean=None).replace(learn_residuals=True).mean == "bicubic"
    assert TrainConfig(mean="regression").replace(learn_residuals=True).mean == "regression"
    assert TrainConfig().replace(learn_residuals=False).mean is None
    assert TrainConfig().replace(mean=None, learn_residuals=True).mean is None  # mean wins


def test_cli_set_reads_text_by_the_fields_rules():
    from xdeepr.cli import parse_overrides

    assert parse_overrides(["patch_size=none", "calendar=no", "features=t2m"]) == {
        "patch_size": None,
        "calendar": False,
        "features": ("t2m",),
    }
    assert parse_overrides(["mean=none"]) == {"mean": None}  # was the text 'none'
    with pytest.raises(ConfigError, match=r"TrainConfig.steps='x' \(str\) is not allowed"):
        parse_overrides(["steps=x"])


# ------------------------------------------------------------------ inputs (items 11, 12, 17)


def test_config_fields_named_like_the_data_select_variables(sample_small):
    """Item 17: features/labels are positional-only, so the config fields are keywords."""
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 16)), l.isel(time=slice(0, 16))
    f = f.assign(msl=f.t2m * 0 + 101325.0 + np.random.default_rng(0).normal(0, 50, f.t2m.shape))
    both = xdeepr.train(f, l, s, features=["t2m", "msl"], labels="t2m", steps=1, **TINY)
    assert both.features == ["t2m", "msl"] and both.labels == ["t2m"]
    one = xdeepr.train(f, l, static=s, features="t2m", steps=1, **TINY)
    assert one.features == ["t2m"]


def test_size_one_extra_dims_are_squeezed_larger_ones_named(sample_small):
    """Item 11: `level`/`number` of size 1 are squeezed; a larger one names .sel/.isel."""
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 16)), l.isel(time=slice(0, 16))
    f1 = f.expand_dims(level=[850]).transpose("time", "level", ...)
    l1 = l.expand_dims(number=[0], axis=1)
    m = xdeepr.train(f1, l1, s, steps=1, **TINY)
    assert m.features == ["t2m"]
    f3 = f.expand_dims(level=[500, 850, 1000])
    with pytest.raises(InputError, match=r"extra dimension 'level' of size 3.*\.sel\(level=500\)"):
        xdeepr.train(f3, l, s, steps=1, **TINY)


def test_datetime64_and_cftime_times_are_named(sample_small):
    """Item 12: not 'no time step is shared' over two identical ranges, but the two types."""
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 8)), l.isel(time=slice(0, 8))
    cf = xr.date_range("2020-01-01", periods=8, freq="6h", calendar="standard", use_cftime=True)
    with pytest.raises(InputError) as info:
        xdeepr.train(f, l.assign_coords(time=cf), s, steps=1, **TINY)
    msg = str(info.value)
    assert "features' times are numpy datetime64" in msg
    assert "labels' times are cftime (standard calendar)" in msg
    assert "no time step is shared" not in msg


def test_labels_in_other_units_are_put_in_the_features_units_and_packed_refused(sample_small):
    from ..conftest import TINY

    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24))
    celsius = l.copy()
    celsius["t2m"] = (l.t2m - 273.15).assign_attrs({**l.t2m.attrs, "units": "degC"})
    a = xdeepr.train(f, l, s, steps=2, seed=3, **TINY)
    b = xdeepr.train(f, celsius, s, steps=2, seed=3, **TINY)
    for k, v in a.label_scaler.mean.items():
        np.testing.assert_allclose(b.label_scaler.mean[k], v, rtol=1e-4, atol=1e-3)
    packed = l.copy()
    packed.t2m.attrs["scale_factor"] = 0.01
    with pytest.raises(xdeepr.InputError, match=r"labels variable 't2m' is still packed"):
        xdeepr.train(f, packed, s, steps=1, **TINY)


def test_labels_masked_at_every_step_are_named_a_fixed_mask_with_its_fix(sample_small):
    """Issue 24: labels NaN over the sea at every step get a mask's fix, not "drop steps"."""
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 24)), l.isel(time=slice(0, 24)).copy(deep=True)
    sea = s["lsm"] < 0.5
    assert 0 < int(sea.sum()) < sea.size
    masked = l.where(~sea)
    with pytest.raises(InputError) as info:
        xdeepr.train(f, masked, s, steps=1, **TINY)
    msg = str(info.value)
    assert f"NaN at the same {int(sea.sum())} grid point(s) at every time step" in msg
    assert "Drop those time steps" not in msg
    assert "labels.fillna(features.deepr.interpolate(labels))" in msg and ".where(" in msg
    # the fix the message gives trains
    filled = masked.fillna(f.deepr.interpolate(masked))
    model = xdeepr.train(f, filled, s, steps=1, **TINY)
    assert model.labels == ["t2m"]
