"""The GPU fast path: its switches, their plumbing, and that they leave samples unchanged."""

from __future__ import annotations

import gc
import shutil
import weakref

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import xdeepr
from xdeepr import FastPath, fastpath
from xdeepr.diffusion import StackedRandomGenerator
from xdeepr.fastpath import batch_from_memory

OPTS = {"members": 2, "steps": 3, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def coarse(sample_small):
    f, _, _ = sample_small
    return f.isel(time=slice(80, 84))


@pytest.fixture(scope="module")
def reference(coarse, tiny_model):
    return coarse.deepr.downscale(tiny_model, **OPTS)


def test_defaults_follow_the_device():
    assert FastPath().resolve("cpu") == FastPath(False, False, False, False)
    assert FastPath().resolve("cuda:1") == FastPath(True, False, False, True)
    # explicit choices win, but pinned memory only exists with CUDA
    assert FastPath(bf16=False).resolve("cuda").bf16 is False
    on_cpu = FastPath(bf16=True, pin_memory=True).resolve("cpu")
    assert on_cpu == FastPath(True, False, False, False)
    assert FastPath().resolve("cpu").label() == "fp32, contiguous, eager"
    assert FastPath(compile="max-autotune").label() == "compile:max-autotune"


def test_coerce_and_its_errors():
    assert FastPath.coerce(None) == FastPath()
    fp = FastPath(channels_last=True)
    assert FastPath.coerce(fp) is fp
    assert FastPath.coerce({"bf16": False, "compile": True}) == FastPath(bf16=False, compile=True)
    with pytest.raises(ValueError, match=r"no option\(s\) \['channel_last'\].*'channels_last'"):
        FastPath.coerce({"channel_last": True})
    with pytest.raises(TypeError, match="fast_path must be an xdeepr.FastPath.*got str"):
        FastPath.coerce("bf16")  # type: ignore[arg-type]


@given(
    free=st.integers(0, 2**40),
    per=st.floats(1.0, 2.0**34, allow_nan=False),
    fraction=st.floats(0.1, 1.0),
)
def test_batch_from_memory_fits_and_is_monotone(free, per, fraction):
    b = batch_from_memory(free, per, fraction=fraction, cap=4096)
    assert 1 <= b <= 4096
    if b > 1:
        assert b * per <= fraction * free  # what it plans fits in the share of free memory
    if b < 4096:
        assert (b + 1) * per > fraction * free  # and it is the largest batch that does
    assert batch_from_memory(2 * free, per, fraction=fraction, cap=4096) >= b


def test_channels_last_gives_the_same_ensemble(reference, coarse, tiny_model):
    out = coarse.deepr.downscale(tiny_model, fast_path={"channels_last": True}, **OPTS)
    try:
        conv = next(m for m in tiny_model.network.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        xr.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)
        assert out.attrs == {**reference.attrs, "history": out.attrs["history"]}
    finally:
        tiny_model.network.to(memory_format=torch.contiguous_format)


def test_bf16_stays_close_to_float32(reference, coarse, tiny_model):
    """bf16 rounds the network's arithmetic only: same ensemble up to that rounding."""
    out = coarse.deepr.downscale(tiny_model, fast_path=FastPath(bf16=True), **OPTS)
    diff = np.abs(out.t2m.values - reference.t2m.values)
    spread = float(reference.t2m.std("member").mean())
    assert not np.array_equal(out.t2m.values, reference.t2m.values)  # it did run in bf16
    assert float(diff.mean()) < 0.1 * spread  # far below the ensemble's own spread
    np.testing.assert_array_equal(out.latitude, reference.latitude)


def test_compile_is_applied_once_per_network_and_mode(monkeypatch, reference, coarse, tiny_model):
    calls = []

    def fake_compile(module, mode=None):
        calls.append((module, mode))
        return module  # eager: the plumbing, not the compiler, is under test here

    monkeypatch.setattr(torch, "compile", fake_compile)
    tiny_model.network.__dict__.pop(fastpath.COMPILED_ATTR, None)
    fp = FastPath(compile=True)
    a = coarse.deepr.downscale(tiny_model, fast_path=fp, **OPTS)
    b = coarse.deepr.downscale(tiny_model, fast_path=fp, **OPTS)
    coarse.deepr.downscale(tiny_model, fast_path=FastPath(compile="reduce-overhead"), **OPTS)
    assert calls == [(tiny_model.network, None), (tiny_model.network, "reduce-overhead")]
    xr.testing.assert_equal(a, b)  # the same values (attrs hold a time stamp)
    xr.testing.assert_allclose(a, reference)
    # the cache lives on the network (not in its state_dict) and dies with it
    assert set(getattr(tiny_model.network, fastpath.COMPILED_ATTR)) == {"None", "reduce-overhead"}
    assert not any("compiled" in k for k in tiny_model.network.state_dict())
    tiny_model.network.__dict__.pop(fastpath.COMPILED_ATTR)


def test_compiled_network_is_not_kept_alive():
    from xdeepr.nn import UNet

    net = UNet(n_channels=8, channel_multipliers=(1, 2), is_attention=(False, False))
    FastPath(compile=True).denoiser(net, "cpu")  # torch.compile is lazy: nothing compiles yet
    ref = weakref.ref(net)
    del net
    gc.collect()
    assert ref() is None


def test_fast_path_reaches_lazy_blocks(monkeypatch, reference, coarse, tiny_model):
    from xdeepr import inference

    seen = []
    real = inference.batching.sample_block

    def spy(ds, model, options, **kwargs):
        seen.append(options.fast_path)
        return real(ds, model, options, **kwargs)

    monkeypatch.setattr(inference.batching, "sample_block", spy)
    fp = FastPath(channels_last=True, bf16=False)
    lazy = coarse.chunk(time=2).deepr.downscale(tiny_model, fast_path=fp, **OPTS)
    assert seen == []  # lazy: nothing sampled yet
    try:
        xr.testing.assert_allclose(
            lazy.compute(scheduler="synchronous"), reference, rtol=1e-4, atol=1e-4
        )
        # each of the two blocks sampled with it, settled for the block's device
        assert seen == [fp.resolve("cpu"), fp.resolve("cpu")]
    finally:
        for m in inference._MODELS.values():
            m.network.to(memory_format=torch.contiguous_format)


def test_bad_fast_path_is_refused_before_any_work(coarse, tiny_model):
    with pytest.raises(ValueError, match="no option"):
        coarse.deepr.downscale(tiny_model, fast_path={"fp16": True}, **OPTS)


@pytest.mark.slow
def test_real_torch_compile_on_cpu(reference, coarse, tiny_model):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile on CPU needs a C compiler")
    out = coarse.deepr.downscale(tiny_model, fast_path=FastPath(compile=True), **OPTS)
    compiled = getattr(tiny_model.network, fastpath.COMPILED_ATTR)["None"]
    assert compiled is not tiny_model.network  # a real OptimizedModule, not the eager network
    xr.testing.assert_allclose(out, reference, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
def test_cuda_fast_path_batches_from_memory_and_matches_cpu(reference, coarse, tiny_model):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from xdeepr import inference

    inference._SAMPLE_BYTES.clear()
    opts = {**OPTS, "device": "cuda"}
    try:
        fp32 = coarse.deepr.downscale(tiny_model, fast_path={"bf16": False}, **opts)
        assert len(inference._SAMPLE_BYTES) == 1  # the working memory was measured once
        (per_sample,) = inference._SAMPLE_BYTES.values()
        assert per_sample > 0
        # pinned, asynchronous copies give the samples a synchronous copy would
        sync = coarse.deepr.downscale(
            tiny_model, fast_path={"bf16": False, "pin_memory": False}, batch_size=1, **opts
        )
        xr.testing.assert_allclose(fp32, sync, rtol=1e-3, atol=1e-3)
        # several pinned batches landing at their offsets (8 samples in batches of 3)
        batched = coarse.deepr.downscale(
            tiny_model, fast_path={"bf16": False}, batch_size=3, **opts
        )
        xr.testing.assert_allclose(batched, sync, rtol=1e-3, atol=1e-3)
        fast = coarse.deepr.downscale(
            tiny_model, fast_path={"channels_last": True, "compile": False}, **opts
        )
        assert np.isfinite(fast.t2m.values).all()
        # CUDA draws its noise from CUDA generators: another ensemble than the CPU's,
        # on the same grid and of the same spread
        assert fp32.t2m.dims == reference.t2m.dims and fp32.t2m.shape == reference.t2m.shape
        ratio = float(fp32.t2m.std("member").mean() / reference.t2m.std("member").mean())
        assert 0.5 < ratio < 2
    finally:
        tiny_model.to("cpu").network.to(memory_format=torch.contiguous_format)


def test_model_sample_accepts_fast_path(tiny_model):
    torch.manual_seed(0)
    cond = torch.randn(2, tiny_model.network.config["conditioned_on_input"], 24, 32)
    cal = torch.rand(2, 2)

    def run(fast_path):
        noise = StackedRandomGenerator.from_seeds(range(2))
        opts = xdeepr.SamplingOptions(steps=2, fast_path=fast_path)
        return tiny_model.sample(cond, cal, opts, noise=noise)

    a, b = run(None), run({"bf16": True})  # CPU default: float32; bf16 only when asked
    assert not torch.equal(a, b)
    torch.testing.assert_close(a, b, rtol=0.1, atol=0.1)
    torch.testing.assert_close(run(FastPath(bf16=False)), a, rtol=0, atol=0)
    assert xdeepr.FastPath is FastPath


def test_out_of_memory_halves_the_batch_and_gives_the_same_ensemble(
    monkeypatch, reference, coarse, tiny_model
):
    real = type(tiny_model).sample
    sizes = []

    def sample(self, condition, *args, **kwargs):
        sizes.append(condition.shape[0])
        if condition.shape[0] > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, condition, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model), "sample", sample)
    reported = []
    from xdeepr.inference import sample_block

    ds = tiny_model.coarse_features(coarse)
    opts = xdeepr.SamplingOptions(members=2, steps=3, seed=0, batch_size=8)
    opts = opts.resolve(tiny_model).on_device("cpu")
    out = sample_block(ds, tiny_model, opts, device=torch.device("cpu"), progress=reported.append)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}
    xr.testing.assert_allclose(out, reference[["t2m"]].drop_attrs(), rtol=1e-5, atol=1e-5)
    assert sum(reported) == 4 * 2 * 3  # what failed batches reported was taken back


def test_out_of_memory_inside_compilation_is_recognised():
    from xdeepr.inference import _out_of_memory

    class BackendCompilerFailed(RuntimeError):  # how torch.compile wraps what it met
        def __init__(self, inner):
            super().__init__(f"backend failed: {inner}")
            self.inner_exception = inner

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory")
    assert _out_of_memory(oom)
    assert _out_of_memory(BackendCompilerFailed(oom))
    try:
        try:
            raise oom
        except torch.cuda.OutOfMemoryError as inner:
            raise RuntimeError("while compiling") from inner
    except RuntimeError as outer:
        assert _out_of_memory(outer)
    assert not _out_of_memory(BackendCompilerFailed(ValueError("bad graph")))
    assert not _out_of_memory(RuntimeError("shape mismatch"))


def test_other_errors_are_not_retried(monkeypatch, coarse, tiny_model):
    calls = []

    def sample(self, condition, *args, **kwargs):
        calls.append(condition.shape[0])
        raise RuntimeError("shape mismatch (not memory)")

    monkeypatch.setattr(type(tiny_model), "sample", sample)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        coarse.deepr.downscale(tiny_model, batch_size=8, **OPTS)
    assert calls == [8]


def test_fast_path_values_are_checked():
    with pytest.raises(TypeError, match="bf16 must be True, False or None, got 'no'"):
        FastPath.coerce({"bf16": "no"})
    with pytest.raises(ValueError, match="compile must be True, False or a torch.compile mode"):
        FastPath(compile="fastest")


def test_a_network_with_compiled_versions_still_deep_copies(tiny_model):
    import copy

    net = copy.deepcopy(tiny_model.network)
    net.__dict__[fastpath.COMPILED_ATTR] = {"None": torch.compile(net)}  # as FastPath leaves it
    twin = copy.deepcopy(net)
    assert fastpath.COMPILED_ATTR not in twin.__dict__
    for a, b in zip(net.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)
