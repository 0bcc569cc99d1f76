"""The model file format.

Model files are written with :func:`torch.save` and hold only tensors and plain
values (str, int, float, bool, None, lists and dicts of them), so they load with
``torch.load(weights_only=True)``: nothing in a model file can execute code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..diffusion import NoiseSchedule
from ..errors import ModelFileError
from ..nn import UNet
from ..scaling import Scaler
from .container import DownscalingModel

FORMAT = "xdeepr-model"
FORMAT_VERSION = 1

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


def to_dict(model: DownscalingModel) -> dict[str, Any]:
    """The model as a mapping of tensors and plain values (what :meth:`save` writes)."""
    lat, lon = model.label_grid_names
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xdeepr_version": __version__,
        "network": {
            "config": _to_plain(model.network.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.network.state_dict().items()},
            "training_state": model.training_state,
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


def save_model(model: DownscalingModel, path: str | os.PathLike[str]) -> Path:
    """Write the model to `path` atomically (tensors and plain values only).

    Examples
    --------
    >>> model.save("t2m.xdeepr")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(model.to_dict(), tmp)
    os.replace(tmp, path)
    return path


def from_dict(d: Mapping[str, Any]) -> DownscalingModel:
    """Rebuild a model from :meth:`to_dict` output."""
    if d.get("format") != FORMAT:
        raise ModelFileError("not an xdeepr model (its 'format' entry is missing or wrong)")
    if int(d.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format {d['format_version']} is newer than this xdeepr supports "
            f"({FORMAT_VERSION}); upgrade xdeepr"
        )
    net = UNet(**d["network"]["config"])
    net.load_state_dict(d["network"]["state_dict"])
    g = d["label_grid"]
    lat, lon = g["lat_name"], g["lon_name"]
    label_grid = xr.Dataset(
        coords={
            lat: xr.Variable(lat, g["lat"].numpy(), dict(g["lat_attrs"])),
            lon: xr.Variable(lon, g["lon"].numpy(), dict(g["lon_attrs"])),
        }
    )
    st = d["static"]
    static = xr.Dataset(
        {k: ((lat, lon), st["values"][k].numpy()) for k in st["names"]},
        coords=label_grid.coords,
    )
    return DownscalingModel(
        net,
        NoiseSchedule.from_dict(d["schedule"]),
        prediction=d["prediction"],
        feature_scaler=Scaler.from_dict(_from_plain(d["scalers"]["features"])),
        label_scaler=Scaler.from_dict(_from_plain(d["scalers"]["labels"])),
        features=list(d["variables"]["features"]),
        labels=list(d["variables"]["labels"]),
        label_grid=label_grid,
        feature_grid=_from_plain(d["feature_grid"]),
        static=static,
        static_stats={k: (float(v[0]), float(v[1])) for k, v in st["stats"].items()},
        label_attrs=d["label_attrs"],
        learn_residuals=bool(d["learn_residuals"]),
        config=d["config"],
        summary=d.get("summary"),
        training_state=d["network"].get("training_state"),
    )


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> DownscalingModel:
    """Load a model written by :meth:`DownscalingModel.save`.

    The file is read with ``torch.load(weights_only=True)``: a file holding anything
    but tensors and plain values (a pickled class or callable, say) is refused.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        Where to put the network (default: CPU).

    Raises
    ------
    ModelFileError
        When the file is not an xdeepr model or holds executable objects.

    Examples
    --------
    >>> model = xdeepr.load_model("t2m.xdeepr")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{str(path)!r} is not an xdeepr model file (model files are written by "
            "DownscalingModel.save or `xdeepr train`)"
        )
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(
            f"refusing to load {str(path)!r}: it holds objects other than tensors and plain "
            f"values, which could run code when loaded. Only load model files you trust and "
            f"that xdeepr wrote. ({str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError) as err:
        raise ModelFileError(f"{str(path)!r} is not a readable model file: {err}") from err
    if not isinstance(d, Mapping):
        raise ModelFileError(f"{str(path)!r} is not an xdeepr model (top level is not a mapping)")
    model = from_dict(d)
    if device is not None:
        model.to(device)
    return model
