"""Command line of the benchmark suites; see ``python -m benchmarks --help``."""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from . import harness as H

SUITES = (
    "sampling",
    "skill",
    "training",
    "dask",
    "unet",
    "tiling",
    "profile",
    "imports",
    "calibration",
    "ablation",
    "gpu",
    "observations",
    "variables",
    "distill",
    "onestep",
    "shift",
    "cmip",
    "deepr",
)
#: Suites left out of a run that names none (they train many models: tens of minutes).
LONG = (
    "calibration",
    "ablation",
    "observations",
    "variables",
    "distill",
    "onestep",
    "shift",
    "cmip",
    "deepr",
)


def _switch(value: str) -> bool | None:
    return {"on": True, "off": False, "both": None}[value]


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m benchmarks``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run xdeepr's benchmark suites and print (or write) markdown tables.",
        epilog="Example: python -m benchmarks sampling skill --write BENCHMARKS.md",
    )
    p.add_argument(
        "suites",
        nargs="*",
        metavar="suite",
        help=f"suites to run, from {', '.join(SUITES)} (default: all but "
        f"{', '.join(LONG)}, which train many models)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny settings that run in seconds: tests the harness, not the code",
    )
    p.add_argument(
        "--write",
        metavar="FILE",
        help="replace each suite's marked section in FILE (appended if absent)",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=None,
        help="torch device (default: cuda if available, else cpu)",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: all cores)"
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model file to benchmark (default: {H.DEMO_MODEL}, trained if absent)",
    )
    p.add_argument(
        "--bf16",
        choices=["on", "off", "both"],
        default="both",
        help="sampling fast path: bf16 autocast (CUDA only; default: both)",
    )
    p.add_argument(
        "--channels-last",
        choices=["on", "off", "both"],
        default="both",
        help="sampling fast path: channels_last memory format (default: both)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="sampling fast path: also measure torch.compile (CUDA only)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="training runs at once in the calibration and ablation suites, each in its "
        "own process with one torch thread (default: 1)",
    )
    p.add_argument(
        "--parity-steps",
        type=int,
        default=1000,
        help="DDPM steps timed for the DeepR-parity row, extrapolated to 1000 "
        "(default: 1000, a full run)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the suites named in `argv`; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser().error("--device cuda: torch sees no CUDA device here; use --device cpu")
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser().error(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    if not 1 <= args.parity_steps <= 1000:
        parser().error(f"--parity-steps must be between 1 and 1000, got {args.parity_steps}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    ctx = H.Context(
        device=device,
        quick=args.quick,
        command=shlex.join(["python", "-m", "benchmarks", *argv]),
        model_path=args.model,
        bf16=_switch(args.bf16) if device.type == "cuda" or args.quick else False,
        channels_last=_switch(args.channels_last),
        compile=args.compile and device.type == "cuda",
        parity_steps=args.parity_steps,
        jobs=max(1, args.jobs),
    )
    for suite in args.suites or [s for s in SUITES if args.quick or s not in LONG]:
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.suite_{suite}")
        text = module.run(ctx)
        print(text + f"\n\n<!-- {suite}: {time.perf_counter() - start:.1f} s -->\n", flush=True)
        if args.write:
            H.write_section(args.write, suite, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
