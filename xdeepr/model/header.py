"""The JSON header of a model file: tensors split out by name, strict JSON throughout.

:func:`split` turns a mapping of tensors and plain values into a JSON-able header
and a flat mapping of named tensors; :func:`join` is its inverse. In the header
``{"$tensor": NAME}`` stands for a tensor and ``{"$float": "nan"}`` (or ``"inf"``,
``"-inf"``) for a number strict JSON cannot write. :func:`read_safetensors` parses
a safetensors buffer, turning every way it can be damaged into a
:class:`~xdeepr.errors.ModelFileError`. See :mod:`xdeepr.model.fileformat` for
the file layout.

Examples
--------
>>> import torch
>>> tensors = {}
>>> header = split({"w": torch.zeros(2), "loss": float("nan")}, "", tensors)
>>> dumps(header)
'{"w":{"$tensor":"w"},"loss":{"$float":"nan"}}'
>>> join(header, tensors, set(), "example")["w"]
tensor([0., 0.])
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import ModelFileError

#: The safetensors metadata key holding the JSON header.
METADATA_KEY = "xdeepr"
_MAX_HEADER = 100 * 2**20
#: The deepest nesting of JSON lists and objects read (xdeepr writes 6 levels).
MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_TENSOR, _FLOAT = "$tensor", "$float"


def decode(
    header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], source: str
) -> dict[str, Any]:
    """Inverse of :func:`encode`: the header with its references replaced by tensors."""
    used: set[str] = set()
    out = join(header, tensors, used, source)
    unused = sorted(set(tensors) - used)
    if unused:
        raise ModelFileError(f"{source} holds tensors no entry refers to: {unused[:5]}")
    return dict(out)


def split(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of `value`, moving tensors and numeric arrays into `tensors`."""
    if isinstance(value, Mapping):
        return {
            str(k): split(v, f"{path}/{k}" if path else str(k), tensors) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [split(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        return [str(v) for v in value.tolist()]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        t = torch.as_tensor(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        tensors[path] = t.detach().cpu().contiguous().clone()
        return {_TENSOR: path}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {_FLOAT: str(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def join(value: Any, tensors: Mapping[str, torch.Tensor], used: set[str], source: str) -> Any:
    if isinstance(value, list):
        return [join(v, tensors, used, source) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {_TENSOR}:
        name = value[_TENSOR]
        if name not in tensors:
            raise ModelFileError(f"{source} lacks the tensor {name!r} its header refers to")
        if name in used:
            raise ModelFileError(f"{source} refers to the tensor {name!r} twice")
        used.add(name)
        return tensors[name]
    if set(value) == {_FLOAT}:
        if value[_FLOAT] not in ("nan", "inf", "-inf"):
            raise ModelFileError(f"{source}: {value!r} is not a number")
        return float(value[_FLOAT])
    return {k: join(v, tensors, used, source) for k, v in value.items()}


def references(value: Any) -> list[str]:
    if isinstance(value, list):
        return [n for v in value for n in references(v)]
    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            return [value[_TENSOR]]
        return [n for v in value.values() for n in references(v)]
    return []


def dumps(header: Any, *, canonical: bool = False) -> str:
    """Strict, compact JSON of `header`; `canonical`: keys sorted (for hashing)."""
    return json.dumps(header, sort_keys=canonical, allow_nan=False, separators=(",", ":"))


def looks_like_safetensors(data: bytes) -> bool:
    """Whether `data` starts like a safetensors buffer: a length that fits, then ``{``.

    Examples
    --------
    >>> looks_like_safetensors(b"\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}")
    True
    >>> import pickle
    >>> looks_like_safetensors(pickle.dumps({"a": 1}))
    False
    """
    if len(data) < 9:
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 8 + n <= len(data) and data[8:9] == b"{"


def json_depth(text: bytes | str) -> int:
    """How deeply lists and objects nest in JSON `text`, counted without parsing it.

    Examples
    --------
    >>> json_depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    code = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.isin(code, (0x5B, 0x7B)).astype(np.int8) - np.isin(code, (0x5D, 0x7D))
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _check_depth(text: bytes | str, source: str, what: str) -> None:
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(
            f"{source} is refused: its {what} nests lists and objects {depth} deep, more than "
            f"the {MAX_JSON_DEPTH} allowed (xdeepr writes 6): the file was edited or built to "
            "exhaust the reader; re-save the model from a good copy (model.save) or re-train it"
        )


def read_safetensors(data: bytes, source: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """The JSON header and the tensors of safetensors `data`, each check a clear error."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if len(data) < 8:
        raise ModelFileError(f"{source} is truncated or empty ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        raise ModelFileError(
            f"{source} is not an xdeepr model file (not safetensors; model files are "
            "written by DownscalingModel.save or `xdeepr train`)"
        )
    if 8 + n > len(data):
        raise ModelFileError(
            f"{source} is truncated: its header needs {8 + n} bytes, the file has {len(data)}"
        )
    _check_depth(data[8 : 8 + n], source, "safetensors header")
    unreadable = (UnicodeDecodeError, ValueError, KeyError, TypeError)
    try:
        index = json.loads(data[8 : 8 + n].decode("utf-8"))
        meta = index["__metadata__"][METADATA_KEY]
    except unreadable as err:
        raise _no_header(source, err) from None
    if isinstance(meta, str):
        _check_depth(meta, source, "xdeepr header")
    try:
        header = json.loads(meta, parse_constant=_no_constant)
    except unreadable as err:
        raise _no_header(source, err) from None
    ends = [v["data_offsets"][1] for k, v in index.items() if k != "__metadata__"]
    if 8 + n + max(ends, default=0) > len(data):
        raise ModelFileError(
            f"{source} is truncated: its tensors need {8 + n + max(ends)} bytes, the file "
            f"has {len(data)}"
        )
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{source} has unreadable tensor data: {err}") from None
    return header, tensors


def _no_header(source: str, err: Exception) -> ModelFileError:
    return ModelFileError(
        f"{source} is not an xdeepr model file (no readable xdeepr header: {err})"
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")
