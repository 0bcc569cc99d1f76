"""A tiny DeepR model folder, its YAML and synthetic ERA5/CERRA-like data, for the import tests.

The network is a randomly initialised ``diffusers.UNet2DModel`` configured as DeepR's
(two input channels: noisy field and upsampled ERA5; 24 hour classes; attention on one
level), saved with ``save_pretrained`` next to a scheduler configuration, as DeepR's
trainer writes them. The grids: 4x4 coarse points at 0.25° and 16x16 label points at
0.05°, so that DeepR's x5 upsampling (20x20) centre-cropped by 2 pixels a side lands
exactly on the label grid.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

T_STEPS = 1000
FEATURE_COVERAGE = {"longitude": [9.0, 9.75], "latitude": [48.0, 47.25]}


def unet(seed: int = 0):
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=16,
        in_channels=2,
        out_channels=1,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        num_class_embeds=24,
        norm_num_groups=4,
    ).eval()


def model_dir(root: Path, *, safe: bool = True, steps: int = T_STEPS, seed: int = 0) -> Path:
    """DeepR's output folder: config.json, the weights and scheduler_config.json."""
    from diffusers import LMSDiscreteScheduler

    out = root / f"deepr_model_{'st' if safe else 'bin'}_{steps}"
    unet(seed).save_pretrained(out, safe_serialization=safe)
    LMSDiscreteScheduler(
        num_train_timesteps=steps,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        prediction_type="epsilon",
        timestep_spacing="trailing",
    ).save_pretrained(out)
    return out


def write_yaml(
    root: Path,
    *,
    learn_residuals: bool = True,
    instance_norm: bool = True,
    method: str = "domain-wise",
    name: str = "deepr.yml",
    features_coverage: str = "{longitude: [9.0, 9.75], latitude: [48.0, 47.25]}",
    labels_coverage: str = "{longitude: [9.0, 9.75], latitude: [48.0, 47.25]}",
    blocks: str = "[8, 16]",
) -> Path:
    """DeepR's configuration_diffusion.yml, shaped as its resources/ file."""
    text = f"""
    data_configuration:
      features_configuration:
        variables: [t2m]
        data_name: era5
        spatial_resolution: "025deg"
        add_auxiliary: {{time: true, lsm-low: false, orog-low: false}}
        spatial_coverage: {features_coverage}
        standardization: {{to_do: true, cache_folder: /nowhere, method: {method}}}
        data_location: /nowhere/features/
      label_configuration:
        variable: t2m
        data_name: cerra
        spatial_resolution: "005deg"
        standardization: {{to_do: true, cache_folder: /nowhere, method: {method}}}
        spatial_coverage: {labels_coverage}
        data_location: /nowhere/labels/
      common_configuration:
        temporal_coverage: {{start: 2020-01, end: 2020-02, frequency: MS}}
        data_split: {{test: 0.0, validation: 0.2}}
    training_configuration:
      type: diffusion
      model_configuration:
        eps_model:
          class_name: diffusers.UNet2DModel
          kwargs:
            block_out_channels: {blocks}
            down_block_types: [DownBlock2D, AttnDownBlock2D]
            up_block_types: [AttnUpBlock2D, UpBlock2D]
            layers_per_block: 1
            num_class_embeds: 24
            in_channels: 2
            norm_num_groups: 4
        scheduler:
          class_name: LMSDiscreteScheduler
          kwargs: {{num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02,
                    beta_schedule: linear, prediction_type: epsilon,
                    timestep_spacing: trailing}}
      training_parameters:
        num_epochs: 1
        batch_size: 2
        hour_embed_type: class
        learn_residuals: {str(learn_residuals).lower()}
        instance_norm: {str(instance_norm).lower()}
        output_dir: /nowhere
    """
    path = root / name
    path.write_text(textwrap.dedent(text))
    return path


def data(n_times: int = 4, seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """ERA5-like features (with a margin beyond the coverage) and CERRA-like labels."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2020-01-31T12", periods=n_times, freq="6h")  # January and February
    clat, clon = 48.25 - 0.25 * np.arange(6), 8.75 + 0.25 * np.arange(6)  # one point of margin
    flat, flon = 48.0 - 0.05 * np.arange(16), 9.0 + 0.05 * np.arange(16)
    attrs = {"units": "K", "standard_name": "air_temperature", "long_name": "2 m temperature"}
    trend = np.linspace(-2, 2, 6)[None, :, None]
    coarse = 275 + trend + rng.normal(size=(n_times, 6, 6))
    fine = 275 + rng.normal(size=(n_times, 16, 16))
    features = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), coarse.astype("float32"), attrs)},
        coords={"time": time, "latitude": clat, "longitude": clon},
    )
    labels = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), fine.astype("float32"), attrs)},
        coords={"time": time, "latitude": flat, "longitude": flon},
    )
    for ds in (features, labels):
        ds["latitude"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
        ds["longitude"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    return features, labels
