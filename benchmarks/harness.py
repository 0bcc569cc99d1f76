"""Shared pieces of the benchmark suites: context, tables, markers, models, timers.

Every suite is a function ``run(ctx) -> str`` returning a markdown section: a
heading, an environment line (device, versions, date, command) and tables.

Two environment variables shrink the real (not ``--quick``) runs' training, so the
test suite can run every training path from a clean cache in seconds:
``XDEEPR_BENCH_CACHE`` moves the model cache (default ``benchmarks/.cache``) and
``XDEEPR_BENCH_TRAIN_STEPS`` caps the steps of every training run (the cached
model's file name records its steps, so a shrunk model never stands in for the real
one). Numbers measured so are not for reading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import multiprocessing as mp
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

import xdeepr
from xdeepr.nn import UNet

CACHE = Path(__file__).resolve().parent / ".cache"
DEMO_STEPS = 600
#: The benchmark model's file at the full budget (see :func:`demo_model_path`).
DEMO_MODEL = CACHE / f"demo-{DEMO_STEPS}.xdeepr"
CACHE_ENV = "XDEEPR_BENCH_CACHE"
STEPS_ENV = "XDEEPR_BENCH_TRAIN_STEPS"
MEMBERS = 20

#: The demo-sized network, as in ``xdeepr demo`` (trained for 600 steps). It holds every
#: TrainConfig field, ``features`` and ``labels`` included, which ``train`` takes by
#: keyword because its data parameters are positional-only.
DEMO_TRAIN: dict[str, Any] = {
    **xdeepr.TrainConfig.small(steps=DEMO_STEPS).to_dict(),
    "progress": False,
}
#: A tiny network for --quick: exercises every code path in seconds.
QUICK_TRAIN: dict[str, Any] = {
    "n_channels": 8,
    "channel_multipliers": (1, 2),
    "is_attention": (False, True),
    "steps": 3,
    "batch_size": 4,
    "progress": False,
}
#: The DeepR seed's default U-Net (t2m + 4 static condition channels).
SEED_UNET: dict[str, Any] = {
    "image_channels": 1,
    "n_channels": 16,
    "channel_multipliers": (1, 2, 2, 4),
    "is_attention": (False, False, True, True),
    "n_blocks": 2,
    "conditioned_on_input": 5,
}
#: Dense bf16 tensor-core peak, FLOP/s, by device-name fragment (vendor data sheets).
BF16_PEAK = {
    "H100 SXM": 989e12,
    "H100 80GB HBM3": 989e12,
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "L40S": 362e12,
}
TRAIN_END = "2021-06-30"
TEST_START = "2021-07-01"


@dataclasses.dataclass
class Context:
    """What every suite needs: device, mode, fast-path switches, the command line."""

    device: torch.device
    quick: bool = False
    command: str = "python -m benchmarks"
    model_path: Path | None = None
    bf16: bool | None = None  # None: measure both (CUDA) / off (CPU)
    channels_last: bool | None = None
    compile: bool = False
    parity_steps: int = 1000
    jobs: int = 1  # training runs at once (calibration, ablation)
    _cache: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sample(self) -> tuple[Any, Any, Any]:
        """The embedded sample (features, labels, static), loaded once."""
        if "sample" not in self._cache:
            self._cache["sample"] = xdeepr.datasets.load_sample()
        return self._cache["sample"]

    def model(self) -> xdeepr.DownscalingModel:
        """The benchmark model: the cached demo model (trained once), tiny in --quick."""
        if "model" not in self._cache:
            f, l, s = self.sample()
            if self.quick and self.model_path is None:
                sl = slice(0, 32)
                m = xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, **QUICK_TRAIN)
            else:
                m = demo_model(self.model_path, (f, l, s))
            self._cache["model"] = m.to(self.device)
        return self._cache["model"]

    def held_out(self) -> tuple[Any, Any]:
        """Held-out features and labels: every 24th time from 2021-07-01 (4 in --quick)."""
        f, l, _ = self.sample()
        ft = f.sel(time=slice(TEST_START, None)).isel(time=slice(None, None, 24))
        if self.quick:
            ft = ft.isel(time=slice(0, 2))
        return ft, l.sel(time=ft.time)


def train_steps(steps: int) -> int:
    """`steps`, capped by ``XDEEPR_BENCH_TRAIN_STEPS`` when it is set.

    Examples
    --------
    >>> import os
    >>> os.environ[STEPS_ENV] = "2"
    >>> train_steps(600), train_steps(1)
    (2, 1)
    >>> del os.environ[STEPS_ENV]
    """
    cap = os.environ.get(STEPS_ENV, "").strip()
    if not cap:
        return steps
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"{STEPS_ENV}={cap!r} must be an integer >= 1 (a cap on training steps)")
    return min(steps, int(cap))


def cache_dir() -> Path:
    """Where trained benchmark models are kept: ``XDEEPR_BENCH_CACHE``, else :data:`CACHE`."""
    return Path(os.environ.get(CACHE_ENV) or CACHE)


def demo_model_path() -> Path:
    """The cached benchmark model's file, named by its training steps (``demo-600.xdeepr``)."""
    return cache_dir() / f"demo-{train_steps(DEMO_STEPS)}.xdeepr"


def demo_model(
    path: Path | None = None, sample: tuple[Any, Any, Any] | None = None
) -> xdeepr.DownscalingModel:
    """Load the demo model from `path`, training and saving it first if absent.

    `path` defaults to :func:`demo_model_path`; training takes
    :func:`train_steps` ``(600)`` steps.
    """
    path = Path(path) if path is not None else demo_model_path()
    if path.exists():
        return xdeepr.load_model(path)
    f, l, s = sample or xdeepr.datasets.load_sample()
    train = slice(None, TRAIN_END)
    steps = train_steps(DEMO_STEPS)
    print(f"training the benchmark model once ({steps} steps), cached at {path} ...", flush=True)
    model = xdeepr.train(f.sel(time=train), l.sel(time=train), s, **{**DEMO_TRAIN, "steps": steps})
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


# --------------------------------------------------------------------- environment


def device_name(device: torch.device) -> str:
    """Human-readable device: the GPU's name, or the CPU model and torch threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"CPU {cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def environment(ctx: Context) -> str:
    """One line: device, versions, date, command."""
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = " · **quick mode: tiny settings, not for reading**" if ctx.quick else ""
    return (
        f"Device: {device_name(ctx.device)} · torch {torch.__version__} · xdeepr "
        f"{xdeepr.__version__} · Python {platform.python_version()} · {date} · "
        f"`{ctx.command}`{mode}"
    )


def peak_bf16(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak
    return None


# --------------------------------------------------------------------------- tables


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats are printed with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def section(ctx: Context, suite: str, title: str, body: Sequence[str]) -> str:
    """A suite's markdown: heading, environment line, then the body blocks."""
    return "\n\n".join([f"### {suite}: {title}", environment(ctx), *body])


def markers(suite: str) -> tuple[str, str]:
    """The start and end markers of `suite`'s section in a markdown file."""
    return f"<!-- bench:{suite}:start -->", f"<!-- bench:{suite}:end -->"


def write_section(path: str | os.PathLike[str], suite: str, text: str) -> None:
    """Replace the text between `suite`'s markers in `path`, or append a marked section.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "B.md"
    >>> write_section(p, "unet", "one"); write_section(p, "unet", "two")
    >>> p.read_text()
    '<!-- bench:unet:start -->\\ntwo\\n<!-- bench:unet:end -->\\n'
    """
    path = Path(path)
    start, end = markers(suite)
    block = f"{start}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), flags=re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + block + "\n"
    path.write_text(new)


# --------------------------------------------------------------------------- timing


def sync(device: torch.device) -> None:
    """Wait for queued device work (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timer(device: torch.device) -> Iterator[list[float]]:
    """``with timer(dev) as t: ...`` then ``t[0]`` holds the wall seconds."""
    out: list[float] = []
    sync(device)
    start = time.perf_counter()
    try:
        yield out
    finally:
        sync(device)
        out.append(time.perf_counter() - start)


def maxrss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux: KiB; macOS: bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        queue.put(("ok", fn(*args), maxrss_mib()))
    except BaseException as err:  # report any failure to the parent
        queue.put(("error", f"{type(err).__name__}: {err}", maxrss_mib()))


def isolated(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """Run ``fn(*args)`` in a fresh (spawned) process: its result and its peak RSS, MiB.

    Peak host memory of one measurement needs its own process: ``ru_maxrss`` only grows.
    The child uses as many torch threads as this process.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue, torch.get_num_threads()))
    proc.start()
    status, result, rss = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"benchmark child process failed: {result}")
    return result, rss


def seed_unet(device: torch.device, **overrides: Any) -> UNet:
    """A randomly initialised seed U-Net (timings do not depend on the weights)."""
    torch.manual_seed(0)
    return UNet(**{**SEED_UNET, **overrides}).to(device).eval()


def padded(n: int, multiple: int) -> int:
    """`n` rounded up to a multiple of `multiple`."""
    return -(-n // multiple) * multiple


def large_domain(
    model: xdeepr.DownscalingModel, shape: tuple[int, int], n_times: int = 1
) -> tuple[Any, Any]:
    """Coarse input and a hi-res `target` of `shape` (lat, lon) for `model`'s variables.

    Synthetic smooth fields on a 0.05° grid (and the model's coarse grid around it),
    carrying the static covariates `model` needs: enough to time ``downscale(...,
    target=target)`` on the complete 800x500 CERRA domain with any trained model (the
    network is convolutional). Values are plausible, not meteorology.
    """
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(0)
    ny, nx = shape
    lat = 60.0 - 0.05 * np.arange(ny)
    lon = -10.0 + 0.05 * np.arange(nx)
    step = abs(model.feature_grid["lat_step"])
    clat = np.arange(61.0 + 2 * step, lat[-1] - 1.0 - 2 * step, -step)
    clon = np.arange(-11.0 - 2 * step, lon[-1] + 1.0 + 2 * step, step)

    def smooth(y: Any, x: Any, scale: float) -> Any:
        yy, xx = np.meshgrid(y, x, indexing="ij")
        return scale * (np.sin(yy / 3.0) * np.cos(xx / 4.0) + 0.3 * np.sin((xx + yy) / 1.7))

    orog = np.clip(smooth(lat, lon, 900.0) + 400.0, 0, None).astype("f4")
    corog = np.clip(smooth(clat, clon, 900.0) + 400.0, 0, None).astype("f4")
    static = {
        "orog": (("latitude", "longitude"), orog),
        "lsm": (("latitude", "longitude"), (orog > 1.0).astype("f4")),
        "orog_coarse": (("latitude_coarse", "longitude_coarse"), corog),
        "lsm_coarse": (("latitude_coarse", "longitude_coarse"), (corog > 1.0).astype("f4")),
    }
    target = xr.Dataset(
        {k: v for k, v in static.items() if k in model.static_names},
        coords={
            "latitude": ("latitude", lat, {"units": "degrees_north"}),
            "longitude": ("longitude", lon, {"units": "degrees_east"}),
            "latitude_coarse": ("latitude_coarse", clat, {"units": "degrees_north"}),
            "longitude_coarse": ("longitude_coarse", clon, {"units": "degrees_east"}),
        },
    )
    times = np.datetime64("2021-07-01T12") + np.arange(n_times) * np.timedelta64(6, "h")
    base = 285.0 - 0.0065 * corog + smooth(clat, clon, 3.0)
    coarse = xr.Dataset(
        {
            v: (
                ("time", "latitude", "longitude"),
                (base + rng.normal(0, 0.5, (n_times, *base.shape))).astype("f4"),
                {"units": "K"},
            )
            for v in model.features
        },
        coords={
            "time": times,
            "latitude": ("latitude", clat, {"units": "degrees_north"}),
            "longitude": ("longitude", clon, {"units": "degrees_east"}),
        },
    )
    return coarse, target
