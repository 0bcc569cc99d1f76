"""Downscaling: per-chunk sampling, batching and seeding; xr.map_blocks over dask chunks.

The noise of each (time, member) sample is drawn from its own generator, seeded
by ``seed``, the time stamp and the member index only; so an ensemble does not
depend on chunking, batch size, scheduler or worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr

from . import __version__, grid, tiling
from .diffusion import SAMPLERS, num_model_evals
from .fastpath import FastPath, batch_from_memory, free_device_memory
from .model import DownscalingModel, calendar_features

MEMBER = "member"
_MODEL_DIM = "xdeepr_model_bytes"
_IN_LAT, _IN_LON = "xdeepr_in_lat", "xdeepr_in_lon"
#: Models decoded in this process, by identity: each worker loads a model once.
_MODELS: dict[tuple[str, str], DownscalingModel] = {}
#: Model bytes scattered to a distributed cluster, by (client id, model identity).
_SCATTERED: dict[tuple[str, str], Any] = {}


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
    elif hasattr(time, "isoformat") and hasattr(time, "calendar"):
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
    fast: FastPath,
    tile: int | tuple[int, int] | None,
    overlap: int,
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
    # the sampler's own state per sample: x, x̂0, the previous x̂0, noise, the condition
    state = (4 * len(model.labels) + cond.shape[1]) * pixels * 4
    key = (model.identity, tuple(cond.shape[1:]), str(device), fast, tile, overlap)
    if key not in _SAMPLE_BYTES:
        net = model.network.eval()
        probe = dataclasses.replace(fast, compile=False)
        denoise = tiling.tiled(probe.denoiser(net, device), tile, overlap, net.size_multiple)
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


def _device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _model_bytes(model: DownscalingModel) -> bytes:
    buf = io.BytesIO()
    torch.save(model.to_dict(), buf)
    return buf.getvalue()


def _model_from_bytes(data: np.ndarray, identity: str, device: torch.device) -> DownscalingModel:
    key = (identity, str(device))
    if key not in _MODELS:
        d = torch.load(io.BytesIO(data.tobytes()), map_location="cpu", weights_only=True)
        _MODELS[key] = DownscalingModel.from_dict(d).to(device)
    return _MODELS[key]


def _check_finite(cond: np.ndarray, times: np.ndarray) -> None:
    bad = ~np.isfinite(cond).all(axis=(1, 2, 3))
    if bad.any():
        stamps = [str(t) for t in times[bad][:10]]
        more = f" and {int(bad.sum()) - 10} more" if bad.sum() > 10 else ""
        raise ValueError(
            f"the input has NaN or Inf at time(s) {stamps}{more}; fill them first or pass "
            "fill='mean' (spatial mean of each field) or a number"
        )


def sample_block(
    ds: xr.Dataset,
    model: DownscalingModel,
    *,
    members: int,
    sampler: str,
    steps: int | None,
    seed: int,
    batch_size: int | None,
    device: torch.device,
    target: xr.Dataset | None,
    progress: Callable[[int], Any] | None = None,
    tile: int | tuple[int, int] | None = None,
    overlap: int = 16,
    fast_path: FastPath | dict[str, Any] | None = None,
) -> xr.Dataset:
    """Downscale the time steps of `ds` (numpy-backed) into a (member, time, lat, lon) Dataset.

    `ds` is :meth:`DownscalingModel.coarse_features` output (validated and cropped).

    Crops, normalises and pads through :meth:`DownscalingModel.condition`, samples
    in batches of (time, member) pairs, then unpads and denormalises. On CUDA
    (``pin_memory``), each batch's conditions go to the device from page-locked
    memory asynchronously and its samples come back the same way, landing in the
    output only once the next batch is queued: the host never waits for the device
    between batches. Only one block samples on a device at a time (a lock per device),
    so concurrent dask tasks prepare their conditions while another samples, and the
    batch size planned from the free memory is not planned twice.
    """
    cond_da = model.condition(ds, target, validated=True)  # (T, C, Hp, Wp)
    cond = np.asarray(cond_da.values, dtype="float32")
    times = np.asarray(ds["time"].values)
    _check_finite(cond, times)
    fast = FastPath.coerce(fast_path).resolve(device)
    cal: torch.Tensor | None = torch.from_numpy(calendar_features(ds["time"]))
    if not model.network.config.get("calendar", True):
        cal = None
    lat, lon = grid.find_latlon(cond_da)
    n_t, (hp, wp) = cond.shape[0], cond.shape[2:]
    nvar = len(model.labels)
    # (time, member) pairs in time-major order: pair k is row k of `out` (flattened)
    n_pairs = n_t * members
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
        bs = batch_size or _auto_batch(model, cond_t, cal, device, fast, tile, overlap)
        start = 0
        while start < n_pairs:
            stop = min(start + bs, n_pairs)
            t0, t1 = start // members, (stop - 1) // members + 1  # the times this batch needs
            # the batch's conditions: its times' rows go over once (pinned, asynchronous),
            # then are repeated per member on the device, without a host round trip
            rows = torch.arange(start, stop, device=device) // members - t0
            c_dev = fast.to_device(cond_t[t0:t1], device)[rows]
            k_dev = None if cal is None else fast.to_device(cal[t0:t1], device)[rows]
            gens = [
                torch.Generator(device=device).manual_seed(
                    sample_seed(seed, times[k // members], k % members)
                )
                for k in range(start, stop)
            ]
            step_done = None if progress is None else _Progress(progress, stop - start)
            oom = False
            try:
                x = model.sample(
                    c_dev, k_dev, sampler=sampler, steps=steps, generators=gens,
                    progress=step_done, tile=tile, overlap=overlap, fast_path=fast,
                )  # fmt: skip
            except Exception as err:  # re-raised below unless it is (or wraps) an OOM
                if bs == 1 or not _out_of_memory(err):
                    raise
                oom = True
            if oom:  # outside the handler, so the failed attempt's tensors can be freed
                del c_dev, k_dev
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
    out = out.reshape(n_t, members, nvar, hp, wp)
    coords = {
        "time": ds["time"],
        MEMBER: np.arange(members),
        "variable": model.labels,
        lat: cond_da[lat],
        lon: cond_da[lon],
    }
    arr = xr.DataArray(out, dims=("time", MEMBER, "variable", lat, lon), coords=coords)
    arr = grid.unpad(arr).transpose(MEMBER, "time", "variable", lat, lon)
    res = model.label_scaler.denormalize(arr.to_dataset("variable"))
    if model.learn_residuals:
        base = model.baseline(ds, target, validated=True)
        res = xr.Dataset({v: res[v] + base[v] for v in model.labels})
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    res = res.assign_coords({lat: tgt[lat].variable, lon: tgt[lon].variable})
    return xr.Dataset(
        {v: res[v].transpose(MEMBER, "time", lat, lon).astype("float32") for v in model.labels}
    )


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


def _block_fn(
    ds: xr.Dataset,
    model_bytes: xr.DataArray,
    *,
    identity: str,
    lat: str,
    lon: str,
    target: xr.Dataset | None,
    options: dict[str, Any],
) -> xr.Dataset:
    options = dict(options)
    device = _device(options.pop("device"))
    model = _model_from_bytes(np.asarray(model_bytes.values), identity, device)
    ds = ds.rename({_IN_LAT: lat, _IN_LON: lon})
    return sample_block(ds, model, target=target, device=device, **options)


def _fill(ds: xr.Dataset, fill: str | float | None) -> xr.Dataset:
    if fill is None:
        return ds
    if fill == "mean":
        lat, lon = grid.find_latlon(ds)
        return ds.fillna(ds.mean([lat, lon]))
    if isinstance(fill, (int, float)):
        return ds.fillna(float(fill))
    raise ValueError(f"fill must be None, 'mean' or a number, got {fill!r}")


def downscale(
    ds: xr.Dataset,
    model: DownscalingModel,
    members: int = 20,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    target: xr.Dataset | None = None,
    fill: str | float | None = None,
    progress: bool = True,
    tile: int | tuple[int, int] | None = None,
    overlap: int = 16,
    fast_path: FastPath | dict[str, Any] | None = None,
) -> xr.Dataset:
    """Downscale coarse `ds` with `model` into an ensemble; see ``Dataset.deepr.downscale``."""
    if not isinstance(model, DownscalingModel):
        raise TypeError(
            f"model must be a DownscalingModel (xdeepr.train or xdeepr.load_model), got "
            f"{type(model).__name__}"
        )
    if int(members) < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    sampler = sampler or model.default_sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    if tile is not None:
        tiling.check_tile(tile, overlap, model.network.size_multiple)
    dev = _device(device)
    ds, time_name = grid.standard_time(ds)
    if target is not None:
        # Validated and normalised once, here; blocks receive this small numpy Dataset.
        target = model.static_channels(target).compute()
    coarse = _fill(model.coarse_features(ds, target), fill)  # validates before anything runs
    out_grid = model.label_grid if target is None else grid.finest_grid(target)
    olat, olon = grid.find_latlon(out_grid)
    attrs = _provenance(model, sampler, steps, seed, members, ds.attrs)
    if tile is not None:
        attrs["xdeepr_tile"] = str(tile)
        attrs["xdeepr_tile_overlap"] = int(overlap)
    options: dict[str, Any] = {
        "members": int(members),
        "sampler": sampler,
        "steps": steps,
        "seed": int(seed),
        "batch_size": batch_size,
        "tile": tile,
        "overlap": overlap,
        "fast_path": FastPath.coerce(fast_path),
    }
    if coarse.chunks and any(v.chunks for v in coarse.data_vars.values()):
        res = _lazy(coarse, model, out_grid, target, options, device)
    else:
        from tqdm.auto import tqdm

        n_t = coarse.sizes["time"]
        total = n_t * int(members) * num_model_evals(sampler, steps, model.schedule)
        model.to(dev)
        with tqdm(total=total, disable=not progress, desc="downscaling", unit="eval") as bar:
            res = sample_block(coarse, model, device=dev, target=target, progress=bar.update,
                               **options)  # fmt: skip
    for v in model.labels:
        res[v].attrs = _cf_attrs(model.label_attrs.get(v, {}))
    res[MEMBER].attrs = {"long_name": "ensemble member"}
    res["time"].attrs = dict(ds["time"].attrs)
    res[olat].attrs = dict(out_grid[olat].attrs)
    res[olon].attrs = dict(out_grid[olon].attrs)
    res.attrs = attrs
    return res if time_name == "time" else res.rename({"time": time_name})


def _lazy(
    coarse: xr.Dataset,
    model: DownscalingModel,
    out_grid: xr.Dataset,
    target: xr.Dataset | None,
    options: dict[str, Any],
    device: str | torch.device | None,
) -> xr.Dataset:
    import dask.array as dsa

    lat, lon = grid.find_latlon(coarse)
    olat, olon = grid.find_latlon(out_grid)
    coarse = coarse.chunk({lat: -1, lon: -1}).rename({lat: _IN_LAT, lon: _IN_LON})
    tchunks = coarse.chunks["time"]
    members = options["members"]
    model_arr = xr.DataArray(_model_array(model), dims=_MODEL_DIM)
    shape = (members, coarse.sizes["time"], out_grid.sizes[olat], out_grid.sizes[olon])
    chunks = ((members,), tchunks, (shape[2],), (shape[3],))
    template = xr.Dataset(
        {
            v: ((MEMBER, "time", olat, olon), dsa.zeros(shape, chunks=chunks, dtype="float32"))
            for v in model.labels
        },
        coords={
            MEMBER: np.arange(members),
            "time": coarse["time"],
            olat: out_grid[olat].variable,
            olon: out_grid[olon].variable,
        },
    )
    return xr.map_blocks(
        _block_fn,
        coarse,
        args=[model_arr],
        kwargs={
            "identity": model.identity,
            "lat": lat,
            "lon": lon,
            "target": target,
            "options": {**options, "device": None if device is None else str(device)},
        },
        template=template,
    )


def _model_array(model: DownscalingModel) -> Any:
    """The model file's bytes as a one-chunk dask array: it enters the graph once.

    With a ``dask.distributed`` client active, the bytes are scattered to the workers
    once per client and the graph only refers to them, so computing many pieces of
    the result (block by block, say) never re-sends the model.
    """
    import dask
    import dask.array as dsa

    raw = np.frombuffer(_model_bytes(model), dtype="uint8")
    name = f"xdeepr-model-{model.identity}"
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return dsa.from_array(raw, chunks=-1, name=name)
    key = (str(client.id), model.identity)
    future = _SCATTERED.get(key)
    if future is None or future.status != "finished":
        future = client.scatter(raw, broadcast=True)
        _SCATTERED[key] = future
    return dsa.from_delayed(dask.delayed(future), shape=raw.shape, dtype=raw.dtype, name=name)


def _cf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    keep = ("standard_name", "units", "long_name", "cell_methods", "grid_mapping")
    return {k: attrs[k] for k in keep if k in attrs}


def _provenance(
    model: DownscalingModel,
    sampler: str,
    steps: int | None,
    seed: int,
    members: int,
    input_attrs: dict[str, Any],
) -> dict[str, Any]:
    n_steps = num_model_evals(sampler, steps, model.schedule)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = (
        f"{now}: xdeepr {__version__} downscale(model={model.identity}, members={members}, "
        f"sampler={sampler}, steps={n_steps}, seed={seed})"
    )
    previous = str(input_attrs.get("history", "")).strip()
    return {
        "title": "xdeepr downscaled ensemble",
        "Conventions": "CF-1.8",
        "source": f"xdeepr {__version__} conditional diffusion downscaling",
        "xdeepr_version": __version__,
        "xdeepr_model": model.identity,
        "xdeepr_sampler": sampler,
        "xdeepr_steps": n_steps,
        "xdeepr_seed": int(seed),
        "xdeepr_members": int(members),
        "history": f"{line}\n{previous}" if previous else line,
    }
