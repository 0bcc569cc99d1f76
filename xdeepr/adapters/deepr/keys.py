"""What DeepR's keys mean to xdeepr: its defaults, the keys ignored and why, name tables.

docs/from-deepr.md shows these tables to users; the reader (:mod:`.data`,
:mod:`.training`) reads them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUXILIARY",
    "DEEPR_DEFAULTS",
    "DOWN_BLOCKS",
    "HOUR_EMBEDS",
    "IGNORED",
    "PREDICTIONS",
    "SAMPLERS",
    "SCHEDULERS",
    "SCHEDULES",
    "SOURCES",
    "SPLITS",
    "UNETS",
    "UP_BLOCKS",
]

#: DeepR's own defaults (deepr.model.configs.TrainingConfig) for training parameters
#: a file leaves out: a DeepR file is read as DeepR would have run it.
DEEPR_DEFAULTS: dict[str, Any] = {
    "num_epochs": 50,
    "batch_size": 2,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-4,
    "lr_warmup_steps": 500,
    "hour_embed_type": "none",
    "learn_residuals": False,
    "seed": 0,
}

_DATA_FILES = "xdeepr reads the files, stores or datasets you pass; none are looked up"
_OUTPUTS = "xdeepr writes one model file (--output / model.save(path)); nothing is uploaded"
#: Keys read and deliberately not mapped, with the reason (the key path's last parts).
IGNORED: dict[str, str] = {
    "data_name": "the dataset name only builds DeepR's file names; " + _DATA_FILES,
    "spatial_resolution": "the resolution is read from the grid of the data",
    "data_location": _DATA_FILES,
    "data_dir": _DATA_FILES,
    "land_mask_location": "static fields come from --static / train(static=...)",
    "orography_location": "static fields come from --static / train(static=...)",
    "standardization.cache_folder": "the scaling statistics are stored in the model file",
    "temporal_coverage.frequency": "the frequency of DeepR's monthly files; xdeepr uses the "
    "time stamps of the data",
    "type": "read: xdeepr trains diffusion models only ('diffusion')",
    "trained_obs_model": "xdeepr trains its own mean; --set mean=regression (CorrDiff) is the "
    "closest",
    "eps_model.kwargs.in_channels": "the channels are counted from the data",
    "eps_model.kwargs.out_channels": "the channels are counted from the data",
    "eps_model.kwargs.sample_size": "the sample size is the (padded) label grid",
    "eps_model.kwargs.up_block_types": "xdeepr's up path mirrors the down path",
    "eps_model.kwargs.time_embedding_type": "xdeepr's timestep embedding is sinusoidal "
    "('positional')",
    "eps_model.kwargs.num_class_embeds": "the hour is embedded when hour_embed_type is not "
    "'none' (calendar)",
    "eps_model.kwargs.class_embed_type": "the hour is embedded when hour_embed_type is not "
    "'none' (calendar)",
    "eps_model.kwargs.norm_num_groups": "xdeepr chooses GroupNorm groups per layer (at most "
    "32, >= 2 channels each)",
    "eps_model.kwargs.flip_sin_to_cos": "fixed in xdeepr's sinusoidal embeddings",
    "eps_model.kwargs.freq_shift": "fixed in xdeepr's sinusoidal embeddings",
    "scheduler.kwargs.beta_start": "xdeepr's linear schedule runs from 1e-4 to 0.02 (DeepR's "
    "values)",
    "scheduler.kwargs.beta_end": "xdeepr's linear schedule runs from 1e-4 to 0.02 (DeepR's values)",
    "scheduler.kwargs.timestep_spacing": "each xdeepr sampler spaces its own steps",
    "mixed_precision": "xdeepr trains in float32",
    "hour_embed_size": "xdeepr sizes its calendar embedding from n_channels",
    "output_dir": _OUTPUTS,
    "push_to_hub": _OUTPUTS,
    "hf_repo_name": _OUTPUTS,
    "hub_private_repo": _OUTPUTS,
    "overwrite_output_dir": _OUTPUTS,
    "save_model_epochs": "checkpoints are counted in steps: --set checkpoint_every=N",
    "save_image_epochs": "xdeepr validates by skill (CRPS) instead; figures: xdeepr evaluate",
    "num_samples": "members sampled at validation: --set validation_members=N",
    "num_workers": "xdeepr prepares the next block in a background thread (prefetch)",
    "instance_norm": "xdeepr standardises with feature_scaling / label_scaling",
    "static_covariables": "static fields come from --static / train(static=...)",
    "validation_configuration": "validation of a trained model: xdeepr evaluate",
    "inference_configuration": "inference: xdeepr downscale / ds.deepr.downscale",
}

#: diffusers beta_schedule -> xdeepr schedule; prediction_type -> prediction; scheduler
#: class -> xdeepr sampler (an unknown one keeps the default sampler, with a warning)
SCHEDULES = {"linear": "linear", "squaredcos_cap_v2": "cosine", "cosine": "cosine"}
PREDICTIONS = {"epsilon": "epsilon", "v_prediction": "v", "v": "v"}
SAMPLERS = {
    "DDPMScheduler": "ddpm",
    "DDIMScheduler": "ddim",
    "DPMSolverMultistepScheduler": "dpm++2m",
}
#: diffusers schedulers xdeepr knows but has no sampler of (the default sampler, warned)
SCHEDULERS = (
    *SAMPLERS,
    "LMSDiscreteScheduler",
    "PNDMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DPMSolverSinglestepScheduler",
    "DPMSolverSDEScheduler",
    "DEISMultistepScheduler",
    "UniPCMultistepScheduler",
)
#: diffusers UNet2DModel block types -> whether the level has attention; any other name
#: is refused (an unknown name read as "no attention" would be silently wrong)
DOWN_BLOCKS = {
    "DownBlock2D": False,
    "ResnetDownsampleBlock2D": False,
    "SkipDownBlock2D": False,
    "AttnDownBlock2D": True,
    "AttnSkipDownBlock2D": True,
}
UP_BLOCKS = {
    "UpBlock2D": False,
    "ResnetUpsampleBlock2D": False,
    "SkipUpBlock2D": False,
    "AttnUpBlock2D": True,
    "AttnSkipUpBlock2D": True,
}
#: accepted values of hour_embed_type, add_auxiliary flags, U-Net classes, split names
HOUR_EMBEDS = ("none", "timestep", "positional", "cyclical", "class")
AUXILIARY = ("time", "lsm-low", "orog-low", "lsm-high", "orog-high")
UNETS = ("diffusers.UNet2DModel", "UNet")
SPLITS = ("train", "validation", "test")
_TP = "training_configuration.training_parameters"
_EPS = "training_configuration.model_configuration.eps_model.kwargs"
_SCHED = "training_configuration.model_configuration.scheduler.kwargs"
#: TrainConfig field -> the DeepR key it comes from (named in error messages)
SOURCES = {
    "epochs": f"{_TP}.num_epochs",
    "batch_size": f"{_TP}.batch_size (x gradient_accumulation_steps)",
    "learning_rate": f"{_TP}.learning_rate",
    "warmup_steps": f"{_TP}.lr_warmup_steps",
    "seed": f"{_TP}.seed",
    "n_blocks": f"{_EPS}.layers_per_block",
    "n_channels": f"{_EPS}.block_out_channels",
    "channel_multipliers": f"{_EPS}.block_out_channels",
    "is_attention": f"{_EPS}.down_block_types",
    "diffusion_steps": f"{_SCHED}.num_train_timesteps",
}
