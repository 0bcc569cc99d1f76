"""Guidance by observations, for a model: its denoiser steered towards observed values.

The glue between a :class:`~xdeepr.model.DownscalingModel` (its label scaler,
schedule and parametrisation) and the model-free guidance of
:func:`xdeepr.diffusion.guidance.guided`. It lives with the model, so the model's
sampling imports it without reaching into :mod:`xdeepr.observations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..diffusion.guidance import guided
from ..diffusion.losses import ModelFn

if TYPE_CHECKING:
    from ..options import SamplingOptions
    from .container import DownscalingModel

__all__ = ["guidance_model_fn"]


def guidance_model_fn(
    model: DownscalingModel, model_fn: ModelFn, observed: torch.Tensor, options: SamplingOptions
) -> ModelFn:
    """`model_fn` guided towards `observed` (:func:`xdeepr.diffusion.guidance.guided`).

    `observed` is ``(B, 2 * n_labels, H, W)``: the ``obs_target`` channels, then the
    ``obs_mask`` channels. The guidance scale is ``options.guidance`` (`options`
    resolved, :meth:`xdeepr.SamplingOptions.resolve`); the observation error
    variance in sample units is ``(options.observation_error / std)²``, with ``std``
    each label scaler's mean standard deviation.

    Raises
    ------
    ValueError
        When `options` are not resolved (their guidance not settled).

    Examples
    --------
    >>> fn = guidance_model_fn(model, fn, observed, options)  # doctest: +SKIP
    """
    options.check_resolved("guidance_model_fn")
    n = len(model.labels)
    std = [float(np.mean(np.asarray(model.label_scaler.std[v]))) for v in model.labels]
    var = torch.tensor([(options.observation_error / s) ** 2 for s in std], dtype=torch.float32)
    return guided(
        model_fn,
        model.schedule,
        model.prediction,
        observed[:, :n],
        observed[:, n:],
        scale=float(options.guidance or 0.0),
        variance=var.to(observed.device).view(1, n, 1, 1),  # (1, n_labels, 1, 1)
    )
