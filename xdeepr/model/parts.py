"""A model's parts: the model as a mapping of tensors and plain values, and back.

:func:`to_dict` and :func:`model_kwargs` are the two directions between a
:class:`~xdeepr.model.DownscalingModel` and the content of its file; :func:`encode`
splits that content into a JSON header and named tensors (:mod:`.header`),
:func:`to_bytes` / :func:`save_model` write them, and :func:`model_digest` hashes the
part of them that changes results (the model's identity). The layout is documented in
:mod:`xdeepr.model.fileformat`, which also reads files back. This module never
imports the container, so the container can use it without a circle.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from .._util import atomic_path
from .._version import __version__
from ..diffusion import NoiseSchedule
from ..errors import ModelFileError
from ..grid.cf import grid_from_record, grid_record
from ..nn import UNet
from ..scaling import Scaler
from ..transforms import to_record
from .checks import check_content
from .header import (
    METADATA_KEY,
    dumps,
    references,
    split,
)

if TYPE_CHECKING:
    from .container import DownscalingModel

FORMAT = "xdeepr-model"
#: 1: xdeepr 0.1.0, a torch.save zip; 2: safetensors + JSON header; 3: + optional
#: regression mean and residual climatology.
FORMAT_VERSION = 3
#: Header entries that change no result, left out of a model's identity (the
#: climatology is a baseline for scores: it changes no ensemble; the inputs' record
#: only matches and checks inputs).
NOT_IN_IDENTITY = (
    "format",
    "format_version",
    "xdeepr_version",
    "summary",
    "climatology",
    "inputs",
)
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
    3
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
        if model.regression_folds:
            out["regression"]["folds"] = [
                {
                    "config": _to_plain(net.config),
                    "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                }
                for net in model.regression_folds
            ]
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
    extra = grid_record(model.label_grid)  # a projected/curvilinear label grid
    if extra is not None:
        out["label_grid"]["grid"] = _to_plain(extra)
    if getattr(model, "observations", None):
        out["observations"] = _to_plain(model.observations)  # optional: older files lack it
    if getattr(model, "calibration", None):
        out["calibration"] = _to_plain(model.calibration)  # optional: older files lack it
    if getattr(model, "inputs", None):
        out["inputs"] = _to_plain(model.inputs)  # optional: older files lack it
    if any(t.name != "identity" for t in getattr(model, "transforms", {}).values()):
        out["transforms"] = to_record(model.transforms)  # optional: identity when absent
    return out


def model_kwargs(d: Mapping[str, Any], *, source: str = "model mapping") -> dict[str, Any]:
    """The :class:`~xdeepr.model.DownscalingModel` arguments held in :func:`to_dict` output.

    ``DownscalingModel(**model_kwargs(d))`` rebuilds the model (tensors, or numpy
    arrays, and plain values are accepted).

    Raises
    ------
    ModelFileError
        Naming `source` and the problem: not an xdeepr model, a newer format, a
        missing entry (its path), a tensor of the wrong shape, a header value of the
        wrong type, non-finite weights, a degenerate scaler, ... (:mod:`.checks`).
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
        check_content(d)
        return _kwargs(d)
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


def build_network(config: Mapping[str, Any]) -> torch.nn.Module:
    """The (untrained) network a ``network/config`` entry describes, by its ``kind``.

    xdeepr's :class:`~xdeepr.nn.UNet` (no ``kind``), or ``"diffusers-unet2d"``: a DeepR
    network (:mod:`xdeepr.adapters.deepr.network`), which needs ``diffusers``.
    """
    if config.get("kind") == "diffusers-unet2d":
        from ..adapters.deepr.network import DiffusersUNet

        return DiffusersUNet.from_config(config)
    return UNet(**config)


def _kwargs(d: Mapping[str, Any]) -> dict[str, Any]:
    net = build_network(_get(d, "network/config"))
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
    label_grid = grid_from_record(label_grid, _get(d, "label_grid").get("grid"))
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
    regression, mean_scaler, folds = None, None, []
    if d.get("regression") is not None:
        regression = UNet(**_get(d, "regression/config"))
        regression.load_state_dict(_get(d, "regression/state_dict"))
        mean_scaler = Scaler.from_dict(_from_plain(_get(d, "regression/scaler")))
        for k, entry in enumerate(d["regression"].get("folds") or []):
            folds.append(UNet(**_get(entry, "config")))
            folds[k].load_state_dict(_get(entry, "state_dict"))
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
    return dict(
        network=net,
        schedule=NoiseSchedule.from_dict(dict(_get(d, "schedule"))),
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
        regression_folds=folds or None,
        mean_scaler=mean_scaler,
        climatology=climatology,
        observations=d.get("observations"),
        calibration=d.get("calibration"),
        inputs=d.get("inputs"),
        transforms=d.get("transforms"),
    )


# ------------------------------------------------------------------ bytes and files
def to_bytes(model: DownscalingModel) -> bytes:
    """The model file's bytes (safetensors with the JSON header in its metadata).

    Examples
    --------
    >>> len(to_bytes(model)) > 0  # doctest: +SKIP
    True
    """
    from safetensors.torch import save

    header, tensors = encode(model)
    return save(tensors, metadata={METADATA_KEY: dumps(header)})


def save_model(model: DownscalingModel, path: str | os.PathLike[str]) -> Path:
    """Write `model` to `path` atomically, in the current format (a 0.1.0 file is converted).

    The file's permissions follow the umask, as other files do (0644 under the usual 022).

    Raises
    ------
    ModelFileError
        When `path` is a folder (``"."``, an existing directory): give a file name.

    Examples
    --------
    >>> save_model(model, "t2m.xdeepr")  # doctest: +SKIP
    PosixPath('t2m.xdeepr')
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.name in ("", ".", "..") or path.is_dir():
        raise ModelFileError(
            f"cannot save the model to {str(path)!r}: it is a folder; give a file name, "
            f"e.g. {str(path / 'model.xdeepr')!r}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    header, tensors = encode(model)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={METADATA_KEY: dumps(header)})
    return path


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
    skip: tuple[str, ...] = NOT_IN_IDENTITY  # the climatology changes results as the mean
    if model.mean == "climatology":
        skip = tuple(k for k in NOT_IN_IDENTITY if k != "climatology")
    ident = {k: v for k, v in header.items() if k not in skip}
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
