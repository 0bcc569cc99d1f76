"""The loop every sampler shares: predict x̂_0 and ε̂ at each grid step, then update.

A sampler (:mod:`xdeepr.diffusion.samplers`) is only its update rule over a grid of
training steps t_0 = T−1 > ... > t_{n−1}; :func:`run_sampler` walks the grid, calls
the network once per step and hands the update rule a :class:`Step` saying where it
stands. Notation as in :mod:`xdeepr.diffusion.samplers`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from xdeepr.diffusion.losses import ModelFn, check_prediction, predict_x0_eps
from xdeepr.diffusion.noise import NoiseSource, check_noise
from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = ["ProgressFn", "Step", "Update", "run_sampler"]

ProgressFn = Callable[[int], object]


@dataclass(frozen=True)
class Step:
    """Where a sampler stands: step ``i`` of the grid, from ᾱ_t to ᾱ_next.

    ``x0_prev`` and ``h_prev`` are the previous step's x̂_0 and λ step (for
    multistep solvers); ``h = λ_next − λ_t`` (infinite from ᾱ = 0 or to ᾱ = 1).
    """

    i: int
    t: int
    ab: float
    ab_next: float
    h: float
    x0_prev: torch.Tensor | None
    h_prev: float

    @property
    def last(self) -> bool:
        """Whether this step lands on the clean data (ᾱ_next = 1)."""
        return self.ab_next >= 1.0


Update = Callable[
    [Step, torch.Tensor, torch.Tensor, torch.Tensor, Callable[[], torch.Tensor]], torch.Tensor
]


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -math.inf


def _lambda(ab: float) -> float:
    # λ = log(α/σ) = ½ (log ᾱ − log(1 − ᾱ)); ±inf at ᾱ = 0 or 1
    return 0.5 * (_log(ab) - _log(1.0 - ab))


@torch.no_grad()
def run_sampler(
    update: Update,
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "epsilon",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """The loop every sampler shares: predict x̂_0 and ε̂ at each grid step, then `update`.

    Parameters
    ----------
    update : callable
        ``update(step, x_t, x̂_0, ε̂, draw) -> x_next``; ``draw()`` gives this step's
        standard normal noise shaped like ``x_t``.
    model_fn, x_T, schedule, prediction, noise, progress
        As in :func:`ddpm`.
    grid : sequence of int
        Strictly decreasing training steps (:func:`xdeepr.diffusion.grids.make_grid`).
    """
    check_prediction(prediction)
    abar = schedule.alphas_cumprod
    abars = [float(abar[t]) for t in grid] + [1.0]  # ᾱ = 1 (clean data) after the last step
    x = x_T
    x0_prev: torch.Tensor | None = None
    h_prev = math.nan
    for i, t in enumerate(grid):
        ab, ab_next = abars[i], abars[i + 1]
        t_b = torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)  # (B,)
        x0, eps = predict_x0_eps(model_fn(x, t_b), x, ab, prediction)
        h = _lambda(ab_next) - _lambda(ab)
        step = Step(i, int(t), ab, ab_next, h, x0_prev, h_prev)
        x = update(step, x, x0, eps, functools.partial(check_noise, noise, i, x))
        x0_prev, h_prev = x0, h
        if progress is not None:
            progress(1)
    return x
