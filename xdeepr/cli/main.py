"""The ``xdeepr`` parser (one subcommand per module) and :func:`main`, which reports errors."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .._version import __version__
from . import demo, distill, downscale, evaluate, import_deepr, train
from ._common import PROG, exit_status, one_line

DESCRIPTION = """\
xdeepr downscales coarse reanalysis (ERA5-like, 0.25°) to regional high
resolution (CERRA-like, 0.05°) with a conditional denoising diffusion model,
on xarray Datasets (netCDF or zarr), lazily over dask chunks.

commands:
  demo       train a small model on the embedded sample, downscale held-out
             times, score against bicubic interpolation and draw figures
  train      train a model on coarse features and hi-res labels
  distill    distil a trained model into a student whose members cost one or two
             network evaluations
  downscale  downscale coarse input into an ensemble on a dask.distributed
             cluster, written block by block (resumable with --resume)
  evaluate   score an ensemble against the truth (and bicubic), draw figures
  import-deepr
             turn a trained DeepR diffusion model into an xdeepr model file
"""

EPILOG = """\
examples:
  xdeepr demo                       # the whole pipeline on the sample, minutes on a CPU
  xdeepr train 'era5_*.nc' 'cerra_*.nc' --static orog.nc lsm.nc \\
      --config train.toml --set n_channels=32 --output t2m.xdeepr
  xdeepr downscale era5_2022.nc --model t2m.xdeepr --members 20 --output t2m_2022.zarr
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc --features era5_2022.nc --figures figures/

Run 'xdeepr COMMAND --help' for the options of a command. An error prints one
line, with exit status 2 for bad input (a file, an option, the data) and 1 for
a failure while running; add --debug to see the traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``xdeepr`` argument parser with its subcommands.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["evaluate", "pred.zarr", "truth.nc"])
    >>> args.command, args.truth
    ('evaluate', 'truth.nc')
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] [--version] COMMAND [options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or progress messages"
    )
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    # The name 0.1.0 had for --debug, kept working but no longer listed.
    common.add_argument("--traceback", action="store_true", dest="debug", help=argparse.SUPPRESS)
    # The commands are listed in DESCRIPTION; argparse's own list would repeat them.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    for command in (demo, train, distill, downscale, evaluate, import_deepr):
        command.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xdeepr`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success; 2 for bad input (a missing or damaged file, a bad
        option, data that do not fit the model) and 1 for a failure while running,
        each reported as one line on stderr (the traceback too with ``--debug``);
        130 when interrupted.

    Examples
    --------
    >>> main(["downscale", "missing.nc", "--model", "m.xdeepr", "--output", "o.zarr"])
    ... # doctest: +SKIP
    xdeepr downscale: error: input 'missing.nc' does not exist
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every error becomes one line (or a traceback)
        if args.debug:
            traceback.print_exc()
        status = exit_status(err)
        hint = "" if args.debug or status == 2 else " (run with --debug for the traceback)"
        print(f"{PROG} {args.command}: error: {one_line(err)}{hint}", file=sys.stderr)
        return status


def _one_line_warning(command: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` printing ``xdeepr COMMAND: warning: MESSAGE`` on stderr."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(message).split())
        print(f"{PROG} {command}: warning: {text}", file=sys.stderr, flush=True)

    return show
