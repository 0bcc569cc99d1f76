"""SamplingOptions: one validated object from the accessor down to the sampler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xdeepr
from xdeepr import ConfigError, SamplingOptions


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("members", 0, "members must be an integer >= 1, got 0"),
        ("members", 2.7, r"members must be an integer >= 1, got 2.7 \(float\)"),
        ("members", True, "members must be an integer"),
        ("members", "3", "members must be an integer"),
        ("seed", 1.9, r"seed must be an integer, got 1.9 \(float\)"),
        ("steps", 0, "steps must be an integer >= 1"),
        ("steps", 2.0, "steps must be an integer"),
        ("batch_size", -4, "batch_size must be an integer >= 1"),
        ("sampler", "euler", r"sampler must be one of \['ddpm', 'ddim'"),
        ("eta", -1.0, "eta must be a number >= 0"),
        ("fill", "median", "fill must be None, 'mean' or a number"),
        ("progress", "yes", "progress must be True or False"),
        ("overlap", -1, "overlap must be an integer >= 0"),
        ("fast_path", {"fp16": True}, "fast_path has no option"),
        ("device", 3, "device must be a string"),
    ],
)
def test_each_bad_option_is_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        SamplingOptions(**{field: value})


def test_errors_are_still_the_builtins_callers_catch():
    for bad in ({"members": 2.7}, {"members": 0}):
        with pytest.raises(ValueError):
            SamplingOptions(**bad)
        with pytest.raises(TypeError):
            SamplingOptions(**bad)
    assert issubclass(ConfigError, xdeepr.XdeeprError)


def test_eta_only_with_ddim_and_tile_overlap_consistent():
    with pytest.raises(ConfigError, match="eta applies only to sampler='ddim'"):
        SamplingOptions(eta=0.5)
    assert SamplingOptions(sampler="ddim", eta=0.5).eta == 0.5
    with pytest.raises(ConfigError, match="overlap must be smaller than the tile"):
        SamplingOptions(tile=16, overlap=16)
    assert SamplingOptions(tile=(16, 32), overlap=4).tile == (16, 32)


@given(
    members=st.integers(1, 10_000),
    seed=st.integers(-(2**62), 2**62),
    steps=st.none() | st.integers(1, 1000),
    np_int=st.booleans(),
)
def test_valid_integers_are_kept_as_python_ints(members, seed, steps, np_int):
    conv = np.int64 if np_int else int
    opts = SamplingOptions(members=conv(members), seed=conv(seed), steps=steps)
    assert (opts.members, opts.seed, opts.steps) == (members, seed, steps)
    assert type(opts.members) is int and type(opts.seed) is int


def test_resolve_fills_the_models_defaults_and_checks_steps(tiny_model):
    opts = SamplingOptions(members=3).resolve(tiny_model)
    assert opts.sampler == tiny_model.default_sampler
    assert opts.steps == 10  # the SDE solver's default
    assert SamplingOptions(sampler="ddpm").resolve(tiny_model).steps == (
        tiny_model.schedule.num_steps
    )
    with pytest.raises(ConfigError, match="steps=5000"):
        SamplingOptions(steps=5000).resolve(tiny_model)
    with pytest.raises(ConfigError, match="tile height must be a positive multiple"):
        SamplingOptions(tile=9, overlap=2).resolve(tiny_model)


def test_coerce_and_replace():
    assert SamplingOptions.coerce(None) == SamplingOptions()
    assert SamplingOptions.coerce({"members": 4}).members == 4
    with pytest.raises(ConfigError, match=r"unknown sampling option\(s\) \['member'\]"):
        SamplingOptions.coerce({"member": 4})
    with pytest.raises(ConfigError, match="members must be"):
        SamplingOptions(members=2).replace(members=-1)


def test_provenance_comes_from_the_options(tiny_model, sample_small):
    f, _, _ = sample_small
    opts = SamplingOptions(members=2, sampler="ddim", steps=2, eta=0.5, seed=11, progress=False)
    out = f.isel(time=slice(80, 82)).deepr.downscale(tiny_model, options=opts)
    assert out.attrs["xdeepr_sampler"] == "ddim"
    assert out.attrs["xdeepr_steps"] == 2
    assert out.attrs["xdeepr_seed"] == 11
    assert out.attrs["xdeepr_members"] == 2
    assert out.attrs["xdeepr_eta"] == 0.5
    assert "seed=11" in out.attrs["history"]
    with pytest.raises(ConfigError, match=r"either as keywords or as options=.*\['members'\]"):
        f.deepr.downscale(tiny_model, members=3, options=opts)


def test_accessor_keywords_and_the_options_fields_correspond_one_to_one():
    import inspect

    import xarray as xr

    for accessor in (xr.Dataset.deepr, xr.DataArray.deepr):
        params = set(inspect.signature(accessor.downscale).parameters)
        not_options = {"self", "model", "target", "options", "observations", "variables"}
        assert params - not_options == set(SamplingOptions.names())
    assert {"guidance", "observation_error"} <= set(SamplingOptions.names())
    assert "resolved" not in SamplingOptions.names()  # a marker, not an option
    for name in SamplingOptions.names():  # each option documented once, and shown there
        assert f"\n        {name} " in xr.Dataset.deepr.downscale.__doc__ or name in (
            "tile",
            "overlap",
        )


def test_guidance_reaches_the_options_from_the_accessor(tiny_model, sample_small):
    f, _, _ = sample_small
    with pytest.raises(ConfigError, match="guidance must be a number >= 0"):
        f.isel(time=slice(80, 81)).deepr.downscale(tiny_model, guidance=-1.0)
    with pytest.raises(ConfigError, match="not both"):
        f.deepr.downscale(tiny_model, observation_error=0.5, options=SamplingOptions())


def test_resolve_settles_the_guidance_once_and_marks_the_options(tiny_model):
    plain = SamplingOptions(members=3)
    assert not plain.resolved
    opts = plain.resolve(tiny_model)
    assert opts.resolved and opts.guidance == 0.0  # no observations: nothing to guide by
    with_obs = plain.resolve(tiny_model, observations=True)
    assert with_obs.guidance == xdeepr.options.DEFAULT_GUIDANCE
    assert SamplingOptions(guidance=0.0).resolve(tiny_model, observations=True).guidance == 0
    assert opts.resolve(tiny_model) == opts  # resolving again changes nothing
    assert not opts.replace(seed=1).resolved  # a changed copy is validated and unresolved
    on_cpu = opts.on_device("cpu")
    assert on_cpu.device == "cpu" and on_cpu.fast_path == xdeepr.FastPath().resolve("cpu")
    with pytest.raises(ValueError, match="resolved against the model"):
        plain.on_device("cpu")


def test_below_the_top_unresolved_options_are_refused(tiny_model, sample_small):
    import torch

    from xdeepr.inference import sample_block

    f, _, _ = sample_small
    ds = tiny_model.coarse_features(f.isel(time=slice(80, 81)))
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="sample_block takes SamplingOptions resolved"):
        sample_block(ds, tiny_model, SamplingOptions(members=1, steps=2), device=cpu)
    with pytest.raises(ValueError, match="sample_block takes SamplingOptions settled on a"):
        sample_block(ds, tiny_model, SamplingOptions(steps=2).resolve(tiny_model), device=cpu)


@pytest.mark.parametrize("chunked", [False, True])
def test_options_are_resolved_once_per_call_and_settled_once_per_block(
    tiny_model, sample_small, monkeypatch, chunked
):
    calls = {"resolve": 0, "on_device": 0}
    for name in calls:
        real = getattr(SamplingOptions, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(SamplingOptions, name, spy)
    f, _, _ = sample_small
    coarse = f.isel(time=slice(80, 84))
    coarse = coarse.chunk(time=2) if chunked else coarse
    # batch_size=2: four batches of (time, member) pairs, each through model.sample
    out = coarse.deepr.downscale(tiny_model, members=2, steps=2, batch_size=2, progress=False)
    out.compute(scheduler="synchronous")
    assert calls == {"resolve": 1, "on_device": 2 if chunked else 1}


def test_model_sample_resolves_options_for_a_direct_caller(tiny_model):
    import torch

    from xdeepr.diffusion import StackedRandomGenerator

    cond = torch.randn(2, tiny_model.network.config["conditioned_on_input"], 24, 32)
    cal = torch.rand(2, 2)

    def run(options):
        return tiny_model.sample(
            cond, cal, options, noise=StackedRandomGenerator.from_seeds([0, 1])
        )

    plain = run({"sampler": "ddim", "steps": 2})
    settled = SamplingOptions(sampler="ddim", steps=2).resolve(tiny_model).on_device("cpu")
    torch.testing.assert_close(run(settled), plain, rtol=1e-5, atol=1e-5)


def test_options_are_checked_by_the_shared_rules():
    """Issue 19: one validator (xdeepr._validate); NaN fails every bound, inf is allowed."""
    with pytest.raises(ConfigError, match="eta must be a number >= 0, got nan"):
        SamplingOptions(sampler="ddim", eta=float("nan"))
    with pytest.raises(ConfigError, match=r"guidance must be a number >= 0, or None .*got nan"):
        SamplingOptions(guidance=float("nan"))
    assert SamplingOptions(observation_error=float("inf")).observation_error == float("inf")
    assert SamplingOptions(fill=0).fill == 0 and type(SamplingOptions(fill=0).fill) is int
    assert SamplingOptions(device=np.str_("cpu")).device == "cpu"
