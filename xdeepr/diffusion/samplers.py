"""Samplers: pure functions of (denoiser, initial noise, schedule, noise source).

Every sampler walks the same "trailing" grid of training steps t_0 = T−1 > t_1 >
... > t_{n−1} (Lin et al. 2024, table 2), calls ``model_fn`` once per step and
ends on the clean data (ᾱ = 1), so ``steps`` is also the number of network
evaluations. ``model_fn(x, t)`` receives ``t`` as a float32 ``(B,)`` tensor in
the training index units [0, T−1]; bind the condition with a closure.

Notation: ᾱ_t cumulative product of α; α_t = sqrt(ᾱ_t) signal scale; σ_t =
sqrt(1 − ᾱ_t) noise scale; λ_t = log(α_t / σ_t) half log-SNR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xdeepr.diffusion.losses import ModelFn, check_prediction, predict_x0_eps
from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = [
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "SAMPLERS",
    "ddim",
    "ddpm",
    "dpm_solver_pp_2m",
    "dpm_solver_pp_2m_sde",
    "num_model_evals",
    "sample",
    "timesteps",
]

NoiseFn = Callable[[int], torch.Tensor]
ProgressFn = Callable[[int], object]


def timesteps(num_train_steps: int, steps: int | None) -> list[int]:
    """Trailing grid of ``steps`` training indices from T−1 down, evenly spaced.

    Parameters
    ----------
    num_train_steps : int
        T, the schedule's number of steps.
    steps : int or None
        Number of sampling steps, 1 ≤ steps ≤ T; None means T.

    Returns
    -------
    list of int
        Strictly decreasing indices, the first is T−1.

    Examples
    --------
    >>> timesteps(1000, 4)
    [999, 749, 499, 249]
    """
    T = int(num_train_steps)
    n = T if steps is None else int(steps)
    if not 1 <= n <= T:
        raise ValueError(f"steps must be between 1 and the schedule's {T} steps, got {steps}")
    return [T - 1 - (i * T) // n for i in range(n)]


def _alpha_bars(schedule: NoiseSchedule, ts: list[int]) -> list[float]:
    """ᾱ at each grid point, plus ᾱ = 1 (clean data) appended as the target of the last step."""
    abar = schedule.alphas_cumprod
    return [float(abar[t]) for t in ts] + [1.0]


def _t_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)  # (B,)


def _noise(noise: NoiseFn | None, i: int, x: torch.Tensor) -> torch.Tensor:
    if noise is None:
        return torch.randn_like(x)
    z = noise(i)
    if tuple(z.shape) != tuple(x.shape):
        raise ValueError(f"noise({i}) has shape {tuple(z.shape)}, expected {tuple(x.shape)}")
    return z.to(device=x.device, dtype=x.dtype)


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -math.inf


def _lambda(ab: float) -> float:
    # λ = log(α/σ) = ½ (log ᾱ − log(1 − ᾱ)); ±inf at ᾱ = 0 or 1
    return 0.5 * (_log(ab) - _log(1.0 - ab))


@torch.no_grad()
def ddpm(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    steps: int | None = None,
    noise: NoiseFn | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Ancestral DDPM sampling, optionally on a respaced grid.

    Parameters
    ----------
    model_fn : callable
        ``model_fn(x_t, t) -> ε or v``; ``t`` float32 ``(B,)``.
    x_T : torch.Tensor
        Initial standard normal noise, ``(B, C, H, W)``.
    schedule : NoiseSchedule
        The training schedule.
    prediction : {"epsilon", "v"}
        What ``model_fn`` predicts.
    steps : int, optional
        Number of steps; None uses all T (the seed's sampler). Fewer steps
        respace ᾱ as in improved DDPM (Nichol & Dhariwal 2021, sec. 4).

    Notes
    -----
    The step variance is σ_t² = β_t ("fixed large", as in the seed), not the
    posterior β̃_t: on Gaussian data β̃_t gives ensembles that are too narrow
    (std −1 % at 1000 steps, −6 % at 100), β_t within +0.2 % / +1.3 %.
    noise : callable, optional
        ``noise(i) -> Tensor`` standard normal noise shaped like ``x_T`` for
        step ``i``; default ``torch.randn_like``.
    progress : callable, optional
        Called as ``progress(1)`` after every step.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 100)
    >>> x = ddpm(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s, steps=10)
    >>> x.shape
    torch.Size([1, 1, 8, 8])
    """
    check_prediction(prediction)
    ts = timesteps(schedule.num_steps, steps)
    abars = _alpha_bars(schedule, ts)
    x = x_T
    for i, t in enumerate(ts):
        ab, ab_prev = abars[i], abars[i + 1]
        x0, _ = predict_x0_eps(model_fn(x, _t_batch(t, x)), x, ab, prediction)
        beta = 1.0 - ab / ab_prev  # respaced β_t = 1 − ᾱ_t / ᾱ_prev
        # Ho et al. 2020 Alg. 2 in x̂_0 form: mean of q(x_prev | x_t, x̂_0) (eq. 7), σ² = β_t
        c0 = math.sqrt(ab_prev) * beta / (1.0 - ab)
        ct = math.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)
        var = beta if ab_prev < 1.0 else 0.0  # no noise on the final step to the data
        x = c0 * x0 + ct * x
        if var > 0:
            x = x + math.sqrt(var) * _noise(noise, i, x)
        if progress is not None:
            progress(1)
    return x


@torch.no_grad()
def ddim(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    steps: int = 50,
    eta: float = 0.0,
    noise: NoiseFn | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """DDIM sampling; ``eta=0`` is deterministic, ``eta=1`` is DDPM-like.

    Parameters
    ----------
    model_fn, x_T, schedule, prediction, noise, progress
        As in :func:`ddpm`.
    steps : int
        Number of steps (network evaluations).
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
    >>> x = ddim(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s, steps=5)
    >>> x.shape
    torch.Size([1, 1, 8, 8])
    """
    check_prediction(prediction)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    ts = timesteps(schedule.num_steps, steps)
    abars = _alpha_bars(schedule, ts)
    x = x_T
    for i, t in enumerate(ts):
        ab, ab_prev = abars[i], abars[i + 1]
        x0, eps = predict_x0_eps(model_fn(x, _t_batch(t, x)), x, ab, prediction)
        # Song et al. 2021, eq. 12 with σ from eq. 16
        sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev))
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * _noise(noise, i, x)
        if progress is not None:
            progress(1)
    return x


@torch.no_grad()
def dpm_solver_pp_2m(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    steps: int = 20,
    noise: NoiseFn | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M): deterministic second-order multistep ODE solver.

    Data-prediction form in λ = log(α/σ) on the discrete VP schedule; the first
    step is first order, the last is the final denoise to x̂_0.

    Parameters
    ----------
    model_fn, x_T, schedule, prediction, progress
        As in :func:`ddpm`.
    steps : int
        Number of steps (network evaluations).
    noise : callable, optional
        Unused (the solver is deterministic); accepted for a common signature.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 1000)
    >>> x = dpm_solver_pp_2m(lambda x, t: torch.zeros_like(x), torch.randn(1, 1, 8, 8), s)
    >>> x.shape
    torch.Size([1, 1, 8, 8])
    """
    del noise  # deterministic solver
    return _dpm_solver_pp_2m(model_fn, x_T, schedule, prediction, steps, None, progress, sde=False)


@torch.no_grad()
def dpm_solver_pp_2m_sde(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    steps: int = 20,
    noise: NoiseFn | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """SDE-DPM-Solver++(2M): the stochastic second-order multistep solver.

    The same data-prediction multistep scheme as :func:`dpm_solver_pp_2m`, applied
    to the reverse SDE instead of the probability-flow ODE: each step injects fresh
    noise, which corrects part of the discretisation error of few-step sampling and
    keeps ensembles closer to the spread of many-step ancestral sampling.

    Parameters
    ----------
    model_fn, x_T, schedule, prediction, noise, progress
        As in :func:`ddpm`.
    steps : int
        Number of steps (network evaluations); 10 by default in :func:`sample`.

    Returns
    -------
    torch.Tensor
        Sample shaped like ``x_T``.

    Notes
    -----
    Lu et al. 2022, "DPM-Solver++", sec. 5 (SDE-DPM-Solver++), with the midpoint
    second-order correction; the step from λ_t to λ_next = λ_t + h is

    x_next = (σ_next/σ_t) e^{−h} x_t + α_next (1 − e^{−2h}) (D0 + ½ D1)
    + σ_next sqrt(1 − e^{−2h}) z,

    with D0 = x̂_0(t), D1 = (x̂_0(t) − x̂_0(prev)) / r and r = h_prev / h. The first
    step is first order (D1 = 0, which is DDPM-like ancestral sampling in λ), the
    last is the final denoise to x̂_0.

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("cosine", 1000)
    >>> f = lambda x, t: torch.zeros_like(x)
    >>> dpm_solver_pp_2m_sde(f, torch.randn(1, 1, 8, 8), s, steps=10).shape
    torch.Size([1, 1, 8, 8])
    """
    return _dpm_solver_pp_2m(model_fn, x_T, schedule, prediction, steps, noise, progress, sde=True)


def _dpm_solver_pp_2m(
    model_fn: ModelFn,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    prediction: str,
    steps: int,
    noise: NoiseFn | None,
    progress: ProgressFn | None,
    *,
    sde: bool,
) -> torch.Tensor:
    """DPM-Solver++(2M): the ODE form, or with ``sde=True`` the SDE form.

    Both share the multistep data-prediction correction D = x̂_0 + ½ (h / h_prev)
    (x̂_0 − x̂_0,prev) (first order on the first step and after an infinite λ step,
    i.e. from ᾱ = 0) and end with the final denoise to x̂_0; they differ in the step:

    - ODE (Lu et al. 2022, Alg. 2): x_next = (σ_next/σ_t) x_t − α_next (e^{−h} − 1) D;
    - SDE (sec. 5): x_next = (σ_next/σ_t) e^{−h} x_t + α_next (1 − e^{−2h}) D
      + σ_next sqrt(1 − e^{−2h}) z.
    """
    check_prediction(prediction)
    ts = timesteps(schedule.num_steps, steps)
    abars = _alpha_bars(schedule, ts)
    x = x_T
    x0_prev: torch.Tensor | None = None
    h_prev = math.nan
    for i, t in enumerate(ts):
        ab, ab_next = abars[i], abars[i + 1]
        x0, _ = predict_x0_eps(model_fn(x, _t_batch(t, x)), x, ab, prediction)
        if i == len(ts) - 1:
            x = x0  # final denoise: ᾱ_next = 1, σ_next = 0
        else:
            h = _lambda(ab_next) - _lambda(ab)  # step in λ; inf when ᾱ_t = 0
            d = x0
            if x0_prev is not None and math.isfinite(h_prev):
                d = x0 + 0.5 * (h / h_prev) * (x0 - x0_prev)
            sig_ratio = math.sqrt((1.0 - ab_next) / (1.0 - ab))
            if sde:
                keep = -math.expm1(-2.0 * h)  # 1 − e^{−2h}
                x = (sig_ratio * math.exp(-h)) * x + (math.sqrt(ab_next) * keep) * d
                z = _noise(noise, i, x)
                x = x + (math.sqrt(1.0 - ab_next) * math.sqrt(keep)) * z
            else:
                x = sig_ratio * x - math.sqrt(ab_next) * math.expm1(-h) * d
            x0_prev, h_prev = x0, h
        if progress is not None:
            progress(1)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddpm": ddpm,
    "ddim": ddim,
    "dpm++2m": dpm_solver_pp_2m,
    "dpm++2m-sde": dpm_solver_pp_2m_sde,
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
}
#: The sampler new models use by default (``TrainConfig.sampler``), chosen by the same
#: benchmark.
DEFAULT_SAMPLER = "dpm++2m-sde"


def _check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers are {list(SAMPLERS)}")


def num_model_evals(sampler: str, steps: int | None, schedule: NoiseSchedule) -> int:
    """Number of steps (= ``progress`` calls = network evaluations) a run will make.

    Parameters
    ----------
    sampler : str
        A key of :data:`SAMPLERS`.
    steps : int or None
        As passed to :func:`sample` (None: the sampler's default).
    schedule : NoiseSchedule
        The training schedule.

    Returns
    -------
    int

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
    prediction: str = "epsilon",
    eta: float = 0.0,
    noise: NoiseFn | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Run a sampler by name.

    Parameters
    ----------
    model_fn, x_T, schedule, prediction, noise, progress
        As in :func:`ddpm`.
    sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde"}
        Which sampler (default :data:`DEFAULT_SAMPLER`).
    steps : int, optional
        Number of steps; None uses :data:`DEFAULT_STEPS` (all T for DDPM).
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
    kwargs: dict[str, object] = {
        "prediction": prediction,
        "steps": steps,
        "noise": noise,
        "progress": progress,
    }
    if sampler == "ddim":
        kwargs["eta"] = eta
    elif eta != 0:
        raise ValueError(f"eta applies only to the 'ddim' sampler, not {sampler!r}")
    return SAMPLERS[sampler](model_fn, x_T, schedule, **kwargs)
