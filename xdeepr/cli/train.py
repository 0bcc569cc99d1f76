"""``xdeepr train``: train a model on files and save it; config files and ``--set``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (
    CLIError,
    add_command,
    check_not_input,
    check_output_file,
    info,
    open_input,
)
from ._stations import add_lapse_rate, lapse_rate_flag

SUMMARY = "train a model on coarse features and hi-res labels"

DESCRIPTION = """\
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

then each --set KEY=VALUE, VALUE read as the field's type (TrainConfig.parse_value:
5000, 2e-3, true/false, none, t2m,msl or [1, 2]; checked by the field's rule).

--deepr-config FILE reads a DeepR configuration_diffusion.yml instead of
--config: its variables, standardization methods, U-Net (eps_model.kwargs),
scheduler, data split and training_parameters become the TrainConfig, FEATURES
and LABELS are cropped to its two spatial_coverage boxes and their times to its
temporal_coverage and split; keys it ignores are listed in docs/from-deepr.md.

Checkpoints go to OUTPUT.checkpoints/ (unless checkpoint_dir is set); --resume
continues an interrupted run from the last one, exactly where it stopped.

--output is checked before anything is read or trained: its folder must be
writable, it must not be one of the inputs, and an existing model file is
replaced only with --overwrite (with --resume too: resuming continues the
checkpoints, replacing a finished model file is a separate decision).
"""

EPILOG = """\
examples:
  xdeepr train era5.nc cerra.nc --static static.nc --output t2m.xdeepr
  xdeepr train 'era5_*.nc' 'cerra_*.nc' --config train.yaml --set steps=50000 \\
      --set device=cuda --output t2m.xdeepr
  xdeepr train era5.zarr cerra.zarr --config train.json --output t2m.xdeepr --resume
  xdeepr train era5.nc cerra.nc --static static.nc \\
      --deepr-config configuration_diffusion.yml --set device=cuda --output t2m.xdeepr
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``train`` subcommand to the subparsers `sub`."""
    p = add_command(sub, common, sys.modules[__name__])
    p.add_argument("features", metavar="FEATURES", help="coarse fields: file, store or glob")
    p.add_argument("labels", metavar="LABELS", help="hi-res fields: file, store or glob")
    p.add_argument(
        "--static",
        nargs="+",
        default=[],
        metavar="FILE",
        help="static covariates (orography, land-sea mask): files, stores or globs",
    )
    p.add_argument(
        "--observations",
        metavar="FILE",
        help="station observations of the labels (CSV table or CF timeSeries netCDF): the "
        "model takes them as condition channels",
    )
    add_lapse_rate(p, fit=True, what="(default -6.5; recorded in the model)")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TrainConfig fields in a .json, .toml or .yaml/.yml file",
    )
    p.add_argument(
        "--deepr-config",
        metavar="FILE",
        dest="deepr_config",
        help="a DeepR configuration_diffusion.yml: settings, variables, coverages (crops "
        "FEATURES and LABELS), split; --set applies on top (docs/from-deepr.md)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one TrainConfig field, e.g. --set steps=5000 (repeatable)",
    )
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint (OUTPUT.checkpoints/ or checkpoint_dir)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing MODEL file (also needed with --resume to replace one)",
    )


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
    FileNotFoundError, CLIError, ConfigError
        When the file is missing, of an unknown type, not a text file (a data file
        given by mistake), not valid, not a mapping, or a DeepR configuration (which
        ``--deepr-config`` reads); YAML aliases that expand beyond a configuration's
        size are refused before they are expanded.
    """
    from .._configfile import load_yaml, read_text

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"config file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    kind = {".json": "JSON", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}.get(suffix)
    if kind is None:
        raise CLIError(
            f"unknown config file type {suffix or '(none)'!r} of {str(p)!r}; "
            "use .json, .toml, .yaml or .yml"
        )
    data: Any
    if kind == "YAML":  # text only, aliases bounded, 1e-3 a number; errors name the file
        data = load_yaml(p, "config file")
    else:
        text = read_text(p, "config file", kind)  # a data file given here is named as such
        try:
            data = json.loads(text) if kind == "JSON" else _toml().loads(text)
        except ValueError as err:  # JSONDecodeError and TOMLDecodeError are ValueErrors
            raise CLIError(f"cannot parse the config file {str(p)!r}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CLIError(
            f"the config file {str(p)!r} must hold a mapping of TrainConfig fields, "
            f"not a {type(data).__name__}"
        )
    deepr = [k for k in ("data_configuration", "training_configuration") if k in data]
    if deepr:
        raise CLIError(
            f"the config file {str(p)!r} has the structure of a DeepR configuration "
            f"({', '.join(deepr)}), not TrainConfig fields: pass it with --deepr-config "
            f"{str(p)!r} instead of --config"
        )
    return data


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10
        import tomli
    except ImportError as err:  # pragma: no cover
        raise CLIError(
            "reading TOML on Python 3.10 needs tomli: pip install tomli (or use a JSON config)"
        ) from err
    return tomli  # pragma: no cover


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings; VALUE as field KEY's type (TrainConfig.parse_value).

    Raises
    ------
    ConfigError
        For an unknown field (with a "did you mean" hint) or text not of its type.

    Examples
    --------
    >>> parse_overrides(["steps=5", "channel_multipliers=[1, 2]", "device=cuda"])
    {'steps': 5, 'channel_multipliers': (1, 2), 'device': 'cuda'}
    >>> parse_overrides(["patch_size=none", "calendar=no"])
    {'patch_size': None, 'calendar': False}
    """
    from .._validate import shown
    from ..training.config import TrainConfig  # the fields' rules read the text

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE (e.g. --set steps=5000), got {shown(item)}")
        out[key] = TrainConfig.parse_value(key, text)
    return out


def run(args: argparse.Namespace) -> int:
    """``xdeepr train``: train on files and save the model."""
    import xarray as xr

    import xdeepr

    # the output first: a model trained for hours must have somewhere to go
    check_output_file(args.output, overwrite=args.overwrite)
    given = {"FEATURES": [args.features], "LABELS": [args.labels], "--static": args.static}
    for flag in ("observations", "config", "deepr_config"):
        if getattr(args, flag, None):
            given[f"--{flag.replace('_', '-')}"] = [getattr(args, flag)]
    check_not_input(args.output, given)
    if args.lapse_rate is not None:  # checked before any data is read
        if not args.observations:
            raise CLIError("--lapse-rate acts on --observations; give the stations too")
        lapse_rate_flag(args.lapse_rate, fit=True)
    deepr = None
    if args.deepr_config:
        if args.config:
            raise CLIError("give --config or --deepr-config, not both")
        from xdeepr.adapters.deepr import read_deepr_config

        deepr = read_deepr_config(args.deepr_config)
        settings = deepr.train.to_dict()
        if settings["checkpoint_dir"] is None:
            del settings["checkpoint_dir"]  # the default below, beside --output
    else:
        settings = load_config(args.config) if args.config else {}
    overrides = parse_overrides(args.overrides)
    if {"mean", "learn_residuals"} & set(overrides):  # one alias set: the other follows it
        settings = {k: v for k, v in settings.items() if k not in ("mean", "learn_residuals")}
    settings.update(overrides)
    output = Path(args.output)
    settings.setdefault("checkpoint_dir", str(output.parent / (output.name + ".checkpoints")))
    if args.quiet:
        settings["progress"] = False
    config = xdeepr.TrainConfig.from_dict(settings)
    from xdeepr.training import check_checkpoint_dir

    check_checkpoint_dir(config)  # before the data are opened: a run must be able to save
    chunks = {"time": config.block_size}
    features = open_input([args.features], "features", chunks)
    labels = open_input([args.labels], "labels", chunks)
    if deepr is not None:  # coverages, times of the split, and the exact validation share
        features, labels, fitted = deepr.prepare(features, labels)
        if "validation_fraction" not in overrides:
            config = config.replace(validation_fraction=fitted.validation_fraction)
        if deepr.static_auxiliary and not args.static:
            info(
                args,
                f"the DeepR config asks for {list(deepr.static_auxiliary)}: pass them "
                "with --static",
            )
    static = None
    if args.static:
        parts = [open_input([s], "static covariates") for s in args.static]
        static = xr.merge(parts, compat="override", join="outer").load()
    from ._stations import open_observations

    obs = open_observations(args.observations) if args.observations else None
    rate = None if args.lapse_rate is None else lapse_rate_flag(args.lapse_rate, fit=True)
    lapse = {} if rate is None and args.lapse_rate is None else {"lapse_rate": rate}
    model = xdeepr.train(
        features, labels, static, config=config, resume=args.resume, observations=obs, **lapse
    )
    from xdeepr.training.distributed import is_main

    if not is_main():  # under torchrun (docs/distributed.md) rank 0 writes the model file
        return 0
    path = model.save(args.output)
    print(model)
    info(args, f"wrote {path}")
    return 0
