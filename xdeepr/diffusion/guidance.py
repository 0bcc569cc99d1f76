"""Guidance by observations at sampling time: diffusion posterior sampling on a denoiser.

Chung et al. 2023 ("Diffusion posterior sampling for general noisy inverse problems",
eq. 16) approximate the likelihood of observations y = H x_0 + n given x_t through the
denoiser's estimate x̂_0(x_t): ∇ log p(y | x_t) ≈ −∇_{x_t} ‖H x̂_0(x_t) − y‖² / (2 r),
r the observation error variance. Added to the prior score, Tweedie's formula
(x̂_0 = (x_t + σ_t² ∇ log p(x_t)) / α_t) turns it into a correction of x̂_0 and ε̂:

    x̂_0' = x̂_0 − k_t ∇_{x_t} ½‖M ⊙ (x̂_0 − y)‖²,    ε̂' = (x_t − α_t x̂_0') / σ_t

so every sampler of :mod:`xdeepr.diffusion.samplers` is guided unchanged, through its
``model_fn``. H is the station operator: ``M`` the 0/1 station mask, ``y`` the
observations on the grid. DPS's step k_t = σ_t² / (α_t r) overshoots at high noise
(the step exceeds the misfit when σ_t² / α_t² > r); here it is the Kalman gain of a
prior of variance σ_t² / α_t² (the most x̂_0 can vary) instead,

    k_t = g · (σ_t² / α_t) / (r + σ_t² / α_t²),

which equals DPS's at low noise and never moves x̂_0 past y at a station; ``g`` (the
``guidance`` option) scales it. The gradient costs one backward pass per step.

Examples
--------
>>> import torch
>>> from xdeepr.diffusion import make_schedule, sample
>>> s = make_schedule("cosine", 100)
>>> y, m = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
>>> m[..., 1, 1] = 1
>>> fn = guided(lambda x, t: torch.zeros_like(x), s, "v", y, m, scale=1.0, variance=0.01)
>>> x = sample(fn, torch.zeros(1, 1, 4, 4), s, sampler="ddim", steps=10, prediction="v")
>>> bool(abs(x[0, 0, 1, 1] - 1) < 0.1), float(x[0, 0, 0, 0])  # pulled to y=1 at the station
(True, 0.0)
"""

from __future__ import annotations

import math

import torch

from xdeepr.diffusion.losses import ModelFn, predict_x0_eps
from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = ["guided"]


def guided(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    prediction: str,
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    scale: float = 1.0,
    variance: float | torch.Tensor = 0.1,
) -> ModelFn:
    """`model_fn` with its estimates pulled towards the observations (module docstring).

    Parameters
    ----------
    model_fn : callable
        ``model_fn(x_t, t) -> ε or v``, as the samplers take it.
    schedule : NoiseSchedule
        The training schedule (ᾱ of each training step).
    prediction : {"epsilon", "v"}
        What `model_fn` predicts; the guided function predicts the same.
    target, mask : torch.Tensor
        ``(B, C, H, W)`` like x_t: the observations in x̂_0 units and 1 where observed.
    scale : float
        g ≥ 0; 0 returns `model_fn` itself.
    variance : float or torch.Tensor
        r > 0, the observation error variance in x̂_0 units (a tensor broadcast
        against x_t gives one per channel).

    Returns
    -------
    callable
        A ``model_fn`` whose x̂_0 honours the observations within their error.
    """
    if scale < 0 or bool((torch.as_tensor(variance) <= 0).any()):
        raise ValueError(f"guidance needs scale >= 0 and variance > 0, got {scale}, {variance}")
    if scale == 0:
        return model_fn
    abar = schedule.alphas_cumprod

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = float(abar[round(float(t[0]))])
        if ab <= 1e-6 or ab >= 1.0:  # nothing to correct from pure noise or clean data
            return model_fn(x, t)
        alpha, sigma = math.sqrt(ab), math.sqrt(1.0 - ab)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            out = model_fn(xg, t)
            x0, _ = predict_x0_eps(out.float(), xg, ab, prediction)
            misfit = mask * (x0 - target)  # H x̂_0 − y at the stations, 0 elsewhere
            (grad,) = torch.autograd.grad(0.5 * misfit.pow(2).sum(), xg)
        k = scale * (sigma**2 / alpha) / (variance + sigma**2 / ab)
        x0 = x0.detach() - k * grad  # (B, C, H, W)
        eps = (x - alpha * x0) / sigma
        if prediction == "v":
            return alpha * eps - sigma * x0  # v = α ε − σ x_0
        return eps

    return fn
