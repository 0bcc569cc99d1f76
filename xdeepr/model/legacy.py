"""Reading model files written by xdeepr 0.1.0 (format 1: a :func:`torch.save` zip).

Format 1 is a pickle of tensors and plain values. It is still read, so that
existing models keep working, but never by unpickling blindly: before anything is
loaded, every opcode of the zip's ``data.pkl`` is inspected (with
:mod:`pickletools`, which does not execute it), and a pickle that names any
callable other than the handful torch uses to rebuild tensors, or that uses an
opcode able to build arbitrary objects, is refused. Only then is it loaded, with
``torch.load(weights_only=True)`` as a second line of defence. Loading warns with a
:class:`FutureWarning`: re-save the model to convert it to format 2.
"""

from __future__ import annotations

import io
import pickletools
import warnings
import zipfile
from typing import Any

from ..errors import ModelFileError

#: The callables a 0.1.0 model file's pickle may name: tensor rebuilding only.
ALLOWED_GLOBALS = frozenset(
    {"collections OrderedDict", "torch._utils _rebuild_tensor_v2"}
    | {
        f"torch {kind}Storage"
        for kind in (
            *("Float", "Double", "Half", "BFloat16"),
            *("Long", "Int", "Short", "Char", "Byte", "Bool"),
        )
    }
)
#: Opcodes that can name or build objects without a vetted GLOBAL.
_REFUSED_OPCODES = frozenset(
    {"INST", "OBJ", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4", "NEWOBJ", "NEWOBJ_EX", "BUILD"}
)


def is_legacy(data: bytes) -> bool:
    """Whether `data` looks like a format-1 file (a zip archive, as torch.save writes).

    Examples
    --------
    >>> is_legacy(b"PK\\x03\\x04...")
    True
    """
    return data[:4] == b"PK\x03\x04"


def check_pickle(pickled: bytes) -> None:
    """Refuse `pickled` unless it only rebuilds tensors, containers and plain values.

    The opcodes are read, not executed.

    Raises
    ------
    ModelFileError
        Naming the first callable or opcode that is not allowed.

    Examples
    --------
    >>> import pickle
    >>> check_pickle(pickle.dumps({"a": [1, 2.0, "x"]}, protocol=2))
    >>> check_pickle(pickle.dumps(print, protocol=2))
    Traceback (most recent call last):
    ...
    xdeepr.errors.ModelFileError: it holds __builtin__.print, which is not tensor data
    """
    try:  # genops only parses: nothing is executed
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(pickled)]
    except ValueError as err:  # a malformed or truncated opcode stream
        raise ModelFileError(f"its pickle is damaged ({err})") from None
    for name, arg in ops:
        if name == "GLOBAL" and arg not in ALLOWED_GLOBALS:
            raise ModelFileError(f"it holds {str(arg).replace(' ', '.')}, which is not tensor data")
        if name in _REFUSED_OPCODES:
            raise ModelFileError(f"it uses the pickle opcode {name}, which can build objects")


def read(data: bytes, source: str) -> dict[str, Any]:
    """The mapping stored in a format-1 file, after :func:`check_pickle`; warns.

    Raises
    ------
    ModelFileError
        Not a torch zip, a pickle that is refused, or a file torch cannot read.
    """
    import torch

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise ModelFileError(
                    f"{source} is not an xdeepr model file (a zip archive, but not one "
                    "written by xdeepr)"
                )
            pickled = zf.read(names[0])
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ModelFileError(f"{source} is damaged or truncated ({err})") from None
    try:
        check_pickle(pickled)
    except ModelFileError as err:
        raise ModelFileError(
            f"refusing to load {source}: {err} and could run code when loaded; nothing "
            "was unpickled. Only load model files you trust and that xdeepr wrote."
        ) from None
    try:
        d = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{source} is not a readable model file ({first})") from None
    if not isinstance(d, dict):
        raise ModelFileError(f"{source} is not an xdeepr model (top level is not a mapping)")
    if d.get("format") == "xdeepr-model" and d.get("format_version") == 1:
        warnings.warn(
            f"{source} was written by xdeepr {d.get('xdeepr_version', '0.1.0')} in the "
            "deprecated torch pickle format; re-save it (model.save(path)) to convert it to "
            "the safetensors format, which cannot run code. Reading this format will be "
            "removed in a future release.",
            FutureWarning,
            stacklevel=4,  # the caller of load_model
        )
    return d
