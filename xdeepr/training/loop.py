"""The optimisation loop of :func:`xdeepr.train`: steps, EMA, validation, checkpoints.

Every random draw of step ``k`` comes from a generator seeded by ``(seed, k)``, so a
run resumed from a checkpoint continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import math
import os
import time as _time
from pathlib import Path

import numpy as np
import torch

from .._progress import progress_bar
from .._torch import autocast
from .._util import atomic_path
from ..diffusion import diffusion_loss
from ..errors import ConfigError, TrainingError
from ..model import DownscalingModel
from ..nn import UNet
from .config import TrainConfig
from .data import _Blocks, _Data
from .distributed import Ranks, barrier, is_main
from .observations import drop_stations
from .prefetch import BlockCache, BlockFeeder, upcoming_blocks
from .validation import SkillValidation

CHECKPOINT_NAME = "checkpoint.xdeepr-ckpt"


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


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


def _optimise(
    model: DownscalingModel,
    data: _Data,
    cfg: TrainConfig,
    n_train: int,
    device: torch.device,
    resume: bool | str | os.PathLike[str],
    ranks: Ranks | None = None,
) -> DownscalingModel:
    ranks = ranks or Ranks()  # one process, or this rank of a torchrun (distributed.py)

    net = model.network.to(device)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    train_blocks = ranks.blocks(data, np.arange(n_train), cfg.block_size, train=True)
    n_total = data.condition.sizes["time"]
    val_blocks = ranks.blocks(data, np.arange(n_train, n_total), cfg.block_size, train=False)
    per_epoch = len(train_blocks.batches(0, cfg.seed, cfg.batch_size))
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    history: list[dict[str, float]] = []
    step = 0
    skill = SkillValidation(model, data, cfg, n_train, total, device)  # validation.py
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if resume:
        path = Path(resume) if not isinstance(resume, bool) else None
        if path is None:
            if ckpt_dir is None:
                raise ConfigError("resume=True needs checkpoint_dir= (or pass a checkpoint path)")
            path = ckpt_dir / CHECKPOINT_NAME
        step, history = _load_checkpoint(path, net, ema, opt, device, skill)
    # prefetch.py: the next block is prepared in a thread; prepared blocks kept in a budget
    cache = BlockCache(cfg.block_cache_mib)
    order = (
        upcoming_blocks(
            lambda e: train_blocks.batches(e, cfg.seed, cfg.batch_size), step, per_epoch, total
        )
        if cfg.prefetch
        else None
    )
    feed = BlockFeeder(train_blocks, order, cache)
    val_feed = BlockFeeder(val_blocks, None, cache, role="validation")
    fwd = ranks.wrap(net, device)  # DistributedDataParallel under torchrun
    multiple = 2 ** (model.levels - 1)
    use_bf16 = device.type == "cuda"
    start_time = _time.monotonic()
    bar = progress_bar(
        total=total,
        initial=step,
        disable=not (cfg.progress and ranks.is_main),
        desc="training",
        unit="step",
    )
    loss_value = float("nan")
    stopped_early = False
    epoch = step // per_epoch
    while step < total:
        plan = train_blocks.batches(epoch, cfg.seed, cfg.batch_size)
        skip = step - epoch * per_epoch  # steps of this epoch already done (on resume)
        for block, positions in plan[skip:]:
            if step >= total:
                break
            cond_b, tgt_b, cal_b = feed.load(block)
            pos = torch.from_numpy(np.sort(positions))
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            cond, tgt = _crop_patch([cond_b[pos], tgt_b[pos]], cfg.patch_size, multiple, gen)
            if model.observations:  # hide stations at random (training/observations.py)
                n_obs = len(model.observations["channels"])
                cond = drop_stations(cond, n_obs, cfg.observation_dropout, gen)
            cal = cal_b[pos]
            cond, tgt, cal = cond.to(device), tgt.to(device), cal.to(device)
            torch.manual_seed(ranks.seed(cfg.seed * 1_000_003 + step))  # dropout, per rank
            for g in opt.param_groups:
                g["lr"] = cfg.learning_rate * _lr_factor(step, cfg.warmup_steps, total)
            net.train()

            def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                with autocast(device, enabled=use_bf16):
                    out = fwd(x, t, cond, cal if cfg.calendar else None)  # noqa: B023
                return out.float()

            items = train_blocks.blocks[block][np.sort(positions)]  # time indices
            loss, _ = diffusion_loss(
                fn,
                tgt,
                model.schedule,
                prediction=model.prediction,
                generator=gen,
                **ranks.noise(cfg.seed, step, items, tgt, model.schedule.num_steps),
            )
            if not torch.isfinite(loss):
                idx = train_blocks.blocks[block][np.sort(positions)]
                stamps = [str(t) for t in data.times[idx]]
                raise TrainingError(
                    f"the loss became {loss.item()} at step {step} for the batch with time "
                    f"stamps {stamps}; non-finite values in: "
                    f"{_bad_tensor_report({'condition': cond, 'target': tgt})}. Check the "
                    "input data at those times, or lower learning_rate."
                )
            _optimizer_step(loss, net, opt, ema, cfg, step)
            step += 1
            loss_value = float(loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
            if step % per_epoch == 0 or step >= total:  # end of an epoch: validate first,
                val = _validation_loss(ema, model, val_feed, cfg, device, ranks)  # then checkpoint
                loss_value = ranks.mean(loss_value, 1, device)  # mean over ranks
                history.append(
                    {
                        "epoch": float(epoch),
                        "step": float(step),
                        "train_loss": loss_value,
                        "validation_loss": val,
                    }
                )
                bar.set_postfix(loss=f"{loss_value:.4f}", val=f"{val:.4f}")
            if skill.due(step):  # validation by skill: sample, score, keep the best
                history.append(skill.validate(ema, step))
                bar.set_postfix(loss=f"{loss_value:.4f}", **skill.postfix(history[-1]))
            if ckpt_dir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                _save_checkpoint(
                    ckpt_dir / CHECKPOINT_NAME, model, net, ema, opt, step, history, skill
                )
            if skill.stop:  # `patience` validations without a better pick
                stopped_early = True
                break
            if cfg.max_minutes is not None and ranks.any(
                _time.monotonic() - start_time > 60 * cfg.max_minutes, device
            ):
                stopped_early = True
                break
        if stopped_early:
            break
        epoch += 1
    bar.close()
    feed.close()
    if ckpt_dir is not None:
        _save_checkpoint(ckpt_dir / CHECKPOINT_NAME, model, net, ema, opt, step, history, skill)
    model.training_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    model.network = ema.cpu()
    val = next(
        (h["validation_loss"] for h in reversed(history) if "validation_loss" in h), float("nan")
    )
    t = data.times
    model.summary = {
        **model.summary,  # what the preparation recorded (e.g. the regression mean's folds)
        "steps": step,
        "epochs": step / per_epoch,
        "train_times": n_train,
        "validation_times": n_total - n_train,
        "train_period": [str(t[0]), str(t[n_train - 1])],
        "validation_period": [str(t[n_train]), str(t[-1])] if n_total > n_train else None,
        "train_loss": loss_value,
        "validation_loss": val,
        "history": history,
        "wall_seconds": _time.monotonic() - start_time,
        "device": str(device),
        "stopped_early": stopped_early,
        **ranks.summary(cfg.batch_size),  # world size, global batch, learning-rate rule
    }
    skill.finish(model, ema, step, _time.monotonic() - start_time)  # the selected weights
    return model


def _validation_loss(
    ema: UNet,
    model: DownscalingModel,
    blocks: _Blocks | BlockFeeder,
    cfg: TrainConfig,
    device: torch.device,
    ranks: Ranks | None = None,
) -> float:
    ranks = ranks or Ranks()  # distributed: this rank's share, then sums over ranks
    if not blocks.blocks and not ranks.distributed:
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

                items = blocks.blocks[b][i : i + cfg.batch_size]
                loss, _ = diffusion_loss(
                    fn,
                    tgt,
                    model.schedule,
                    prediction=model.prediction,
                    generator=gen,
                    **ranks.noise(cfg.seed + 7, -1, items, tgt, model.schedule.num_steps),
                )
                total += float(loss) * cond.shape[0]
                count += cond.shape[0]
    return ranks.mean(total, count, device)


def _save_checkpoint(
    path: Path,
    model: DownscalingModel,
    net: UNet,
    ema: UNet,
    opt: torch.optim.Optimizer,
    step: int,
    history: list[dict[str, float]],
    skill: SkillValidation | None = None,
) -> None:
    if not is_main():  # under torchrun rank 0 writes, the others wait for it
        return barrier()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "network": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "ema": {k: v.detach().cpu() for k, v in ema.state_dict().items()},
        "optimizer": opt.state_dict(),
        "history": history,
        "selection": None if skill is None else skill.state_dict(),
    }
    with atomic_path(path) as tmp:  # a killed run never leaves half a checkpoint
        torch.save(state, tmp)
    barrier()


def _load_checkpoint(
    path: Path,
    net: UNet,
    ema: UNet,
    opt: torch.optim.Optimizer,
    device: torch.device,
    skill: SkillValidation | None = None,
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
        raise TrainingError(
            f"checkpoint {str(path)!r} was written for a different network or inputs "
            f"({first}); resume with the same configuration, variables and static fields, "
            "or remove the checkpoint directory to start afresh"
        ) from err
    if skill is not None:
        skill.load_state_dict(state.get("selection"))
    return int(state["step"]), list(state["history"])


def _optimizer_step(
    loss: torch.Tensor,
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    ema: torch.nn.Module,
    cfg: TrainConfig,
    step: int,
) -> None:
    """One update: backward, gradient clipping, optimiser step, then the EMA of the weights.

    The EMA decay warms up as min(ema_decay, (1 + step) / (10 + step)); buffers are copied.
    """
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
