"""The model file format: safetensors for the tensors, a versioned JSON header for the rest.

Over 400 lines because the layout is documented here beside the code that writes and
reads it, part by part (networks, scalers, grids, statics, climatology, observations);
the JSON-header mechanics and the 0.1.0 reader already live in ``header.py`` and
``legacy.py``.

Loading a model file never unpickles, so nothing in a file can run code, and any
language with a safetensors reader and a JSON parser can read one.

Layout (format version 3)
-------------------------
A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_ file::

    8 bytes   N, little-endian unsigned 64-bit: length of the safetensors header
    N bytes   safetensors header (JSON): {"__metadata__": {"xdeepr": HEADER},
                                          NAME: {"dtype", "shape", "data_offsets"}, ...}
    the rest  raw little-endian tensor data, every byte belonging to one tensor

``HEADER`` is a string holding a strict JSON document (no NaN or Infinity)::

    {"format": "xdeepr-model", "format_version": 3, "xdeepr_version": "0.2.0",
     "network": {"config": {...}, "state_dict": {...}, "training_state": {...} | null},
     "schedule": {...}, "prediction": "v",
     "scalers": {"features": {...}, "labels": {...}},
     "variables": {"features": [...], "labels": [...]}, "label_attrs": {...},
     "learn_residuals": true,
     "label_grid": {"lat_name", "lon_name", "lat", "lon", "lat_attrs", "lon_attrs"},
     "feature_grid": {...},
     "static": {"names": [...], "values": {...}, "stats": {NAME: [mean, std]}},
     "config": {...}, "summary": {...},
     "regression": {"config": {...}, "state_dict": {...}, "scaler": {...}},   (v3, optional)
     "climatology": {"names": [...], "hour": [...], "by_hour": bool,          (v3, optional)
                     "attrs": {NAME: {...}}, "values": {NAME: (12, n_hours, lat, lon)}}}

Version 3 adds the two optional entries: the regression-mean network of a model
trained with ``mean="regression"`` and its scaler, and the residual climatology
(:mod:`xdeepr.model.climatology`). A model without them writes neither, so a
version-2 file holds exactly a version-3 model without them and still loads.

A model conditioned on station observations also writes ``"observations":
{"variables": {label: name}, "channels": [...], "tolerance": ..., "dropout": ...}``;
the entry is optional, so files without it load as models without observations.

Inside it, ``{"$tensor": NAME}`` stands for the tensor stored under ``NAME`` (the
``/``-joined path of the entry, e.g. ``network/state_dict/final.weight`` or
``label_grid/lat``) and ``{"$float": "nan" | "inf" | "-inf"}`` for a non-finite
number. Every stored tensor is referenced exactly once.

Files written by xdeepr 0.1.0 (format version 1, a :func:`torch.save` zip) still
load, with a :class:`FutureWarning` asking to re-save them; see
:mod:`xdeepr.model.legacy`.

Examples
--------
>>> import json, struct
>>> path = model.save("t2m.xdeepr")  # doctest: +SKIP
>>> raw = open(path, "rb").read()  # doctest: +SKIP
>>> n = struct.unpack("<Q", raw[:8])[0]  # doctest: +SKIP
>>> header = json.loads(json.loads(raw[8 : 8 + n])["__metadata__"]["xdeepr"])  # doctest: +SKIP
>>> header["format_version"]  # doctest: +SKIP
2
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import __version__
from .._util import atomic_path
from ..diffusion import NoiseSchedule
from ..errors import ModelFileError
from ..nn import UNet
from ..scaling import Scaler
from .container import DownscalingModel
from .header import (
    METADATA_KEY,
    decode,
    dumps,
    looks_like_safetensors,
    read_safetensors,
    references,
    split,
)

FORMAT = "xdeepr-model"
#: 1: xdeepr 0.1.0, a torch.save zip; 2: safetensors + JSON header; 3: + optional
#: regression mean and residual climatology.
FORMAT_VERSION = 3
#: Header entries that change no result, left out of a model's identity (the
#: climatology is a baseline for scores: it changes no ensemble).
NOT_IN_IDENTITY = ("format", "format_version", "xdeepr_version", "summary", "climatology")
#: TrainConfig fields that change no result (bookkeeping of the training run).
CONFIG_NOT_IN_IDENTITY = (
    "checkpoint_dir",
    "checkpoint_every",
    "progress",
    "device",
    "max_minutes",
    "block_size",
)


# ------------------------------------------------------------------ the model as a mapping
def to_dict(model: DownscalingModel) -> dict[str, Any]:
    """The model as a mapping of tensors and plain values (the file's content).

    Examples
    --------
    >>> to_dict(model)["format_version"]  # doctest: +SKIP
    2
    """
    lat, lon = model.label_grid_names
    training = model.training_state
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xdeepr_version": __version__,
        "network": {
            "config": _to_plain(model.network.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.network.state_dict().items()},
            "training_state": None if training is None else dict(training),
        },
        "schedule": _to_plain(model.schedule.to_dict()),
        "prediction": model.prediction,
        "scalers": {
            "features": _to_plain(model.feature_scaler.to_dict()),
            "labels": _to_plain(model.label_scaler.to_dict()),
        },
        "variables": {"features": model.features, "labels": model.labels},
        "label_attrs": _to_plain(model.label_attrs),
        "learn_residuals": model.learn_residuals,
        "label_grid": {
            "lat_name": lat,
            "lon_name": lon,
            "lat": torch.tensor(np.asarray(model.label_grid[lat].values, "float64")),
            "lon": torch.tensor(np.asarray(model.label_grid[lon].values, "float64")),
            "lat_attrs": _to_plain(model.label_grid[lat].attrs),
            "lon_attrs": _to_plain(model.label_grid[lon].attrs),
        },
        "feature_grid": _to_plain(model.feature_grid),
        "static": {
            "names": model.static_names,
            "values": {
                k: torch.tensor(np.asarray(v.values, "float32"))
                for k, v in model.static.data_vars.items()
            },
            "stats": {k: [float(a), float(b)] for k, (a, b) in model.static_stats.items()},
        },
        "config": _to_plain(model.config),
        "summary": _to_plain(model.summary),
    }
    if model.regression is not None and model.mean_scaler is not None:
        out["regression"] = {
            "config": _to_plain(model.regression.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.regression.state_dict().items()},
            "scaler": _to_plain(model.mean_scaler.to_dict()),
        }
    if model.climatology is not None:
        clim = model.climatology
        out["climatology"] = {
            "names": [str(v) for v in clim.data_vars],
            "hour": [int(h) for h in clim["hour"].values],
            "by_hour": bool(clim.attrs.get("by_hour", 0)),
            "attrs": {str(k): _to_plain(v.attrs) for k, v in clim.data_vars.items()},
            "values": {
                str(k): torch.from_numpy(np.ascontiguousarray(v.values, "float32"))
                for k, v in clim.data_vars.items()
            },
        }
    if getattr(model, "observations", None):
        out["observations"] = _to_plain(model.observations)  # optional: older files lack it
    return out


def from_dict(d: Mapping[str, Any], *, source: str = "model mapping") -> DownscalingModel:
    """Rebuild a model from :func:`to_dict` output (tensors, or numpy arrays, and plain values).

    Raises
    ------
    ModelFileError
        Naming `source` and the problem: not an xdeepr model, a newer format, a
        missing entry (its path), a tensor of the wrong shape.
    """
    if not isinstance(d, Mapping) or d.get("format") != FORMAT:
        raise ModelFileError(
            f"{source} is not an xdeepr model (its 'format' entry is missing or wrong)"
        )
    version = d.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has model file format {version!r}; this xdeepr reads formats up to "
            f"{FORMAT_VERSION}: upgrade xdeepr"
        )
    try:
        return _build(d)
    except _Missing as err:
        raise ModelFileError(f"{source} lacks the entry {err.path!r}") from None
    except ModelFileError as err:
        raise ModelFileError(f"{source}: {err}") from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        text = str(err).strip().replace("\n", " ").replace("\t", "")
        raise ModelFileError(f"{source} does not hold a valid model: {text}") from err


class _Missing(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def _get(d: Any, path: str) -> Any:
    """``d["a"]["b"]`` for ``path="a/b"``, raising :class:`_Missing` with the path."""
    for part in path.split("/"):
        if not isinstance(d, Mapping) or part not in d:
            raise _Missing(path)
        d = d[part]
    return d


def _build(d: Mapping[str, Any]) -> DownscalingModel:
    net = UNet(**_get(d, "network/config"))
    net.load_state_dict(_get(d, "network/state_dict"))
    lat, lon = str(_get(d, "label_grid/lat_name")), str(_get(d, "label_grid/lon_name"))
    label_grid = xr.Dataset(
        coords={
            name: xr.Variable(
                name, _numpy(_get(d, f"label_grid/{key}")), _get(d, f"label_grid/{key}_attrs")
            )
            for key, name in (("lat", lat), ("lon", lon))
        }
    )
    shape = (label_grid.sizes[lat], label_grid.sizes[lon])
    static = {}
    for name in _get(d, "static/names"):
        values = _numpy(_get(d, f"static/values/{name}"))
        if values.shape != shape:
            raise ModelFileError(
                f"the static field 'static/values/{name}' has shape {list(values.shape)}, "
                f"the label grid {list(shape)}"
            )
        static[str(name)] = ((lat, lon), values)
    stats = _get(d, "static/stats")
    training = _get(d, "network/training_state")
    regression, mean_scaler = None, None
    if d.get("regression") is not None:
        regression = UNet(**_get(d, "regression/config"))
        regression.load_state_dict(_get(d, "regression/state_dict"))
        mean_scaler = Scaler.from_dict(_from_plain(_get(d, "regression/scaler")))
    climatology = None
    if d.get("climatology") is not None:
        climatology = xr.Dataset(
            {
                str(n): (("month", "hour", lat, lon), _numpy(_get(d, f"climatology/values/{n}")))
                for n in _get(d, "climatology/names")
            },
            coords={
                "month": np.arange(1, 13),
                "hour": np.asarray(_get(d, "climatology/hour")),
                **label_grid.coords,
            },
            attrs={"by_hour": int(bool(_get(d, "climatology/by_hour")))},
        )
        for name, attrs in dict(d["climatology"].get("attrs") or {}).items():
            climatology[name].attrs = dict(attrs)
    return DownscalingModel(
        net,
        NoiseSchedule.from_dict(dict(_get(d, "schedule"))),
        prediction=str(_get(d, "prediction")),
        feature_scaler=Scaler.from_dict(_from_plain(_get(d, "scalers/features"))),
        label_scaler=Scaler.from_dict(_from_plain(_get(d, "scalers/labels"))),
        features=[str(v) for v in _get(d, "variables/features")],
        labels=[str(v) for v in _get(d, "variables/labels")],
        label_grid=label_grid,
        feature_grid=_from_plain(_get(d, "feature_grid")),
        static=xr.Dataset(static, coords=label_grid.coords),
        static_stats={str(k): (float(v[0]), float(v[1])) for k, v in stats.items()},
        label_attrs=_get(d, "label_attrs"),
        learn_residuals=bool(_get(d, "learn_residuals")),
        config=dict(_get(d, "config")),
        summary=d.get("summary"),
        training_state=None if training is None else dict(training),
        regression=regression,
        mean_scaler=mean_scaler,
        climatology=climatology,
        observations=d.get("observations"),
    )


# ------------------------------------------------------------------ bytes and files
def to_bytes(model: DownscalingModel) -> bytes:
    """The model file's bytes (safetensors with the JSON header in its metadata).

    Examples
    --------
    >>> from_bytes(to_bytes(model)).identity == model.identity  # doctest: +SKIP
    True
    """
    from safetensors.torch import save

    header, tensors = encode(model)
    return save(tensors, metadata={METADATA_KEY: dumps(header)})


def save_model(model: DownscalingModel, path: str | os.PathLike[str]) -> Path:
    """Write `model` to `path` atomically, in the current format (a 0.1.0 file is converted).

    Examples
    --------
    >>> save_model(model, "t2m.xdeepr")  # doctest: +SKIP
    PosixPath('t2m.xdeepr')
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header, tensors = encode(model)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={METADATA_KEY: dumps(header)})
    return path


def from_bytes(data: bytes, *, source: str = "model bytes") -> DownscalingModel:
    """Read a model from the bytes of a model file (any supported format).

    Format-2 bytes are parsed as safetensors and JSON, never unpickled; 0.1.0 bytes
    go through :mod:`xdeepr.model.legacy` with a :class:`FutureWarning`.

    Raises
    ------
    ModelFileError
        Naming `source` and what is wrong (truncated, a pickle, a missing entry, ...).
    """
    from . import legacy

    if legacy.is_legacy(data):
        return from_dict(legacy.read(data, source), source=source)
    if (
        data[:1] == b"\x80"
        and data[1:2] in b"\x02\x03\x04\x05"
        and not looks_like_safetensors(data)
    ):
        raise ModelFileError(
            f"refusing to load {source}: it is a Python pickle, which could run code when "
            "loaded, not an xdeepr model file; nothing was unpickled"
        )
    header, tensors = read_safetensors(data, source)
    return from_dict(decode(header, tensors, source), source=source)


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> DownscalingModel:
    """Load a model written by :meth:`DownscalingModel.save`.

    The file is parsed as safetensors and JSON, never unpickled: nothing in a model
    file can run code. Files written by xdeepr 0.1.0 still load, with a
    :class:`FutureWarning` asking to re-save them (``model.save(path)`` converts).

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        Where to put the network (default: CPU).

    Raises
    ------
    FileNotFoundError
        When there is no file at `path`.
    ModelFileError
        When the file is not an xdeepr model, is damaged or truncated, lacks an
        entry, holds a tensor of the wrong shape, or holds a pickle (refused unread).

    Examples
    --------
    >>> model = xdeepr.load_model("t2m.xdeepr")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    model = from_bytes(path.read_bytes(), source=f"model file {str(path)!r}")
    if device is not None:
        model.to(device)
    return model


# ------------------------------------------------------------------ encoding
def encode(model: DownscalingModel) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Split the model into its JSON header and its named tensors.

    Examples
    --------
    >>> header, tensors = encode(model)  # doctest: +SKIP
    >>> header["label_grid"]["lat"]  # doctest: +SKIP
    {'$tensor': 'label_grid/lat'}
    """
    tensors: dict[str, torch.Tensor] = {}
    header = split(to_dict(model), "", tensors)
    return header, tensors


def model_digest(model: DownscalingModel) -> str:
    """SHA-256 (hex) of everything in `model` that changes a result, and nothing else.

    Covers the weights, schedule, prediction, scalers, variables, label attributes,
    residual switch, label grid (coordinate values and attributes), feature grid,
    static fields and their statistics, the network and the training configuration;
    leaves out the training summary, the raw training weights, the file format and
    xdeepr version, and the configuration's bookkeeping fields
    (:data:`CONFIG_NOT_IN_IDENTITY`).

    Examples
    --------
    >>> len(model_digest(model))  # doctest: +SKIP
    64
    """
    header, tensors = encode(model)
    ident = {k: v for k, v in header.items() if k not in NOT_IN_IDENTITY}
    ident["network"] = {k: v for k, v in header["network"].items() if k != "training_state"}
    ident["config"] = {k: v for k, v in header["config"].items() if k not in CONFIG_NOT_IN_IDENTITY}
    h = hashlib.sha256(dumps(ident, canonical=True).encode())
    for name in sorted(references(ident)):
        t = tensors[name]
        h.update(f"\0{name}|{t.dtype}|{list(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------ plain-value conversion
def _to_plain(value: Any) -> Any:
    """Recursively turn numpy arrays into tensors and numpy scalars into Python values."""
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return [str(v) for v in value.tolist()]
        if value.dtype == bool:
            return torch.from_numpy(value.astype("uint8")).bool()
        return torch.from_numpy(value.copy(order="C"))
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, torch.Tensor)):
        return value
    return str(value)


def _from_plain(value: Any) -> Any:
    """Inverse of :func:`_to_plain` for scaler mappings: tensors back to numpy."""
    if isinstance(value, Mapping):
        return {k: _from_plain(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return value


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
