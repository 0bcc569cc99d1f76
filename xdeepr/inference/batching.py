"""Sampling one block: batches of (time, member) pairs, per-sample seeds, OOM halving, copies."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import grid, tiling, transforms
from .._util import is_cftime
from ..diffusion import StackedRandomGenerator
from ..errors import InputError
from ..fastpath import batch_from_memory, free_device_memory
from ..model import DownscalingModel, calendar_features
from ..options import SamplingOptions
from ..units import check_range

MEMBER = "member"


def sample_seed(seed: int, time: Any, member: int) -> int:
    """The 63-bit seed of sample (`time`, `member`): a hash of the three, nothing else.

    Examples
    --------
    >>> import numpy as np
    >>> sample_seed(0, np.datetime64("2020-01-01T06"), 3) == sample_seed(
    ...     0, np.datetime64("2020-01-01T06:00:00.000000000"), 3)
    True
    """
    stamp: str
    if isinstance(time, np.datetime64):
        stamp = str(np.datetime_as_string(time.astype("datetime64[ns]"), unit="ns"))
    elif is_cftime(np.asarray([time], dtype=object)):
        stamp = f"{time.isoformat()}|{time.calendar}"
    else:
        stamp = str(time)
    digest = hashlib.blake2b(f"{int(seed)}|{stamp}|{int(member)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") & (2**63 - 1)


#: Measured working memory of one sample's network evaluation, by model, shape and path.
_SAMPLE_BYTES: dict[tuple[Any, ...], float] = {}
#: One lock per CUDA device: blocks sample on a device one at a time.
_DEVICE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


@contextlib.contextmanager
def _device_lock(device: torch.device) -> Iterator[None]:
    """Hold `device` for one block's sampling (CUDA only; CPUs are shared by threads)."""
    if device.type != "cuda":
        yield
        return
    with _LOCKS_LOCK:
        lock = _DEVICE_LOCKS.setdefault(str(device), threading.Lock())
    with lock:
        yield


def _auto_batch(
    model: DownscalingModel,
    cond: torch.Tensor,
    cal: torch.Tensor | None,
    device: torch.device,
    opts: SamplingOptions,
) -> int:
    """Samples per batch: from free device memory on CUDA, from the field size elsewhere.

    On CUDA, one network evaluation of one sample is run once per (model, shape,
    fast path, tiling) to measure its peak working memory (eager, in eval mode: a
    compiled network needs no more); the batch is then what fits in 70 % of the free
    memory, counting what torch's allocator holds in reserve. Call with the device's
    lock held (:func:`_device_lock`), so no other block's allocations blur the peak.
    """
    pixels = int(cond.shape[-2] * cond.shape[-1])
    if device.type != "cuda":
        return max(1, min(32, (1 << 18) // pixels))
    fast = opts.fast_path  # settled for `device` (SamplingOptions.on_device)
    assert fast is not None
    # the sampler's own state per sample: x, x̂0, the previous x̂0, noise, the condition
    state = (4 * len(model.labels) + cond.shape[1]) * pixels * 4
    key = (model.identity, tuple(cond.shape[1:]), str(device), fast, opts.tile, opts.overlap)
    if key not in _SAMPLE_BYTES:
        net = model.network.eval()
        probe = dataclasses.replace(fast, compile=False)
        denoise = tiling.tiled(
            probe.denoiser(net, device), opts.tile, opts.overlap, net.size_multiple
        )
        x = torch.zeros((1, len(model.labels), *cond.shape[-2:]), device=device)
        t = torch.full((1,), float(model.schedule.num_steps - 1), device=device)
        c1 = cond[:1].to(device)
        k1 = None if cal is None else cal[:1].to(device)
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.no_grad():
            denoise(x, t, c1, k1)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        _SAMPLE_BYTES[key] = max(peak, 0) + state
        del x, t, c1, k1
    free = free_device_memory(device) or 0
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return batch_from_memory(free, _SAMPLE_BYTES[key])


def _check_finite(ds: xr.Dataset) -> None:
    """Refuse NaN or Inf in a block's coarse input, naming the variable, the kind and times."""
    times = np.asarray(ds["time"].values)
    for name, da in ds.data_vars.items():
        values = np.asarray(da.transpose("time", ...).values)  # (T, ...)
        nan = np.isnan(values).reshape(len(times), -1).any(axis=1)
        inf = np.isinf(values).reshape(len(times), -1).any(axis=1)
        bad = nan | inf
        if not bad.any():
            continue
        kind = " and ".join(k for k, m in (("NaN", nan), ("Inf", inf)) if m.any())
        stamps = [str(t) for t in times[bad][:10]]
        more = f" and {int(bad.sum()) - 10} more" if bad.sum() > 10 else ""
        raise InputError(
            f"{str(name)!r} has {kind} at time(s) {stamps}{more}; fill them first or pass "
            "fill='mean' (spatial mean of each field) or a number"
        )


def sample_block(
    ds: xr.Dataset,
    model: DownscalingModel,
    options: SamplingOptions,
    *,
    device: torch.device,
    target: xr.Dataset | None = None,
    members: range | None = None,
    progress: Callable[[int], Any] | None = None,
    observations: xr.Dataset | None = None,
) -> xr.Dataset:
    """Downscale the time steps of `ds` (numpy-backed) into a (member, time, lat, lon) Dataset.

    `ds` is :meth:`DownscalingModel.coarse_features` output (validated and cropped)
    and `options` resolved against `model` and settled on `device`
    (``SamplingOptions.resolve(model).on_device(device)``), used as they are;
    `members` is the range of member indices to draw (default: all
    ``options.members``), so a lazy ensemble can be chunked over members.

    Crops, normalises and pads through :meth:`DownscalingModel.condition`, samples
    in batches of (time, member) pairs, then unpads and denormalises; the result is in
    each label's learnt space (:mod:`xdeepr.transforms`: ``log1p`` precipitation), which
    :func:`~xdeepr.inference.downscale` turns back after the calibration. On CUDA
    (``pin_memory``), each batch's conditions go to the device from page-locked
    memory asynchronously and its samples come back the same way, landing in the
    output only once the next batch is queued: the host never waits for the device
    between batches. Only one block samples on a device at a time (a lock per device),
    so concurrent dask tasks prepare their conditions while another samples, and the
    batch size planned from the free memory is not planned twice. `observations`
    (checked and matched to `ds`' times, :func:`xdeepr.observations.for_downscaling`)
    become condition channels of a model trained with them and guide the sampling
    when ``options.guidance > 0``.
    """
    options.check_resolved("sample_block", device=True)
    member_ids = range(options.members) if members is None else members
    n_m = len(member_ids)
    _check_finite(ds)
    ds = transforms.forward(ds, model.transforms)  # the features as trained (tp: log1p)
    check_range(ds, model.feature_stats(), what="input")  # e.g. °C given as K, raw counts
    cond_da = model.condition(ds, target, validated=True)  # (T, C, Hp, Wp)
    cond = np.asarray(cond_da.values, dtype="float32")
    from ..observations import block_inputs

    extra, observed = block_inputs(model, ds, observations, target, options.guidance)
    if extra is not None:  # a model trained with observations: its last condition channels
        cond = np.concatenate([cond, extra], axis=1)
    obs_t = None if observed is None else torch.from_numpy(observed)  # (T, 2 n_labels, H, W)
    times = np.asarray(ds["time"].values)
    fast = options.fast_path
    assert fast is not None  # settled by on_device
    cal: torch.Tensor | None = torch.from_numpy(calendar_features(ds["time"]))  # (T, 2)
    if not model.network.config.get("calendar", True):
        cal = None
    lat, lon = grid.horizontal_dims(cond_da)
    n_t, (hp, wp) = cond.shape[0], cond.shape[2:]
    nvar = len(model.labels)
    # (time, member) pairs in time-major order: pair k is row k of `out` (flattened)
    n_pairs = n_t * n_m
    out = np.empty((n_pairs, nvar, hp, wp), dtype="float32")
    cond_t = torch.from_numpy(cond)
    pending: list[tuple[int, torch.Tensor, Any]] = []  # (first row, host copy, CUDA event)

    def land(keep: int) -> None:
        """Move finished device-to-host copies into `out`, leaving the newest `keep`."""
        while len(pending) > keep:
            row, host, event = pending.pop(0)
            if event is not None:
                event.synchronize()
            out[row : row + host.shape[0]] = host.numpy()

    with _device_lock(device):
        bs = options.batch_size or _auto_batch(model, cond_t, cal, device, options)
        start = 0
        while start < n_pairs:
            stop = min(start + bs, n_pairs)
            t0, t1 = start // n_m, (stop - 1) // n_m + 1  # the times this batch needs
            # the batch's conditions: its times' rows go over once (pinned, asynchronous),
            # then are repeated per member on the device, without a host round trip
            rows = torch.arange(start, stop, device=device) // n_m - t0
            c_dev = fast.to_device(cond_t[t0:t1], device)[rows]  # (b, C, Hp, Wp)
            k_dev = None if cal is None else fast.to_device(cal[t0:t1], device)[rows]
            o_dev = None if obs_t is None else fast.to_device(obs_t[t0:t1], device)[rows]
            noise = StackedRandomGenerator.from_seeds(
                [
                    sample_seed(options.seed, times[k // n_m], member_ids[k % n_m])
                    for k in range(start, stop)
                ],
                device=device,
            )
            step_done = None if progress is None else _Progress(progress, stop - start)
            oom = False
            try:
                x = model.sample(
                    c_dev, k_dev, options, noise=noise, progress=step_done, observed=o_dev
                )
            except Exception as err:  # re-raised below unless it is (or wraps) an OOM
                if bs == 1 or not _out_of_memory(err):
                    raise
                oom = True
            if oom:  # outside the handler, so the failed attempt's tensors can be freed
                del c_dev, k_dev, o_dev
                bs = max(1, bs // 2)  # halve and retry this batch
                if step_done is not None:
                    step_done.undo()
                torch.cuda.empty_cache()
                continue
            if fast.pin_memory:
                host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
                host.copy_(x, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                pending.append((start, host, event))
                land(keep=1)  # the previous batch's copy; this one lands while the next runs
            else:
                pending.append((start, x.cpu(), None))
                land(keep=0)
            start = stop
        land(keep=0)
    out = out.reshape(n_t, n_m, nvar, hp, wp)
    coords = {
        "time": ds["time"],
        MEMBER: np.asarray(member_ids),
        "variable": model.labels,
        lat: cond_da[lat],
        lon: cond_da[lon],
    }
    arr = xr.DataArray(out, dims=("time", MEMBER, "variable", lat, lon), coords=coords)
    arr = grid.unpad(arr).transpose(MEMBER, "time", "variable", lat, lon)
    res = model.label_scaler.denormalize(arr.to_dataset("variable"))
    if model.learn_residuals or model.mean in ("regression", "climatology"):
        base = model.baseline(ds, target, validated=True)
        if model.mean == "climatology" and model.climatology is not None:
            from ..model.climatology import add_climatology

            base = add_climatology(model.climatology, base)  # bicubic + month x hour residual
        res = xr.Dataset({v: res[v] + base[v] for v in model.labels})
        if model.regression is not None:  # CorrDiff: bicubic + regression + diffusion
            from ..model.mean import member_residual_means

            reg = member_residual_means(
                model, cond_da, None if cal is None else cal.numpy(), member_ids, MEMBER
            )
            res = xr.Dataset(
                {v: res[v] + reg[v].transpose(*res[v].dims).values for v in model.labels}
            )
    # still in the learnt space (precipitation: log1p): downscale() turns it back after
    # the spread calibration, which combines each time's members (api.py)
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    res = res.assign_coords(grid.grid_coords(tgt))  # projected: 2-D lat/lon, grid mapping
    return xr.Dataset(
        {v: res[v].transpose(MEMBER, "time", lat, lon).astype("float32") for v in model.labels}
    )


def regression_centre(
    ds: xr.Dataset, model: DownscalingModel, target: xr.Dataset | None = None
) -> xr.Dataset:
    """:func:`xdeepr.model.mean.regression_centre` of a block, under the device's lock.

    The recentring's centre, computed where blocks sample, so it never runs beside
    another block's sampling on the same device.

    Examples
    --------
    >>> centre = regression_centre(coarse, model)  # doctest: +SKIP
    """
    from ..model.mean import regression_centre as centre

    with _device_lock(next(model.network.parameters()).device):  # the nets move together
        return centre(ds, model, target)


def _out_of_memory(err: BaseException) -> bool:
    """Whether `err` is, or wraps, a CUDA out-of-memory error.

    ``torch.compile`` reports an OOM met while it compiles for a new batch size as a
    compiler error whose cause (or ``inner_exception``) is the OOM.
    """
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, torch.cuda.OutOfMemoryError):
            return True
        seen.add(id(cur))
        inner = getattr(cur, "inner_exception", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    return False


class _Progress:
    """Report `k` samples per sampler step to a progress callback."""

    def __init__(self, update: Callable[[int], Any], k: int) -> None:
        self.update, self.k, self.done = update, k, 0

    def __call__(self, n: int) -> None:
        self.done += self.k * n
        self.update(self.k * n)

    def undo(self) -> None:
        """Take back what a failed (retried) batch reported."""
        if self.done:
            self.update(-self.done)
            self.done = 0
