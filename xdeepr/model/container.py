"""DownscalingModel: network + EMA weights + schedule + scalers + grids + variables.

The container holds what a trained model is and samples from it at the tensor
level. Its xarray-side methods (conditions, baseline, coverage) call the functions
of :mod:`xdeepr.model.conditioning`; its parts are written, read and hashed by
:mod:`xdeepr.model.parts` (the file layout: :mod:`xdeepr.model.fileformat`, which
imports this module, never the reverse).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import xarray as xr

from .. import tiling
from .. import transforms as _transforms
from ..diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, NoiseSchedule, sample
from ..diffusion.losses import ModelFn
from ..diffusion.noise import StackedRandomGenerator, check_noise
from ..nn import UNet
from ..options import SamplingOptions
from ..scaling import Scaler
from . import conditioning, describe, parts
from .guidance import guidance_model_fn


class DownscalingModel:
    """A trained conditional diffusion downscaling model.

    Create one with :func:`xdeepr.train`; load one with :func:`xdeepr.load_model`;
    apply it with ``ds.deepr.downscale(model)``.

    Attributes
    ----------
    network : xdeepr.nn.UNet
        The U-Net, holding the EMA weights used for sampling.
    schedule : NoiseSchedule
    prediction : {"epsilon", "v"}
    feature_scaler, label_scaler : Scaler
        Normalisation of the coarse inputs and of the targets (residuals when
        ``learn_residuals``).
    features, labels : list of str
        Variable names the model reads and writes.
    label_grid : xarray.Dataset
        Coordinates (names, values, attrs) of the label grid.
    feature_grid : dict
        ``lat_step``, ``lon_step`` (signed degrees) and ``coverage``
        (``{"longitude": [w, e], "latitude": [n, s]}``) of the training features.
    static : xarray.Dataset
        Normalised static channels on the label grid (may have no variables).
    label_attrs : dict
        CF attributes of each label variable (standard_name, units, long_name).
    config : dict
        The :class:`xdeepr.TrainConfig` used, as plain values.
    summary : dict
        Training summary (steps, epochs, losses, times, wall time); ``selected_step``
        and ``validation`` (the validations by skill, the rule, the pick and their
        cost: :mod:`xdeepr.training.validation`).
    regression : xdeepr.nn.UNet or None
        The regression-mean network of a model trained with ``mean="regression"``
        (:mod:`xdeepr.model.mean`), with ``mean_scaler`` its output's scaler.
    regression_folds : list of xdeepr.nn.UNet or None
        The cross-fitted regression mean's fold nets, from which ensemble members
        take their mean (:func:`xdeepr.model.mean.member_residual_means`).
    climatology : xarray.Dataset or None
        The training period's mean residual (label − bicubic) by month and hour of
        day (:mod:`xdeepr.model.climatology`), for the "climatology" baseline.
    calibration : dict or None
        The post-hoc spread calibration fitted on validation (:mod:`.calibration`).
    inputs : dict or None
        The training features' CF attributes and time step (None: unknown, an older
        file), for matching inputs named otherwise: :mod:`xdeepr.model.inputs`.
    transforms : dict of str to xdeepr.transforms.Transform
        What each label is learnt as (identity, or log1p/sqrt with a dry threshold).

    Notes
    -----
    :attr:`identity` is computed from the model's current state whenever it is asked
    for (no cache): a model changed in place (weights loaded or scaled, a scaler's
    statistics edited, a copy fine-tuned) is a different model to every cache keyed
    on it.
    """

    #: Attributes whose value changes a result (what :attr:`digest` covers).
    RESULT_ATTRIBUTES = frozenset(
        {
            "network",
            "schedule",
            "prediction",
            "feature_scaler",
            "label_scaler",
            "features",
            "labels",
            "label_grid",
            "feature_grid",
            "static",
            "static_stats",
            "label_attrs",
            "learn_residuals",
            "config",
            "regression",
            "regression_folds",
            "mean_scaler",
            "observations",
            "calibration",
        }
    )

    def __init__(
        self,
        network: UNet,
        schedule: NoiseSchedule,
        *,
        prediction: str,
        feature_scaler: Scaler,
        label_scaler: Scaler,
        features: list[str],
        labels: list[str],
        label_grid: xr.Dataset,
        feature_grid: dict[str, Any],
        static: xr.Dataset,
        static_stats: dict[str, tuple[float, float]],
        label_attrs: dict[str, dict[str, Any]],
        learn_residuals: bool,
        config: dict[str, Any],
        summary: dict[str, Any] | None = None,
        training_state: dict[str, torch.Tensor] | None = None,
        regression: UNet | None = None,
        regression_folds: list[UNet] | None = None,
        mean_scaler: Scaler | None = None,
        climatology: xr.Dataset | None = None,
        observations: dict[str, Any] | None = None,
        calibration: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        transforms: Mapping[str, Any] | None = None,
    ) -> None:
        self.network = network
        self.schedule = schedule
        self.prediction = prediction
        self.feature_scaler = feature_scaler
        self.label_scaler = label_scaler
        self.features = list(features)
        self.labels = list(labels)
        self.label_grid = label_grid
        self.feature_grid = dict(feature_grid)
        self.static = static
        self.static_stats = dict(static_stats)
        self.label_attrs = {k: dict(v) for k, v in label_attrs.items()}
        self.learn_residuals = bool(learn_residuals)
        self.config = dict(config)
        self.summary = dict(summary or {})
        #: Raw (non-EMA) weights at the end of training, kept for fine-tuning.
        self.training_state = training_state
        #: EMA weights of the last step when training selected another step's (in memory
        #: only, not saved: for comparing the selection with the last weights).
        self.final_ema_state: dict[str, torch.Tensor] | None = None
        self.regression = regression
        #: The cross-fitted regression mean's fold nets (each trained without one
        #: contiguous block of the training times): member ``j`` of an ensemble takes
        #: its mean from fold ``j mod K``, as the diffusion network's training residuals
        #: did (:func:`xdeepr.model.mean.member_residual_means`); None: every member
        #: takes the kept net's mean (in-sample models, files before they were stored).
        self.regression_folds = list(regression_folds) if regression_folds else None
        self.mean_scaler = mean_scaler
        self.climatology = climatology
        #: How the model takes station observations as condition channels (None: it
        #: does not): ``{"variables": {label: name in the observations}, "channels":
        #: [...], "tolerance": str | None, "dropout": float}``; see xdeepr.observations.
        self.observations = dict(observations) if observations else None
        self.calibration = dict(calibration) if calibration else None  # see .calibration
        self.inputs = dict(inputs) if inputs else None  # changes no result: not in digest
        self.transforms = _transforms.from_record(transforms, self.labels)  # None: identity

    # ----------------------------------------------------------------- properties
    @property
    def mean(self) -> str | None:
        """What the diffusion network corrects (:mod:`xdeepr.training.means`), or None."""
        if self.regression is not None:
            return "regression"
        if self.config.get("mean") == "climatology" and self.climatology is not None:
            return "climatology"
        return "bicubic" if self.learn_residuals else None

    @property
    def levels(self) -> int:
        """Number of U-Net levels; grids are padded to multiples of ``2**(levels-1)``."""
        return len(self.network.config["channel_multipliers"])

    @property
    def n_parameters(self) -> int:
        """Number of network parameters."""
        return sum(p.numel() for p in self.network.parameters())

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of everything that changes this model's results; caches key on it.

        Weights, scalers, grids (coordinate values included), static fields and their
        statistics, schedule, prediction, variables, label attributes and the network
        and training configuration, but not the training summary, the raw training
        weights or the configuration's bookkeeping (``checkpoint_dir``, ``progress``,
        ...): see :func:`xdeepr.model.parts.model_digest`. Computed from the current
        state each time it is asked for (about 10 ms for the demo network): ask once
        per operation.

        Examples
        --------
        >>> len(model.digest)  # doctest: +SKIP
        64
        """
        return parts.model_digest(self)

    @property
    def identity(self) -> str:
        """Short form of :attr:`digest` (12 hex digits), for provenance attributes.

        Examples
        --------
        >>> model.identity  # doctest: +SKIP
        '3f9a0c1b2d4e'
        """
        return self.digest[:12]

    def __repr__(self) -> str:
        return describe.describe(self)

    @property
    def label_grid_names(self) -> tuple[str, str]:
        """Names of the label grid's index dimensions: latitude and longitude, or ``(y, x)``."""
        from ..grid import horizontal_dims

        return horizontal_dims(self.label_grid)

    # ------------------------------------------------ inputs (xdeepr.model.conditioning)
    @property
    def static_names(self) -> list[str]:
        """Names of the static channels, in channel order."""
        return conditioning.static_names(self)

    def required_coverage(self, target: xr.Dataset | None = None) -> dict[str, list[float]]:
        """Feature coverage needed; see :func:`~xdeepr.model.conditioning.required_coverage`."""
        return conditioning.required_coverage(self, target)

    def coarse_features(self, ds: xr.Dataset, target: xr.Dataset | None = None) -> xr.Dataset:
        """`ds` validated and cropped; see :func:`~xdeepr.model.conditioning.coarse_features`."""
        return conditioning.coarse_features(self, ds, target)

    def feature_stats(self) -> dict[str, tuple[float, float]]:
        """Training (mean, std) per feature: :func:`~xdeepr.model.conditioning.feature_stats`."""
        return conditioning.feature_stats(self)

    def baseline(
        self,
        features: xr.Dataset,
        target: xr.Dataset | None = None,
        method: str = "bicubic",
        *,
        validated: bool = False,
    ) -> xr.Dataset:
        """Interpolated coarse labels; see :func:`~xdeepr.model.conditioning.baseline`."""
        return conditioning.baseline(self, features, target, method, validated=validated)

    def condition(
        self, features: xr.Dataset, target: xr.Dataset | None = None, *, validated: bool = False
    ) -> xr.DataArray:
        """Condition channels; see :func:`~xdeepr.model.conditioning.condition`."""
        return conditioning.condition(self, features, target, validated=validated)

    def static_channels(self, target: xr.Dataset) -> xr.Dataset:
        """Static channels on `target`; see :func:`~xdeepr.model.conditioning.static_channels`."""
        return conditioning.static_channels(self, target)

    # ------------------------------------------------------------------- sampling
    def sample(
        self,
        condition: torch.Tensor,
        calendar: torch.Tensor | None = None,
        options: SamplingOptions | None = None,
        *,
        noise: StackedRandomGenerator | None = None,
        progress: Callable[[int], Any] | None = None,
        observed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw normalised samples for a batch of conditions (the tensor-level API).

        Parameters
        ----------
        condition : torch.Tensor
            ``(B, n_condition_channels, H, W)``, normalised and padded.
        calendar : torch.Tensor, optional
            ``(B, 2)`` hour-of-day and day-of-year fractions.
        options : xdeepr.SamplingOptions or mapping, optional
            Sampler, steps, η, guidance, tiling and fast path (``members``, ``seed``
            and the batching options are the caller's business here). Default: the
            model's default sampler and steps. Options not yet resolved are resolved
            here, once per call (:meth:`xdeepr.SamplingOptions.resolve`, then
            :meth:`~xdeepr.SamplingOptions.on_device` for the network's device);
            resolved ones are used as they are.
        noise : xdeepr.diffusion.StackedRandomGenerator, optional
            One generator per batch item: each item's initial and per-step noise is
            drawn from its own generator, so a sample does not depend on its batch.
            Default: torch's global generator.
        progress : callable, optional
            Called with 1 after each step.
        observed : torch.Tensor, optional
            ``(B, 2 * n_labels, H, W)``: observations in sample units, then their 0/1
            masks (``obs_target`` and ``obs_mask`` of :mod:`xdeepr.observations`); with
            ``options.guidance > 0`` each step is guided towards them
            (:mod:`xdeepr.diffusion.guidance`).

        Returns
        -------
        torch.Tensor
            ``(B, n_labels, H, W)`` in normalised units.

        Examples
        --------
        >>> import xdeepr
        >>> from xdeepr.diffusion import StackedRandomGenerator
        >>> opts = xdeepr.SamplingOptions(sampler="ddim", steps=2)
        >>> noise = StackedRandomGenerator.from_seeds([0, 1])
        >>> x = model.sample(cond, cal, opts, noise=noise)  # doctest: +SKIP
        """
        net = self.network
        device = next(net.parameters()).device
        opts = SamplingOptions.coerce(options)
        if not opts.resolved:  # a direct caller: settled here, at the entry only
            opts = opts.resolve(self, observations=observed is not None)
        if not opts.on_a_device:
            opts = opts.on_device(device)
        condition = condition.to(device=device, dtype=torch.float32)  # (B, C_cond, H, W)
        if calendar is not None:
            calendar = calendar.to(device=device, dtype=torch.float32)  # (B, 2)
        assert opts.fast_path is not None  # settled by on_device
        denoise = tiling.tiled(
            opts.fast_path.denoiser(net, device), opts.tile, opts.overlap, net.size_multiple
        )

        def denoised(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return denoise(x, t, condition, calendar)  # (B, n_labels, H, W)

        model_fn: ModelFn = denoised

        if observed is not None and opts.guidance:
            model_fn = guidance_model_fn(self, model_fn, observed.to(device), opts)
        net.eval()
        like = torch.empty(
            (condition.shape[0], len(self.labels), *condition.shape[2:]), device=device
        )  # (B, n_labels, H, W)
        x_T = check_noise(noise, -1, like)
        with torch.no_grad():
            return sample(
                model_fn,
                x_T,
                self.schedule,
                sampler=str(opts.sampler),
                steps=opts.steps,
                prediction=self.prediction,
                eta=opts.eta,
                noise=noise,
                progress=progress,
            )

    @property
    def default_sampler(self) -> str:
        """The sampler used when none is named (chosen by measurement, see BENCHMARKS.md)."""
        return str(self.config.get("sampler", DEFAULT_SAMPLER))

    def default_steps(self, sampler: str | None = None) -> int | None:
        """Default steps of `sampler` (None: all T); a student's own for "onepass"."""
        sampler = sampler or self.default_sampler
        if sampler == "onepass" and isinstance(d := self.config.get("distillation"), Mapping):
            return int(d["evaluations"])  # what xdeepr.distill trained it for
        return DEFAULT_STEPS[sampler]

    def to(self, device: str | torch.device) -> DownscalingModel:
        """Move the network(s) to `device` (in place) and return the model."""
        self.network.to(device)
        if self.regression is not None:
            self.regression.to(device)
        for net in self.regression_folds or ():
            net.to(device)
        return self

    # -------------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """The model as a mapping of tensors and plain values (see :mod:`.fileformat`).

        Examples
        --------
        >>> model.to_dict()["format_version"]  # doctest: +SKIP
        3
        """
        return parts.to_dict(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to `path` atomically: safetensors plus a JSON header.

        See :mod:`xdeepr.model.fileformat` for the layout; the file holds no pickle.

        Examples
        --------
        >>> model.save("t2m.xdeepr")  # doctest: +SKIP
        """
        return parts.save_model(self, path)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DownscalingModel:
        """Rebuild a model from :meth:`to_dict` output.

        Raises
        ------
        xdeepr.errors.ModelFileError
            When `d` is not a model mapping, lacks an entry or holds a wrong shape.

        Examples
        --------
        >>> DownscalingModel.from_dict(model.to_dict()).identity == model.identity  # doctest: +SKIP
        True
        """
        return cls(**parts.model_kwargs(d))
