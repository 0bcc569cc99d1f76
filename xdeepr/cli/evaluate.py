"""``xdeepr evaluate``: score an ensemble against the truth, print the table, draw figures."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from ._common import CLIError, add_command, info, open_input
from ._stations import add_lapse_rate, lapse_rate_flag

SUMMARY = "score an ensemble against the truth and draw figures"

DESCRIPTION = """\
Score PREDICTION (an ensemble with a 'member' dimension, or a deterministic
field) against TRUTH on the same grid, over their common times, and print the
table of xdeepr.metrics.score: RMSE, MAE and mean error of the ensemble mean,
R², CRPS, spread/skill ratio and the small-scale spectral ratio. With
--features (the coarse input) the bicubic interpolation is scored alongside, and with
--model too the climatology baseline (bicubic + the model's stored mean residual);
without --features the table says the bicubic baseline was skipped, as the API does.
With --observations (station observations) the same scores at the stations follow.

Every variable is scored on its own. A precipitation variable (standard_name
precipitation_amount, precipitation_flux, snowfall_amount, ...) gets the rows
dry_fraction_error (dry: below 0.1 mm), brier_1mm and q50/q90/q99_error, and a
second table of the truth, the prediction and the baselines side by side:
minimum, dry fraction, fraction above 1 mm, quantiles. Wind given as components
(eastward_wind / northward_wind) is also scored as wind speed, derived from each
member's own u and v.

A PREDICTION whose writing was interrupted (its attribute xdeepr_complete is 0,
or its progress record says so) is refused: its unwritten times are NaN.
Resume the run that wrote it, or pass --allow-incomplete.

--figures DIR writes comparison.png (maps; needs --features), spectra.png
(needs --features) and rank_histogram.png (needs an ensemble).
"""

EPILOG = """\
examples:
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc --features era5_2022.nc --figures figures/
  xdeepr evaluate t2m_2022.zarr cerra_2022.nc --observations stations_2022.csv
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` subcommand to the subparsers `sub`."""
    p = add_command(sub, common, sys.modules[__name__])
    p.add_argument("prediction", metavar="PREDICTION", help="ensemble: file, store or glob")
    p.add_argument("truth", metavar="TRUTH", help="hi-res truth: file, store or glob")
    p.add_argument(
        "--features",
        metavar="COARSE",
        help="coarse input: adds its bicubic interpolation as a baseline",
    )
    p.add_argument(
        "--model",
        metavar="MODEL",
        help="the model file that made PREDICTION: with --features, adds the climatology "
        "baseline (bicubic + the training period's mean residual by month and hour)",
    )
    p.add_argument("--figures", metavar="DIR", help="write PNG figures into DIR")
    p.add_argument(
        "--observations",
        metavar="FILE",
        help="station observations (CSV table or CF timeSeries netCDF): also score the "
        "prediction and the baselines at the stations (bilinear, xdeepr.metrics.score_at)",
    )
    p.add_argument("--stations", metavar="FILE", help="deprecated: use --observations")
    add_lapse_rate(p, what="before scoring (default -6.5)")
    p.add_argument(
        "--orography",
        metavar="FILE",
        help="with --observations: the prediction grid's orography (a variable 'orog' or "
        "with standard_name surface_altitude; default: --model's static field)",
    )
    p.add_argument(
        "--observation-error",
        metavar="SIGMA",
        type=float,
        help="with --observations: the stations' own error (standard deviation, data units, "
        "e.g. 0.3); their spread-skill ratio then allows for it",
    )
    p.add_argument(
        "--variable", metavar="NAME", help="variable to score (default: all the truth shares)"
    )
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="score a PREDICTION whose writing was interrupted (its missing times are NaN)",
    )


def _select(what: str, ds: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise CLIError(
            f"the {what} has no variable {missing[0]!r} (it has {list(map(str, ds.data_vars))})"
        )
    return ds[list(names)]


def run(args: argparse.Namespace) -> int:
    """``xdeepr evaluate``: print the skill table and optionally draw figures."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import xdeepr  # (registers .deepr)
    from xdeepr import metrics
    from xdeepr.metrics.table import variable_tables
    from xdeepr.writer import ensure_complete

    from ._stations import observations_flag

    observations = observations_flag(args)
    if args.figures:
        _figure_folder(args.figures)  # before the scores: a wrong path fails at once
    for flag, value in (("--lapse-rate", args.lapse_rate), ("--orography", args.orography)):
        if value is not None and not observations:
            raise CLIError(f"{flag} acts on --observations; give the observations too")
    if args.observation_error is not None and not observations:
        raise CLIError(
            "--observation-error is the error of --observations; give the observations too"
        )
    prediction = open_input([args.prediction], "prediction")
    if not args.allow_incomplete:
        single = None if glob.has_magic(args.prediction) else args.prediction
        ensure_complete(prediction, single)
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
    prediction, truth = _select("prediction", prediction, names), _select("truth", truth, names)
    if "time" in prediction.dims and "time" in truth.dims:
        common = prediction.indexes["time"].intersection(truth.indexes["time"])
        if len(common) == 0:
            raise CLIError("the prediction and the truth share no time step")
        prediction, truth = prediction.sel(time=common), truth.sel(time=common)
    baselines: dict[str, xr.Dataset] = {}
    skipped: dict[str, str] = {}  # as hires.deepr.score(truth) without features= says
    coarse = None
    if args.features:
        coarse = _select("features", open_input([args.features], "features"), names)
        if "time" in coarse.dims and "time" in truth.dims:
            coarse = coarse.sel(time=truth.indexes["time"])
        baselines["bicubic"] = coarse.deepr.interpolate(truth)
        if args.model:  # bicubic + the stored mean residual: the baseline to beat
            from xdeepr.model.climatology import add_climatology

            model = xdeepr.load_model(args.model)
            if model.climatology is None:
                raise CLIError(f"the model {args.model} holds no climatology (re-train it)")
            baselines["climatology"] = add_climatology(model.climatology, baselines["bicubic"])
    elif args.model:
        raise CLIError("--model adds the climatology baseline, which needs --features")
    else:
        skipped["bicubic"] = "needs the coarse input (--features)"
    scores = metrics.score(truth, prediction, baselines=baselines).compute()
    print(metrics.format_table(metrics.mark_skipped(scores, skipped)))
    extra = variable_tables(truth, prediction, baselines)  # precipitation, wind speed
    if extra:
        print("\n" + extra)
    if observations:  # the same scores at the stations, as DeepR validates
        from ._stations import open_observations

        stations = open_observations(observations, "observations")
        error = args.observation_error
        lapse: dict[str, Any] = {}
        if args.lapse_rate is not None:
            lapse["lapse_rate"] = lapse_rate_flag(args.lapse_rate)
        orography: Any = None  # the grid's, for the stations' altitude
        if args.orography:
            orography = open_input([args.orography], "orography").load()
        elif args.model:
            orography = xdeepr.load_model(args.model)
        at = metrics.score_at(
            stations,
            prediction,
            baselines=baselines or None,
            variables=names,
            observation_error=error,
            orography=orography,
            **lapse,
        )
        print(f"(station altitude: {at.attrs.get('xdeepr_altitude_adjustment', 'none')})")
        allowing = f" (spread-skill allowing for their {error:g} error)" if error else ""
        print(f"\nat {stations.sizes.get('station', 0)} stations{allowing}:")
        print(metrics.format_table(metrics.mark_skipped(at.compute(), skipped)))
        print(f"({at.attrs.get('observations_used', '?')} observation values scored)")
    if args.figures:
        _figures(args, prediction, truth, coarse, baselines.get("bicubic"), names)
    return 0


def _figure_folder(path: str) -> Path:
    """The ``--figures`` folder, created if missing; a file or an unusable path is refused."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CLIError(
            f"--figures {path!r} is a file, not a folder: pass a folder to write the PNG "
            f"figures into (created if missing), e.g. --figures {folder.with_suffix('')}_figures"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(
            f"--figures {path!r}: cannot create the folder ({err.strerror or err}); pass a "
            "folder that can be written (created if missing)"
        ) from None
    return folder


def _figures(
    args: argparse.Namespace,
    prediction: xr.Dataset,
    truth: xr.Dataset,
    coarse: xr.Dataset | None,
    bicubic: xr.Dataset | None,
    names: Sequence[str],
) -> None:
    from xdeepr import metrics, plot

    folder = _figure_folder(args.figures)
    ensemble = "member" in prediction.dims
    n_members = prediction.sizes.get("member", 1)
    written: list[str] = []
    for name in names:
        prefix = "" if len(names) == 1 else f"{name}_"
        if coarse is not None and bicubic is not None and ensemble:
            path = folder / f"{prefix}comparison.png"
            plot.comparison(
                coarse,
                bicubic,
                truth,
                prediction,
                variable=name,
                members=(0, min(1, n_members - 1)),
                path=path,
            )
            written.append(path.name)
        if bicubic is not None and ensemble:
            path = folder / f"{prefix}spectra.png"
            plot.spectra(truth, prediction, bicubic, variable=name, path=path)
            written.append(path.name)
        if ensemble:
            path = folder / f"{prefix}rank_histogram.png"
            hist = metrics.rank_histogram(truth[name], prediction[name])
            plot.rank_histogram(hist, path=path)
            written.append(path.name)
    if not written:
        info(args, "no figure drawn: they need an ensemble (and --features for maps and spectra)")
    else:
        info(args, f"wrote {', '.join(written)} into {folder}/")
