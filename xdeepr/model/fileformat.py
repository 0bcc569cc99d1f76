"""The model file format: safetensors for the tensors, a versioned JSON header for the rest.

This module documents the layout and reads files (:func:`load_model`,
:func:`from_bytes`, :func:`from_dict`); the model's parts are turned into that layout
and back by :mod:`xdeepr.model.parts` (which also writes files and hashes a model's
identity), the JSON-header mechanics live in :mod:`xdeepr.model.header` and the 0.1.0
reader in :mod:`xdeepr.model.legacy`.

Loading a model file never unpickles, so nothing in a file can run code, and any
language with a safetensors reader and a JSON parser can read one. What a file holds
is checked once, at load, before the network is built (:mod:`xdeepr.model.checks`).

Layout (format version 3)
-------------------------
A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_ file::

    8 bytes   N, little-endian unsigned 64-bit: length of the safetensors header
    N bytes   safetensors header (JSON): {"__metadata__": {"xdeepr": HEADER},
                                          NAME: {"dtype", "shape", "data_offsets"}, ...}
    the rest  raw little-endian tensor data, every byte belonging to one tensor

``HEADER`` is a string holding a strict JSON document (no NaN or Infinity);
``xdeepr_version`` is the :data:`xdeepr.__version__` that wrote the file::

    {"format": "xdeepr-model", "format_version": 3, "xdeepr_version": "0.2.0",
     "network": {"config": {...}, "state_dict": {...}, "training_state": {...} | null},
     "schedule": {...}, "prediction": "v",
     "scalers": {"features": {...}, "labels": {...}},
     "variables": {"features": [...], "labels": [...]}, "label_attrs": {...},
     "learn_residuals": true,
     "label_grid": {"lat_name", "lon_name", "lat", "lon", "lat_attrs", "lon_attrs",
                    "grid": {...}},                                              (optional)
     "feature_grid": {...},
     "static": {"names": [...], "values": {...}, "stats": {NAME: [mean, std]}},
     "config": {...}, "summary": {...},
     "regression": {"config": {...}, "state_dict": {...}, "scaler": {...},   (v3, optional)
                    "folds": [{"config": {...}, "state_dict": {...}}, ...]},  (optional)
     "climatology": {"names": [...], "hour": [...], "by_hour": bool,          (v3, optional)
                     "attrs": {NAME: {...}}, "values": {NAME: (12, n_hours, lat, lon)}}}

Version 3 adds the two optional entries: the regression-mean network of a model
trained with ``mean="regression"`` and its scaler, and the residual climatology
(:mod:`xdeepr.model.climatology`). A model without them writes neither, so a
version-2 file holds exactly a version-3 model without them and still loads. A
cross-fitted regression mean also writes its fold nets under ``regression/folds``
(ensemble members take their mean from them); a file without that entry loads as a
model whose members all take the kept net's mean.

A model whose label grid is projected or curvilinear (:func:`xdeepr.grid.find_grid`)
stores its index coordinates ``(y, x)`` under ``lat_name``/``lat`` and
``lon_name``/``lon`` and adds ``"grid": {"kind", "coords": {NAME: {"dims", "values",
"attrs"}}, "grid_mapping": {"name", "attrs"} | null}``: the 2-D latitude/longitude and
the CF grid mapping (:func:`xdeepr.grid.spec.grid_record`). Regular grids write no
``grid`` entry, so their files are as before.

A model conditioned on station observations also writes ``"observations":
{"variables": {label: name}, "channels": [...], "tolerance": ..., "dropout": ...}``;
the entry is optional, so files without it load as models without observations.

A model trained by this xdeepr also writes ``"inputs": {"attrs": {NAME: {"standard_name",
"units", "long_name", "cell_methods"}}, "time_step": SECONDS | null}``, its training
features' CF attributes and time step (:mod:`xdeepr.model.inputs`); the entry is
optional and not part of the identity: files without it load with ``inputs=None``
(inputs matched by the labels' ``standard_name``, their time step not checked).

A model with a label learnt in another space than its own (precipitation: ``log1p``
with a dry threshold, :mod:`xdeepr.transforms`) also writes ``"transforms": {LABEL:
{"name", "scale", "threshold", "units", "reason"[, "cut"]}}``, ``"cut"`` only where a
dry cut was fitted (:mod:`xdeepr.model.drycut`); the entry is optional (absent: the
identity for every label) and part of the identity.

A model imported from DeepR (:func:`xdeepr.from_deepr`) writes its network as
``"network": {"config": {"kind": "diffusers-unet2d", "image_channels", "conditioned_on_input",
"calendar", "hour_embed", "hour_embed_size", "unet": {diffusers' UNet2DModel config}},
"state_dict": {...}}`` and DeepR's settings in ``config["deepr"]``; reading it back
builds the network with ``diffusers`` (an ImportError names the extra when it is
missing) and gives a :class:`xdeepr.adapters.deepr.model.DeepRModel`.

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
>>> header["format_version"], header["xdeepr_version"] == xdeepr.__version__  # doctest: +SKIP
(3, True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import ModelFileError
from .container import DownscalingModel
from .header import decode, looks_like_safetensors, read_safetensors
from .parts import (
    CONFIG_NOT_IN_IDENTITY,
    FORMAT,
    FORMAT_VERSION,
    NOT_IN_IDENTITY,
    encode,
    model_digest,
    model_kwargs,
    save_model,
    to_bytes,
    to_dict,
)

__all__ = [
    "CONFIG_NOT_IN_IDENTITY",
    "FORMAT",
    "FORMAT_VERSION",
    "NOT_IN_IDENTITY",
    "encode",
    "from_bytes",
    "from_dict",
    "load_model",
    "model_digest",
    "save_model",
    "to_bytes",
    "to_dict",
]


def from_dict(d: Mapping[str, object], *, source: str = "model mapping") -> DownscalingModel:
    """Rebuild a model from :func:`to_dict` output (tensors, or numpy arrays, and plain values).

    Raises
    ------
    ModelFileError
        Naming `source` and the problem: not an xdeepr model, a newer format, a
        missing entry (its path), a tensor of the wrong shape.

    Examples
    --------
    >>> from_dict(to_dict(model)).identity == model.identity  # doctest: +SKIP
    True
    """
    kwargs = model_kwargs(d, source=source)
    if getattr(kwargs["network"], "kind", None) == "diffusers-unet2d":  # imported from DeepR
        from ..adapters.deepr.model import DeepRModel

        return DeepRModel(**kwargs)
    return DownscalingModel(**kwargs)


def from_bytes(data: bytes, *, source: str = "model bytes") -> DownscalingModel:
    """Read a model from the bytes of a model file (any supported format).

    Format-2 and format-3 bytes are parsed as safetensors and JSON, never unpickled; 0.1.0 bytes
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
        entry, holds a tensor of the wrong shape, or holds a pickle (refused unread);
        also when a header value has the wrong type, weights or scaler statistics are
        not finite, a scaler is degenerate or the header does not fit the stored
        tensors (:mod:`xdeepr.model.checks`, checked once at load).

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
