"""xdeepr.train(): pair, split, normalise, optimise, checkpoint, resume.

Training crosses the tensor boundary in one place, :class:`_Blocks`, which loads
blocks of time steps (streaming dask-backed inputs chunk by chunk) into tensors.
Every random draw of step ``k`` comes from a generator seeded by ``(seed, k)``,
so a run resumed from a checkpoint continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from . import grid
from .diffusion import DEFAULT_SAMPLER, diffusion_loss, make_schedule
from .model import DownscalingModel, calendar_features, prepare_static
from .nn import UNet
from .scaling import Scaler

CHECKPOINT_NAME = "checkpoint.xdeepr-ckpt"


@dataclass
class TrainConfig:
    """Settings of :func:`xdeepr.train`; every field can be overridden by keyword.

    Network (the DeepR seed's defaults)
        ``n_channels``, ``channel_multipliers``, ``is_attention``, ``n_blocks``,
        ``dropout``, ``calendar`` (hour-of-day and day-of-year embeddings).
    Diffusion
        ``schedule`` (``"cosine"``, or the seed's ``"linear"``: 1e-4 to 0.02),
        ``diffusion_steps``, ``zero_terminal_snr``, ``prediction`` (``"v"``, or the
        seed's ``"epsilon"``), ``sampler`` (the model's default sampler,
        ``"dpm++2m-sde"``, 10 steps). The defaults were chosen by measurement
        (BENCHMARKS.md): at the same training budget on the embedded sample, cosine + v
        beat the seed's linear + epsilon by a factor ~3 in RMSE, and the sampler is the
        cheapest calibrated one within 1 % of the best fair CRPS;
        ``schedule="linear", prediction="epsilon"`` reproduces the seed.
    Data
        ``features`` / ``labels`` (variable names; default all), ``learn_residuals``
        (target = label − bicubic feature), ``feature_scaling`` / ``label_scaling``
        (``"domain-wise"``, ``"pixel-wise"``, ``"landmask-wise"``), ``scale_by_month``,
        ``validation_fraction`` (the last part of the paired times), ``patch_size``
        (random crops of the padded label domain, a multiple of ``2**(levels-1)``),
        ``block_size`` (time steps loaded at once from dask-backed input).
    Optimisation
        ``batch_size``, ``learning_rate``, ``weight_decay``, ``warmup_steps`` (linear
        warm-up, then cosine decay to 5 %), ``epochs`` or ``steps`` (``steps`` wins),
        ``max_minutes`` (stop early after this wall time), ``grad_clip``,
        ``ema_decay``, ``seed``, ``device`` (default: CUDA when available).
    Checkpoints
        ``checkpoint_dir`` and ``checkpoint_every`` (steps).

    Examples
    --------
    >>> cfg = TrainConfig(n_channels=8, steps=200)
    >>> cfg.replace(batch_size=4).batch_size
    4
    """

    # network
    n_channels: int = 16
    channel_multipliers: tuple[int, ...] = (1, 2, 2, 4)
    is_attention: tuple[bool, ...] = (False, False, True, True)
    n_blocks: int = 2
    dropout: float = 0.0
    calendar: bool = True
    # diffusion
    schedule: str = "cosine"
    diffusion_steps: int = 1000
    zero_terminal_snr: bool = False
    prediction: str = "v"
    sampler: str = DEFAULT_SAMPLER
    # data
    features: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    learn_residuals: bool = True
    feature_scaling: str = "domain-wise"
    label_scaling: str = "domain-wise"
    scale_by_month: bool = False
    validation_fraction: float = 0.1
    patch_size: int | None = None
    block_size: int = 1024
    # optimisation
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    epochs: int = 10
    steps: int | None = None
    max_minutes: float | None = None
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    device: str | None = None
    # checkpoints
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **overrides: Any) -> TrainConfig:
        """Return a copy with `overrides` applied; unknown names are an error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(
                f"unknown TrainConfig field(s) {unknown}; valid fields are {sorted(names)}"
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-value mapping (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def small(cls, **overrides: Any) -> TrainConfig:
        """A small network that trains in about a minute on a laptop CPU.

        16 channels, three levels (attention on the last), 600 steps of 16 samples,
        learning rate 2e-3 after 50 warm-up steps, EMA decay 0.995. ``xdeepr demo`` and the
        benchmarks use it; on the embedded sample it beats bicubic interpolation by a
        factor of about three in RMSE (BENCHMARKS.md).

        Examples
        --------
        >>> TrainConfig.small(steps=100).n_channels
        16
        """
        return cls(
            n_channels=16,
            channel_multipliers=(1, 2, 2),
            is_attention=(False, False, True),
            steps=600,
            batch_size=16,
            learning_rate=2e-3,
            warmup_steps=50,
            ema_decay=0.995,
        ).replace(**overrides)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. a YAML or JSON file); unknown keys are an error."""
        cfg = cls().replace(**d)
        for name in ("channel_multipliers", "is_attention", "features", "labels"):
            v = getattr(cfg, name)
            if isinstance(v, list):
                setattr(cfg, name, tuple(v))
        return cfg


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN/Inf loss, say)."""


# ---------------------------------------------------------------------------- preparation


def _time_index(ds: xr.Dataset, what: str) -> pd.Index:
    if "time" not in ds.indexes:
        raise ValueError(f"the {what} have no 'time' index; both inputs need one")
    return ds.indexes["time"]


def _pair(features: xr.Dataset, labels: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    fi, li = _time_index(features, "features"), _time_index(labels, "labels")
    try:
        common = fi.intersection(li)
    except TypeError as err:
        raise ValueError(
            f"feature times ({type(fi[0]).__name__}) and label times ({type(li[0]).__name__}) "
            "use different calendars or types; decode both the same way"
        ) from err
    if len(common) == 0:
        raise ValueError(
            f"no time step is shared by the features ({fi[0]} .. {fi[-1]}, {len(fi)} steps) and "
            f"the labels ({li[0]} .. {li[-1]}, {len(li)} steps)"
        )
    common = common.sort_values()
    return features.sel(time=common), labels.sel(time=common)


def _variables(ds: xr.Dataset, wanted: tuple[str, ...] | None, what: str) -> list[str]:
    lat, lon = grid.find_latlon(ds)
    if wanted:
        missing = [v for v in wanted if v not in ds.data_vars]
        if missing:
            raise ValueError(
                f"the {what} lack the variable(s) {missing} (they have "
                f"{list(map(str, ds.data_vars))})"
            )
        return list(wanted)
    names = [str(v) for v, da in ds.data_vars.items() if {"time", lat, lon} <= set(da.dims)]
    if not names:
        raise ValueError(f"the {what} have no variable with dims (time, {lat}, {lon})")
    return names


def _feature_grid(features: xr.Dataset, labels: xr.Dataset) -> dict[str, Any]:
    grid.scale_factor(features, labels)  # raises unless an integer ratio
    grid.check_inside(labels, features)
    flat, flon = grid.find_latlon(features)
    llat, llon = grid.find_latlon(labels)
    fa, fo = features[flat].values.astype("f8"), features[flon].values
    la = labels[llat].values.astype("f8")
    west, span = grid._lon_extent(features, flon)
    lwest, lspan = grid._lon_extent(labels, llon)
    start = float(grid._lon_offsets(np.array([lwest]), west)[0]) % 360.0
    if start > 360.0 - 1e-6:
        start -= 360.0
    dlat, dlon = grid.grid_spacing(features)
    return {
        "lat_step": dlat,
        "lon_step": dlon,
        "coverage": {
            "longitude": [float(west), float(west + span)],
            "latitude": [float(fa.max()), float(fa.min())],
        },
        "halo": {
            "north": float(fa.max() - la.max()),
            "south": float(la.min() - fa.min()),
            "west": float(start),
            "east": float(span - start - lspan),
        },
        "shape": [int(fa.size), int(fo.size)],
        "scale_factor": grid.scale_factor(features, labels),
    }


def _stack(ds: xr.Dataset, names: list[str]) -> xr.DataArray:
    lat, lon = grid.find_latlon(ds)
    arr = xr.concat([ds[v].transpose("time", lat, lon) for v in names], dim="variable")
    return arr.assign_coords(variable=names).transpose("time", "variable", lat, lon)


@dataclass
class _Data:
    condition: xr.DataArray  # (time, channel, lat, lon), padded, normalised
    target: xr.DataArray  # (time, variable, lat, lon), padded, normalised
    calendar: np.ndarray  # (time, 2)
    times: np.ndarray  # time stamps, for error messages


class _Blocks:
    """Loads contiguous blocks of time steps as tensors (streams dask-backed data)."""

    def __init__(self, data: _Data, indices: np.ndarray, block_size: int) -> None:
        self.data = data
        self.indices = indices
        self.block_size = max(1, int(block_size))
        self.blocks = [
            indices[i : i + self.block_size] for i in range(0, len(indices), self.block_size)
        ]
        self._cache: tuple[int, tuple[torch.Tensor, ...]] | None = None

    def load(self, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._cache is not None and self._cache[0] == b:
            return self._cache[1]  # type: ignore[return-value]
        idx = self.blocks[b]
        sl = slice(int(idx[0]), int(idx[-1]) + 1)  # blocks are contiguous
        # One compute for both: with learn_residuals the target is label − bicubic(feature),
        # so the two share the feature reads and the interpolation; computed apart, those
        # would run twice per block.
        cond_da, tgt_da = self.data.condition.isel(time=sl), self.data.target.isel(time=sl)
        if cond_da.chunks is not None or tgt_da.chunks is not None:
            import dask

            cond_da, tgt_da = dask.compute(cond_da, tgt_da)
        cond = torch.from_numpy(np.asarray(cond_da.values, "f4"))
        tgt = torch.from_numpy(np.asarray(tgt_da.values, "f4"))
        cal = torch.from_numpy(self.data.calendar[sl])
        self._cache = (b, (cond, tgt, cal))
        return cond, tgt, cal

    def batches(self, epoch: int, seed: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
        """(block, positions-in-block) of each batch of `epoch`, deterministically shuffled."""
        rng = np.random.default_rng([seed, epoch])
        out = []
        for b in rng.permutation(len(self.blocks)):
            order = rng.permutation(len(self.blocks[b]))
            out += [(int(b), order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
        return out


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _device(name: str | None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _crop_patch(
    tensors: list[torch.Tensor], patch: int | None, multiple: int, gen: torch.Generator
) -> list[torch.Tensor]:
    if not patch:
        return tensors
    h, w = tensors[0].shape[-2:]
    ph, pw = min(patch, h), min(patch, w)
    i = int(torch.randint(0, h - ph + 1, (1,), generator=gen))
    j = int(torch.randint(0, w - pw + 1, (1,), generator=gen))
    return [t[..., i : i + ph, j : j + pw] for t in tensors]


def _bad_tensor_report(named: dict[str, torch.Tensor]) -> str:
    bad = [k for k, v in named.items() if not torch.isfinite(v).all()]
    return ", ".join(bad) if bad else "none of the inputs (the network diverged)"


# ---------------------------------------------------------------------------------- train


def train(
    features: xr.Dataset,
    labels: xr.Dataset,
    static: xr.Dataset | None = None,
    *,
    config: TrainConfig | None = None,
    resume: bool | str | os.PathLike[str] = False,
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
        Settings; keyword `overrides` replace single fields.
    resume : bool or path
        Continue from the checkpoint in ``checkpoint_dir`` (True) or at a path.

    Returns
    -------
    DownscalingModel

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
    if not isinstance(features, xr.Dataset) or not isinstance(labels, xr.Dataset):
        raise TypeError("features and labels must be xarray Datasets (use da.to_dataset())")
    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    multiple = 2 ** (len(cfg.channel_multipliers) - 1)
    if cfg.patch_size and cfg.patch_size % multiple:
        raise ValueError(
            f"patch_size={cfg.patch_size} must be a multiple of {multiple} (2**(levels-1))"
        )

    # -- pairing, grids, split
    features, _ = grid.standard_time(features)
    labels, _ = grid.standard_time(labels)
    fvars = _variables(features, cfg.features, "features")
    lvars = _variables(labels, cfg.labels, "labels")
    if cfg.learn_residuals:
        missing = [v for v in lvars if v not in fvars]
        if missing:
            raise ValueError(
                f"learn_residuals=True needs each label variable among the features; "
                f"{missing} missing from the features {fvars}. Rename it or set "
                "learn_residuals=False."
            )
    features, labels = _pair(features[fvars], labels[lvars])
    fgrid = _feature_grid(features, labels)
    n = features.sizes["time"]
    n_val = round(cfg.validation_fraction * n) if n > 1 else 0
    if cfg.validation_fraction > 0 and n > 1:
        n_val = max(1, n_val)
    n_train = n - n_val
    if n_train < 1:
        raise ValueError(f"no training time left: {n} paired times, {n_val} for validation")
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
    net = UNet(
        image_channels=len(lvars),
        n_channels=cfg.n_channels,
        channel_multipliers=cfg.channel_multipliers,
        is_attention=cfg.is_attention,
        n_blocks=cfg.n_blocks,
        conditioned_on_input=len(fvars) + len(static_ch.data_vars),
        dropout=cfg.dropout,
        calendar=cfg.calendar,
    )
    schedule = make_schedule(
        cfg.schedule, cfg.diffusion_steps, zero_terminal_snr=cfg.zero_terminal_snr
    )
    label_attrs = {v: dict(labels[v].attrs) for v in lvars}
    spec = DownscalingModel(
        net, schedule, prediction=cfg.prediction, feature_scaler=feature_scaler,
        label_scaler=feature_scaler, features=fvars, labels=lvars, label_grid=label_grid,
        feature_grid=fgrid, static=static_ch, static_stats=static_stats,
        label_attrs=label_attrs, learn_residuals=cfg.learn_residuals, config=cfg.to_dict(),
    )  # fmt: skip
    target_phys = labels
    if cfg.learn_residuals:
        base = spec.baseline(features)
        target_phys = xr.Dataset(
            {v: (labels[v] - base[v].transpose(*labels[v].dims)) for v in lvars}
        )
        for v in lvars:
            target_phys[v].attrs = {"units": labels[v].attrs.get("units", "")}
    spec.label_scaler = Scaler.fit(
        target_phys.isel(time=train_sl), method=cfg.label_scaling,
        by_month=cfg.scale_by_month, landmask=_landmask(static, labels), variables=lvars,
    )  # fmt: skip
    data = _Data(
        condition=spec.condition(features),
        target=grid.pad(_stack(spec.label_scaler.normalize(target_phys), lvars),
                        levels=spec.levels, mode="reflect"),
        calendar=calendar_features(features["time"]),
        times=np.asarray(features["time"].values),
    )  # fmt: skip
    return _optimise(spec, data, cfg, n_train, device, resume)


def _landmask(static: xr.Dataset | None, like: xr.Dataset) -> xr.DataArray | None:
    """A land-sea mask variable of `static` on `like`'s grid, if there is one."""
    if static is None:
        return None
    lat, lon = grid.find_latlon(like)
    for name, da in static.data_vars.items():
        sn = str(da.attrs.get("standard_name", ""))
        if ("land" in sn or str(name) in ("lsm", "land_sea_mask")) and da.ndim == 2:
            try:
                dlat, dlon = grid.find_latlon(da)
            except grid.GridError:
                continue
            if np.array_equal(da[dlat].values, like[lat].values) and np.array_equal(
                da[dlon].values, like[lon].values
            ):
                return da.rename({dlat: lat, dlon: lon})
    return None


def _optimise(
    model: DownscalingModel,
    data: _Data,
    cfg: TrainConfig,
    n_train: int,
    device: torch.device,
    resume: bool | str | os.PathLike[str],
) -> DownscalingModel:
    from tqdm.auto import tqdm

    net = model.network.to(device)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    train_blocks = _Blocks(data, np.arange(n_train), cfg.block_size)
    n_total = data.condition.sizes["time"]
    val_blocks = _Blocks(data, np.arange(n_train, n_total), cfg.block_size)
    per_epoch = len(train_blocks.batches(0, cfg.seed, cfg.batch_size))
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    history: list[dict[str, float]] = []
    step = 0
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if resume:
        path = Path(resume) if not isinstance(resume, bool) else None
        if path is None:
            if ckpt_dir is None:
                raise ValueError("resume=True needs checkpoint_dir= (or pass a checkpoint path)")
            path = ckpt_dir / CHECKPOINT_NAME
        step, history = _load_checkpoint(path, net, ema, opt, device)
    multiple = 2 ** (model.levels - 1)
    autocast = device.type == "cuda"
    start_time = _time.monotonic()
    bar = tqdm(total=total, initial=step, disable=not cfg.progress, desc="training", unit="step")
    loss_value = float("nan")
    stopped_early = False
    epoch = step // per_epoch
    while step < total:
        plan = train_blocks.batches(epoch, cfg.seed, cfg.batch_size)
        skip = step - epoch * per_epoch  # steps of this epoch already done (on resume)
        for block, positions in plan[skip:]:
            if step >= total:
                break
            cond_b, tgt_b, cal_b = train_blocks.load(block)
            pos = torch.from_numpy(np.sort(positions))
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            cond, tgt = _crop_patch([cond_b[pos], tgt_b[pos]], cfg.patch_size, multiple, gen)
            cal = cal_b[pos]
            cond, tgt, cal = cond.to(device), tgt.to(device), cal.to(device)
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout
            for g in opt.param_groups:
                g["lr"] = cfg.learning_rate * _lr_factor(step, cfg.warmup_steps, total)
            net.train()

            def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    out = net(x, t, cond, cal if cfg.calendar else None)  # noqa: B023
                return out.float()

            loss, _ = diffusion_loss(fn, tgt, model.schedule, prediction=model.prediction,
                                     generator=gen)  # fmt: skip
            if not torch.isfinite(loss):
                idx = train_blocks.blocks[block][np.sort(positions)]
                stamps = [str(t) for t in data.times[idx]]
                raise TrainingError(
                    f"the loss became {loss.item()} at step {step} for the batch with time "
                    f"stamps {stamps}; non-finite values in: "
                    f"{_bad_tensor_report({'condition': cond, 'target': tgt})}. Check the "
                    "input data at those times, or lower learning_rate."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(p.detach(), 1 - decay)
                for be, b in zip(ema.buffers(), net.buffers()):
                    be.copy_(b)
            step += 1
            loss_value = float(loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
            if step % per_epoch == 0 or step >= total:  # end of an epoch: validate first,
                val = _validation_loss(ema, model, val_blocks, cfg, device)  # then checkpoint
                history.append({"epoch": float(epoch), "step": float(step),
                                "train_loss": loss_value, "validation_loss": val})  # fmt: skip
                bar.set_postfix(loss=f"{loss_value:.4f}", val=f"{val:.4f}")
            if ckpt_dir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                _save_checkpoint(ckpt_dir / CHECKPOINT_NAME, model, net, ema, opt, step, history)
            if (
                cfg.max_minutes is not None
                and _time.monotonic() - start_time > 60 * cfg.max_minutes
            ):
                stopped_early = True
                break
        if stopped_early:
            break
        epoch += 1
    bar.close()
    if ckpt_dir is not None:
        _save_checkpoint(ckpt_dir / CHECKPOINT_NAME, model, net, ema, opt, step, history)
    model.training_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    model.network = ema.cpu()
    val = history[-1]["validation_loss"] if history else float("nan")
    t = data.times
    model.summary = {
        "steps": step,
        "epochs": step / per_epoch,
        "train_times": n_train,
        "validation_times": n_total - n_train,
        "train_period": [str(t[0]), str(t[n_train - 1])],
        "train_loss": loss_value,
        "validation_loss": val,
        "history": history,
        "wall_seconds": _time.monotonic() - start_time,
        "device": str(device),
        "stopped_early": stopped_early,
    }
    return model


def _validation_loss(
    ema: UNet, model: DownscalingModel, blocks: _Blocks, cfg: TrainConfig, device: torch.device
) -> float:
    if not blocks.blocks:
        return float("nan")
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    total, count = 0.0, 0
    with torch.no_grad():
        for b in range(len(blocks.blocks)):
            cond_b, tgt_b, cal_b = blocks.load(b)
            for i in range(0, cond_b.shape[0], cfg.batch_size):
                cond = cond_b[i : i + cfg.batch_size].to(device)
                tgt = tgt_b[i : i + cfg.batch_size].to(device)
                cal = cal_b[i : i + cfg.batch_size].to(device)

                def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                    return ema(x, t, cond, cal if cfg.calendar else None).float()  # noqa: B023

                loss, _ = diffusion_loss(fn, tgt, model.schedule, prediction=model.prediction,
                                         generator=gen)  # fmt: skip
                total += float(loss) * cond.shape[0]
                count += cond.shape[0]
    return total / max(1, count)


def _save_checkpoint(
    path: Path,
    model: DownscalingModel,
    net: UNet,
    ema: UNet,
    opt: torch.optim.Optimizer,
    step: int,
    history: list[dict[str, float]],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "network": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "ema": {k: v.detach().cpu() for k, v in ema.state_dict().items()},
        "optimizer": opt.state_dict(),
        "history": history,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a killed run never leaves half a checkpoint


def _load_checkpoint(
    path: Path, net: UNet, ema: UNet, opt: torch.optim.Optimizer, device: torch.device
) -> tuple[int, list[dict[str, float]]]:
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint to resume from at {str(path)!r}")
    state = torch.load(path, map_location=device, weights_only=True)
    try:
        net.load_state_dict(state["network"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise ValueError(
            f"checkpoint {str(path)!r} was written for a different network or inputs "
            f"({first}); resume with the same configuration, variables and static fields, "
            "or remove the checkpoint directory to start afresh"
        ) from err
    return int(state["step"]), list(state["history"])
