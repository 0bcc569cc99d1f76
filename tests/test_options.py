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
