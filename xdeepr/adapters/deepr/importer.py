"""``xdeepr.from_deepr``: a trained DeepR diffusion model as an ordinary DownscalingModel.

Reads DeepR's model folder (:mod:`.directory`: the ``UNet2DModel`` and its weights, the
training schedule), its YAML configuration (coverages, variables, standardisation,
``learn_residuals``, ``instance_norm``, ``hour_embed_type``), fits DeepR's scalers from
the features and labels passed (:mod:`.scalers`) and assembles a
:class:`~.model.DeepRModel`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import xarray as xr

from ... import grid
from ...diffusion import DEFAULT_SAMPLER
from ...errors import ConfigError, GridError, InputError
from ...model.inputs import input_record
from .data import read_data
from .directory import locate, read_network, read_schedule
from .keys import DEEPR_DEFAULTS
from .model import SCALE, DeepRModel, crop_offsets, north_up
from .network import HOUR_EMBEDS, DiffusersUNet, import_diffusers
from .scalers import deepr_scaler, identity_scaler, renamed
from .schema import Reader
from .warning import DeepRConfigWarning

if TYPE_CHECKING:
    from ...nn import UNet

__all__ = ["from_deepr"]

_TP = "training_configuration.training_parameters"


def _settings(config: str | os.PathLike[str]) -> dict[str, Any]:
    """What importing needs of DeepR's YAML, read as DeepR reads it.

    Only ``data_configuration`` (variables, coverages, checked key by key) and a few
    ``training_parameters`` are read: the network and the schedule come from the
    model folder, which is what was trained.
    """
    from ..._configfile import load_yaml

    doc = load_yaml(os.fspath(config), "DeepR configuration")
    if not isinstance(doc, Mapping):
        raise ConfigError(f"DeepR configuration {os.fspath(config)!r} must hold a mapping")
    with warnings.catch_warnings():  # its notes are about training in xdeepr, not importing
        warnings.simplefilter("ignore", DeepRConfigWarning)
        data = read_data(Reader(), doc)
    training = doc.get("training_configuration") or {}
    tp = (training.get("training_parameters") if isinstance(training, Mapping) else None) or {}
    out: dict[str, Any] = {k: data[k] for k in ("fvars", "lvars", "fcov", "lcov")}
    for key in ("instance_norm", "learn_residuals"):
        value = tp.get(key, DEEPR_DEFAULTS.get(key, False))
        if not isinstance(value, bool):
            raise ConfigError(
                f"DeepR configuration: {_TP}.{key} must be true or false, not {value!r}"
            )
        out[key] = value
    hour = tp.get("hour_embed_type", DEEPR_DEFAULTS["hour_embed_type"])
    if hour not in HOUR_EMBEDS:
        raise ConfigError(
            f"DeepR configuration: {_TP}.hour_embed_type is {hour!r}; DeepR's are "
            f"{list(HOUR_EMBEDS)}"
        )
    out["hour_embed"] = hour
    out["hour_embed_size"] = int(tp.get("hour_embed_size", 64))
    sections = doc["data_configuration"]
    for side, key in (("features", "features_configuration"), ("labels", "label_configuration")):
        sec = sections[key]
        std = sec.get("standardization") or {}
        on = bool(std.get("to_do", False)) if std else bool(sec.get("apply_standardization"))
        out[f"{side}_scaling"] = str(std.get("method", "domain-wise")) if on else None
    return out


def _prepared(
    ds: xr.Dataset, names: tuple[str, ...], coverage: Mapping[str, Any], what: str
) -> xr.Dataset:
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise InputError(
            f"the {what} lack the variable(s) {missing} the DeepR configuration names (they "
            f"have {list(map(str, ds.data_vars))}); rename them to DeepR's names"
        )
    if "time" not in ds.coords:
        raise InputError(f"the {what} have no 'time' coordinate")
    return north_up(grid.crop(ds[list(names)], coverage=dict(coverage)))


def _alignment(coarse: xr.Dataset, labels: xr.Dataset, offsets: tuple[int, int]) -> float:
    """Largest distance (degrees) between DeepR's ×5 pixel centres and the label grid's."""
    worst = 0.0
    for (c, f), off in zip(
        zip(grid.find_latlon(coarse), grid.find_latlon(labels), strict=True), offsets, strict=True
    ):
        cv = np.asarray(coarse[c].values, "float64")
        fv = np.asarray(labels[f].values, "float64")
        step = (cv[-1] - cv[0]) / max(cv.size - 1, 1)
        # torch's half-pixel rule: fine pixel k sits at coarse index (k + 0.5) / 5 - 0.5
        at = cv[0] + ((np.arange(fv.size) + off + 0.5) / SCALE - 0.5) * step
        worst = max(worst, float(np.abs((at - fv + 180) % 360 - 180).max()))
    return worst


def from_deepr(
    model_dir: str | os.PathLike[str],
    config: str | os.PathLike[str],
    features: xr.Dataset | None = None,
    labels: xr.Dataset | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
) -> DeepRModel:
    """Import a trained DeepR diffusion model as an ordinary :class:`~xdeepr.DownscalingModel`.

    Parameters
    ----------
    model_dir : str or path-like
        DeepR's output folder (``config.json``, ``diffusion_pytorch_model.safetensors``
        or ``.bin``, ``scheduler_config.json``; also in ``unet/`` and ``scheduler/``
        subfolders), or a hub repository id (e.g.
        ``"predictia/europe_reanalysis_downscaler_diffuser"``), downloaded with
        ``huggingface_hub`` when it is installed.
    config : str or path-like
        The DeepR YAML the model was trained with (``configuration_diffusion.yml``):
        coverages, variables, standardisation, ``learn_residuals``, ``instance_norm``,
        ``hour_embed_type``.
    features, labels : xarray.Dataset
        ERA5-like features and CERRA-like labels covering the YAML's coverages (more is
        cropped): the label grid and the scalers come from them, fitted DeepR's way
        (monthly, :mod:`xdeepr.adapters.deepr.scalers`) on all the times passed, so pass
        DeepR's training period to reproduce its statistics. DeepR's cached statistics
        pickles are never read.
    revision : str, optional
        Hub revision (branch, tag or commit) when `model_dir` is a repository id.
    device : str or torch.device, optional
        Where to put the network (default: CPU).

    Returns
    -------
    DeepRModel
        A DownscalingModel: ``ds.deepr.downscale(model)``, ``model.save(path)`` and
        :func:`xdeepr.load_model` work as for any model. It samples with xdeepr's
        default sampler (10 steps) unless told otherwise; ``sampler="ddpm"`` walks all
        1000 of DeepR's steps.

    Raises
    ------
    ImportError
        Without ``diffusers`` (``pip install 'xdeepr[deepr]'``).
    FileNotFoundError
        When `model_dir` or `config` does not exist.
    ConfigError
        For a DeepR YAML that cannot be read (the key path named).
    ModelFileError
        For unreadable weights, a ``.bin`` that would need unpickling, weights that do
        not fit ``config.json``, or a scheduler xdeepr cannot sample.
    InputError, GridError
        When `features`/`labels` are missing, lack a variable, or their grids do not
        fit the network (channels, ×5 upsampling and crop, sizes).

    Examples
    --------
    >>> import xdeepr
    >>> model = xdeepr.from_deepr("cddpm-run", "configuration_diffusion.yml",
    ...                           era5, cerra)  # doctest: +SKIP
    >>> hires = era5.deepr.downscale(model, members=10)  # doctest: +SKIP
    >>> model.save("deepr_t2m.xdeepr")  # doctest: +SKIP
    """
    import_diffusers("from_deepr")
    if not os.path.isfile(config):
        raise FileNotFoundError(f"no DeepR configuration file at {os.fspath(config)!r}")
    settings = _settings(config)
    if features is None or labels is None:
        raise InputError(
            "from_deepr needs features= and labels=: DeepR's model folder holds no label grid "
            "and no statistics (its cached pickles are not read), so both are fitted from "
            "the data you pass, as DeepR fitted them"
        )
    root = locate(model_dir, revision)
    unet, weights = read_network(root)
    schedule, prediction, scheduler = read_schedule(root)
    fvars, lvars = tuple(settings["fvars"]), tuple(settings["lvars"])
    coarse = _prepared(features, fvars, settings["fcov"], "features")
    fine = _prepared(labels, lvars, settings["lcov"], "labels")
    flat, flon = grid.find_latlon(coarse)
    llat, llon = grid.find_latlon(fine)
    factor = grid.scale_factor(coarse, fine)
    if factor != SCALE:
        raise GridError(
            f"the label grid is {factor} times finer than the features', DeepR's is {SCALE} "
            "times (0.25° -> 0.05°)"
        )
    shape_c = (coarse.sizes[flat], coarse.sizes[flon])
    shape_f = (fine.sizes[llat], fine.sizes[llon])
    offsets = crop_offsets(shape_c, shape_f)
    net = DiffusersUNet(
        unet, hour_embed=settings["hour_embed"], hour_embed_size=settings["hour_embed_size"]
    )
    if (net.conditioned_on_input, net.image_channels) != (len(fvars), len(lvars)):
        raise InputError(
            f"the UNet2DModel takes {net.conditioned_on_input} condition channel(s) and "
            f"gives {net.image_channels}; the configuration names {len(fvars)} feature(s) "
            f"{list(fvars)} and {len(lvars)} label(s) {list(lvars)}"
        )
    if settings["learn_residuals"] and len(fvars) != len(lvars):
        raise InputError(
            "learn_residuals adds the upsampled features to the labels: DeepR needs as many "
            f"features as labels, the configuration names {list(fvars)} and {list(lvars)}"
        )
    m = net.size_multiple
    if shape_f[0] % m or shape_f[1] % m:
        raise GridError(
            f"the label grid is {shape_f[0]}x{shape_f[1]}; the UNet2DModel needs multiples of "
            f"{m}: check the labels' spatial_coverage"
        )
    off = _alignment(coarse, fine, offsets)
    fstep = abs(grid.grid_spacing(fine)[0])
    if off > 0.01 * fstep:
        warnings.warn(
            f"DeepR's x{SCALE} upsampling and centre crop put the label pixels up to {off:.4g}° "
            "away from the label grid's coordinates; the model is reproduced as DeepR trained "
            "it (the condition is shifted by that much)",
            DeepRConfigWarning,
            stacklevel=2,
        )
    fscale = settings["features_scaling"]
    feature_scaler = (
        deepr_scaler(coarse, fvars, fscale) if fscale else identity_scaler(coarse, fvars)
    )
    lscale = settings["labels_scaling"]
    units = {v: str(fine[v].attrs.get("units", "")) for v in lvars}
    if lscale:
        label_scaler = deepr_scaler(fine, lvars, lscale)
    elif fscale == "domain-wise":  # DeepR scales the labels with the features' scaler
        label_scaler = renamed(feature_scaler, lvars, units)
    else:
        label_scaler = identity_scaler(fine, lvars)
    dlat, dlon = grid.grid_spacing(coarse)
    la = np.asarray(coarse[flat].values, "float64")
    lo = np.asarray(coarse[flon].values, "float64")
    feature_grid = {
        "lat_step": dlat,
        "lon_step": dlon,
        "coverage": {
            "longitude": [float(lo[0]), float(lo[-1])],
            "latitude": [float(la.max()), float(la.min())],
        },
        "halo": {"north": 0.0, "south": 0.0, "west": 0.0, "east": 0.0},
        "shape": [int(shape_c[0]), int(shape_c[1])],
        "scale_factor": SCALE,
    }
    label_grid = xr.Dataset(  # contiguous copies (north_up may have reversed a view)
        coords={n: xr.Variable(n, np.array(fine[n].values), fine[n].attrs) for n in (llat, llon)}
    )
    stats = {v: [float(coarse[v].mean()), float(coarse[v].std())] for v in fvars}
    model = DeepRModel(
        cast("UNet", net),  # typed as xdeepr's UNet; DiffusersUNet has its call and attributes
        schedule,
        prediction=prediction,
        feature_scaler=feature_scaler,
        label_scaler=label_scaler,
        features=list(fvars),
        labels=list(lvars),
        label_grid=label_grid,
        feature_grid=feature_grid,
        static=xr.Dataset(coords=label_grid.coords),
        static_stats={},
        label_attrs={v: dict(fine[v].attrs) for v in lvars},
        learn_residuals=False,  # DeepR's residual is added in DeepRModel.sample
        config={
            "sampler": DEFAULT_SAMPLER,
            "prediction": prediction,
            "deepr": {
                "instance_norm": settings["instance_norm"],
                "learn_residuals": settings["learn_residuals"],
                "offsets": list(offsets),
                "feature_scaling": fscale or "none",
                "label_scaling": lscale or ("features" if fscale == "domain-wise" else "none"),
                "feature_stats": stats,
                "scheduler": scheduler,
            },
        },
        summary={
            "imported_from": "DeepR",
            "model_dir": os.fspath(model_dir),
            "weights": weights.name,
            "configuration": os.fspath(config),
            "scaler_times": int(coarse.sizes["time"]),
        },
        inputs=input_record(coarse, list(fvars)),
    )
    if device is not None:
        model.to(device)
    return model
