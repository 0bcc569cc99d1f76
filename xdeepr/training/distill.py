"""xdeepr.distill(): a student whose members cost one or two network evaluations.

The method (docs/methodology/distillation.md says why, with the measurements): the
student is the teacher's U-Net, initialised from the teacher's weights, turned into a
*generator* trained on a proper score, as ECMWF's AIFS-CRPS (Lang et al. 2024): it
takes pure noise at the last diffusion step T−1 as its input image and returns a
member in one evaluation (two: noised again to T/2 and denoised once more,
:mod:`xdeepr.diffusion.onepass`). Each training example draws ``crps_members``
members from independent noise, and the almost fair CRPS of those members against
the truth (:mod:`xdeepr.diffusion.crps`) is minimised by backpropagation through the
evaluations. The fair CRPS is strictly proper, so its minimum is the conditional
distribution of the truth: the student is trained on exactly what xdeepr judges
ensembles by (fair CRPS, spread-skill), with no teacher sample in the loss.

Everything else is :func:`xdeepr.train`'s: the same pairing and checks, the teacher's
normalisation, the same learning-rate warm-up and cosine decay, EMA, the same
validation by skill (:mod:`.validation`: fair CRPS and spread-skill on held-out
times, the selection rule, ``patience``, the mean check) and DistributedDataParallel
under ``torchrun`` (:mod:`.distributed`). No checkpoints: a run is short.
"""

from __future__ import annotations

import copy
import time as _time
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import grid
from .._progress import progress_bar
from .._torch import autocast
from ..diffusion.crps import almost_fair_crps
from ..diffusion.grids import timesteps
from ..diffusion.onepass import generate
from ..errors import ConfigError, InputError
from ..model import DownscalingModel, calendar_features
from ..model.drycut import uncut
from ..units import convert_units
from .config import TrainConfig
from .data import _check_finite, _Data, _pair, _stack
from .distributed import Ranks, setup
from .holdout import fit_dry_cuts, resolve_split, split_order
from .loop import _crop_patch, _lr_factor, _optimizer_step
from .meancheck import model_static_correction
from .observations import drop_stations, observation_record, with_observations
from .validation import SkillValidation

__all__ = ["DEFAULT_EVALUATIONS", "DISTILL_DEFAULTS", "distill"]

#: Network evaluations per member of a student when none are asked (measured:
#: docs/methodology/distillation.md).
DEFAULT_EVALUATIONS = 1
#: The optimisation settings of a distillation when no ``config`` is given: a short
#: fine-tune from the teacher's weights at a lower learning rate (600 steps: at 300 the
#: students were still improving, docs/methodology/distillation.md).
DISTILL_DEFAULTS: dict[str, Any] = {
    "steps": 600,
    "batch_size": 4,
    "learning_rate": 5e-4,
    "warmup_steps": 20,
    "ema_decay": 0.99,
}
#: TrainConfig fields that describe the teacher's network, data and normalisation:
#: the student keeps the teacher's, and asking for another value is an error.
TEACHER_FIELDS = (
    "n_channels",
    "channel_multipliers",
    "is_attention",
    "n_blocks",
    "dropout",
    "calendar",
    "schedule",
    "diffusion_steps",
    "zero_terminal_snr",
    "prediction",
    "features",
    "labels",
    "mean",
    "learn_residuals",
    "feature_scaling",
    "label_scaling",
    "scale_by_month",
    "transforms",
    "observation_dropout",
    "observation_tolerance",
)


def _check_teacher(teacher: Any, evaluations: Any) -> None:
    """Refuse, by name and with what to do, a teacher or a count that cannot be distilled."""
    if not isinstance(teacher, DownscalingModel):
        raise TypeError(
            f"distill needs a trained xdeepr.DownscalingModel as teacher, got "
            f"{type(teacher).__name__}; train one with xdeepr.train or load one with "
            "xdeepr.load_model"
        )
    if isinstance(evaluations, bool) or evaluations not in (1, 2):
        raise ConfigError(
            f"evaluations={evaluations!r} is not allowed: a student's members cost 1 or 2 "
            "network evaluations; for more, sample the teacher with fewer steps instead"
        )
    if teacher.config.get("distillation"):
        raise InputError(
            "this model is already a distilled student (config['distillation']); distil its "
            "teacher instead, or fine-tune the student by distilling the teacher longer"
        )
    if teacher.prediction != "v":
        raise InputError(
            f"distill needs a teacher that predicts v (prediction='v', the default); this "
            f"one predicts {teacher.prediction!r}, which cannot recover a member from pure "
            "noise in one evaluation (x0 = (x - sigma*eps)/alpha with alpha ~ 0). Train a "
            "teacher with prediction='v' (xdeepr.train(..., prediction='v'))"
        )
    if teacher.mean in ("regression", "climatology"):
        raise InputError(
            f"distill does not yet take a teacher whose mean is {teacher.mean!r} "
            "(mean='regression' or 'climatology'): train the teacher with mean='bicubic' "
            "(the default) or mean=None, or sample this one with fewer steps"
        )


def _config(
    teacher: DownscalingModel, config: TrainConfig | None, overrides: dict[str, Any]
) -> TrainConfig:
    """The run's settings: :data:`DISTILL_DEFAULTS` (or `config`), then `overrides`;
    the teacher's network and data fields, sampler "onepass"."""
    fields = TrainConfig.__dataclass_fields__
    asked = sorted(k for k in overrides if k in TEACHER_FIELDS or k == "sampler")
    if asked:
        raise ConfigError(
            f"distill: {asked} belong to the teacher (its network, data and normalisation) "
            "and cannot be changed; the student samples with 'onepass'"
        )
    if config is None:
        split = teacher.config.get("validation_fraction", 0.1)  # the teacher's held-out share
        config = TrainConfig(**DISTILL_DEFAULTS, validation_fraction=split)
    elif not isinstance(config, TrainConfig):
        raise TypeError(f"config must be an xdeepr.TrainConfig, got {type(config).__name__}")
    cfg = config.replace(**overrides)
    if cfg.checkpoint_dir is not None:
        raise ConfigError(
            f"distill writes no checkpoints (runs are short): TrainConfig.checkpoint_dir="
            f"{cfg.checkpoint_dir!r}; leave it None"
        )
    kept = {k: teacher.config[k] for k in TEACHER_FIELDS if k in teacher.config and k in fields}
    kept["calendar"] = bool(teacher.network.config.get("calendar", True))
    return cfg.replace(**kept, sampler="onepass")


def _on_label_grid(labels: xr.Dataset, teacher: DownscalingModel) -> None:
    lat, lon = grid.horizontal_dims(labels)
    tlat, tlon = teacher.label_grid_names
    for got, want in ((lat, tlat), (lon, tlon)):
        a, b = np.asarray(labels[got].values), np.asarray(teacher.label_grid[want].values)
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
            raise InputError(
                f"the labels' coordinate {got!r} ({a.size} values, {a.min():g}..{a.max():g}) "
                f"is not the teacher's label grid {want!r} ({b.size} values, "
                f"{b.min():g}..{b.max():g}); give labels on the grid the teacher was trained on"
            )


def _prepare(
    teacher: DownscalingModel,
    student: DownscalingModel,
    features: xr.Dataset,
    labels: xr.Dataset,
    observations: xr.Dataset | None,
    cfg: TrainConfig,
) -> tuple[_Data, int, str]:
    """Conditions, normalised targets and calendars as :func:`xdeepr.train` builds them
    (training times first, :func:`.holdout.split_order`), how many times validate, and
    the split (``"auto"`` resolved)."""
    if not isinstance(features, xr.Dataset) or not isinstance(labels, xr.Dataset):
        raise TypeError("features and labels must be xarray Datasets (use da.to_dataset())")
    features, _ = grid.standard_time(features)
    labels, _ = grid.standard_time(labels)
    for what, ds, names in (
        ("features", features, teacher.features),
        ("labels", labels, teacher.labels),
    ):
        missing = [v for v in names if v not in ds.data_vars]
        if missing:
            raise InputError(
                f"the {what} lack the teacher's variables {missing} (they have "
                f"{sorted(map(str, ds.data_vars))}); rename them to the teacher's names"
            )
    features = grid.squeeze_extra_dims(features[teacher.features], what="features")
    labels = grid.squeeze_extra_dims(labels[teacher.labels], what="labels")
    features = convert_units(features, {}, what="features")
    units = {v: teacher.label_attrs.get(v, {}).get("units") for v in teacher.labels}
    labels = convert_units(labels, units, what="labels")
    features, labels = _pair(features, labels)
    _check_finite([("features", features), ("labels", labels)])
    _on_label_grid(labels, teacher)
    split = resolve_split(features["time"], cfg)[0]  # "auto": a season held out, or not
    order, n_val = split_order(features["time"], cfg)  # training times, then validation's
    features, labels = features.isel(time=order), labels.isel(time=order)
    transforms = getattr(teacher, "transforms", None)
    if transforms:  # each label in the space the teacher learnt it in (precipitation: log1p)
        from ..transforms import forward

        features, labels = forward(features, transforms), forward(labels, transforms)
    condition = teacher.condition(features)
    target = labels
    if teacher.mean == "bicubic":  # the teacher models label − bicubic: so does the student
        base = teacher.baseline(features)
        target = xr.Dataset(
            {v: labels[v] - base[v].transpose(*labels[v].dims) for v in teacher.labels}
        )
    if teacher.observations and observations is None:
        raise InputError(
            "the teacher takes station observations as condition channels "
            f"({teacher.observations['channels']}); pass observations= (the stations it was "
            "trained with) so that the student learns to use them"
        )
    if observations is not None:
        if not teacher.observations:
            raise InputError(
                "observations were given, but the teacher has no station channels (it was "
                "trained without observations); distil without them"
            )
        from ..observations.cells import for_training

        domain = teacher.label_grid
        obs, _ = observation_record(observations, teacher.labels, features, cfg, domain)
        n_train = features.sizes["time"] - n_val
        rate = teacher.observations.get("lapse_rate")  # the teacher's altitude adjustment
        obs = for_training(student, obs, labels.isel(time=slice(0, n_train)), rate)
        condition = with_observations(student, features, condition, obs)
    data = _Data(
        condition=condition,
        target=grid.pad(
            _stack(teacher.label_scaler.normalize(target), teacher.labels),
            levels=teacher.levels,
            mode="reflect",
        ),
        calendar=calendar_features(features["time"]),
        times=np.asarray(features["time"].values),
        static=model_static_correction(teacher, features, target, labels.sizes["time"] - n_val),
    )
    return data, n_val, split


def distill(
    teacher: DownscalingModel,
    features: xr.Dataset,
    labels: xr.Dataset,
    /,
    static: xr.Dataset | None = None,
    *,
    evaluations: int = DEFAULT_EVALUATIONS,
    config: TrainConfig | None = None,
    observations: xr.Dataset | None = None,
    **overrides: Any,
) -> DownscalingModel:
    """A student of `teacher` whose members cost `evaluations` network evaluations.

    The student is the teacher's network fine-tuned as a generator on the almost fair
    CRPS (module docstring; docs/methodology/distillation.md): an ordinary
    :class:`~xdeepr.DownscalingModel` sampled with the ``"onepass"`` sampler, so
    ``downscale`` (eager or dask), seeding (a member's noise depends only on seed,
    time and member), ``save``/``load_model`` and the CLI work as for any model.

    Parameters
    ----------
    teacher : DownscalingModel
        A trained model with ``prediction="v"`` whose mean is bicubic or none.
    features, labels : xarray.Dataset
        Training pairs as for :func:`xdeepr.train` (the teacher's variables, labels on
        its label grid); the last ``validation_fraction`` of the paired times (the
        teacher's share by default) are held out for the selection by skill.
    static : xarray.Dataset, optional
        The static fields the teacher was trained with. The teacher stores its static
        channels, so they are not read again; given, their variable names are checked
        against the teacher's.
    evaluations : {1, 2}
        Network evaluations per member (default :data:`DEFAULT_EVALUATIONS`).
    config : TrainConfig, optional
        Optimisation and validation settings (default :data:`DISTILL_DEFAULTS`); the
        loss takes ``crps_members`` members per example and ``crps_alpha``. Network,
        data and normalisation fields are the teacher's.
    observations : xarray.Dataset, optional
        Station observations, required when the teacher takes them as condition
        channels (the student keeps those channels; guidance is not available with
        the ``"onepass"`` sampler).
    **overrides
        Single :class:`~xdeepr.TrainConfig` fields (``steps=``, ``learning_rate=``...).

    Returns
    -------
    DownscalingModel
        The student: ``config["sampler"] == "onepass"``, ``config["distillation"]``
        the method, evaluations and teacher; ``summary["validation"]`` its validations
        and ``summary["teacher_validation"]`` the teacher's on the same times.

    Raises
    ------
    xdeepr.errors.InputError
        For a teacher that cannot be distilled (ε-prediction, a regression or
        climatology mean, a student), inputs lacking its variables, labels off its grid.
    xdeepr.errors.ConfigError
        For ``evaluations`` other than 1 or 2, or a teacher field in `overrides`.

    Examples
    --------
    >>> import xdeepr
    >>> f, l, s = xdeepr.datasets.load_sample(periods=64)
    >>> teacher = xdeepr.train(f, l, s, n_channels=8, channel_multipliers=(1, 2),
    ...                        is_attention=(False, True), steps=2, progress=False)
    >>> student = xdeepr.distill(teacher, f, l, steps=2, validation_times=2, progress=False)
    >>> student.default_sampler, student.default_steps()
    ('onepass', 1)
    """
    _check_teacher(teacher, evaluations)
    if static is not None and sorted(map(str, static.data_vars)) != sorted(teacher.static_names):
        raise InputError(
            f"static has the variables {sorted(map(str, static.data_vars))}, the teacher was "
            f"trained with {sorted(teacher.static_names)}; pass the same static fields or none"
        )
    cfg = _config(teacher, config, overrides)
    ranks, device = setup(cfg.device)
    try:
        torch.manual_seed(cfg.seed)
        student = copy.deepcopy(teacher)
        student.training_state, student.final_ema_state, student.summary = None, None, {}
        student.calibration = None  # fitted to the teacher's ensembles, not the student's
        student.transforms = uncut(student.transforms)  # the dry cuts alike (refitted below)
        student.config = {
            **cfg.to_dict(),
            "distillation": {
                "method": "crps",
                "evaluations": int(evaluations),
                "teacher": teacher.identity,
                "teacher_sampler": teacher.default_sampler,
                "teacher_steps": teacher.default_steps(),
            },
        }
        data, n_val, split = _prepare(teacher, student, features, labels, observations, cfg)
        cfg = cfg.replace(validation_split=split)
        student.config["validation_split"] = split
        n = data.condition.sizes["time"]
        n_train = n - n_val
        if n_train < 1:
            raise InputError(f"no training time left: {n} paired times, {n_val} for validation")
        student = _optimise(teacher, student, data, cfg, n_train, device, ranks)
    finally:
        ranks.close()
    return fit_dry_cuts(student, features, labels, data.times, n_train, cfg, observations)


def _optimise(
    teacher: DownscalingModel,
    student: DownscalingModel,
    data: _Data,
    cfg: TrainConfig,
    n_train: int,
    device: torch.device,
    ranks: Ranks,
) -> DownscalingModel:
    """The fine-tuning loop: members from noise, almost fair CRPS, AdamW, EMA, selection."""
    net = student.network.to(device)
    for p in net.parameters():  # the teacher's network holds EMA weights, frozen
        p.requires_grad_(True)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    blocks = ranks.blocks(data, np.arange(n_train), cfg.block_size, train=True)
    per_epoch = len(blocks.batches(0, cfg.seed, cfg.batch_size))
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    fwd = ranks.wrap(net, device)
    evals = int(student.config["distillation"]["evaluations"])
    steps_grid = timesteps(student.schedule.num_steps, evals)
    m, multiple = cfg.crps_members, 2 ** (student.levels - 1)
    use_bf16 = device.type == "cuda"
    start = _time.monotonic()
    skill = SkillValidation(student, data, cfg, n_train, total, device)
    teacher_rec = None
    if skill.enabled:  # the teacher's skill on the same times, members and seeds
        where = next(teacher.network.parameters()).device
        judge = SkillValidation(teacher, data, cfg, n_train, total, device)
        teacher_rec = judge.validate(teacher.network.to(device), 0)
        teacher.network.to(where)
        skill.validate(ema, 0)  # the student before any step: the teacher's net, one pass
    show = cfg.progress and ranks.is_main
    bar = progress_bar(total=total, disable=not show, desc="distilling", unit="step")
    step, epoch, loss_value = 0, 0, float("nan")
    while step < total and not skill.stop:
        for block, positions in blocks.batches(epoch, cfg.seed, cfg.batch_size):
            if step >= total or skill.stop:
                break
            cond_b, tgt_b, cal_b = blocks.load(block)
            pos = torch.from_numpy(np.sort(positions))
            gen = torch.Generator().manual_seed(ranks.seed(cfg.seed * 1_000_003 + step))
            cond, tgt = _crop_patch([cond_b[pos], tgt_b[pos]], cfg.patch_size, multiple, gen)
            if student.observations:  # hide stations at random, as the teacher was trained
                n_obs = len(student.observations["channels"])
                cond = drop_stations(cond, n_obs, cfg.observation_dropout, gen)
            cal = cal_b[pos] if cfg.calendar else None
            cond_m = cond.repeat_interleave(m, 0).to(device)  # (B*M, C, H, W): M per example
            cal_m = None if cal is None else cal.repeat_interleave(m, 0).to(device)
            for g in opt.param_groups:
                g["lr"] = cfg.learning_rate * _lr_factor(step, cfg.warmup_steps, total)
            net.train()

            def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                with autocast(device, enabled=use_bf16):
                    return fwd(x, t, cond_m, cal_m).float()  # noqa: B023

            def draw(step: int, like: torch.Tensor) -> torch.Tensor:
                return torch.randn(like.shape, generator=gen).to(like.device)  # noqa: B023

            z = draw(-1, torch.empty((cond_m.shape[0], tgt.shape[1], *tgt.shape[2:])))
            x = generate(fn, z.to(device), student.schedule, steps_grid, prediction="v", noise=draw)
            loss = almost_fair_crps(
                x.reshape(-1, m, *x.shape[1:]), tgt.to(device), alpha=cfg.crps_alpha
            )
            if not torch.isfinite(loss):
                raise InputError(
                    f"the distillation loss became {float(loss)} at step {step}; lower "
                    "learning_rate or check the inputs"
                )
            _optimizer_step(loss, net, opt, ema, cfg, step)
            step += 1
            loss_value = float(loss.detach())
            bar.update(1)
            bar.set_postfix(crps=f"{loss_value:.4f}")
            if skill.due(step):
                rec = skill.validate(ema, step)
                bar.set_postfix(loss=f"{loss_value:.4f}", **skill.postfix(rec))
        epoch += 1
    bar.close()
    wall = _time.monotonic() - start
    student.summary = {
        "steps": step,
        "train_times": n_train,
        "validation_times": data.condition.sizes["time"] - n_train,
        "train_loss": loss_value,
        "loss": f"almost fair CRPS (alpha={cfg.crps_alpha}) of {m} members per example",
        "wall_seconds": wall,
        "device": str(device),
        "teacher_validation": teacher_rec,
        **ranks.summary(cfg.batch_size),
    }
    skill.finish(student, ema, step, wall)  # the selected weights, summary["validation"]
    return student
