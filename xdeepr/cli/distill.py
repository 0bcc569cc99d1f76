"""``xdeepr distill``: a one-pass student of a trained model, saved as a model file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import (
    CLIError,
    add_command,
    check_not_input,
    check_output_file,
    info,
    load_model,
    open_input,
)

SUMMARY = "distil a trained model into a student whose members cost 1 or 2 evaluations"

DESCRIPTION = """\
Distil TEACHER (a model file written by 'xdeepr train') into a student whose
ensemble members cost one (--evaluations 1, the default) or two network
evaluations instead of the teacher's sampler steps, and save it to --output.

The student is the teacher's network fine-tuned as a generator on the almost
fair CRPS of a few members per example (xdeepr.distill;
docs/methodology/distillation.md). FEATURES and LABELS are training pairs as
for 'xdeepr train' (the teacher's variables, the labels on its grid); the last
validation_fraction of their times selects the student by validation skill
(fair CRPS, spread-skill), as 'xdeepr train' does.

Settings are xdeepr.TrainConfig fields, from --config and --set as for 'xdeepr
train' (steps, learning_rate, batch_size, crps_members, crps_alpha, validation
settings, device); the network, data and normalisation fields are the
teacher's. Without --config the distillation defaults apply
(xdeepr.training.distill.DISTILL_DEFAULTS). Under torchrun it runs
data-parallel as training does; rank 0 writes the file.
"""

EPILOG = """\
examples:
  xdeepr distill t2m.xdeepr era5.nc cerra.nc --output t2m-onepass.xdeepr
  xdeepr distill t2m.xdeepr 'era5_*.nc' 'cerra_*.nc' --evaluations 2 \\
      --set steps=1000 --set device=cuda --output t2m-twopass.xdeepr
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``distill`` subcommand to the subparsers `sub`."""
    p = add_command(sub, common, sys.modules[__name__])
    p.add_argument("teacher", metavar="TEACHER", help="the trained model file to distil")
    p.add_argument("features", metavar="FEATURES", help="coarse fields: file, store or glob")
    p.add_argument("labels", metavar="LABELS", help="hi-res fields: file, store or glob")
    p.add_argument(
        "--evaluations",
        type=int,
        choices=(1, 2),
        default=1,
        help="network evaluations per member of the student (default: 1)",
    )
    p.add_argument(
        "--observations",
        metavar="FILE",
        help="station observations (CSV table or CF timeSeries netCDF): needed when the "
        "teacher takes stations as condition channels",
    )
    p.add_argument("--config", metavar="FILE", help="TrainConfig fields in a .json/.toml/.yaml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one TrainConfig field, e.g. --set steps=500 (repeatable)",
    )
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing MODEL file")


def run(args: argparse.Namespace) -> int:
    """``xdeepr distill``: distil a model file on files and save the student."""
    import xdeepr

    from .train import load_config, parse_overrides

    check_output_file(args.output, overwrite=args.overwrite)
    given = {"TEACHER": [args.teacher], "FEATURES": [args.features], "LABELS": [args.labels]}
    for flag in ("observations", "config"):
        if getattr(args, flag, None):
            given[f"--{flag}"] = [getattr(args, flag)]
    check_not_input(args.output, given)
    teacher = load_model(args.teacher)
    overrides = parse_overrides(args.overrides)
    if args.quiet:
        overrides["progress"] = False
    config = None
    if args.config:
        from xdeepr.training.distill import DISTILL_DEFAULTS

        settings = {**DISTILL_DEFAULTS, **load_config(args.config)}
        config = xdeepr.TrainConfig.from_dict(settings)
    features = open_input([args.features], "features")
    labels = open_input([args.labels], "labels")
    from ._stations import open_observations

    obs = open_observations(args.observations) if args.observations else None
    try:
        student = xdeepr.distill(
            teacher,
            features,
            labels,
            evaluations=args.evaluations,
            config=config,
            observations=obs,
            **overrides,
        )
    except TypeError as err:  # a config file's field of the wrong kind
        raise CLIError(str(err)) from err
    from xdeepr.training.distributed import is_main

    if not is_main():
        return 0
    path = student.save(args.output)
    print(student)
    info(args, f"wrote {path}")
    return 0
