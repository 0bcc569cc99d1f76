"""Issue 23, point 3: a DeepR network imported into xdeepr computes what DeepR's code does.

A randomly initialised ``UNet2DModel`` with DeepR's configuration, saved by diffusers and
imported: the wrapped network's output equals diffusers' own forward; xdeepr's DDIM
(η = 0 and η = 1 with the same noise) and DDPM equal diffusers' DDIMScheduler /
DDPMScheduler loops on the imported schedule; the condition is DeepR's ×5 bicubic and
centre crop; and one whole ensemble member equals a cDDPMPipeline-style loop (instance
norm, residual, scaling). Tolerances: float32 arithmetic in different orders.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler

import xdeepr
from xdeepr.adapters.deepr.directory import ZERO_SNR_ALPHA_BAR, read_schedule
from xdeepr.diffusion import ddim, ddpm, timesteps
from xdeepr.model import calendar_features

from . import _deepr_model as dm

ATOL = 2e-4  # float32, different summation orders, on fields of unit scale


@pytest.fixture
def imported(deepr_imported):
    return deepr_imported


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 1, 16, 16, generator=g)
    cond = torch.randn(3, 1, 16, 16, generator=g)
    hours = torch.tensor([0, 6, 18])
    cal = torch.stack([hours / 24.0, torch.full((3,), 0.3)], dim=1)  # (B, 2)
    return x, cond, hours, cal


def test_network_output_equals_diffusers_forward(imported):
    model, *_ = imported
    unet = dm.unet()  # the same weights, straight from diffusers
    x, cond, hours, cal = _inputs()
    t = torch.tensor([999.0, 500.0, 3.0])
    with torch.no_grad():
        ours = model.network(x, t, cond, cal)
        theirs = unet(torch.cat([x, cond], 1), t.long(), class_labels=hours).sample
    assert torch.allclose(ours, theirs, atol=1e-5)
    # the weights are carried over unchanged
    ref = unet.state_dict()
    got = {k.removeprefix("unet."): v for k, v in model.network.state_dict().items()}
    assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)


def test_schedule_is_diffusers_linear_schedule(imported):
    model, *_ = imported
    ref = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02)
    assert torch.allclose(model.schedule.betas, ref.betas.double(), rtol=0, atol=1e-12)
    assert torch.allclose(model.schedule.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5)


def _eps_fn(model, cond, cal):
    return lambda x, t: model.network(x, t, cond, cal)


def _diffusers_ddim(model, scheduler, x, cond, hours, noise=None, eta=0.0):
    unet = model.network.unet
    for i, t in enumerate(scheduler.timesteps):
        eps = unet(torch.cat([x, cond], 1), t, class_labels=hours).sample
        extra = {} if noise is None else {"variance_noise": noise[i]}
        x = scheduler.step(eps, t, x, eta=eta, **extra).prev_sample
    return x


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_equals_diffusers_ddim_scheduler(imported, eta):
    model, *_ = imported
    x_T, cond, hours, cal = _inputs(1)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        clip_sample=False,
        timestep_spacing="trailing",
    )
    scheduler.set_timesteps(5)
    grid = timesteps(1000, 5)
    assert scheduler.timesteps.tolist() == grid  # the same trailing grid
    g = torch.Generator().manual_seed(7)
    zs = [torch.randn(x_T.shape, generator=g) for _ in grid]
    with torch.no_grad():
        ours = ddim(
            _eps_fn(model, cond, cal),
            x_T,
            model.schedule,
            grid,
            eta=eta,
            noise=lambda i, like: zs[i],
        )
        theirs = _diffusers_ddim(model, scheduler, x_T, cond, hours, zs, eta)
    assert torch.allclose(ours, theirs, atol=ATOL), float((ours - theirs).abs().max())


def test_ddpm_equals_diffusers_ddpm_scheduler(tmp_path):
    """All 50 steps of a 50-step DeepR schedule, with the same per-step noise."""
    from xdeepr.adapters.deepr.directory import read_network
    from xdeepr.adapters.deepr.network import DiffusersUNet

    folder = dm.model_dir(tmp_path, steps=50)
    schedule, prediction, _ = read_schedule(folder)
    net = DiffusersUNet(read_network(folder)[0], hour_embed="class")
    x_T, cond, hours, cal = _inputs(2)
    scheduler = DDPMScheduler(
        num_train_timesteps=50,
        beta_start=1e-4,
        beta_end=0.02,
        clip_sample=False,
        variance_type="fixed_large",
    )
    scheduler.set_timesteps(50)
    g_ours, g_theirs = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    with torch.no_grad():
        ours = ddpm(
            lambda x, t: net(x, t, cond, cal),
            x_T,
            schedule,
            timesteps(50, None),
            prediction=prediction,
            noise=lambda i, like: torch.randn(like.shape, generator=g_ours),
        )
        x = x_T
        for t in scheduler.timesteps:
            eps = net.unet(torch.cat([x, cond], 1), t, class_labels=hours).sample
            x = scheduler.step(eps, t, x, generator=g_theirs).prev_sample
    assert torch.allclose(ours, x, atol=ATOL), float((ours - x).abs().max())


def test_zero_terminal_snr_with_epsilon_ends_where_diffusers_euler_does(tmp_path):
    import json

    folder = dm.model_dir(tmp_path)
    path = folder / "scheduler_config.json"
    cfg = json.loads(path.read_text())
    path.write_text(json.dumps({**cfg, "rescale_betas_zero_snr": True}))
    schedule, prediction, record = read_schedule(folder)
    ref = EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, rescale_betas_zero_snr=True
    )
    assert prediction == "epsilon" and record["rescale_betas_zero_snr"]
    ab = schedule.alphas_cumprod
    # diffusers' ᾱ up to T-1; at T 2**-24 there, here kept below ᾱ_{T-1} (betas stay valid)
    assert torch.allclose(ab[:-1].float(), ref.alphas_cumprod[:-1], rtol=1e-3, atol=1e-12)
    assert 0 < float(ab[-1]) <= min(ZERO_SNR_ALPHA_BAR, float(ab[-2]))
    assert record["alpha_bar_last"] == float(ab[-1])


def test_condition_is_deepr_x5_bicubic_and_centre_crop(imported):
    model, features, _ = imported
    cond = model.condition(features)  # (time, channel, lat, lon)
    sc = model.feature_scaler
    coarse = features.t2m.sel(latitude=slice(48.0, 47.25), longitude=slice(9.0, 9.75))
    month = coarse.time.dt.month.values - 1
    scaled = (coarse.values - sc.mean["t2m"][month, None, None]) / sc.std["t2m"][month, None, None]
    up = torch.nn.functional.interpolate(
        torch.from_numpy(scaled.astype("float32"))[:, None], scale_factor=5, mode="bicubic"
    )[..., 2:-2, 2:-2]
    np.testing.assert_allclose(cond.values, up.numpy(), atol=1e-5)


def test_a_member_equals_a_cddpm_pipeline_loop(imported):
    """DeepR's inference, step by step: scale, x5 + crop, instance norm, DDIM loop, residual,
    undo the norm; against DeepRModel.sample (the label scaler is undone above it)."""
    model, features, _ = imported
    cond = torch.from_numpy(model.condition(features).values[:2])  # (2, 1, 16, 16)
    hours = torch.tensor([12, 18])  # 2020-01-31T12, T18
    cal = torch.tensor(calendar_features(features.time[:2]))
    x_T = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        clip_sample=False,
        timestep_spacing="trailing",
    )
    scheduler.set_timesteps(10)
    with torch.no_grad():
        m = cond.mean((1, 2, 3), keepdim=True)
        s = cond.std((1, 2, 3), keepdim=True)
        c = (cond - m) / s
        latents = _diffusers_ddim(model, scheduler, x_T, c, hours)
        theirs = (latents + c) * s + m
        opts = xdeepr.SamplingOptions(sampler="ddim", steps=10)
        ours = model.sample(cond, cal, opts, noise=lambda i, like: x_T)
    scale = float(theirs.abs().max())  # instance norm multiplies by the field's spread
    assert torch.allclose(ours, theirs, atol=ATOL * scale), float((ours - theirs).abs().max())


def test_without_residuals_and_instance_norm_a_member_is_the_plain_sample(deepr_folder, tmp_path):
    _, model_dir, _ = deepr_folder
    features, labels = dm.data()
    yml = dm.write_yaml(tmp_path, learn_residuals=False, instance_norm=False)
    model = xdeepr.from_deepr(model_dir, yml, features, labels)
    assert model.deepr["learn_residuals"] is False and model.deepr["instance_norm"] is False
    cond = torch.from_numpy(model.condition(features).values[:2])
    cal = torch.tensor(calendar_features(features.time[:2]))
    x_T = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(9))
    opts = xdeepr.SamplingOptions(sampler="ddim", steps=4)
    with torch.no_grad():
        ours = model.sample(cond, cal, opts, noise=lambda i, like: x_T)
        plain = ddim(_eps_fn(model, cond, cal), x_T, model.schedule, timesteps(1000, 4))
    assert torch.allclose(ours, plain, atol=1e-5)
