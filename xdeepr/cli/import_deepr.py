"""``xdeepr import-deepr``: a trained DeepR model folder and its YAML as an xdeepr model file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import PROG, check_not_input, check_output_file, info, open_input

NAME = "import-deepr"
SUMMARY = "turn a trained DeepR diffusion model into an xdeepr model file"

DESCRIPTION = """\
Import a DeepR diffusion model (ECMWFCode4Earth/DeepR) and save it as an xdeepr
model file, which `xdeepr downscale` and `xdeepr evaluate` then use like any other.

MODEL_DIR is DeepR's output folder (config.json, diffusion_pytorch_model.safetensors
or .bin, scheduler_config.json), or a hub repository id such as
predictia/europe_reanalysis_downscaler_diffuser when huggingface_hub is installed.
--config is the DeepR configuration_diffusion.yml it was trained with: coverages,
variables, standardization, learn_residuals, instance_norm, hour_embed_type.

FEATURES and LABELS (files, stores or quoted globs) give the label grid and the
scalers, fitted DeepR's way (monthly) on all their times: pass DeepR's training
period. DeepR's cached statistics pickles are never read, and a .bin weights file
is read only through torch's weights_only loader.

The network keeps its weights; the model samples in 10 steps by default
(xdeepr downscale --sampler ddpm walks DeepR's 1000). Needs diffusers:
pip install 'xdeepr[deepr]'. See docs/from-deepr.md.
"""

EPILOG = """\
examples:
  xdeepr import-deepr cddpm-run/ --config configuration_diffusion.yml \\
      'era5_t2m_*.nc' 'cerra_t2m_*.nc' --output deepr_t2m.xdeepr
  xdeepr downscale era5_2019.nc --model deepr_t2m.xdeepr --members 10 --output t2m.zarr
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``import-deepr`` subcommand to the subparsers `sub`."""
    p: argparse.ArgumentParser = sub.add_parser(
        NAME,
        prog=f"{PROG} {NAME}",
        help=SUMMARY,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    p.set_defaults(func=run)
    p.add_argument("model_dir", metavar="MODEL_DIR", help="DeepR's model folder or hub id")
    p.add_argument("features", metavar="FEATURES", help="coarse fields: file, store or glob")
    p.add_argument("labels", metavar="LABELS", help="hi-res fields: file, store or glob")
    p.add_argument(
        "--config", required=True, metavar="FILE", help="DeepR's configuration_diffusion.yml"
    )
    p.add_argument("--revision", metavar="REV", help="hub revision (branch, tag or commit)")
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing MODEL file")


def run(args: argparse.Namespace) -> int:
    """``xdeepr import-deepr``: import, save, print the model."""
    import xdeepr

    check_output_file(args.output, overwrite=args.overwrite)
    check_not_input(
        args.output,
        {"FEATURES": [args.features], "LABELS": [args.labels], "--config": [args.config]},
    )
    features = open_input([args.features], "features")
    labels = open_input([args.labels], "labels")
    model = xdeepr.from_deepr(args.model_dir, args.config, features, labels, revision=args.revision)
    path = model.save(args.output)
    print(model, file=sys.stdout)
    info(args, f"wrote {path}")
    return 0
