"""Training the regression mean (``TrainConfig(mean="regression")``, CorrDiff).

Before the diffusion network, a deterministic U-Net learns, with MSE, the label's
departure from bicubic interpolation (normalised by its own scaler) from the
condition channels; its EMA weights predict that departure at every paired time,
and the diffusion network then learns what is left: label − (bicubic + regression).
Every random draw of step ``k`` is seeded by ``(seed, k)``, so a resumed run, which
trains the mean again, gets the same mean. See :mod:`xdeepr.model.mean`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import xarray as xr

from .. import grid
from ..errors import TrainingError
from ..model import DownscalingModel
from ..model.mean import residual_mean
from ..nn import UNet
from ..scaling import Scaler
from .config import TrainConfig
from .data import _Blocks, _Data, _landmask, _stack


def fit_regression_mean(
    model: DownscalingModel,
    condition: xr.DataArray,
    calendar: np.ndarray,
    residual: xr.Dataset,
    static: xr.Dataset | None,
    cfg: TrainConfig,
    n_train: int,
    total_steps: int,
    device: torch.device,
) -> xr.Dataset:
    """Train ``model.regression`` (and fit ``model.mean_scaler``); the residual left over.

    Parameters
    ----------
    model : DownscalingModel
        Receives ``regression`` (EMA weights, on the CPU) and ``mean_scaler``.
    condition : xarray.DataArray
        ``(time, channel, lat, lon)`` condition channels, padded (lazy or not).
    calendar : numpy.ndarray
        ``(time, 2)`` calendar features.
    residual : xarray.Dataset
        Label − bicubic in the label's units, ``(time, lat, lon)`` per label.
    static : xarray.Dataset, optional
        For a land-sea mask of ``landmask-wise`` scaling.
    cfg : TrainConfig
    n_train : int
        The first `n_train` times are the training split.
    total_steps : int
        Steps when ``cfg.mean_steps`` is None (the diffusion's).
    device : torch.device

    Returns
    -------
    xarray.Dataset
        ``residual`` minus the regression network's prediction: the diffusion target.
    """
    from .loop import _lr_factor, _optimizer_step

    labels = model.labels
    train_sl = slice(0, n_train)
    scaler = Scaler.fit(
        residual.isel(time=train_sl),
        method=cfg.label_scaling,
        by_month=cfg.scale_by_month,
        landmask=_landmask(static, residual),
        variables=labels,
    )
    target = grid.pad(
        _stack(scaler.normalize(residual), labels), levels=model.levels, mode="reflect"
    )
    data = _Data(
        condition=condition,
        target=target,
        calendar=calendar,
        times=np.asarray(residual["time"].values),
    )
    torch.manual_seed(cfg.seed + 1)
    net = UNet(
        image_channels=len(labels),
        n_channels=cfg.n_channels,
        channel_multipliers=cfg.channel_multipliers,
        is_attention=cfg.is_attention,
        n_blocks=cfg.n_blocks,
        conditioned_on_input=condition.sizes["channel"],
        dropout=cfg.dropout,
        calendar=cfg.calendar,
    ).to(device)
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    blocks = _Blocks(data, np.arange(n_train), cfg.block_size)
    total = cfg.mean_steps or total_steps
    step, epoch = 0, 0
    while step < total:
        for block, positions in blocks.batches(epoch, cfg.seed + 1, cfg.batch_size):
            if step >= total:
                break
            cond_b, tgt_b, cal_b = blocks.load(block)
            pos = torch.from_numpy(np.sort(positions))
            cond, tgt = cond_b[pos].to(device), tgt_b[pos].to(device)
            cal = cal_b[pos].to(device) if cfg.calendar else None
            torch.manual_seed(cfg.seed * 1_000_003 + step + 1)  # dropout
            for g in opt.param_groups:
                g["lr"] = cfg.learning_rate * _lr_factor(step, cfg.warmup_steps, total)
            net.train()
            zeros = torch.zeros_like(tgt)
            pred = net(zeros, torch.zeros(tgt.shape[0], device=device), cond, cal)
            loss = torch.mean((pred.float() - tgt) ** 2)  # MSE: the conditional mean
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the regression mean's loss became {loss.item()} at step {step}; lower "
                    "learning_rate or check the input data"
                )
            _optimizer_step(loss, net, opt, ema, cfg, step)
            step += 1
        epoch += 1
    model.regression = ema.cpu()
    model.mean_scaler = scaler
    model.summary["regression_mean"] = {"steps": step, "final_mse": float(loss.detach())}
    # the mean at every paired time, block by block (held in memory: time x label grid)
    parts = []
    everything = _Blocks(data, np.arange(condition.sizes["time"]), cfg.block_size)
    for b, idx in enumerate(everything.blocks):
        cond_b, _, _ = everything.load(b)
        cond_da = condition.isel(time=slice(int(idx[0]), int(idx[-1]) + 1))
        cond_da = cond_da.copy(data=cond_b.numpy())
        parts.append(residual_mean(model, cond_da, calendar[idx]))
    mean = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    left = xr.Dataset(
        {v: residual[v] - mean[v].transpose(*residual[v].dims).values for v in labels}
    )
    for v in labels:
        left[v].attrs = dict(residual[v].attrs)
    return left
