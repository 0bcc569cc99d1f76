"""xdeepr.train(): validate, pair, check, normalise, optimise, checkpoint, resume.

- :mod:`.config`: :class:`TrainConfig`, every setting checked when built;
- :mod:`.data`: variables, pairing by time, NaN/Inf and time-type checks, and the
  blocks of tensors (the tensor boundary);
- :mod:`.loop`: the optimisation loop, EMA, validation and checkpoints;
- DeepR's YAML configuration is read by :mod:`xdeepr.adapters.deepr`
  (``xdeepr.training.DeepRConfig`` / ``read_deepr_config`` are deprecated aliases);
- here: :func:`train`, which prepares normalisation, network and condition and runs
  the loop.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import grid
from ..diffusion import make_schedule
from ..errors import ConfigError, InputError, TrainingError
from ..model import DownscalingModel, calendar_features, prepare_static
from ..model.climatology import fit_climatology
from ..model.inputs import input_record
from ..nn import UNet
from ..observations.altitude import check_lapse_rate
from ..observations.cells import for_training
from ..scaling import Scaler
from ..transforms import forward
from ..transforms import resolve as resolve_transforms
from ..units import convert_units
from .config import TrainConfig
from .data import (
    _check_finite,
    _Data,
    _feature_grid,
    _landmask,
    _pair,
    _stack,
    _variables,
)
from .distributed import setup
from .holdout import fit_dry_cuts, resolve_split, split_order
from .loop import CHECKPOINT_NAME, _optimise
from .meancheck import MeanWarning, static_correction
from .means import diffusion_target
from .observations import observation_record, with_observations
from .selection import check_selection
from .validation import CalibrationWarning, select

__all__ = [
    "CHECKPOINT_NAME",
    "CalibrationWarning",
    "MeanWarning",
    "TrainConfig",
    "TrainingError",
    "check_checkpoint_dir",
    "select",
    "train",
]


#: Deprecated names of this package -> their module now (FutureWarning on use).
_MOVED = {"DeepRConfig": "xdeepr.adapters.deepr", "read_deepr_config": "xdeepr.adapters.deepr"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(
        f"xdeepr.training.{name} is deprecated: use {_MOVED[name]}.{name} "
        f"(from {_MOVED[name]} import {name})",
        FutureWarning,
        stacklevel=2,
    )
    from ..adapters import deepr

    return getattr(deepr, name)


def check_checkpoint_dir(cfg: TrainConfig) -> None:
    """Refuse a ``checkpoint_dir`` that cannot be created or written, before any work.

    The folder is not created here (the first checkpoint creates it): its nearest
    existing folder must take a file. :func:`train` checks this first, and
    ``xdeepr train`` before it opens the data.

    Raises
    ------
    ConfigError
        Naming the field, its value, the folder that cannot be written and why.

    Examples
    --------
    >>> check_checkpoint_dir(TrainConfig(checkpoint_dir="/proc/x"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: TrainConfig.checkpoint_dir='/proc/x' cannot be created: the folder '/proc' is not writable (...); choose a writable folder (checkpoint_dir=..., xdeepr train --set checkpoint_dir=DIR), or checkpoint_dir=None for no checkpoints
    """  # noqa: E501
    if cfg.checkpoint_dir is None:
        return
    folder = Path(cfg.checkpoint_dir)
    probe = folder
    while not os.path.exists(probe) and probe != probe.parent:
        probe = probe.parent  # the folders below it are created with the first checkpoint
    what = f"TrainConfig.checkpoint_dir={cfg.checkpoint_dir!r} cannot be " + (
        "written" if probe == folder else "created"
    )
    fix = (
        "choose a writable folder (checkpoint_dir=..., xdeepr train --set checkpoint_dir=DIR), "
        "or checkpoint_dir=None for no checkpoints"
    )
    if not probe.is_dir():
        raise ConfigError(f"{what}: {str(probe)!r} is a file, not a folder; {fix}")
    try:  # os.access is not enough: root, read-only file systems, /proc
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".xdeepr-", suffix=".probe"):
            pass
    except OSError as err:
        raise ConfigError(
            f"{what}: the folder {str(probe)!r} is not writable ({err.strerror or err}); {fix}"
        ) from None


def _total_steps(cfg: TrainConfig, n_train: int) -> int:
    """Training steps of the run: ``steps``, else ``epochs`` of ``n_train / batch_size``."""
    if cfg.steps is not None:
        return cfg.steps
    return cfg.epochs * -(-n_train // cfg.batch_size)


def _check_finetune(cfg: TrainConfig) -> None:
    """Refuse, before any work, a ``crps_finetune_steps`` stage the trained model cannot take."""
    if cfg.crps_finetune_steps and (cfg.prediction != "v" or cfg.mean not in ("bicubic", None)):
        raise ConfigError(
            f"crps_finetune_steps={cfg.crps_finetune_steps} needs prediction='v' and mean "
            f"'bicubic' or None (the one-pass student starts from pure noise; xdeepr.distill "
            f"takes no regression or climatology mean yet); got prediction={cfg.prediction!r}, "
            f"mean={cfg.mean!r}: change those, or set crps_finetune_steps=0"
        )


def _crps_finetune(
    model: DownscalingModel, data: tuple[Any, ...], cfg: TrainConfig
) -> DownscalingModel:
    """The stage of ``crps_finetune_steps``: `model` distilled into its one-pass student.

    :func:`xdeepr.distill` with its defaults (:data:`.distill.DISTILL_DEFAULTS`), for
    ``crps_finetune_steps`` steps, with this run's CRPS, seed, device, validation and
    data-loading settings; `data` is ``(features, labels, static, observations)``.
    """
    from .distill import DISTILL_DEFAULTS, distill

    keep = "crps_members crps_alpha seed device progress validation_times validation_members"
    keep += " selection calibrate validation_fraction validation_split prefetch block_cache_mib"
    stage = {k: getattr(cfg, k) for k in keep.split()}
    settings = TrainConfig(**{**DISTILL_DEFAULTS, **stage, "steps": cfg.crps_finetune_steps})
    features, labels, static, observations = data
    return distill(model, features, labels, static, config=settings, observations=observations)


def train(
    features: xr.Dataset,
    labels: xr.Dataset,
    /,
    static: xr.Dataset | None = None,
    *,
    config: TrainConfig | None = None,
    resume: bool | str | os.PathLike[str] = False,
    observations: xr.Dataset | None = None,
    lapse_rate: float | tuple[float, ...] | str | None = -6.5,
    **overrides: Any,
) -> DownscalingModel:
    """Train a conditional diffusion downscaling model.

    Parameters
    ----------
    features : xarray.Dataset
        Coarse fields (e.g. ERA5 ``t2m`` at 0.25°) over a coverage that contains the
        label domain; numpy- or dask-backed (streamed by blocks of time steps).
    labels : xarray.Dataset
        Hi-res fields (e.g. CERRA ``t2m`` at 0.05°); paired with `features` by time
        (inner join).
    static : xarray.Dataset, optional
        Static covariates (orography, land-sea mask) at any resolution; each variable
        becomes a condition channel on the label grid.
    config : TrainConfig, optional
        Settings; keyword `overrides` replace single fields (``features=["t2m", "msl"]``
        chooses the feature variables: `features` and `labels` above are
        positional-only, so the config fields of the same names stay reachable).
    resume : bool or path
        Continue from the checkpoint in ``checkpoint_dir`` (True) or at a path.
    observations : xarray.Dataset, optional
        Station observations of the label variables (CF timeSeries: dims ``time``,
        ``station``; see :func:`xdeepr.datasets.stations_from_table`). The model then
        takes them as condition channels (:mod:`xdeepr.observations`), trained with
        stations hidden at random (``observation_dropout``) so that it downscales with
        fewer, other or no stations too. Stations outside the label domain are dropped
        with a warning.
    lapse_rate : float, 12 floats, "fit" or None, default -6.5
        With `observations` that have an ``altitude`` and `static` that holds the
        orography: temperature-like station values are moved from the station's
        altitude to its cell's at this rate (K/km; 12 numbers: one per month), or at the
        least-squares rate of the training data's station-minus-grid differences
        (``"fit"``); None: not adjusted (:mod:`xdeepr.observations.altitude`). Recorded
        in ``model.observations["lapse_rate"]``, the default of ``downscale``.

    Returns
    -------
    DownscalingModel
        With ``crps_finetune_steps > 0``: the trained model's one-pass student.

    Raises
    ------
    ConfigError
        For a setting of the wrong type or value (see :class:`TrainConfig`), or a
        ``checkpoint_dir`` that cannot be created or written (checked first).
    InputError
        Before any training: for NaN or Inf in the paired data (naming the variable and
        the first bad time stamps), an extra dimension larger than one (size-1 ones such
        as ``level`` are squeezed), time stamps of different types, no shared time.
    TrainingError
        When the loss stops being finite, or a checkpoint does not fit.

    Notes
    -----
    Started by ``torchrun`` (``torchrun --nproc-per-node N script.py``), the same call
    trains data-parallel (DistributedDataParallel, :mod:`xdeepr.training.distributed`):
    ``batch_size`` is per rank, the global batch ``batch_size x N`` (in
    ``model.summary``), ``learning_rate`` the global batch's, used as given; rank 0
    writes the checkpoints; save the model on rank 0
    (:func:`xdeepr.training.distributed.is_main`). See docs/distributed.md.

    ``crps_finetune_steps > 0`` adds a fine-tuning stage on the almost fair CRPS: the
    trained diffusion model is turned into a one-pass generator (one network evaluation
    per member, sampler ``"onepass"``) fine-tuned for that many steps on the CRPS of
    ``crps_members`` members per example, exactly :func:`xdeepr.distill` with its
    defaults, and that student is returned. Fine-tuning the multi-step diffusion
    network itself on a CRPS would need backpropagation through its sampler and is not
    offered. See docs/methodology/distillation.md.

    Examples
    --------
    >>> import xdeepr
    >>> f, l, s = xdeepr.datasets.load_sample(periods=64)
    >>> model = xdeepr.train(f, l, s, n_channels=8, channel_multipliers=(1, 2),
    ...                      is_attention=(False, True), steps=2, progress=False)
    >>> model.labels
    ['t2m']
    """
    cfg = (config or TrainConfig()).replace(**overrides)
    _check_finetune(cfg)
    check_selection(cfg)
    given = (features, labels, static, observations)  # for the crps_finetune_steps stage
    if observations is not None:
        check_lapse_rate(lapse_rate, fit=True)  # a bad one refused before any work
    if not isinstance(features, xr.Dataset) or not isinstance(labels, xr.Dataset):
        raise TypeError("features and labels must be xarray Datasets (use da.to_dataset())")
    check_checkpoint_dir(cfg)  # before any data preparation: a run must be able to save
    ranks, device = setup(cfg.device)  # under torchrun: this rank, its device, the group
    torch.manual_seed(cfg.seed)

    # -- variables, extra dims, pairing, finite values, grids, split
    features, _ = grid.standard_time(features)
    labels, _ = grid.standard_time(grid.with_grid_coords(labels))  # a grid mapping kept
    static = None if static is None else grid.with_grid_coords(static)
    fvars = _variables(features, cfg.features, "features")
    lvars = _variables(labels, cfg.labels, "labels")
    missing = [v for v in lvars if v not in fvars]
    if cfg.mean is not None and missing:
        raise InputError(
            f"learn_residuals=True needs each label variable among the features (for "
            f"mean={cfg.mean!r}); {missing} missing from the features {fvars}. Rename it or set "
            "learn_residuals=False (mean=None)."
        )
    features = grid.squeeze_extra_dims(features[fvars], what="features")
    labels = grid.squeeze_extra_dims(labels[lvars], what="labels")
    # packed data refused; a label variable that is also a feature is put in the
    # feature's units (K labels with °C features would make residuals meaningless)
    features = convert_units(features, {}, what="features")
    labels = convert_units(
        labels, {v: features[v].attrs.get("units") for v in lvars if v in fvars}, what="labels"
    )
    features, labels = _pair(features, labels)
    _check_finite([("features", features), ("labels", labels)])
    requested = cfg.validation_split
    split, why = resolve_split(features["time"], cfg)  # "auto": a season held out, or not
    cfg = cfg.replace(validation_split=split)  # the model records the split used
    order, n_val = split_order(features["time"], cfg)  # training times, then validation's
    if (order != np.arange(order.size)).any():  # a season held out: its times go last
        features, labels = features.isel(time=order), labels.isel(time=order)
    # each label learnt in its own space (precipitation: log1p with a dry threshold), the
    # feature of the same name alike: the bicubic mean and the residual live in that space
    transforms = resolve_transforms(labels, lvars, cfg.transforms)
    physical = (features, labels)
    features, labels = forward(features, transforms), forward(labels, transforms)
    fgrid = _feature_grid(features, labels)
    n = features.sizes["time"]
    n_train = n - n_val
    if n_train < 1:
        raise InputError(f"no training time left: {n} paired times, {n_val} for validation")
    train_sl = slice(0, n_train)
    label_grid = grid.template_grid(labels)

    # -- normalisation fitted on the training split only
    f_train = grid.crop(features.isel(time=train_sl), coverage=fgrid["coverage"])
    feature_scaler = Scaler.fit(
        f_train,
        method=cfg.feature_scaling,
        by_month=cfg.scale_by_month,
        landmask=_landmask(static, f_train),
        variables=fvars,
    )
    static_ch, static_stats = (
        prepare_static(static, label_grid) if static is not None else (xr.Dataset(), {})
    )
    if static is not None:
        static_ch = static_ch.assign_coords(label_grid.coords)
    obs, obs_record = None, None
    if observations is not None:  # station observations: extra condition channels
        obs, obs_record = observation_record(observations, lvars, features, cfg, label_grid)
        odd = [v for v in obs_record["variables"] if transforms[v].name != "identity"]
        if odd:  # station channels and guidance are in physical units
            raise InputError(
                f"station observations of {odd} are not supported: these labels are learnt "
                f"as {[str(transforms[v]) for v in odd]}; drop them from the observations or "
                "train with transforms={name: 'identity'}"
            )
    net = UNet(
        image_channels=len(lvars),
        n_channels=cfg.n_channels,
        channel_multipliers=cfg.channel_multipliers,
        is_attention=cfg.is_attention,
        n_blocks=cfg.n_blocks,
        conditioned_on_input=len(fvars)
        + len(static_ch.data_vars)
        + (len(obs_record["channels"]) if obs_record else 0),
        dropout=cfg.dropout,
        calendar=cfg.calendar,
    )
    schedule = make_schedule(
        cfg.schedule, cfg.diffusion_steps, zero_terminal_snr=cfg.zero_terminal_snr
    )
    label_attrs = {v: dict(labels[v].attrs) for v in lvars}
    spec = DownscalingModel(
        net,
        schedule,
        prediction=cfg.prediction,
        feature_scaler=feature_scaler,
        label_scaler=feature_scaler,
        features=fvars,
        labels=lvars,
        label_grid=label_grid,
        feature_grid=fgrid,
        static=static_ch,
        static_stats=static_stats,
        label_attrs=label_attrs,
        learn_residuals=cfg.learn_residuals,
        config=cfg.to_dict(),
        transforms=transforms,
    )
    spec.observations = obs_record
    spec.summary["split_choice"] = {"requested": requested, "split": split, "why": why}
    spec.inputs = input_record(features, fvars)  # CF attrs and time step, to check inputs
    target_phys = labels
    condition = spec.condition(features)
    calendar = calendar_features(features["time"])
    static_fit = None
    if not missing:  # label − bicubic: the target of mean="bicubic", and the climatology's
        base = spec.baseline(features)
        residual = xr.Dataset({v: (labels[v] - base[v].transpose(*labels[v].dims)) for v in lvars})
        for v in lvars:
            residual[v].attrs = {"units": labels[v].attrs.get("units", "")}
        if any(t.name != "identity" for t in transforms.values()):  # climatology: physical
            pbase = spec.baseline(physical[0])
            phys = physical[1]
            clim = xr.Dataset({v: phys[v] - pbase[v].transpose(*phys[v].dims) for v in lvars})
            clim = clim.assign({v: clim[v].assign_attrs(residual[v].attrs) for v in lvars})
        else:
            clim = residual
        spec.climatology = fit_climatology(clim.isel(time=train_sl))
        # the static correction's error, for the mean check (its mean from the climatology
        # where that is in the residual's space: no second pass over the data)
        static_fit = static_correction(
            residual, train_sl, spec.climatology if clim is residual else None
        )
        total = _total_steps(cfg, n_train)  # bicubic, climatology, regression or "auto"
        target_phys = diffusion_target(
            spec, cfg, condition, calendar, residual, static, n_train, total, device
        )
    spec.label_scaler = Scaler.fit(
        target_phys.isel(time=train_sl),
        method=cfg.label_scaling,
        by_month=cfg.scale_by_month,
        landmask=_landmask(static, labels),
        variables=lvars,
    )
    if obs is not None:  # temperatures at their cells' altitude (the lapse rate recorded)
        obs = for_training(spec, obs, labels.isel(time=train_sl), lapse_rate)
        condition = with_observations(spec, features, condition, obs)
    data = _Data(
        condition=condition,
        target=grid.pad(
            _stack(spec.label_scaler.normalize(target_phys), lvars),
            levels=spec.levels,
            mode="reflect",
        ),
        calendar=calendar,
        times=np.asarray(features["time"].values),
        static=static_fit,
    )
    try:
        model = _optimise(spec, data, cfg, n_train, device, resume, ranks)
    finally:
        ranks.close()  # the process group, if setup() created it
    if cfg.crps_finetune_steps:
        return _crps_finetune(model, given, cfg)  # distill() fits the student's own cuts
    return fit_dry_cuts(model, *physical, data.times, n_train, cfg, observations)
