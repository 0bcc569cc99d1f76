"""The ``xdeepr`` command line: ``demo``, ``train``, ``downscale`` and ``evaluate``.

Each subcommand is a thin layer over the public API (:func:`xdeepr.train`,
``Dataset.deepr.downscale``, :mod:`xdeepr.metrics`, :mod:`xdeepr.plot`). User errors
(a missing file, a bad option, inputs that do not fit the model) are reported as one
line on stderr with exit status 2; ``--traceback`` shows the full traceback instead.

Examples
--------
>>> from xdeepr.cli import main
>>> main(["--version"])  # doctest: +SKIP
xdeepr 0.1.0
0
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import glob
import itertools
import json
import logging
import os
import sys
import time as _time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from . import __version__
from .diffusion import SAMPLERS
from .fastpath import COMPILE_MODES

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

PROG = "xdeepr"
#: Suffix of the progress record kept next to a zarr store written by ``xdeepr downscale``
#: (``OUT.zarr`` → ``OUT.zarr.xdeepr-progress.json``; outside the store, which zarr
#: would otherwise list as an unknown member).
PROGRESS_SUFFIX = ".xdeepr-progress.json"
#: Store attributes that must match for ``--resume`` to continue a store.
_RESUME_KEYS = ("xdeepr_model", "xdeepr_members", "xdeepr_seed", "xdeepr_sampler", "xdeepr_steps")


class CLIError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


# ------------------------------------------------------------------------------ help texts

DESCRIPTION = """\
xdeepr downscales coarse reanalysis (ERA5-like, 0.25°) to regional high
resolution (CERRA-like, 0.05°) with a conditional denoising diffusion model,
on xarray Datasets (netCDF or zarr), lazily over dask chunks.

commands:
  demo       train a small model on the embedded sample, downscale held-out
             times, score against bicubic interpolation and draw figures
  train      train a model on coarse features and hi-res labels
  downscale  downscale coarse input into an ensemble on a dask.distributed
             cluster, written block by block (resumable with --resume)
  evaluate   score an ensemble against the truth (and bicubic), draw figures
"""

EPILOG = """\
examples:
  xdeepr demo                       # the whole pipeline on the sample, minutes on a CPU
  xdeepr train 'era5_*.nc' 'cerra_*.nc' --static orog.nc lsm.nc \\
      --config train.toml --set n_channels=32 --output t2m.xdeepr
  xdeepr downscale era5_2022.nc --model t2m.xdeepr --members 20 --output t2m_2022.zarr
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc --features era5_2022.nc --figures figures/

Run 'xdeepr COMMAND --help' for the options of a command. Errors print one line
and exit with status 2; add --traceback to see where they came from.
"""

DEMO_DESCRIPTION = """\
Run the whole pipeline on the embedded synthetic sample (no download):

  1. train a small network (16 channels, 3 levels) on the six-hourly times
     before 2021-07-01 (its last tenth held out for validation);
  2. downscale every 8th time step from 2021-07-01 on (~90 times) into an
     ensemble of --members members with the SDE-DPM-Solver++(2M) sampler;
  3. score the ensemble and the bicubic baseline against the truth and print
     the table (RMSE, MAE, CRPS, spread/skill, spectral ratio...);
  4. write OUT/model.xdeepr, OUT/downscaled.nc, OUT/comparison.png and
     OUT/spectra.png.

With the defaults (600 training steps, 10 members) it takes one to three
minutes on a laptop CPU, and the model beats bicubic interpolation by a factor
of about three in RMSE and four in CRPS.
"""

DEMO_EPILOG = """\
examples:
  xdeepr demo                                  # 600 training steps, 10 members
  xdeepr demo --out demo --minutes 10          # train for ten minutes instead
  xdeepr demo --steps 3000 --members 20 --device cuda
"""

TRAIN_DESCRIPTION = """\
Train a conditional diffusion downscaling model and save it to --output.

FEATURES are the coarse fields (e.g. ERA5 t2m at 0.25°) over a coverage that
contains the label domain, LABELS the hi-res fields (e.g. CERRA t2m at 0.05°);
they are paired by time. Each is a netCDF file, a zarr store or a quoted glob
('era5_*.nc', opened together with xarray.open_mfdataset). --static adds
covariates such as orography and the land-sea mask as condition channels.

Settings come from xdeepr.TrainConfig: its defaults, then the --config file
(JSON, TOML, or YAML with PyYAML installed) holding TrainConfig fields, e.g.

  {"n_channels": 32, "channel_multipliers": [1, 2, 2, 4], "steps": 20000,
   "batch_size": 16, "learning_rate": 1e-3}

then each --set KEY=VALUE (VALUE is a Python literal, else a string).
Checkpoints go to OUTPUT.checkpoints/ (unless checkpoint_dir is set); --resume
continues an interrupted run from the last one, exactly where it stopped.
"""

TRAIN_EPILOG = """\
examples:
  xdeepr train era5.nc cerra.nc --static static.nc --output t2m.xdeepr
  xdeepr train 'era5_*.nc' 'cerra_*.nc' --config train.yaml --set steps=50000 \\
      --set device=cuda --output t2m.xdeepr
  xdeepr train era5.zarr cerra.zarr --config train.json --output t2m.xdeepr --resume
"""

DOWNSCALE_DESCRIPTION = """\
Downscale the coarse INPUT (netCDF files, zarr stores or quoted globs, opened
lazily in blocks of --chunks time steps) with --model into an ensemble of
--members members on the model's label grid, dims (member, time, lat, lon).

The work runs on a dask.distributed cluster: a local one with one worker
process per GPU (or --workers processes on a CPU), or the running scheduler
at --scheduler ADDRESS (the input files must then be readable by the workers).
The ensemble does not depend on the cluster, the chunks or the batch size:
the noise of each (time, member) depends only on --seed, the time stamp and
the member index.

A zarr output (OUTPUT.zarr) is written block by block as blocks finish, and
each finished block is recorded in OUTPUT.zarr.xdeepr-progress.json; after a
crash or a kill, rerun the same command with --resume to continue without
redoing finished blocks. A netCDF output (OUTPUT.nc) is written at the end.
"""

DOWNSCALE_EPILOG = """\
examples:
  xdeepr downscale era5_2022.nc --model t2m.xdeepr --members 20 --output t2m_2022.zarr
  xdeepr downscale 'era5_*.nc' --model t2m.xdeepr --output t2m.zarr --workers 4 \\
      --chunks time=16 --sampler ddim --steps 50
  xdeepr downscale 'era5_*.nc' --model t2m.xdeepr --output t2m.zarr --resume
  xdeepr downscale era5.zarr --model t2m.xdeepr --output t2m.zarr --scheduler tcp://head:8786
"""

EVALUATE_DESCRIPTION = """\
Score PREDICTION (an ensemble with a 'member' dimension, or a deterministic
field) against TRUTH on the same grid, over their common times, and print the
table of xdeepr.metrics.score: RMSE, MAE and mean error of the ensemble mean,
R², CRPS, spread/skill ratio and the small-scale spectral ratio. With
--features (the coarse input) the bicubic interpolation is scored alongside.

--figures DIR writes comparison.png (maps; needs --features), spectra.png
(needs --features) and rank_histogram.png (needs an ensemble).
"""

EVALUATE_EPILOG = """\
examples:
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc --features era5_2022.nc --figures figures/
"""


# ------------------------------------------------------------------------------ parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    """Build the ``xdeepr`` argument parser with its four subcommands.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["evaluate", "pred.zarr", "truth.nc"])
    >>> args.command, args.truth
    ('evaluate', 'truth.nc')
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, usage=f"{PROG} [-h] [--version] COMMAND [options]", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=fmt,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or progress messages"
    )
    common.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an error"
    )
    # The commands are listed in DESCRIPTION; argparse's own list would repeat them.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)

    # -- demo
    p = sub.add_parser(
        "demo", help="train, downscale, score and plot on the embedded sample",
        description=DEMO_DESCRIPTION, epilog=DEMO_EPILOG, formatter_class=fmt, parents=[common],
    )  # fmt: skip
    p.add_argument(
        "--out", default="xdeepr-demo", metavar="DIR",
        help="directory for the model, the ensemble and the figures (default: %(default)s)",
    )  # fmt: skip
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--steps", type=_positive_int, metavar="N", help="training steps (default: 600)"
    )
    budget.add_argument(
        "--minutes", type=_positive_float, metavar="M",
        help="train for M minutes of wall time instead of a number of steps",
    )  # fmt: skip
    p.add_argument(
        "--members", type=_positive_int, default=10, metavar="N",
        help="ensemble members (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--device", metavar="DEVICE", help="cpu, cuda, cuda:1... (default: CUDA when available)"
    )
    # Undocumented: limit the held-out times (for tests and quick looks).
    p.add_argument("--times", type=_positive_int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)

    # -- train
    p = sub.add_parser(
        "train", help="train a model on coarse features and hi-res labels",
        description=TRAIN_DESCRIPTION, epilog=TRAIN_EPILOG, formatter_class=fmt, parents=[common],
    )  # fmt: skip
    p.add_argument("features", metavar="FEATURES", help="coarse fields: file, store or glob")
    p.add_argument("labels", metavar="LABELS", help="hi-res fields: file, store or glob")
    p.add_argument(
        "--static", nargs="+", default=[], metavar="FILE",
        help="static covariates (orography, land-sea mask): files, stores or globs",
    )  # fmt: skip
    p.add_argument(
        "--config", metavar="FILE",
        help="TrainConfig fields in a .json, .toml or .yaml/.yml file",
    )  # fmt: skip
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override one TrainConfig field, e.g. --set steps=5000 (repeatable)",
    )  # fmt: skip
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the last checkpoint (OUTPUT.checkpoints/ or checkpoint_dir)",
    )  # fmt: skip
    p.set_defaults(func=cmd_train)

    # -- downscale
    p = sub.add_parser(
        "downscale", help="downscale coarse input into an ensemble (resumable, on dask)",
        description=DOWNSCALE_DESCRIPTION, epilog=DOWNSCALE_EPILOG, formatter_class=fmt,
        parents=[common],
    )  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="coarse fields: files, stores, globs")
    p.add_argument("--model", "-m", required=True, metavar="MODEL", help="model file to use")
    p.add_argument(
        "--output", "-o", required=True, metavar="OUTPUT",
        help="OUTPUT.zarr (written block by block, resumable) or OUTPUT.nc",
    )  # fmt: skip
    p.add_argument(
        "--members", type=_positive_int, default=20, metavar="N",
        help="ensemble members (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=_positive_int, metavar="N",
        help="sampling steps (default: the sampler's; 10 for dpm++2m-sde)",
    )  # fmt: skip
    p.add_argument(
        "--sampler",
        choices=sorted(SAMPLERS),
        help="sampler (default: the model's)",
    )
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument(
        "--chunks", type=_chunks, default={"time": 8}, metavar="time=N",
        help="time steps per block (default: time=8)",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", type=_positive_int, metavar="N",
        help="samples per network call (default: sized to the device)",
    )  # fmt: skip
    p.add_argument(
        "--device", metavar="DEVICE", help="cpu, cuda... on the workers (default: CUDA if any)"
    )
    p.add_argument(
        "--fill", metavar="mean|NUMBER",
        help="fill missing input values with the field's mean or a number (default: error)",
    )  # fmt: skip
    fast = p.add_argument_group("GPU fast path (see BENCHMARKS.md)")
    fast.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None,
        help="bfloat16 autocast of the network (default: on for CUDA)",
    )  # fmt: skip
    fast.add_argument(
        "--channels-last", action="store_true", help="NHWC memory layout for the network"
    )
    fast.add_argument("--compile", action="store_true", help="torch.compile the network")
    fast.add_argument(
        "--compile-mode", choices=COMPILE_MODES, metavar="MODE",
        help=f"torch.compile mode, one of {', '.join(COMPILE_MODES)} (implies --compile)",
    )  # fmt: skip
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_positive_int, metavar="N",
        help="local worker processes, one core each (default: one per GPU, else 1)",
    )  # fmt: skip
    where.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="use the dask scheduler at ADDRESS (e.g. tcp://head:8786) instead",
    )  # fmt: skip
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted zarr output, skipping its finished blocks",
    )  # fmt: skip
    again.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.set_defaults(func=cmd_downscale)

    # -- evaluate
    p = sub.add_parser(
        "evaluate", help="score an ensemble against the truth and draw figures",
        description=EVALUATE_DESCRIPTION, epilog=EVALUATE_EPILOG, formatter_class=fmt,
        parents=[common],
    )  # fmt: skip
    p.add_argument("prediction", metavar="PREDICTION", help="ensemble: file, store or glob")
    p.add_argument("truth", metavar="TRUTH", help="hi-res truth: file, store or glob")
    p.add_argument(
        "--features", metavar="COARSE",
        help="coarse input: adds its bicubic interpolation as a baseline",
    )  # fmt: skip
    p.add_argument("--figures", metavar="DIR", help="write PNG figures into DIR")
    p.add_argument(
        "--variable", metavar="NAME", help="variable to score (default: all the truth shares)"
    )
    p.set_defaults(func=cmd_evaluate)
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
        Exit status: 0 on success, 2 for a user error (reported as one line on
        stderr), 1 when training fails, 130 when interrupted.

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
    from .model import ModelFileError
    from .training import TrainingError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ModelFileError, OSError, ValueError, TypeError) as err:
        if args.traceback:
            raise
        _error(args.command, err)
        return 2
    except TrainingError as err:
        if args.traceback:
            raise
        _error(args.command, err)
        return 1


def _error(command: str, err: BaseException) -> None:
    text = " ".join(str(err).split()) or type(err).__name__
    print(f"{PROG} {command}: error: {text}", file=sys.stderr)


def _info(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ input


def expand_paths(patterns: Sequence[str], what: str) -> list[str]:
    """Expand files, stores and globs into a list of existing paths.

    Parameters
    ----------
    patterns : sequence of str
        Paths or glob patterns (``*``, ``?``, ``[...]``).
    what : str
        What the paths are, for error messages ("input", "labels"...).

    Returns
    -------
    list of str
        Each glob's matches sorted, in the order of `patterns`.

    Raises
    ------
    FileNotFoundError
        Naming the path or pattern that matches nothing.
    """
    files: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"no {what} file matches {pattern!r}")
            files.extend(matches)
        elif not os.path.exists(pattern):
            raise FileNotFoundError(f"{what} {pattern!r} does not exist")
        else:
            files.append(pattern)
    return files


def _engine(path: str) -> str | None:
    p = Path(path)
    if p.suffix == ".zarr" or (
        p.is_dir() and any((p / n).exists() for n in ("zarr.json", ".zgroup", ".zmetadata"))
    ):
        return "zarr"
    return None


def open_input(
    patterns: Sequence[str], what: str, chunks: dict[str, int] | None = None
) -> xr.Dataset:
    """Open netCDF files, zarr stores or globs lazily as one Dataset.

    Parameters
    ----------
    patterns : sequence of str
        Paths or glob patterns; several files are combined by coordinates
        (:func:`xarray.open_mfdataset`).
    what : str
        What the data are, for error messages.
    chunks : dict, optional
        Dask chunks of the dimensions present (e.g. ``{"time": 8}``).

    Returns
    -------
    xarray.Dataset
        Dask-backed.

    Raises
    ------
    FileNotFoundError
        When a path does not exist or a glob matches nothing.
    CLIError
        When a file cannot be opened as a dataset.
    """
    files = expand_paths(patterns, what)
    engines = {_engine(f) for f in files}
    if len(engines) > 1:
        raise CLIError(f"the {what} mix zarr stores and other files; convert them to one format")
    engine = engines.pop()
    try:
        if len(files) == 1:
            ds = xr.open_dataset(files[0], engine=engine, chunks={})
        else:
            ds = xr.open_mfdataset(files, engine=engine, chunks={}, combine="by_coords")
    except (OSError, ValueError, TypeError) as err:
        name = files[0] if len(files) == 1 else f"{files[0]!r} and {len(files) - 1} more"
        raise CLIError(f"cannot open the {what} {name!r} as a dataset: {err}") from err
    if chunks:
        present = {k: v for k, v in chunks.items() if k in ds.dims}
        if present:
            ds = ds.chunk(present)
    return ds


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read TrainConfig fields from a JSON, TOML or YAML file.

    Parameters
    ----------
    path : str or path-like
        ``.json``, ``.toml``, ``.yaml`` or ``.yml``; YAML needs PyYAML.

    Returns
    -------
    dict
        The file's top-level mapping.

    Raises
    ------
    FileNotFoundError, CLIError
        When the file is missing, unreadable, of an unknown type or not a mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    data: Any
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                try:
                    import tomli as tomllib
                except ImportError as err:
                    raise CLIError(
                        "reading TOML on Python 3.10 needs tomli: pip install tomli "
                        "(or use a JSON config)"
                    ) from err
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as err:
                raise CLIError(
                    f"reading the YAML config {str(p)!r} needs PyYAML: pip install pyyaml "
                    "(or write the config as JSON or TOML)"
                ) from err
            data = yaml.safe_load(text)
        else:
            raise CLIError(
                f"unknown config file type {suffix or '(none)'!r} of {str(p)!r}; "
                "use .json, .toml, .yaml or .yml"
            )
    except CLIError:
        raise
    except Exception as err:  # each parser has its own error class
        raise CLIError(f"cannot parse the config file {str(p)!r}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CLIError(
            f"the config file {str(p)!r} must hold a mapping of TrainConfig fields, "
            f"not a {type(data).__name__}"
        )
    return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings; VALUE is a Python literal, else a string.

    Examples
    --------
    >>> parse_overrides(["steps=5", "channel_multipliers=[1, 2]", "device=cuda"])
    {'steps': 5, 'channel_multipliers': [1, 2], 'device': 'cuda'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE (e.g. --set steps=5000), got {item!r}")
        try:
            out[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[key] = text.strip()
    return out


# ------------------------------------------------------------------------------ demo


def cmd_demo(args: argparse.Namespace) -> int:
    """``xdeepr demo``: train, downscale, score and plot on the embedded sample."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import xdeepr
    from xdeepr import metrics, plot

    t_start = _time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    features, labels, static = xdeepr.datasets.load_sample()
    times = features["time"].values
    split = np.datetime64("2021-07-01")
    train_idx = np.flatnonzero(times < split)
    test_idx = np.flatnonzero(times >= split)[::8]
    if args.times:
        test_idx = test_idx[: args.times]
    f_train, l_train = features.isel(time=train_idx), labels.isel(time=train_idx)
    f_test, l_test = features.isel(time=test_idx), labels.isel(time=test_idx)
    budget: dict[str, Any] = {"steps": args.steps or 600}
    if args.minutes:
        budget = {"steps": 100_000, "max_minutes": args.minutes}
    _info(
        args,
        f"training on {len(train_idx)} times before 2021-07-01 "
        + (f"for {args.minutes:g} min" if args.minutes else f"for {budget['steps']} steps"),
    )
    model = xdeepr.train(
        f_train, l_train, static, config=xdeepr.TrainConfig.small(),
        device=args.device, progress=not args.quiet, **budget,
    )  # fmt: skip
    t_trained = _time.monotonic()
    model.save(out / "model.xdeepr")
    _info(args, f"downscaling {len(test_idx)} held-out times x {args.members} members")
    ens = f_test.deepr.downscale(
        model, members=args.members, device=args.device, progress=not args.quiet
    )
    t_sampled = _time.monotonic()
    bicubic = f_test.deepr.interpolate(l_test)
    scores = metrics.score(ens, l_test, baselines={"bicubic": bicubic}).compute()
    ens.to_netcdf(out / "downscaled.nc")
    pair = (0, min(1, args.members - 1))
    plot.comparison(f_test, bicubic, l_test, ens, members=pair, path=out / "comparison.png")
    plot.spectra(l_test, ens, bicubic, path=out / "spectra.png")
    t_end = _time.monotonic()

    print(model)
    print()
    print(metrics.format_table(scores))
    print()
    for name in scores.data_vars:
        s = scores[name]
        units = s.attrs.get("units", "")
        for metric in ("rmse", "crps"):
            mine = float(s.sel(metric=metric, model="xdeepr"))
            base = float(s.sel(metric=metric, model="bicubic"))
            print(
                f"{name} {metric.upper()}: xdeepr {mine:.3g} {units} vs bicubic {base:.3g} "
                f"{units} ({base / mine:.1f}x {'better' if mine < base else 'worse'})"
            )
    print(
        f"wall time {t_end - t_start:.0f} s (training {t_trained - t_start:.0f} s, "
        f"downscaling {t_sampled - t_trained:.0f} s); files in {out}/: model.xdeepr, "
        "downscaled.nc, comparison.png, spectra.png"
    )
    return 0


# ------------------------------------------------------------------------------ train


def cmd_train(args: argparse.Namespace) -> int:
    """``xdeepr train``: train on files and save the model."""
    import xdeepr

    settings = load_config(args.config) if args.config else {}
    settings.update(parse_overrides(args.overrides))
    settings.setdefault("checkpoint_dir", str(Path(args.output).parent / (
        Path(args.output).name + ".checkpoints")))  # fmt: skip
    if args.quiet:
        settings["progress"] = False
    config = xdeepr.TrainConfig.from_dict(settings)
    chunks = {"time": config.block_size}
    features = open_input([args.features], "features", chunks)
    labels = open_input([args.labels], "labels", chunks)
    static = None
    if args.static:
        parts = [open_input([s], "static covariates") for s in args.static]
        static = xr.merge(parts, compat="override", join="outer").load()
    model = xdeepr.train(features, labels, static, config=config, resume=args.resume)
    path = model.save(args.output)
    print(model)
    _info(args, f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------ downscale


def progress_file(store: str | os.PathLike[str]) -> Path:
    """Path of the progress record of the zarr `store` written by ``xdeepr downscale``.

    A JSON mapping with the run's identity (``xdeepr_model``, ``xdeepr_members``,
    ``xdeepr_seed``, ``xdeepr_sampler``, ``xdeepr_steps``), ``blocks`` (the
    ``[start, stop)`` time ranges written one at a time), ``done`` (indices of the
    blocks written) and ``complete``; it is replaced atomically after each block.

    Examples
    --------
    >>> progress_file("out/t2m.zarr").name
    't2m.zarr.xdeepr-progress.json'
    """
    store = Path(store)
    return store.with_name(store.name + PROGRESS_SUFFIX)


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise CLIError(f"{str(path)!r} is not an xdeepr progress record")
    return data


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # atomic: a killed run leaves the old record or the new one


def _block_bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


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
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR if quiet else logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
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


def _run_blocks(
    client: Client,
    ens: xr.Dataset,
    blocks: Sequence[tuple[int, int]],
    todo: Sequence[int],
    on_done: Callable[[int, xr.Dataset], None],
    progress: Callable[[int], Any],
) -> None:
    """Compute the time blocks `todo` of `ens`, a few at a time, in completion order."""
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = 2 * n_workers
    queue = list(todo)[::-1]
    pending: dict[Any, int] = {}
    done = as_completed()

    def submit() -> None:
        if queue:
            i = queue.pop()
            a, b = blocks[i]
            future = client.compute(ens.isel(time=slice(a, b)))
            pending[future.key] = i
            done.add(future)

    for _ in range(window):
        submit()
    for future in done:
        i = pending.pop(future.key)
        result = future.result()  # re-raises a worker's error here
        future.release()
        on_done(i, result)
        progress(1)
        submit()


def cmd_downscale(args: argparse.Namespace) -> int:
    """``xdeepr downscale``: downscale files on a dask cluster, block by block."""
    import xdeepr

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".zarr", ".nc", ".nc4"):
        raise CLIError(
            f"unknown output type {suffix or '(none)'!r} of {str(out)!r}; "
            "name it OUTPUT.zarr (resumable) or OUTPUT.nc"
        )
    is_zarr = suffix == ".zarr"
    if args.resume and not is_zarr:
        raise CLIError(
            f"--resume needs a zarr output: {str(out)!r} is netCDF, written at once at the "
            "end, so an interrupted run leaves nothing to resume; write OUTPUT.zarr instead"
        )
    if out.exists() and not (args.resume or args.overwrite):
        raise CLIError(
            f"{str(out)!r} exists; pass --resume to continue an interrupted run or "
            "--overwrite to replace it"
        )
    if "time" not in args.chunks:
        raise CLIError(
            f"--chunks must give the time steps per block, e.g. time=8, got {args.chunks}"
        )
    fill: str | float | None = args.fill
    if fill is not None and fill != "mean":
        try:
            fill = float(fill)
        except ValueError:
            raise CLIError(f"--fill expects 'mean' or a number, got {args.fill!r}") from None
    model = xdeepr.load_model(args.model)
    ds = open_input(args.inputs, "input", args.chunks)
    if "time" not in ds.dims:
        raise CLIError(f"the input has no 'time' dimension (its dimensions: {list(ds.dims)})")

    progress_path = progress_file(out)
    record: dict[str, Any] | None = None
    if args.resume and out.exists():
        if not progress_path.exists():
            raise CLIError(
                f"cannot resume {str(out)!r}: there is no progress record "
                f"{progress_path.name!r} next to it (it was not written by xdeepr downscale, "
                "or a run was killed while creating it); pass --overwrite to start again"
            )
        record = _read_json(progress_path)
        sizes = [b - a for a, b in record["blocks"]]
        if sum(sizes) != ds.sizes["time"]:
            raise CLIError(
                f"cannot resume {str(out)!r}: it holds {sum(sizes)} time steps but the input "
                f"has {ds.sizes['time']}; resume with the same input"
            )
        ds = ds.chunk({"time": tuple(sizes)})  # the store's blocks, whatever --chunks says
    elif args.resume:
        _info(args, f"{out} does not exist yet: starting from the beginning")

    ens = ds.deepr.downscale(
        model, members=args.members, steps=args.steps, sampler=args.sampler, seed=args.seed,
        batch_size=args.batch_size, device=args.device, fill=fill, progress=False,
        fast_path=xdeepr.FastPath(
            bf16=args.bf16, channels_last=args.channels_last,
            compile=args.compile_mode or args.compile,
        ),
    )  # fmt: skip
    blocks = _block_bounds(ens.chunks["time"])
    if record is not None:
        _check_resumable(out, record, {k: ens.attrs[k] for k in _RESUME_KEYS}, ens)
        if record.get("complete"):
            _info(args, f"{out} is complete: nothing to do")
            return 0
    t0 = _time.monotonic()
    with dask_client(args.scheduler, args.workers, args.quiet) as client:
        if is_zarr:
            n_blocks = _write_zarr(args, client, ens, blocks, out, record)
        else:
            _write_netcdf(args, client, ens, blocks, out)
            n_blocks = len(blocks)
    _info(args, f"wrote {out}: {ens.sizes['time']} times x {args.members} members, "
                f"{n_blocks} blocks in {_time.monotonic() - t0:.0f} s")  # fmt: skip
    return 0


def _write_netcdf(
    args: argparse.Namespace,
    client: Client,
    ens: xr.Dataset,
    blocks: Sequence[tuple[int, int]],
    out: Path,
) -> None:
    """Compute every block, then write `out` at once (atomically)."""
    from tqdm.auto import tqdm

    results: dict[int, xr.Dataset] = {}
    with tqdm(total=len(blocks), desc="downscaling", unit="block", disable=args.quiet) as bar:
        _run_blocks(client, ens, blocks, range(len(blocks)), results.__setitem__, bar.update)
    full = xr.concat([results[i] for i in range(len(blocks))], dim="time",
                     data_vars="minimal", coords="minimal", compat="override",
                     join="override", combine_attrs="override")  # fmt: skip
    for name in ens.variables:
        full[name].attrs = ens[name].attrs
    full.attrs = ens.attrs
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    full.to_netcdf(tmp)
    os.replace(tmp, out)


def _write_zarr(
    args: argparse.Namespace,
    client: Client,
    ens: xr.Dataset,
    blocks: Sequence[tuple[int, int]],
    out: Path,
    record: dict[str, Any] | None,
) -> int:
    """Write the store's metadata (unless resuming), then each block as it finishes.

    Returns the number of blocks computed.
    """
    from tqdm.auto import tqdm

    path = progress_file(out)
    if record is None:
        path.unlink(missing_ok=True)  # a stale record must never outlive its store
        with warnings.catch_warnings():  # zarr 3: consolidated metadata is an extension
            warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
            ens.to_zarr(out, mode="w", compute=False)  # metadata and coordinates only
        record = {
            "xdeepr_progress": 1, **{k: ens.attrs[k] for k in _RESUME_KEYS},
            "n_time": ens.sizes["time"], "blocks": [list(b) for b in blocks], "done": [],
            "complete": False,
        }  # fmt: skip
        _write_json_atomic(path, record)
    done = sorted({int(i) for i in record["done"]})
    todo = [i for i in range(len(blocks)) if i not in set(done)]
    if done:
        _info(args, f"resuming {out}: skipping {len(done)} completed blocks "
                    f"({sum(blocks[i][1] - blocks[i][0] for i in done)} time steps), "
                    f"{len(todo)} to go")  # fmt: skip
    spatial = [v for v in ens.variables if "time" not in ens[v].dims]
    state = record

    def write(i: int, result: xr.Dataset) -> None:
        a, b = blocks[i]
        part = result.drop_vars([v for v in spatial if v in result.variables])
        part.attrs = {}
        part.to_zarr(out, region={"time": slice(a, b)}, mode="r+", consolidated=False)
        state["done"] = sorted({*state["done"], i})
        state["complete"] = len(state["done"]) == len(blocks)
        _write_json_atomic(path, state)  # only now does the block count as done

    with tqdm(total=len(blocks), initial=len(done), desc="downscaling", unit="block",
              disable=args.quiet) as bar:  # fmt: skip
        _run_blocks(client, ens, blocks, todo, write, bar.update)
    return len(todo)


def _check_resumable(
    out: Path, record: dict[str, Any], wanted: dict[str, Any], ens: xr.Dataset
) -> None:
    """Refuse to resume a store written with another model, seed, sampler..."""
    try:
        stored = xr.open_zarr(out, consolidated=True)
    except (OSError, ValueError, KeyError) as err:
        raise CLIError(
            f"cannot resume {str(out)!r}: it is not a readable zarr store ({err})"
        ) from err
    have = {k: stored.attrs.get(k, record.get(k)) for k in _RESUME_KEYS}
    differ = [k for k in _RESUME_KEYS if str(have[k]) != str(wanted[k])]
    if differ:
        was = ", ".join(f"{k.removeprefix('xdeepr_')}={have[k]}" for k in differ)
        now = ", ".join(f"{k.removeprefix('xdeepr_')}={wanted[k]}" for k in differ)
        raise CLIError(
            f"cannot resume {str(out)!r}: it was written with {was} but this run asks for "
            f"{now}; rerun with the same model and options, or pass --overwrite to start again"
        )
    if stored.sizes.get("time") != ens.sizes["time"] or not np.array_equal(
        np.asarray(stored["time"].values), np.asarray(ens["time"].values)
    ):
        raise CLIError(
            f"cannot resume {str(out)!r}: its time steps differ from the input's; resume with "
            "the same input, or pass --overwrite to start again"
        )


# ------------------------------------------------------------------------------ evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``xdeepr evaluate``: print the skill table and optionally draw figures."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import xdeepr  # noqa: F401  (registers .deepr)
    from xdeepr import metrics

    prediction = open_input([args.prediction], "prediction")
    truth = open_input([args.truth], "truth")
    if args.variable:
        names = [args.variable]
    else:
        names = [str(v) for v in truth.data_vars if v in prediction.data_vars]
        if not names:
            raise CLIError(
                f"the prediction ({list(map(str, prediction.data_vars))}) and the truth "
                f"({list(map(str, truth.data_vars))}) share no variable; pick one with --variable"
            )
    for what, ds in (("prediction", prediction), ("truth", truth)):
        missing = [n for n in names if n not in ds.data_vars]
        if missing:
            raise CLIError(f"the {what} has no variable {missing[0]!r} "
                           f"(it has {list(map(str, ds.data_vars))})")  # fmt: skip
    prediction, truth = prediction[names], truth[names]
    if "time" in prediction.dims and "time" in truth.dims:
        common = prediction.indexes["time"].intersection(truth.indexes["time"])
        if len(common) == 0:
            raise CLIError("the prediction and the truth share no time step")
        prediction, truth = prediction.sel(time=common), truth.sel(time=common)
    baselines: dict[str, xr.Dataset] = {}
    coarse = None
    if args.features:
        coarse = open_input([args.features], "features")
        missing = [n for n in names if n not in coarse.data_vars]
        if missing:
            raise CLIError(f"the features have no variable {missing[0]!r} "
                           f"(they have {list(map(str, coarse.data_vars))})")  # fmt: skip
        coarse = coarse[names]
        if "time" in coarse.dims and "time" in truth.dims:
            coarse = coarse.sel(time=truth.indexes["time"])
        baselines["bicubic"] = coarse.deepr.interpolate(truth)
    scores = metrics.score(prediction, truth, baselines=baselines).compute()
    print(metrics.format_table(scores))
    if args.figures:
        _evaluate_figures(args, prediction, truth, coarse, baselines.get("bicubic"), names)
    return 0


def _evaluate_figures(
    args: argparse.Namespace,
    prediction: xr.Dataset,
    truth: xr.Dataset,
    coarse: xr.Dataset | None,
    bicubic: xr.Dataset | None,
    names: Sequence[str],
) -> None:
    from xdeepr import metrics, plot

    folder = Path(args.figures)
    folder.mkdir(parents=True, exist_ok=True)
    ensemble = "member" in prediction.dims
    n_members = prediction.sizes.get("member", 1)
    written: list[str] = []
    for name in names:
        prefix = "" if len(names) == 1 else f"{name}_"
        if coarse is not None and bicubic is not None and ensemble:
            path = folder / f"{prefix}comparison.png"
            plot.comparison(coarse, bicubic, truth, prediction, variable=name,
                            members=(0, min(1, n_members - 1)), path=path)  # fmt: skip
            written.append(path.name)
        if bicubic is not None and ensemble:
            path = folder / f"{prefix}spectra.png"
            plot.spectra(truth, prediction, bicubic, variable=name, path=path)
            written.append(path.name)
        if ensemble:
            path = folder / f"{prefix}rank_histogram.png"
            hist = metrics.rank_histogram(prediction[name], truth[name])
            plot.rank_histogram(hist, path=path)
            written.append(path.name)
    if not written:
        _info(args, "no figure drawn: they need an ensemble (and --features for maps and spectra)")
    else:
        _info(args, f"wrote {', '.join(written)} into {folder}/")
