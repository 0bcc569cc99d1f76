"""Diffusion maths below the tensor boundary: noise schedules, loss, samplers.

Everything here is a pure function of tensors; no xarray.

Examples
--------
>>> import torch
>>> from xdeepr.diffusion import make_schedule, sample
>>> s = make_schedule("linear", 1000)
>>> x = sample(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s, sampler="dpm++2m")
>>> x.shape
torch.Size([1, 1, 8, 8])
"""

from __future__ import annotations

from xdeepr.diffusion.grids import STEP_GRIDS, make_grid
from xdeepr.diffusion.losses import PREDICTIONS, diffusion_loss, predict_x0_eps
from xdeepr.diffusion.noise import NoiseSource, StackedRandomGenerator
from xdeepr.diffusion.samplers import (
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    SAMPLERS,
    ddim,
    ddpm,
    dpm_solver_pp_2m,
    dpm_solver_pp_2m_sde,
    num_model_evals,
    run_sampler,
    sample,
    timesteps,
)
from xdeepr.diffusion.schedules import SCHEDULE_NAMES, NoiseSchedule, make_schedule

__all__ = [
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "PREDICTIONS",
    "SAMPLERS",
    "SCHEDULE_NAMES",
    "STEP_GRIDS",
    "NoiseSchedule",
    "NoiseSource",
    "StackedRandomGenerator",
    "ddim",
    "ddpm",
    "diffusion_loss",
    "dpm_solver_pp_2m",
    "dpm_solver_pp_2m_sde",
    "make_grid",
    "make_schedule",
    "num_model_evals",
    "predict_x0_eps",
    "run_sampler",
    "sample",
    "timesteps",
]
