"""Training the regression mean (``TrainConfig(mean="regression")``, CorrDiff), cross-fitted.

Before the diffusion network, a deterministic U-Net learns, with MSE, the label's
departure from bicubic interpolation (normalised by its own scaler) from the
condition channels. The diffusion network then learns what is left: label −
(bicubic + regression). That residual must be the regression's error on times it
has *not* seen, or the diffusion model learns an error far smaller than the one it
meets after training (its ensembles collapse): with ``K`` folds
(``TrainConfig.mean_folds``, rule in :func:`~xdeepr.training.folds.resolve_folds`)
the training times are cut into ``K`` folds of contiguous blocks spread over the
period (:func:`~xdeepr.training.folds.time_folds`), the net of fold ``k`` is trained
on the other folds and predicts fold ``k``; the model keeps a final net
trained on all training times, which also predicts the validation times (none of
which it saw), and the fold nets: since the diffusion network learnt the residual the
fold nets left, an ensemble member takes its mean from one of them (member ``j``
from fold ``j mod K``, :func:`xdeepr.model.mean.member_residual_means`), so the
correction it samples fits the mean it is added to, and the fold nets' disagreement
is part of the spread. Every random draw of step ``j`` of a net is seeded by ``(seed, fold,
j)``, so a resumed run, which trains the mean again, gets the same mean. See
:mod:`xdeepr.model.mean` and :mod:`xdeepr.training.folds`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from .. import grid
from .._progress import progress_bar
from ..errors import TrainingError
from ..model import DownscalingModel
from ..model.mean import residual_mean
from ..nn import UNet
from ..scaling import Scaler
from .config import TrainConfig
from .data import _Blocks, _Data, _landmask, _stack
from .folds import (
    best_checkpoint,
    checkpoints,
    contiguous_runs,
    fold_blocks,
    resolve_folds,
    time_folds,
)

#: Added to ``TrainConfig.seed`` for the final net; fold ``k`` adds ``FOLD_SEED * (k + 1)``.
FINAL_SEED, FOLD_SEED = 1, 7919


def _train_net(
    data: _Data,
    indices: np.ndarray,
    n_labels: int,
    cfg: TrainConfig,
    total: int,
    seed: int,
    device: torch.device,
    stop: int | None = None,
    keep: Sequence[int] = (),
) -> tuple[UNet, float, dict[int, UNet]]:
    """A regression U-Net (its EMA weights, on the CPU) trained on the times `indices`.

    The learning-rate schedule runs over `total` steps; training ends after `stop`
    steps (default `total`), so a net stopped at step ``s`` is the one a longer run
    passed through. Also returned: copies of the EMA weights after each step count in
    `keep`.
    """
    from .loop import _lr_factor, _optimizer_step

    torch.manual_seed(seed)
    net = UNet(
        image_channels=n_labels,
        n_channels=cfg.n_channels,
        channel_multipliers=cfg.channel_multipliers,
        is_attention=cfg.is_attention,
        n_blocks=cfg.n_blocks,
        conditioned_on_input=data.condition.sizes["channel"],
        dropout=cfg.dropout,
        calendar=cfg.calendar,
    ).to(device)
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    blocks = _Blocks(data, indices, cfg.block_size)
    blocks.blocks = contiguous_runs(indices, cfg.block_size)  # never across a held-out fold
    end = total if stop is None else min(stop, total)
    snapshots: dict[int, UNet] = {}
    step, epoch, loss = 0, 0, torch.tensor(float("nan"))
    while step < end:
        for block, positions in blocks.batches(epoch, seed, cfg.batch_size):
            if step >= end:
                break
            cond_b, tgt_b, cal_b = blocks.load(block)
            pos = torch.from_numpy(np.sort(positions))
            cond, tgt = cond_b[pos].to(device), tgt_b[pos].to(device)
            cal = cal_b[pos].to(device) if cfg.calendar else None
            torch.manual_seed(seed * 1_000_003 + step)  # dropout
            for g in opt.param_groups:
                g["lr"] = cfg.learning_rate * _lr_factor(step, cfg.warmup_steps, total)
            net.train()
            pred = net(torch.zeros_like(tgt), torch.zeros(tgt.shape[0], device=device), cond, cal)
            loss = torch.mean((pred.float() - tgt) ** 2)  # MSE: the conditional mean
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the regression mean's loss became {loss.item()} at step {step}; lower "
                    "learning_rate or check the input data"
                )
            _optimizer_step(loss, net, opt, ema, cfg, step)
            step += 1
            if step in keep:
                snapshots[step] = copy.deepcopy(ema).cpu()
        epoch += 1
    return ema.cpu(), float(loss.detach()), snapshots


def _predict(
    model: DownscalingModel,
    net: UNet,
    data: _Data,
    indices: np.ndarray,
    calendar: np.ndarray,
    block_size: int,
) -> xr.Dataset:
    """`net`'s departure from bicubic at the times `indices`, in the labels' units."""
    view = copy.copy(model)
    view.regression = net
    parts = []
    blocks = _Blocks(data, indices, block_size)
    blocks.blocks = contiguous_runs(indices, block_size)
    for b, idx in enumerate(blocks.blocks):
        cond_b, _, _ = blocks.load(b)
        cond_da = data.condition.isel(time=slice(int(idx[0]), int(idx[-1]) + 1))
        parts.append(residual_mean(view, cond_da.copy(data=cond_b.numpy()), calendar[idx]))
    return xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]


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
        Receives ``regression`` (the final net's EMA weights, on the CPU),
        ``regression_folds`` (the fold nets', or None) and ``mean_scaler``;
        ``model.summary["regression_mean"]`` records the folds.
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
        Steps of each net when ``cfg.mean_steps`` is None (the diffusion's).
    device : torch.device

    Returns
    -------
    xarray.Dataset
        ``residual`` minus the regression's prediction: out-of-fold at the training
        times (cross-fitted), the final net's at the validation times. The
        diffusion target.

    Examples
    --------
    >>> left = fit_regression_mean(spec, cond, cal, residual, None, cfg, 160, 600,
    ...                            torch.device("cpu"))  # doctest: +SKIP
    """
    labels = model.labels
    scaler = Scaler.fit(  # normalisation statistics only: not a prediction
        residual.isel(time=slice(0, n_train)),
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
    model.mean_scaler = scaler
    n_all = condition.sizes["time"]
    total = cfg.mean_steps or total_steps
    k = resolve_folds(cfg.mean_folds, n_train)
    folds = time_folds(n_train, k) if k > 1 else []
    steps = checkpoints(total) if folds else [total]
    bar = progress_bar(
        total=len(folds) + 1, disable=not cfg.progress, desc="regression mean", unit="net"
    )
    with bar:
        # fold nets first: their out-of-fold error at each checkpoint picks the steps
        sse = np.zeros(len(steps))  # out-of-fold squared error at each checkpoint
        var = {v: float(residual[v].isel(time=slice(0, n_train)).var()) or 1.0 for v in labels}
        fold_nets: list[dict[int, UNet]] = []
        for f, held in enumerate(folds):
            fit_on = np.setdiff1d(np.arange(n_train), held)
            seed = cfg.seed + FOLD_SEED * (f + 1)
            _, _, snaps = _train_net(
                data, fit_on, len(labels), cfg, total, seed, device, keep=steps
            )
            for i, s in enumerate(steps):
                pred = _predict(model, snaps[s], data, held, calendar, cfg.block_size)
                sse[i] += _squared_error(residual, held, pred, var)
            fold_nets.append(snaps)
            bar.update(1)
        errors = [float(e) / max(1, n_train) for e in sse]
        chosen = best_checkpoint(steps, errors) if folds else total
        final, loss, _ = _train_net(
            data,
            np.arange(n_train),
            len(labels),
            cfg,
            total,
            cfg.seed + FINAL_SEED,
            device,
            stop=chosen,
        )
        bar.update(1)
    model.regression = final
    model.regression_folds = [n[chosen] for n in fold_nets] or None  # members' means
    parts = [  # out-of-fold predictions of the training times
        _predict(model, n, data, held, calendar, cfg.block_size)
        for n, held in zip(model.regression_folds or [], folds, strict=True)
    ]
    rest = np.arange(n_train if folds else 0, n_all)  # validation (all times: no folds)
    if rest.size:
        parts.append(_predict(model, final, data, rest, calendar, cfg.block_size))
    mean = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    if folds:  # the folds interleave: back into time order before the positional subtraction
        order = np.concatenate([*folds, rest])
        mean = mean.isel(time=np.argsort(order, kind="stable"))
    model.summary["regression_mean"] = {
        "steps": chosen,
        "max_steps": total,
        "checkpoints": steps if folds else [],
        "oof_mse": errors if folds else [],
        "final_mse": loss,
        "folds": k,
        "fold_bounds": [fold_blocks(f) for f in folds],
        "rule": (
            f"cross-fitted: {k} folds of contiguous blocks of the {n_train} training "
            "times, each predicted by a net trained on the others; the nets' steps are "
            "those of the checkpoint with the least out-of-fold error; member j of an "
            "ensemble takes its mean from fold j mod K; the kept net, trained on all, "
            "is the deterministic mean"
            if folds
            else "in-sample: the net trained on all training times predicts them"
        ),
    }
    left = xr.Dataset(
        {v: residual[v] - mean[v].transpose(*residual[v].dims).values for v in labels}
    )
    for v in labels:
        left[v].attrs = dict(residual[v].attrs)
    return left


def _squared_error(
    residual: xr.Dataset, held: np.ndarray, pred: xr.Dataset, var: dict[str, float]
) -> float:
    """Squared error of `pred` at the times `held`, each label's in its variance `var`.

    Summed over times, averaged over points and labels (NaN points left out).
    """
    out = 0.0
    for v, scale in var.items():
        truth = residual[v]
        diff = truth.isel(time=held) - pred[v].transpose(*truth.dims).values
        out += float((diff**2).sum()) / scale / (truth[0].size * len(var))
    return out
