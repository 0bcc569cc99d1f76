"""Training objective of the denoising diffusion model.

x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε with ε ~ N(0, I); the network predicts ε
(Ho et al. 2020, the DeepR seed) or v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0
(Salimans & Ho 2022) and is trained by mean squared error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from xdeepr.diffusion.schedules import NoiseSchedule

__all__ = ["PREDICTIONS", "diffusion_loss", "predict_x0_eps"]

PREDICTIONS = ("epsilon", "v")

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_prediction(prediction: str) -> None:
    """Raise a ValueError naming the valid choices if ``prediction`` is unknown."""
    if prediction not in PREDICTIONS:
        raise ValueError(
            f"unknown prediction type {prediction!r}; valid choices are {list(PREDICTIONS)}"
        )


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or scalar -> (B, 1, ..., 1) with ``like``'s dtype and device."""
    values = values.to(device=like.device, dtype=like.dtype)
    if values.ndim == 0:
        return values
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))


def predict_x0_eps(
    output: torch.Tensor,
    x_t: torch.Tensor,
    alpha_bar: torch.Tensor | float,
    prediction: str = "epsilon",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a network output into estimates of x_0 and ε.

    Parameters
    ----------
    output : torch.Tensor
        The network's prediction, shaped like ``x_t``.
    x_t : torch.Tensor
        The noisy input, ``(B, C, H, W)`` (any shape with the batch first).
    alpha_bar : torch.Tensor or float
        ᾱ_t: a scalar, or a ``(B,)`` tensor (broadcast over the other dims).
    prediction : {"epsilon", "v"}
        What ``output`` is.

    Returns
    -------
    x0_hat, eps_hat : torch.Tensor
        Shaped like ``x_t``.

    Raises
    ------
    ValueError
        For ε-prediction at ᾱ_t = 0 (x_0 cannot be recovered from ε there; use v).

    Examples
    --------
    >>> x0, eps = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    >>> ab = torch.tensor([0.3, 0.7])
    >>> xt = ab.sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab).sqrt().view(-1, 1, 1, 1) * eps
    >>> x0_hat, _ = predict_x0_eps(eps, xt, ab, "epsilon")
    >>> torch.allclose(x0_hat, x0, atol=1e-5)
    True
    """
    check_prediction(prediction)
    a: torch.Tensor | float
    s: torch.Tensor | float
    if isinstance(alpha_bar, float | int):  # samplers: python scalars, no device sync
        zero_snr = alpha_bar <= 0
        a, s = math.sqrt(alpha_bar), math.sqrt(max(1.0 - alpha_bar, 0.0))
    else:
        ab = _broadcast(torch.as_tensor(alpha_bar, dtype=torch.float64), x_t)
        zero_snr = bool((ab <= 0).any())
        a = ab.sqrt()  # α_t = sqrt(ᾱ_t), signal scale
        s = (1.0 - ab).clamp(min=0.0).sqrt()  # σ_t = sqrt(1 − ᾱ_t), noise scale
    if prediction == "epsilon":
        if zero_snr:
            raise ValueError(
                "ε-prediction cannot recover x0 where ᾱ_t = 0 (zero terminal SNR); "
                "train and sample with prediction='v'"
            )
        eps = output
        x0 = (x_t - s * eps) / a  # x_0 = (x_t − σ ε) / α
    else:
        x0 = a * x_t - s * output  # x_0 = α x_t − σ v
        eps = s * x_t + a * output  # ε = σ x_t + α v
    return x0, eps


def diffusion_loss(
    model_fn: ModelFn,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    generator: torch.Generator | None = None,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Denoising loss: MSE between the network output and ε (or v).

    Parameters
    ----------
    model_fn : callable
        ``model_fn(x_t, t) -> prediction`` with ``x_t`` shaped like ``x0`` and
        ``t`` a float32 ``(B,)`` tensor of step indices in [0, T). Bind the
        condition and calendar with a closure or :func:`functools.partial`.
    x0 : torch.Tensor
        Clean targets, ``(B, C, H, W)``.
    schedule : NoiseSchedule
        Noise schedule with T steps.
    prediction : {"epsilon", "v"}
        Training target: ε (the seed) or v = sqrt(ᾱ) ε − sqrt(1 − ᾱ) x_0.
    generator : torch.Generator, optional
        RNG for t and ε (on its own device; results are moved to ``x0``'s).
    t : torch.Tensor, optional
        Integer steps ``(B,)`` to use instead of sampling uniformly in [0, T).
    noise : torch.Tensor, optional
        ε to use instead of sampling, shaped like ``x0``.

    Returns
    -------
    loss : torch.Tensor
        Scalar mean squared error.
    info : dict
        ``"t"``: the ``(B,)`` integer steps used; ``"loss_per_sample"``: ``(B,)``
        MSE of each batch item (detached).

    Examples
    --------
    >>> from xdeepr.diffusion import make_schedule
    >>> s = make_schedule("linear", 1000)
    >>> x0 = torch.randn(4, 1, 8, 8)
    >>> oracle_noise = torch.randn_like(x0)
    >>> loss, info = diffusion_loss(lambda x, t: oracle_noise, x0, s, noise=oracle_noise)
    >>> float(loss)
    0.0
    """
    check_prediction(prediction)
    batch = x0.shape[0]
    gen_device = generator.device if generator is not None else x0.device
    if t is None:
        t = torch.randint(0, schedule.num_steps, (batch,), generator=generator, device=gen_device)
    t = torch.as_tensor(t).to(device=x0.device, dtype=torch.long).reshape(-1)
    if t.shape[0] != batch:
        raise ValueError(f"t must have one step per batch item ({batch}), got {t.shape[0]}")
    if bool(((t < 0) | (t >= schedule.num_steps)).any()):
        raise ValueError(f"t must lie in [0, {schedule.num_steps}), got {t.tolist()}")
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype)
    noise = noise.to(device=x0.device, dtype=x0.dtype)
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} differs from x0 {tuple(x0.shape)}")

    ab = _broadcast(schedule.alphas_cumprod.to(x0.device)[t], x0)  # ᾱ_t, (B, 1, 1, 1)
    a, s = ab.sqrt(), (1.0 - ab).sqrt()
    x_t = a * x0 + s * noise  # q(x_t | x_0), (B, C, H, W)
    target = noise if prediction == "epsilon" else a * noise - s * x0  # ε or v
    output = model_fn(x_t, t.to(torch.float32))
    if output.shape != x0.shape:
        raise ValueError(
            f"model output shape {tuple(output.shape)} differs from x0 {tuple(x0.shape)}"
        )
    per_sample = (output - target).pow(2).flatten(1).mean(dim=1)  # (B,)
    return per_sample.mean(), {"t": t, "loss_per_sample": per_sample.detach()}
