"""One-pass (and two-pass) sampling: a member in one or two network evaluations.

A student made by :func:`xdeepr.distill` is the teacher's U-Net fine-tuned as a
*generator*: given pure noise z at the last training step T−1 and the condition, one
evaluation returns a member, x = x̂_0(z, T−1) (with v-prediction
x̂_0 = α_t z − σ_t v̂, and α_{T−1} ≈ 0: the noise is the generator's random input).
With two evaluations the first member is noised again to the second grid step t_1
and denoised once more (the multistep sampling of consistency models, Song et al.
2023, Algorithm 1):

    x_{t_1} = α_{t_1} x̂_0 + σ_{t_1} z',     x = x̂_0(x_{t_1}, t_1).

The grid is the trailing grid of the diffusion samplers (``timesteps(T, n)``: T−1,
then T/2 for n = 2). The noise z and z' come from the sampler's noise source, so a
member depends only on its (seed, time, member) as with every sampler.
:func:`generate` is the differentiable form the student is trained through;
:func:`onepass` the sampler registered as ``"onepass"`` in
:data:`xdeepr.diffusion.SAMPLERS`.

Examples
--------
>>> import torch
>>> from xdeepr.diffusion import make_schedule, timesteps
>>> s = make_schedule("cosine", 1000)
>>> calls = []
>>> f = lambda x, t: calls.append(1) or torch.zeros_like(x)
>>> onepass(f, torch.randn(2, 1, 8, 8), s, timesteps(1000, 2), prediction="v").shape
torch.Size([2, 1, 8, 8])
>>> len(calls)
2
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from xdeepr.diffusion.loop import ProgressFn
from xdeepr.diffusion.losses import ModelFn, check_prediction, predict_x0_eps
from xdeepr.diffusion.noise import NoiseSource, check_noise
from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = ["generate", "onepass"]


def generate(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "v",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Members from noise in ``len(grid)`` network evaluations, differentiable.

    Parameters
    ----------
    model_fn : callable
        ``model_fn(x_t, t) -> ε or v``; ``t`` float32 ``(B,)``.
    x_T : torch.Tensor
        The generator's input noise, ``(B, C, H, W)``.
    schedule : NoiseSchedule
        The training schedule of the network.
    grid : sequence of int
        Strictly decreasing training steps, one per evaluation (``timesteps(T, n)``).
    prediction : {"epsilon", "v"}
        What ``model_fn`` predicts (ε cannot recover x̂_0 where ᾱ = 0).
    noise : NoiseSource, optional
        ``noise(step, like)`` for the re-noising between evaluations; default
        ``torch.randn_like``.
    progress : callable, optional
        Called as ``progress(1)`` after every evaluation.

    Returns
    -------
    torch.Tensor
        Members shaped like ``x_T``; gradients flow to the network's parameters.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("cosine", 100)
    >>> generate(lambda x, t: -x, torch.ones(1, 1, 2, 2), s, [99]).shape
    torch.Size([1, 1, 2, 2])
    """
    check_prediction(prediction)
    steps = [int(t) for t in grid]
    if not steps or any(a <= b for a, b in itertools.pairwise(steps)):
        raise ValueError(f"grid must be non-empty and strictly decreasing, got {steps}")
    abar = schedule.alphas_cumprod
    x = x_T
    for i, t in enumerate(steps):
        ab = float(abar[t])
        t_b = torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)
        x0, _ = predict_x0_eps(model_fn(x, t_b), x, ab, prediction)
        if i + 1 < len(steps):  # noise the member again to the next grid step
            ab_next = float(abar[steps[i + 1]])
            z = check_noise(noise, i, x)
            x = math.sqrt(ab_next) * x0 + math.sqrt(1.0 - ab_next) * z
        else:
            x = x0
        if progress is not None:
            progress(1)
    return x


def onepass(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "v",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """The one-pass sampler of distilled students (:func:`generate` without gradients).

    One member per network evaluation on a one-step grid, two on a two-step grid
    (re-noised in between). Meant for students of :func:`xdeepr.distill`; a
    diffusion model sampled this way gives its one-step mean estimate plus almost no
    spread (no distillation, no ensemble).

    Parameters
    ----------
    model_fn, x_T, schedule, grid, prediction, noise, progress
        As in :func:`generate`.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule, timesteps
    >>> s = make_schedule("cosine", 1000)
    >>> onepass(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 4, 4), s,
    ...         timesteps(1000, 1), prediction="v").shape
    torch.Size([1, 1, 4, 4])
    """
    with torch.no_grad():
        return generate(
            model_fn, x_T, schedule, grid, prediction=prediction, noise=noise, progress=progress
        )
