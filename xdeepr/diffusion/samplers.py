"""Samplers: one loop over a step grid; each sampler is only its update rule.

The shared loop is :func:`xdeepr.diffusion.loop.run_sampler`; each update rule here is
a few dozen lines, the rest is each public sampler's numpydoc page with its equation and
a runnable example.

Every sampler walks a grid of training steps t_0 = T−1 > t_1 > ... > t_{n−1}
(built by :mod:`xdeepr.diffusion.grids` and passed in), calls ``model_fn`` once per
step and ends on the clean data (ᾱ = 1), so the grid's length is also the number
of network evaluations. ``model_fn(x, t)`` receives ``t`` as a float32 ``(B,)``
tensor in the training index units [0, T−1]; bind the condition with a closure.
Stochastic samplers draw their noise from a noise source
(:mod:`xdeepr.diffusion.noise`).

Notation: ᾱ_t cumulative product of α; α_t = sqrt(ᾱ_t) signal scale; σ_t =
sqrt(1 − ᾱ_t) noise scale; λ_t = log(α_t / σ_t) half log-SNR; x̂_0 and ε̂ the
network's estimates of the clean field and of the noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from xdeepr.diffusion.grids import DEFAULT_GRID, make_grid, timesteps
from xdeepr.diffusion.loop import ProgressFn, Step, run_sampler
from xdeepr.diffusion.losses import ModelFn
from xdeepr.diffusion.noise import NoiseSource
from xdeepr.diffusion.onepass import onepass
from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = [
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "SAMPLERS",
    "Step",
    "ddim",
    "ddpm",
    "dpm_solver_pp_2m",
    "dpm_solver_pp_2m_sde",
    "num_model_evals",
    "run_sampler",
    "sample",
    "timesteps",
]


def _ddpm_update(
    s: Step, x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]
) -> torch.Tensor:
    # Ho et al. 2020 Alg. 2 in x̂_0 form: mean of q(x_prev | x_t, x̂_0) (eq. 7), σ² = β_t;
    # respaced β_t = 1 − ᾱ_t / ᾱ_prev (Nichol & Dhariwal 2021, sec. 4)
    beta = 1.0 - s.ab / s.ab_next
    c0 = math.sqrt(s.ab_next) * beta / (1.0 - s.ab)
    ct = math.sqrt(1.0 - beta) * (1.0 - s.ab_next) / (1.0 - s.ab)
    x = c0 * x0 + ct * x
    if not s.last and beta > 0:  # no noise on the final step to the data
        x = x + math.sqrt(beta) * draw()
    return x


def _ddim_update(
    s: Step,
    x: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    draw: Callable[[], torch.Tensor],
    *,
    eta: float,
) -> torch.Tensor:
    # Song et al. 2021, eq. 12 with σ from eq. 16
    sigma = eta * math.sqrt((1.0 - s.ab_next) / (1.0 - s.ab) * (1.0 - s.ab / s.ab_next))
    x = math.sqrt(s.ab_next) * x0 + math.sqrt(max(1.0 - s.ab_next - sigma**2, 0.0)) * eps
    if sigma > 0:
        x = x + sigma * draw()
    return x


def _dpm_correction(s: Step, x0: torch.Tensor) -> torch.Tensor:
    # multistep data prediction D = x̂_0 + ½ (h / h_prev)(x̂_0 − x̂_0,prev); first order
    # on the first step and after an infinite λ step (from ᾱ = 0)
    if s.x0_prev is None or not math.isfinite(s.h_prev):
        return x0
    return x0 + 0.5 * (s.h / s.h_prev) * (x0 - s.x0_prev)


def _dpm_ode_update(
    s: Step, x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]
) -> torch.Tensor:
    # DPM-Solver++(2M), Lu et al. 2022, Alg. 2: x_next = (σ_next/σ_t) x_t − α_next (e^{−h} − 1) D
    if s.last:
        return x0  # final denoise: σ_next = 0
    sig_ratio = math.sqrt((1.0 - s.ab_next) / (1.0 - s.ab))
    return sig_ratio * x - math.sqrt(s.ab_next) * math.expm1(-s.h) * _dpm_correction(s, x0)


def _dpm_sde_update(
    s: Step, x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, draw: Callable[[], torch.Tensor]
) -> torch.Tensor:
    # SDE-DPM-Solver++(2M), Lu et al. 2022, sec. 5: x_next = (σ_next/σ_t) e^{−h} x_t
    # + α_next (1 − e^{−2h}) D + σ_next sqrt(1 − e^{−2h}) z
    if s.last:
        return x0
    sig_ratio = math.sqrt((1.0 - s.ab_next) / (1.0 - s.ab))
    keep = -math.expm1(-2.0 * s.h)  # 1 − e^{−2h}
    x = (sig_ratio * math.exp(-s.h)) * x + (math.sqrt(s.ab_next) * keep) * _dpm_correction(s, x0)
    return x + (math.sqrt(1.0 - s.ab_next) * math.sqrt(keep)) * draw()


def ddpm(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "epsilon",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020), on the full or a respaced grid.

    Parameters
    ----------
    model_fn : callable
        ``model_fn(x_t, t) -> ε or v``; ``t`` float32 ``(B,)``.
    x_T : torch.Tensor
        Initial standard normal noise, ``(B, C, H, W)``.
    schedule : NoiseSchedule
        The training schedule.
    grid : sequence of int
        The steps to visit (:func:`timesteps`; all T for the seed's sampler).
    prediction : {"epsilon", "v"}
        What ``model_fn`` predicts.
    noise : NoiseSource, optional
        ``noise(step, like)``; default ``torch.randn_like``.
    progress : callable, optional
        Called as ``progress(1)`` after every step.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Notes
    -----
    The step variance is σ_t² = β_t ("fixed large", as in the seed), not the
    posterior β̃_t: on Gaussian data β̃_t gives ensembles that are too narrow
    (std −1 % at 1000 steps, −6 % at 100), β_t within +0.2 % / +1.3 %.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 100)
    >>> x = ddpm(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s, timesteps(100, 10))
    >>> x.shape
    torch.Size([1, 1, 8, 8])
    """
    return run_sampler(
        _ddpm_update,
        model_fn,
        x_T,
        schedule,
        grid,
        prediction=prediction,
        noise=noise,
        progress=progress,
    )


def ddim(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "epsilon",
    eta: float = 0.0,
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """DDIM sampling (Song et al. 2021); ``eta=0`` is deterministic, ``eta=1`` DDPM-like.

    Parameters
    ----------
    model_fn, x_T, schedule, grid, prediction, noise, progress
        As in :func:`ddpm`.
    eta : float
        Stochasticity η ≥ 0 of Song et al. 2021, eq. 16.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 100)
    >>> x = ddim(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s, timesteps(100, 5))
    >>> x.shape
    torch.Size([1, 1, 8, 8])
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    update = functools.partial(_ddim_update, eta=float(eta))
    return run_sampler(
        update, model_fn, x_T, schedule, grid, prediction=prediction, noise=noise, progress=progress
    )


def dpm_solver_pp_2m(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "epsilon",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): deterministic second-order multistep ODE solver.

    Data-prediction form in λ = log(α/σ) on the discrete VP schedule; the first
    step is first order, the last is the final denoise to x̂_0. `noise` is unused.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 1000)
    >>> f = lambda x, t: torch.zeros_like(x)
    >>> dpm_solver_pp_2m(f, torch.randn(1, 1, 8, 8), s, timesteps(1000, 20)).shape
    torch.Size([1, 1, 8, 8])
    """
    return run_sampler(
        _dpm_ode_update,
        model_fn,
        x_T,
        schedule,
        grid,
        prediction=prediction,
        noise=noise,
        progress=progress,
    )


def dpm_solver_pp_2m_sde(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    grid: Sequence[int],
    *,
    prediction: str = "epsilon",
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, sec. 5): the stochastic multistep solver.

    The same data-prediction multistep scheme as :func:`dpm_solver_pp_2m`, applied
    to the reverse SDE instead of the probability-flow ODE: each step injects fresh
    noise, which corrects part of the discretisation error of few-step sampling and
    keeps ensembles closer to the spread of many-step ancestral sampling. The first
    step is first order (DDPM-like ancestral sampling in λ), the last is the final
    denoise to x̂_0.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("cosine", 1000)
    >>> f = lambda x, t: torch.zeros_like(x)
    >>> dpm_solver_pp_2m_sde(f, torch.randn(1, 1, 8, 8), s, timesteps(1000, 10)).shape
    torch.Size([1, 1, 8, 8])
    """
    return run_sampler(
        _dpm_sde_update,
        model_fn,
        x_T,
        schedule,
        grid,
        prediction=prediction,
        noise=noise,
        progress=progress,
    )


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddpm": ddpm,
    "ddim": ddim,
    "dpm++2m": dpm_solver_pp_2m,
    "dpm++2m-sde": dpm_solver_pp_2m_sde,
    "onepass": onepass,  # distilled students (xdeepr.distill): 1 or 2 evaluations
}
#: Steps of each sampler when none are given. DDPM: all of the schedule's (the seed's).
#: DPM-Solver++(2M) SDE: 10, chosen by the skill-against-cost benchmark (BENCHMARKS.md):
#: the fewest steps whose fair CRPS is within 1 % of the best setting's and whose
#: ensembles are calibrated (spread/skill in [0.9, 1.1]).
DEFAULT_STEPS: dict[str, int | None] = {
    "ddpm": None,
    "ddim": 50,
    "dpm++2m": 20,
    "dpm++2m-sde": 10,
    "onepass": 1,  # a student's own number is in its model (DownscalingModel.default_steps)
}
#: The sampler new models use by default (``TrainConfig.sampler``), chosen by the same
#: benchmark.
DEFAULT_SAMPLER = "dpm++2m-sde"


def _check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers are {list(SAMPLERS)}")


def num_model_evals(sampler: str, steps: int | None, schedule: NoiseSchedule) -> int:
    """Number of steps (= ``progress`` calls = network evaluations) a run will make.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> num_model_evals("ddpm", None, make_schedule("linear", 1000))
    1000
    """
    _check_sampler(sampler)
    if steps is None:
        steps = DEFAULT_STEPS[sampler]
    return len(timesteps(schedule.num_steps, steps))


def sample(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    grid: str = DEFAULT_GRID,
    prediction: str = "epsilon",
    eta: float = 0.0,
    noise: NoiseSource | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Run a sampler by name on a step grid built by name.

    Parameters
    ----------
    model_fn, x_T, schedule, prediction, noise, progress
        As in :func:`ddpm`.
    sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde", "onepass"}
        Which sampler (default :data:`DEFAULT_SAMPLER`).
    steps : int, optional
        Number of steps; None uses :data:`DEFAULT_STEPS` (all T for DDPM).
    grid : str
        A key of :data:`xdeepr.diffusion.grids.STEP_GRIDS`.
    eta : float
        DDIM stochasticity; must be 0 for the other samplers.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 1000)
    >>> x = sample(lambda x, t: torch.zeros_like(x), torch.randn(2, 1, 8, 8), s, sampler="ddim")
    >>> x.shape
    torch.Size([2, 1, 8, 8])
    """
    _check_sampler(sampler)
    if steps is None:
        steps = DEFAULT_STEPS[sampler]
    if sampler != "ddim" and eta != 0:
        raise ValueError(f"eta applies only to the 'ddim' sampler, not {sampler!r}")
    ts = make_grid(schedule.num_steps, steps, grid)
    extra = {"eta": eta} if sampler == "ddim" else {}
    return SAMPLERS[sampler](
        model_fn, x_T, schedule, ts, prediction=prediction, noise=noise, progress=progress, **extra
    )
