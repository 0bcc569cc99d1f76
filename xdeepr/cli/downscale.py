"""``xdeepr downscale``: an ensemble from files, on a dask cluster, via :mod:`xdeepr.writer`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..diffusion import SAMPLERS
from ..fastpath import COMPILE_MODES
from ._common import (
    CLIError,
    add_command,
    check_not_input,
    info,
    load_model,
    open_input,
    positive_int,
)
from ._stations import add_lapse_rate, lapse_rate_flag

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

SUMMARY = "downscale coarse input into an ensemble (resumable, on dask)"

DESCRIPTION = """\
Downscale the coarse INPUT (netCDF files, zarr stores or quoted globs, opened
lazily in blocks of --chunks time steps) with --model into an ensemble of
--members members on the model's label grid, dims (member, time, lat, lon).

The work runs on a dask.distributed cluster: a local one with one worker
process per GPU (or --workers processes on a CPU), or the running scheduler
at --scheduler ADDRESS (the input files must then be readable by the workers).
The ensemble does not depend on the cluster, the chunks or the batch size:
the noise of each (time, member) depends only on --seed, the time stamp and
the member index.

The output is checked (its folder exists and is writable, its type is known)
before anything is computed. A zarr output (OUTPUT.zarr) is written block by
block as blocks finish, each finished block recorded in
OUTPUT.zarr.xdeepr-progress.json with a fingerprint of its input; the store's
attribute xdeepr_complete is 0 until the last block is in. After a crash or a
kill, rerun the same command with --resume to continue without redoing
finished blocks (a run with another model, options or input is refused). A
netCDF output (OUTPUT.nc) appears only when complete. The same writer is
xdeepr.writer.write_ensemble in Python. --overwrite replaces an existing
OUTPUT, never an input: an OUTPUT that is (or is inside, or holds) one of the
INPUTs, --model or --observations is refused.

Forecast input (a 'step' lead time: ERA5 forecasts opened with cfgrib) is
downscaled at its valid times (valid_time, or time + step), which stamp the
output; several steps become one valid-time axis.
"""

EPILOG = """\
examples:
  xdeepr downscale era5_2022.nc --model t2m.xdeepr --members 20 --output t2m_2022.zarr
  xdeepr downscale 'era5_*.nc' --model t2m.xdeepr --output t2m.zarr --workers 4 \\
      --chunks time=16 --sampler ddim --steps 50
  xdeepr downscale 'era5_*.nc' --model t2m.xdeepr --output t2m.zarr --resume
  xdeepr downscale era5.zarr --model t2m.xdeepr --output t2m.zarr --scheduler tcp://head:8786
"""


def _chunks(text: str) -> dict[str, int]:
    """Parse ``time=8`` (or ``time=8,latitude=-1``) into a chunks mapping."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            size = int(value)
        except ValueError:
            size = 0
        if not sep or not name.strip() or size == 0 or size < -1:
            raise argparse.ArgumentTypeError(
                f"expected DIM=N[,DIM=N...] with N a positive integer (or -1), got {text!r}"
            )
        out[name.strip()] = size
    return out


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``downscale`` subcommand to the subparsers `sub`."""
    p = add_command(sub, common, sys.modules[__name__])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="coarse fields: files, stores, globs")
    p.add_argument("--model", "-m", required=True, metavar="MODEL", help="model file to use")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="OUTPUT",
        help="OUTPUT.zarr (written block by block, resumable) or OUTPUT.nc",
    )
    p.add_argument(
        "--members",
        type=positive_int,
        default=20,
        metavar="N",
        help="ensemble members (default: %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="sampling steps (default: the sampler's; 10 for dpm++2m-sde)",
    )
    p.add_argument("--sampler", choices=sorted(SAMPLERS), help="sampler (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument(
        "--chunks",
        type=_chunks,
        default={"time": 8},
        metavar="time=N",
        help="time steps per block (default: time=8)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="samples per network call (default: sized to the device)",
    )
    p.add_argument(
        "--device", metavar="DEVICE", help="cpu, cuda... on the workers (default: CUDA if any)"
    )
    p.add_argument(
        "--observations",
        metavar="FILE",
        help="station observations (CSV table or CF timeSeries netCDF) for a model trained "
        "with them: any stations, matched to the input's times",
    )
    p.add_argument(
        "--guidance",
        type=float,
        metavar="G",
        help="with --observations: strength of the guidance by the stations at sampling "
        "time (default 1; 0 conditions only, for a model trained with stations)",
    )
    p.add_argument(
        "--observation-error",
        type=float,
        metavar="SIGMA",
        help="with --observations: the stations' error (standard deviation, data units; "
        "default 0.3), the guidance's likelihood width",
    )
    add_lapse_rate(p, what="(default: the model's, else -6.5)")
    p.add_argument(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="apply the model's spread calibration fitted on validation (default: on; "
        "--no-calibrate: the raw ensemble)",
    )
    p.add_argument(
        "--fill",
        metavar="mean|NUMBER",
        help="fill missing input values with the field's mean or a number (default: error)",
    )
    fast = p.add_argument_group("GPU fast path (see BENCHMARKS.md)")
    fast.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast of the network (default: on for CUDA)",
    )
    fast.add_argument(
        "--channels-last", action="store_true", help="NHWC memory layout for the network"
    )
    fast.add_argument("--compile", action="store_true", help="torch.compile the network")
    fast.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        metavar="MODE",
        help=f"torch.compile mode, one of {', '.join(COMPILE_MODES)} (implies --compile)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="local worker processes, one core each (default: one per GPU, else 1)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use the dask scheduler at ADDRESS (e.g. tcp://head:8786) instead",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted zarr output, skipping its finished blocks",
    )
    again.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")


def _fill(text: str | None) -> str | float | None:
    if text is None or text == "mean":
        return text
    try:
        return float(text)
    except ValueError:
        raise CLIError(f"--fill expects 'mean' or a number, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """``xdeepr downscale``: downscale files on a dask cluster, block by block."""
    import xdeepr
    from xdeepr import grid, writer

    out = Path(args.output)
    # Everything that can be checked without computing is checked first.
    writer.check_destination(out, resume=args.resume, overwrite=args.overwrite)
    given = {"INPUT": list(args.inputs), "--model": [args.model]}
    if args.observations:
        given["--observations"] = [args.observations]
    check_not_input(out, given)  # --overwrite replaces outputs, never inputs
    if "time" not in args.chunks:
        raise CLIError(
            f"--chunks must give the time steps per block, e.g. time=8, got {args.chunks}"
        )
    fill = _fill(args.fill)
    stations_only = {
        "--guidance": args.guidance,
        "--observation-error": args.observation_error,
        "--lapse-rate": args.lapse_rate,
    }
    for flag, value in stations_only.items():
        if value is not None and not args.observations:
            raise CLIError(f"{flag} acts on --observations; give the stations too")
    options = xdeepr.SamplingOptions(
        members=args.members,
        steps=args.steps,
        sampler=args.sampler,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        fill=fill,
        progress=False,
        fast_path=xdeepr.FastPath(
            bf16=args.bf16,
            channels_last=args.channels_last,
            compile=args.compile_mode or args.compile,
        ),
        guidance=args.guidance,
        calibrate=args.calibrate,
        **({} if args.observation_error is None else {"observation_error": args.observation_error}),
        **_lapse(args.lapse_rate),
    )  # refuses a bad value by name before any data is read
    model = load_model(args.model)
    ds = open_input(args.inputs, "input", args.chunks)
    from ._stations import open_observations

    obs = open_observations(args.observations) if args.observations else None
    try:  # forecast steps become valid times here, so blocks and --resume see those
        ds, _ = grid.standard_time(ds)
    except ValueError as err:
        raise CLIError(f"the input's time axis: {err}") from err
    ds = ds.chunk({"time": args.chunks["time"]})  # also a time axis renamed or made here
    record = writer.read_progress(out) if args.resume and out.exists() else None
    if record is not None:  # compute in the store's blocks, whatever --chunks says
        sizes = tuple(int(b) - int(a) for a, b in record["blocks"])
        if sum(sizes) == ds.sizes["time"]:
            ds = ds.chunk({"time": sizes})
    elif args.resume:
        info(args, f"{out} does not exist yet: starting from the beginning")

    ens = ds.deepr.downscale(model, options=options, observations=obs)
    used = [name for name in getattr(model, "features", ()) if name in ds.data_vars]
    source = ds[used or list(ds.data_vars)]  # fingerprinted block by block for --resume
    plan = writer.EnsembleWriter(
        ens, out, source=source, resume=args.resume, overwrite=args.overwrite
    )
    if not plan.todo:
        plan.write(progress=False)  # marks the store complete if a kill left it unmarked
        info(args, f"{out} is complete: nothing to do")
        return 0
    if plan.done:
        steps_done = sum(plan.blocks[i][1] - plan.blocks[i][0] for i in plan.done)
        info(
            args,
            f"resuming {out}: skipping {len(plan.done)} completed blocks "
            f"({steps_done} time steps), {len(plan.todo)} to go",
        )
    n_blocks = len(plan.todo)
    t0 = time.monotonic()
    with dask_client(args.scheduler, args.workers, args.quiet) as client:
        plan.write(client=client, progress=not args.quiet)
    info(
        args,
        f"wrote {out}: {ens.sizes['time']} times x {args.members} members, "
        f"{n_blocks} blocks in {time.monotonic() - t0:.0f} s",
    )
    return 0


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, workers: int | None = None, quiet: bool = False
) -> Iterator[Client]:
    """A ``dask.distributed`` client: on `scheduler`, or on a new local cluster.

    The local cluster has one single-threaded worker process per GPU (each worker
    on its own GPU) when there are GPUs, else `workers` (default 1). As dask sets
    ``OMP_NUM_THREADS=1`` in its workers, each worker uses one CPU core for torch:
    on a CPU, ask for about one worker per core.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://head:8786"``.
    workers : int, optional
        Number of local worker processes.
    quiet : bool
        Silence the cluster's log messages.

    Yields
    ------
    distributed.Client
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise CLIError(
            "xdeepr downscale runs on dask.distributed: pip install 'xdeepr[distributed]'"
        ) from err
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise CLIError(f"cannot connect to the dask scheduler at {scheduler!r}: {err}") from err
        with client:
            yield client
        return
    import torch

    gpus = torch.cuda.device_count()
    n = workers or (gpus if gpus > 0 else 1)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR if quiet else logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        if gpus > 0:
            client.register_plugin(_gpu_plugin(gpus), name="xdeepr-gpu")
        yield client


def _gpu_plugin(gpus: int) -> Any:
    """A worker plugin putting local worker ``k`` on GPU ``k % gpus``."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class GPUPerWorker(WorkerPlugin):
        def __init__(self, gpus: int) -> None:
            self.gpus = gpus

        def setup(self, worker: Any) -> None:
            import torch

            try:
                index = int(worker.name)
            except (TypeError, ValueError):
                index = 0
            torch.cuda.set_device(index % self.gpus)  # "cuda" now means this GPU

    return GPUPerWorker(gpus)


def _lapse(text: str | None) -> dict[str, Any]:
    """``--lapse-rate``, when given, as the ``lapse_rate`` option."""
    return {} if text is None else {"lapse_rate": lapse_rate_flag(text)}
