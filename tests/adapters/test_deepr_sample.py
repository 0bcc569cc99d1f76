"""Issue 23, "must show": a DeepR-configured network imported over the embedded sample.

A ``UNet2DModel`` configured as DeepR's resources/configuration_diffusion.yml
(blocks [16, 24, 32], attention on two levels, 24 hour classes, 2 input channels),
saved with diffusers, and a DeepR YAML whose coverages are the sample's: it imports
with its weights unchanged, downscales the sample onto the label grid, its default
sampler is at least 40 times cheaper than ``sampler="ddpm", steps=1000`` (CPU time of
the same network), and the saved file reloads to the same ensemble. Slow: the 1000
steps take about 15 CPU seconds.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

pytest.importorskip("diffusers")

import xdeepr
from xdeepr.adapters.deepr import DeepRConfigWarning
from xdeepr.diffusion import StackedRandomGenerator
from xdeepr.model import calendar_features

from . import _deepr_model as dm

pytestmark = pytest.mark.slow


def _deepr_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=(20, 32),
        in_channels=2,
        out_channels=1,
        block_out_channels=(16, 24, 32),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        num_class_embeds=24,
        norm_num_groups=4,
    ).eval()


def test_a_deepr_configured_model_runs_on_the_sample(tmp_path):
    from diffusers import LMSDiscreteScheduler

    folder = tmp_path / "deepr"
    unet = _deepr_unet()
    unet.save_pretrained(folder)
    LMSDiscreteScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, timestep_spacing="trailing"
    ).save_pretrained(folder)
    yml = dm.write_yaml(
        tmp_path,
        features_coverage="{longitude: [6.0, 13.75], latitude: [50, 45.25]}",
        labels_coverage="{longitude: [9.2, 10.75], latitude: [48, 47.05]}",
        blocks="[16, 24, 32]",
    )
    features, labels, _ = xdeepr.datasets.load_sample(periods=8)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = xdeepr.from_deepr(folder, yml, features, labels)
    # the sample's label grid is not where DeepR's x5 crop puts its pixels: said, 0.1°
    assert any(
        issubclass(w.category, DeepRConfigWarning) and "0.1°" in str(w.message) for w in seen
    )
    ref = unet.state_dict()
    got = {k.removeprefix("unet."): v for k, v in model.network.state_dict().items()}
    assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)

    out = features.deepr.downscale(model, members=2, seed=0)
    xr.testing.assert_equal(out.latitude, labels.latitude)
    xr.testing.assert_equal(out.longitude, labels.longitude)
    assert np.isfinite(out.t2m.values).all()

    back = xdeepr.load_model(model.save(tmp_path / "deepr.xdeepr"))
    xr.testing.assert_allclose(out, features.deepr.downscale(back, members=2, seed=0), atol=1e-5)

    cond = torch.from_numpy(model.condition(features).values[:1]).repeat(2, 1, 1, 1)
    cal = torch.tensor(calendar_features(features.time[:1])).repeat(2, 1)

    def cpu_seconds(options: xdeepr.SamplingOptions) -> float:
        start = time.process_time()
        model.sample(cond, cal, options, noise=StackedRandomGenerator.from_seeds([0, 1]))
        return time.process_time() - start

    default = min(cpu_seconds(xdeepr.SamplingOptions()) for _ in range(3))
    ddpm = cpu_seconds(xdeepr.SamplingOptions(sampler="ddpm", steps=1000))
    assert ddpm / default >= 40, (ddpm, default)
