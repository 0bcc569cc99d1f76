"""Read a DeepR training configuration (``resources/configuration_diffusion.yml``).

Over 400 lines because DeepR's file has had several layouts and every key is mapped,
ignored with a stated reason, or refused with its key path; the tables and the checks
that read them belong together.

DeepR (ECMWFCode4Earth/DeepR) describes an experiment in one YAML file with three
parts: ``data_configuration`` (features, label, split), ``training_configuration``
(``model_configuration``: a diffusers ``UNet2DModel`` and a scheduler, and
``training_parameters``). :func:`read_deepr_config` turns such a file into a
:class:`DeepRConfig`: the :class:`~xdeepr.TrainConfig` it implies plus what a
TrainConfig does not hold (coverages, variables, auxiliary statics, scaling methods,
the split), and, key by key, what was ignored and why. docs/from-deepr.md holds the
full table; :data:`IGNORED` the reasons.

The reader refuses what it does not understand: a missing section or a value of the
wrong type raises :class:`~xdeepr.errors.ConfigError` naming the key path (e.g.
``training_configuration.training_parameters.batch_size``). Keys it does not know
inside known sections are listed in one :class:`DeepRConfigWarning`; settings that
xdeepr cannot reproduce exactly (an LMS sampler, zero terminal SNR with
ε-prediction, ...) are said in the same warning.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, InputError
from ..scaling import METHODS as SCALING_METHODS
from .config import TrainConfig, _check_field

__all__ = ["IGNORED", "DeepRConfig", "DeepRConfigWarning", "DeepRSplit", "read_deepr_config"]

#: DeepR's own defaults (deepr.model.configs.TrainingConfig) for training parameters
#: a file leaves out: a DeepR file is read as DeepR would have run it.
DEEPR_DEFAULTS: dict[str, Any] = {
    "num_epochs": 50,
    "batch_size": 2,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-4,
    "lr_warmup_steps": 500,
    "hour_embed_type": "none",
    "learn_residuals": False,
    "seed": 0,
}

_DATA_FILES = "xdeepr reads the files, stores or datasets you pass; none are looked up"
_OUTPUTS = "xdeepr writes one model file (--output / model.save(path)); nothing is uploaded"
#: Keys read and deliberately not mapped, with the reason (the key path's last parts).
IGNORED: dict[str, str] = {
    "data_name": "the dataset name only builds DeepR's file names; " + _DATA_FILES,
    "spatial_resolution": "the resolution is read from the grid of the data",
    "data_location": _DATA_FILES,
    "data_dir": _DATA_FILES,
    "land_mask_location": "static fields come from --static / train(static=...)",
    "orography_location": "static fields come from --static / train(static=...)",
    "standardization.cache_folder": "the scaling statistics are stored in the model file",
    "temporal_coverage.frequency": "the frequency of DeepR's monthly files; xdeepr uses the "
    "time stamps of the data",
    "type": "read: xdeepr trains diffusion models only ('diffusion')",
    "trained_obs_model": "xdeepr trains its own mean; --set mean=regression (CorrDiff) is the "
    "closest",
    "eps_model.kwargs.in_channels": "the channels are counted from the data",
    "eps_model.kwargs.out_channels": "the channels are counted from the data",
    "eps_model.kwargs.sample_size": "the sample size is the (padded) label grid",
    "eps_model.kwargs.up_block_types": "xdeepr's up path mirrors the down path",
    "eps_model.kwargs.time_embedding_type": "xdeepr's timestep embedding is sinusoidal "
    "('positional')",
    "eps_model.kwargs.num_class_embeds": "the hour is embedded when hour_embed_type is not "
    "'none' (calendar)",
    "eps_model.kwargs.class_embed_type": "the hour is embedded when hour_embed_type is not "
    "'none' (calendar)",
    "eps_model.kwargs.norm_num_groups": "xdeepr chooses GroupNorm groups per layer (at most "
    "32, >= 2 channels each)",
    "eps_model.kwargs.flip_sin_to_cos": "fixed in xdeepr's sinusoidal embeddings",
    "eps_model.kwargs.freq_shift": "fixed in xdeepr's sinusoidal embeddings",
    "scheduler.kwargs.beta_start": "xdeepr's linear schedule runs from 1e-4 to 0.02 (DeepR's "
    "values)",
    "scheduler.kwargs.beta_end": "xdeepr's linear schedule runs from 1e-4 to 0.02 (DeepR's values)",
    "scheduler.kwargs.timestep_spacing": "each xdeepr sampler spaces its own steps",
    "mixed_precision": "xdeepr trains in float32",
    "hour_embed_size": "xdeepr sizes its calendar embedding from n_channels",
    "output_dir": _OUTPUTS,
    "push_to_hub": _OUTPUTS,
    "hf_repo_name": _OUTPUTS,
    "hub_private_repo": _OUTPUTS,
    "overwrite_output_dir": _OUTPUTS,
    "save_model_epochs": "checkpoints are counted in steps: --set checkpoint_every=N",
    "save_image_epochs": "xdeepr validates by skill (CRPS) instead; figures: xdeepr evaluate",
    "num_samples": "members sampled at validation: --set validation_members=N",
    "num_workers": "xdeepr prepares the next block in a background thread (prefetch)",
    "instance_norm": "xdeepr standardises with feature_scaling / label_scaling",
    "static_covariables": "static fields come from --static / train(static=...)",
    "validation_configuration": "validation of a trained model: xdeepr evaluate",
    "inference_configuration": "inference: xdeepr downscale / ds.deepr.downscale",
}

_SCHEDULES = {"linear": "linear", "squaredcos_cap_v2": "cosine", "cosine": "cosine"}
_PREDICTIONS = {"epsilon": "epsilon", "v_prediction": "v", "v": "v"}
_SAMPLERS = {
    "DDPMScheduler": "ddpm",
    "DDIMScheduler": "ddim",
    "DPMSolverMultistepScheduler": "dpm++2m",
}
_HOUR_EMBEDS = ("none", "timestep", "positional", "cyclical", "class")
_AUXILIARY = ("time", "lsm-low", "orog-low", "lsm-high", "orog-high")
_UNETS = ("diffusers.UNet2DModel", "UNet")
_SPLITS = ("train", "validation", "test")
_TP = "training_configuration.training_parameters"
_EPS = "training_configuration.model_configuration.eps_model.kwargs"
_SCHED = "training_configuration.model_configuration.scheduler.kwargs"
#: TrainConfig field -> the DeepR key it comes from (named in error messages)
_SOURCES = {
    "epochs": f"{_TP}.num_epochs",
    "batch_size": f"{_TP}.batch_size (x gradient_accumulation_steps)",
    "learning_rate": f"{_TP}.learning_rate",
    "warmup_steps": f"{_TP}.lr_warmup_steps",
    "seed": f"{_TP}.seed",
    "n_blocks": f"{_EPS}.layers_per_block",
    "n_channels": f"{_EPS}.block_out_channels",
    "channel_multipliers": f"{_EPS}.block_out_channels",
    "is_attention": f"{_EPS}.down_block_types",
    "diffusion_steps": f"{_SCHED}.num_train_timesteps",
}


class DeepRConfigWarning(UserWarning):
    """Keys of a DeepR file that xdeepr does not know, or settings it cannot reproduce."""


@dataclass(frozen=True)
class DeepRSplit:
    """DeepR's data split: fractions of the times, or periods (ISO dates).

    Attributes
    ----------
    validation, test : float or None
        Fractions of the times (``common_configuration.data_split``); xdeepr holds out
        the last ``test`` part and validates on the part before it.
    periods : dict
        ``{"train" | "validation" | "test": (start, end)}`` (``split_coverages`` or
        ``data_split`` with periods); dates as written, e.g. ``"1981-01"``.
    time_range : (start, end) or None
        ``common_configuration.temporal_coverage``: all times used.
    """

    validation: float | None = None
    test: float | None = None
    periods: dict[str, tuple[str, str]] = field(default_factory=dict)
    time_range: tuple[str, str] | None = None


@dataclass(frozen=True)
class DeepRConfig:
    """What a DeepR configuration file says, in xdeepr's terms.

    Attributes
    ----------
    train : TrainConfig
        Network, diffusion, scaling, optimisation and validation fraction.
    features_coverage, labels_coverage : dict
        DeepR's ``spatial_coverage`` blocks, ``{"longitude": (w, e), "latitude":
        (n, s)}``, for ``ds.deepr.crop(coverage=...)``.
    feature_variables, label_variables : tuple of str
        The variables (also in ``train.features`` / ``train.labels``).
    auxiliary : tuple of str
        The ``add_auxiliary`` entries switched on (``"time"``, ``"lsm-low"``,
        ``"orog-low"``, ``"lsm-high"``, ``"orog-high"``); the static ones are expected
        among the static covariates passed to training.
    feature_scaling, label_scaling : str
        The standardization methods (also in ``train``).
    split : DeepRSplit
        The data split as the file gives it.
    ignored : dict
        Key path → why it was not mapped (documented keys, unknown keys and lossy
        settings alike).
    source : str
        The file read.
    """

    train: TrainConfig
    features_coverage: dict[str, tuple[float, float]]
    labels_coverage: dict[str, tuple[float, float]]
    feature_variables: tuple[str, ...]
    label_variables: tuple[str, ...]
    auxiliary: tuple[str, ...]
    feature_scaling: str
    label_scaling: str
    split: DeepRSplit
    ignored: dict[str, str]
    source: str = ""

    @property
    def static_auxiliary(self) -> tuple[str, ...]:
        """The auxiliary entries that are static fields (all but ``"time"``)."""
        return tuple(a for a in self.auxiliary if a != "time")

    def prepare(
        self, features: xr.Dataset, labels: xr.Dataset
    ) -> tuple[xr.Dataset, xr.Dataset, TrainConfig]:
        """Crop to the coverages, keep the times of the split, and fit the fraction.

        Features and labels are cropped to their ``spatial_coverage``; times outside
        ``temporal_coverage`` and the test part (the last ``test`` fraction of the
        shared times, or the test period) are dropped; with periods, only the training
        and validation periods are kept and ``validation_fraction`` becomes the exact
        share of validation times, so that xdeepr (which validates on the last part)
        validates on the validation period.

        Raises
        ------
        InputError
            When the validation period does not follow the training period, or no
            times are left.

        Examples
        --------
        >>> import xdeepr
        >>> f, l, _ = xdeepr.datasets.load_sample(periods=8)
        >>> cfg = DeepRConfig(
        ...     TrainConfig(), {"longitude": (8.5, 11.5), "latitude": (48.5, 46.5)},
        ...     {"longitude": (9.2, 10.75), "latitude": (48, 47.05)}, ("t2m",), ("t2m",),
        ...     (), "domain-wise", "domain-wise",
        ...     DeepRSplit(periods={"train": ("2020-01-01", "2020-01-01"),
        ...                         "validation": ("2020-01-02", "2020-01-02")}), {})
        >>> f2, l2, tc = cfg.prepare(f, l)
        >>> dict(f2.sizes), tc.validation_fraction
        ({'time': 8, 'latitude': 9, 'longitude': 13}, 0.5)
        """
        f = features.deepr.crop(coverage=self.features_coverage)
        lab = labels.deepr.crop(coverage=self.labels_coverage)
        times = np.intersect1d(np.asarray(f["time"].values), np.asarray(lab["time"].values))
        split, cfg = self.split, self.train
        if split.time_range is not None:
            lo, hi = _as_time(split.time_range[0]), _end_of(split.time_range[1])
            times = times[(times >= lo) & (times < hi)]
        if split.periods:
            chosen = {}
            for name in ("train", "validation"):
                if name in split.periods:
                    a, b = split.periods[name]
                    lo, hi = _as_time(a), _end_of(b)
                    chosen[name] = times[(times >= lo) & (times < hi)]
            tr, va = chosen.get("train", times[:0]), chosen.get("validation", times[:0])
            if tr.size and va.size and va.min() <= tr.max():
                raise InputError(
                    "the DeepR validation period must follow the training period: xdeepr "
                    "validates on the last part of the times"
                )
            times = np.concatenate([tr, va])
            if times.size:
                cfg = cfg.replace(validation_fraction=va.size / times.size)
        elif split.test:
            times = times[: len(times) - round(split.test * len(times))]
        if not times.size:
            raise InputError("no paired time is left after the DeepR split and coverage")
        return f.sel(time=times), lab.sel(time=times), cfg


def _as_time(text: str) -> np.datetime64:
    return np.datetime64(str(text)).astype("datetime64[ns]")


def _end_of(text: str) -> np.datetime64:
    """The end of the period `text` names ("2013-12": the start of 2014-01), exclusive."""
    end = pd.Period(str(text)).end_time + pd.Timedelta(1, "ns")
    return np.datetime64(end.to_datetime64(), "ns")


# ------------------------------------------------------------------------------ reading


class _Reader:
    """Walks the file, checking types and noting what it ignores, by key path."""

    def __init__(self) -> None:
        self.ignored: dict[str, str] = {}
        self.unknown: list[str] = []
        self.lossy: list[str] = []

    @staticmethod
    def fail(path: str, what: str, value: Any = ...) -> ConfigError:
        shown = "" if value is ... else f", got {value!r} ({type(value).__name__})"
        return ConfigError(f"DeepR configuration: {path} must be {what}{shown}")

    def section(
        self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = True
    ) -> dict[str, Any]:
        full = f"{path}.{key}" if path else key
        if key not in parent or parent[key] is None:
            if required:
                raise ConfigError(f"DeepR configuration: the section {full} is missing")
            return {}
        value = parent[key]
        if not isinstance(value, Mapping):
            raise self.fail(full, "a mapping (a section of keys)", value)
        return dict(value)

    def known(
        self, sec: Mapping[str, Any], path: str, used: set[str], ignored: Mapping[str, str]
    ) -> None:
        """Note the ignored keys of `sec` and collect the unknown ones."""
        for key in sec:
            if key in used:
                continue
            full = f"{path}.{key}"
            reason = next(
                (r for k, r in ignored.items() if full == k or full.endswith("." + k)), None
            )
            if reason is not None:
                self.ignored[full] = reason
            else:
                self.unknown.append(full)
                self.ignored[full] = "unknown to xdeepr's DeepR reader"

    def number(self, sec: Mapping[str, Any], key: str, path: str, kind: type, default: Any) -> Any:
        value = sec.get(key, default)
        full = f"{path}.{key}"
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise self.fail(full, "an integer", value)
            return int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.fail(full, "a number", value)
        if not math.isfinite(float(value)):
            raise self.fail(full, "a finite number", value)
        return float(value)

    def text(self, sec: Mapping[str, Any], key: str, path: str, default: Any = ...) -> str:
        full = f"{path}.{key}"
        if key not in sec:
            if default is ...:
                raise ConfigError(f"DeepR configuration: the key {full} is missing")
            return str(default)
        value = sec[key]
        if not isinstance(value, str) or not value:
            raise self.fail(full, "a text", value)
        return value

    def flag(self, sec: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = sec.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{key}", "true or false", value)
        return value

    def coverage(self, sec: Mapping[str, Any], path: str) -> dict[str, tuple[float, float]]:
        cov = self.section(sec, "spatial_coverage", path)
        out: dict[str, tuple[float, float]] = {}
        for axis in ("longitude", "latitude"):
            full = f"{path}.spatial_coverage.{axis}"
            pair = cov.get(axis)
            if pair is None:
                raise ConfigError(f"DeepR configuration: the key {full} is missing")
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in pair)
            ):
                raise self.fail(full, "a list of two numbers", pair)
            out[axis] = (float(pair[0]), float(pair[1]))
        self.known(cov, f"{path}.spatial_coverage", {"longitude", "latitude"}, {})
        return out

    def names(self, sec: Mapping[str, Any], path: str, keys: tuple[str, ...]) -> tuple[str, ...]:
        key = next((k for k in keys if k in sec), None)
        if key is None:
            raise ConfigError(f"DeepR configuration: the key {path}.{keys[0]} is missing")
        value = sec[key]
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v for v in items)
        ):
            raise self.fail(f"{path}.{key}", "a variable name or a list of names", value)
        return tuple(items)

    def scaling(self, sec: Mapping[str, Any], path: str) -> tuple[str | None, set[str]]:
        """The method of a ``standardization`` block (None when off) and the keys read."""
        if "apply_standardization" in sec:  # DeepR's first files
            on = self.flag(sec, "apply_standardization", path, True)
            return ("domain-wise" if on else None), {"apply_standardization"}
        if "standardization" not in sec:
            return None, set()
        std = self.section(sec, "standardization", path)
        spath = f"{path}.standardization"
        if not self.flag(std, "to_do", spath, True):
            self.known(std, spath, {"to_do", "method"}, IGNORED)
            return None, {"standardization"}
        method = self.text(std, "method", spath, "domain-wise")
        if method not in SCALING_METHODS:
            raise self.fail(f"{spath}.method", f"one of {list(SCALING_METHODS)}", method)
        self.known(std, spath, {"to_do", "method"}, IGNORED)
        return method, {"standardization"}

    def date(self, sec: Mapping[str, Any], key: str, path: str) -> str:
        value = sec.get(key)
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if not isinstance(value, str) or not value:
            raise self.fail(f"{path}.{key}", "a date such as 1981-01 or 1981-01-01", value)
        try:
            np.datetime64(value)
        except ValueError:
            raise self.fail(
                f"{path}.{key}", "a date such as 1981-01 or 1981-01-01", value
            ) from None
        return value

    def period(self, sec: Mapping[str, Any], path: str) -> tuple[str, str]:
        out = (self.date(sec, "start", path), self.date(sec, "end", path))
        self.known(
            sec,
            path,
            {"start", "end"},
            IGNORED | {"frequency": IGNORED["temporal_coverage.frequency"]},
        )
        return out


def _lossy(reader: _Reader, path: str, why: str) -> None:
    reader.lossy.append(f"{path}: {why}")
    reader.ignored[path] = why


def _data(r: _Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    data = r.section(doc, "data_configuration", "")
    fpath, lpath = (
        "data_configuration.features_configuration",
        "data_configuration.label_configuration",
    )
    fsec = r.section(data, "features_configuration", "data_configuration")
    lsec = r.section(data, "label_configuration", "data_configuration")
    out: dict[str, Any] = {
        "fvars": r.names(fsec, fpath, ("variables", "variable")),
        "lvars": r.names(lsec, lpath, ("variable", "variables")),
        "fcov": r.coverage(fsec, fpath),
        "lcov": r.coverage(lsec, lpath),
    }
    fscale, fused = r.scaling(fsec, fpath)
    lscale, lused = r.scaling(lsec, lpath)
    out["fscale"] = fscale or "domain-wise"
    if fscale is None:
        _lossy(
            r, f"{fpath}.standardization", "off in DeepR; xdeepr always standardises (domain-wise)"
        )
    # DeepR scales the labels with the features' scaler when theirs is off
    out["lscale"] = lscale or out["fscale"]
    aux: list[str] = []
    aux_value = fsec.get("add_auxiliary", {})
    apath = f"{fpath}.add_auxiliary"
    if isinstance(aux_value, bool):  # DeepR's first files: all or nothing
        aux = list(_AUXILIARY) if aux_value else []
    elif isinstance(aux_value, Mapping):
        for key, on in aux_value.items():
            if key not in _AUXILIARY:
                r.unknown.append(f"{apath}.{key}")
                r.ignored[f"{apath}.{key}"] = "unknown to xdeepr's DeepR reader"
                continue
            if not isinstance(on, bool):
                raise r.fail(f"{apath}.{key}", "true or false", on)
            if on:
                aux.append(key)
    elif aux_value is not None:
        raise r.fail(apath, "a mapping of flags or true/false", aux_value)
    out["aux"] = tuple(aux)
    r.known(
        fsec, fpath, {"variables", "variable", "spatial_coverage", "add_auxiliary"} | fused, IGNORED
    )
    r.known(
        lsec, lpath, {"variables", "variable", "spatial_coverage", "add_auxiliary"} | lused, IGNORED
    )
    if "add_auxiliary" in lsec:
        r.ignored[f"{lpath}.add_auxiliary"] = "DeepR reads the auxiliary flags of the features"
    out["split"] = _split(r, data)
    r.known(
        data,
        "data_configuration",
        {
            "features_configuration",
            "label_configuration",
            "common_configuration",
            "split_coverages",
        },
        IGNORED,
    )
    return out


def _split(r: _Reader, data: Mapping[str, Any]) -> DeepRSplit:
    cpath = "data_configuration.common_configuration"
    common = r.section(data, "common_configuration", "data_configuration", required=False)
    time_range = None
    if "temporal_coverage" in common:
        tc = r.section(common, "temporal_coverage", cpath)
        time_range = r.period(tc, f"{cpath}.temporal_coverage")
    periods: dict[str, tuple[str, str]] = {}
    fractions: dict[str, float] = {}
    blocks = []
    if "data_split" in common:
        blocks.append((r.section(common, "data_split", cpath), f"{cpath}.data_split"))
    if "split_coverages" in data:  # DeepR's later files
        blocks.append(
            (
                r.section(data, "split_coverages", "data_configuration"),
                "data_configuration.split_coverages",
            )
        )
    for block, path in blocks:
        for key, value in block.items():
            full = f"{path}.{key}"
            if key not in _SPLITS:
                r.unknown.append(full)
                r.ignored[full] = "unknown to xdeepr's DeepR reader"
            elif isinstance(value, Mapping):
                periods[key] = r.period(value, full)
            else:
                v = r.number(block, key, path, float, None)
                if not 0.0 <= v < 1.0:
                    raise r.fail(full, "a fraction in [0, 1)", value)
                fractions[key] = v
    if periods and fractions:
        raise ConfigError(
            f"DeepR configuration: {cpath}.data_split mixes fractions and "
            "periods; give one or the other"
        )
    r.known(common, cpath, {"temporal_coverage", "data_split"}, IGNORED)
    test, val = fractions.get("test", 0.0), fractions.get("validation", 0.0)
    if fractions and test + val >= 1.0:
        raise r.fail(f"{cpath}.data_split", "fractions that leave times to train on", fractions)
    if "train" in fractions:
        r.ignored[f"{cpath}.data_split.train"] = "the rest of the times train"
    return DeepRSplit(
        validation=val if fractions else None,
        test=test if fractions else None,
        periods=periods,
        time_range=time_range,
    )


def _validation_fraction(split: DeepRSplit) -> float:
    """The share of validation times, from fractions, or estimated from period lengths."""
    if split.validation is not None:
        return split.validation / (1.0 - (split.test or 0.0))
    if "validation" in split.periods and "train" in split.periods:
        days = {
            k: (_end_of(b) - _as_time(a)) / np.timedelta64(1, "D")
            for k, (a, b) in split.periods.items()
        }
        return days["validation"] / (days["train"] + days["validation"])
    return 0.0


def _model(r: _Reader, training: Mapping[str, Any]) -> dict[str, Any]:
    tpath = "training_configuration"
    kind = training.get("type", "diffusion")
    if kind != "diffusion":
        raise r.fail(f"{tpath}.type", "'diffusion' (xdeepr trains diffusion models)", kind)
    mpath = f"{tpath}.model_configuration"
    model = r.section(training, "model_configuration", tpath)
    eps = r.section(model, "eps_model", mpath)
    epath = f"{mpath}.eps_model"
    cls = r.text(eps, "class_name", epath)
    if cls not in _UNETS:
        raise r.fail(f"{epath}.class_name", f"one of {list(_UNETS)} (a U-Net)", cls)
    kw = r.section(eps, "kwargs", epath)
    kpath = f"{epath}.kwargs"
    r.known(eps, epath, {"class_name", "kwargs"}, IGNORED)
    out: dict[str, Any] = {}
    used = {
        "block_out_channels",
        "layers_per_block",
        "down_block_types",
        "is_attention",
        "up_block_types",
        "time_embedding_type",
    }
    widths = kw.get("block_out_channels")
    if widths is not None:
        if (
            not isinstance(widths, list)
            or not widths
            or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)
        ):
            raise r.fail(f"{kpath}.block_out_channels", "a list of integers > 0", widths)
        # xdeepr's widths are n_channels x integer multipliers: the largest even base
        base = math.gcd(*widths)
        base = base if base % 2 == 0 else 2 * base
        out["n_channels"] = base
        out["channel_multipliers"] = tuple(max(1, w // base) for w in widths)
        if any(w % base for w in widths):
            _lossy(
                r,
                f"{kpath}.block_out_channels",
                f"widths {widths} read as n_channels="
                f"{base} x {out['channel_multipliers']} (xdeepr needs even widths)",
            )
    if "layers_per_block" in kw:
        out["n_blocks"] = r.number(kw, "layers_per_block", kpath, int, None)
    if "is_attention" in kw:  # DeepR's own UNet
        att = kw["is_attention"]
        if not isinstance(att, list) or not all(isinstance(a, bool) for a in att):
            raise r.fail(f"{kpath}.is_attention", "a list of true/false", att)
        out["is_attention"] = tuple(att)
    elif "down_block_types" in kw:
        types = kw["down_block_types"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise r.fail(f"{kpath}.down_block_types", "a list of block names", types)
        out["is_attention"] = tuple(t.startswith("Attn") for t in types)
        ups = kw.get("up_block_types")
        if isinstance(ups, list) and [u.startswith("Attn") for u in ups][::-1] != list(
            out["is_attention"]
        ):
            _lossy(
                r,
                f"{kpath}.up_block_types",
                "does not mirror down_block_types; xdeepr's up path mirrors the down path",
            )
    emb = kw.get("time_embedding_type", "positional")
    if emb != "positional":
        _lossy(
            r,
            f"{kpath}.time_embedding_type",
            f"{emb!r}: xdeepr's timestep embedding is sinusoidal ('positional')",
        )
    r.known(kw, kpath, used, IGNORED)
    sched = r.section(model, "scheduler", mpath)
    spath = f"{mpath}.scheduler"
    name = r.text(sched, "class_name", spath)
    if name in _SAMPLERS:
        out["sampler"] = _SAMPLERS[name]
    else:
        _lossy(
            r,
            f"{spath}.class_name",
            f"{name!r} has no xdeepr sampler; the model keeps "
            "xdeepr's default sampler (dpm++2m-sde)",
        )
    skw = r.section(sched, "kwargs", spath, required=False)
    kp = f"{spath}.kwargs"
    if "num_train_timesteps" in skw:
        out["diffusion_steps"] = r.number(skw, "num_train_timesteps", kp, int, None)
    betas = r.text(skw, "beta_schedule", kp, "linear")
    if betas not in _SCHEDULES:
        raise r.fail(f"{kp}.beta_schedule", f"one of {list(_SCHEDULES)}", betas)
    out["schedule"] = _SCHEDULES[betas]
    if betas == "linear":
        for key, value in (("beta_start", 1e-4), ("beta_end", 0.02)):
            if key in skw and not math.isclose(r.number(skw, key, kp, float, None), value):
                _lossy(r, f"{kp}.{key}", f"{skw[key]}: xdeepr's linear schedule uses {value}")
    pred = r.text(skw, "prediction_type", kp, "epsilon")
    if pred not in _PREDICTIONS:
        raise r.fail(f"{kp}.prediction_type", f"one of {list(_PREDICTIONS)}", pred)
    out["prediction"] = _PREDICTIONS[pred]
    zero = r.flag(skw, "rescale_betas_zero_snr", kp, False)
    if zero and out["prediction"] == "epsilon":
        _lossy(
            r,
            f"{kp}.rescale_betas_zero_snr",
            "read as false: with prediction_type "
            "epsilon x0 cannot be recovered where the SNR is zero (xdeepr refuses the pair); "
            "--set prediction=v --set zero_terminal_snr=true gives a zero terminal SNR",
        )
        zero = False
    out["zero_terminal_snr"] = zero
    r.known(sched, spath, {"class_name", "kwargs"}, IGNORED)
    r.known(
        skw,
        kp,
        {
            "num_train_timesteps",
            "beta_schedule",
            "beta_start",
            "beta_end",
            "prediction_type",
            "rescale_betas_zero_snr",
        },
        IGNORED,
    )
    r.known(model, mpath, {"eps_model", "scheduler"}, IGNORED)
    return out


def _parameters(r: _Reader, training: Mapping[str, Any]) -> dict[str, Any]:
    path = "training_configuration.training_parameters"
    tp = r.section(training, "training_parameters", "training_configuration")
    d = DEEPR_DEFAULTS
    accumulate = r.number(
        tp, "gradient_accumulation_steps", path, int, d["gradient_accumulation_steps"]
    )
    if accumulate < 1:
        raise r.fail(f"{path}.gradient_accumulation_steps", "an integer >= 1", accumulate)
    out: dict[str, Any] = {
        "epochs": r.number(tp, "num_epochs", path, int, d["num_epochs"]),
        # one optimiser step sees batch_size x accumulation samples in DeepR
        "batch_size": r.number(tp, "batch_size", path, int, d["batch_size"]) * accumulate,
        "learning_rate": r.number(tp, "learning_rate", path, float, d["learning_rate"]),
        "warmup_steps": r.number(tp, "lr_warmup_steps", path, int, d["lr_warmup_steps"]),
        "seed": r.number(tp, "seed", path, int, d["seed"]),
    }
    hour = r.text(tp, "hour_embed_type", path, d["hour_embed_type"])
    if hour not in _HOUR_EMBEDS:
        raise r.fail(f"{path}.hour_embed_type", f"one of {list(_HOUR_EMBEDS)}", hour)
    out["calendar"] = hour != "none"
    out["mean"] = "bicubic" if r.flag(tp, "learn_residuals", path, d["learn_residuals"]) else None
    if "device" in tp:
        device = r.text(tp, "device", path)
        out["device"] = "cpu" if device == "cpu" else None
        if device != "cpu":
            r.ignored[f"{path}.device"] = f"{device!r} read as None (CUDA when available)"
    r.known(
        tp,
        path,
        {
            "num_epochs",
            "batch_size",
            "gradient_accumulation_steps",
            "learning_rate",
            "lr_warmup_steps",
            "seed",
            "hour_embed_type",
            "learn_residuals",
            "device",
        },
        IGNORED,
    )
    return out


def read_deepr_config(path: str | os.PathLike[str]) -> DeepRConfig:
    """Read a DeepR ``configuration_diffusion.yml`` as a :class:`DeepRConfig`.

    Parameters
    ----------
    path : str or path-like
        A YAML file with DeepR's structure (``data_configuration``,
        ``training_configuration``); see docs/from-deepr.md for each key.

    Returns
    -------
    DeepRConfig
        The TrainConfig (``.train``), coverages, variables, auxiliary statics, scaling
        methods, split and the ignored keys with their reasons.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ConfigError
        For a missing section or key, a value of the wrong type, an unknown method,
        schedule or prediction, or a non-diffusion ``training_configuration.type``; the
        message names the key path.

    Warns
    -----
    DeepRConfigWarning
        Listing the keys the reader does not know and the settings xdeepr reads
        differently (e.g. the LMS scheduler: xdeepr's default sampler).

    Examples
    --------
    >>> import pathlib, tempfile, textwrap, warnings
    >>> text = textwrap.dedent('''
    ...     data_configuration:
    ...       features_configuration:
    ...         variables: [t2m]
    ...         spatial_coverage: {longitude: [-8.35, 6.6], latitude: [46.45, 35.5]}
    ...         standardization: {to_do: true, method: domain-wise}
    ...       label_configuration:
    ...         variable: t2m
    ...         spatial_coverage: {longitude: [-6.85, 5.1], latitude: [44.95, 37]}
    ...     training_configuration:
    ...       model_configuration:
    ...         eps_model:
    ...           class_name: diffusers.UNet2DModel
    ...           kwargs: {block_out_channels: [16, 32], layers_per_block: 1,
    ...                    down_block_types: [DownBlock2D, AttnDownBlock2D]}
    ...         scheduler: {class_name: DDPMScheduler}
    ...       training_parameters: {num_epochs: 3, batch_size: 4, hour_embed_type: class}
    ... ''')
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "deepr.yml"
    >>> _ = p.write_text(text)
    >>> cfg = read_deepr_config(p)
    >>> cfg.train.channel_multipliers, cfg.train.is_attention, cfg.train.epochs
    ((1, 2), (False, True), 3)
    >>> cfg.labels_coverage["latitude"]
    (44.95, 37.0)
    """
    import yaml

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"DeepR configuration file {p!r} does not exist")
    with open(p, encoding="utf-8") as fh:
        try:
            doc = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ConfigError(f"DeepR configuration {p!r} is not valid YAML: {err}") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"DeepR configuration {p!r} must hold a mapping with "
            "data_configuration and training_configuration"
        )
    r = _Reader()
    data = _data(r, doc)
    training = r.section(doc, "training_configuration", "")
    fields: dict[str, Any] = {**_model(r, training), **_parameters(r, training)}
    r.known(
        training,
        "training_configuration",
        {"type", "model_configuration", "training_parameters"},
        IGNORED,
    )
    r.known(doc, "", {"data_configuration", "training_configuration"}, IGNORED)
    split: DeepRSplit = data["split"]
    fields.update(
        features=data["fvars"],
        labels=data["lvars"],
        feature_scaling=data["fscale"],
        label_scaling=data["lscale"],
        validation_fraction=_validation_fraction(split),
    )
    for name, value in fields.items():  # each value checked as TrainConfig would
        try:
            _check_field(name, value)
        except ConfigError as err:
            key = _SOURCES.get(name, name)
            raise ConfigError(f"DeepR configuration: {key} gives {err}") from None
    try:
        train = TrainConfig(**fields)
    except ConfigError as err:
        raise ConfigError(f"DeepR configuration {p!r}: {err}") from None
    ignored = {k.lstrip("."): v for k, v in r.ignored.items()}
    notes = [u.lstrip(".") for u in r.unknown] + r.lossy
    if notes:
        warnings.warn(
            f"DeepR configuration {p!r}: "
            + (
                f"unknown keys {sorted(u.lstrip('.') for u in r.unknown)} ignored; "
                if r.unknown
                else ""
            )
            + "; ".join(r.lossy),
            DeepRConfigWarning,
            stacklevel=2,
        )
    return DeepRConfig(
        train=train,
        features_coverage=data["fcov"],
        labels_coverage=data["lcov"],
        feature_variables=data["fvars"],
        label_variables=data["lvars"],
        auxiliary=data["aux"],
        feature_scaling=data["fscale"],
        label_scaling=data["lscale"],
        split=split,
        ignored=ignored,
        source=p,
    )
