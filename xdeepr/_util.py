"""Small helpers shared across modules (no torch here; see :mod:`xdeepr._torch`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success, rename it onto `path` atomically.

    A run killed while writing leaves the old file (or none), never half a new one;
    on an error the temporary file is removed. A file gets the permissions the umask
    gives new files (``0o666 & ~umask``, 0644 under the usual 022), whatever mode the
    library that wrote it chose (safetensors writes 0600), so groups can share outputs.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> target.read_text()
    '{}'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def umask() -> int:
    """The process's umask (read from /proc where it can be, so it is never changed there).

    Examples
    --------
    >>> 0 <= umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once (the only portable way)
    os.umask(mask)
    return mask


def is_cftime(values: Any) -> bool:
    """Whether `values` (an array, a DataArray or a scalar) hold cftime datetimes.

    Examples
    --------
    >>> import cftime, numpy as np
    >>> is_cftime(np.array([cftime.Datetime360Day(2000, 1, 1)]))
    True
    >>> is_cftime(np.array(["2000-01-01"], dtype="datetime64[ns]"))
    False
    """
    values = getattr(values, "values", values)
    arr = np.asarray(values)
    if arr.dtype != object or arr.size == 0:
        return False
    first = arr.flat[0]
    return hasattr(first, "calendar") and hasattr(first, "timetuple")


def time_kind(values: Any) -> str:
    """A short name of the type of time stamps in `values`, for error messages.

    Examples
    --------
    >>> import numpy as np
    >>> time_kind(np.array(["2000-01-01"], dtype="datetime64[ns]"))
    'numpy datetime64'
    """
    values = getattr(values, "values", values)
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return "numpy datetime64"
    if is_cftime(arr):
        return f"cftime ({arr.flat[0].calendar} calendar)"
    return f"{arr.dtype} values"
