"""Blocks of an ensemble: their bounds, their input's fingerprint, computing them in turn."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def block_fingerprint(block: xr.Dataset) -> str:
    """A cheap digest of the values of `block`: blake2b-128 of each data variable's float32 bytes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.Dataset({"t2m": ("time", np.arange(3.0))})
    >>> block_fingerprint(a) == block_fingerprint(a + 0.0), block_fingerprint(a) == block_fingerprint(a + 5)
    (True, False)
    """  # noqa: E501
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(map(str, block.data_vars)):
        values = np.ascontiguousarray(np.asarray(block[name].values, dtype=np.float32))
        digest.update(f"{name}{values.shape}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def block_bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """The ``[start, stop)`` ranges of consecutive blocks of `sizes`.

    Examples
    --------
    >>> block_bounds([4, 4, 2])
    [(0, 4), (4, 8), (8, 10)]
    """
    edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


@contextlib.contextmanager
def progress_bar(
    total: int, initial: int, path: Path, progress: bool
) -> Iterator[Callable[[int], Any]]:
    """A tqdm bar of blocks written to `path`; yields its ``update``."""
    from .._progress import progress_bar as bar_for

    with bar_for(
        total=total,
        initial=initial,
        desc=f"writing {path.name}",
        unit="block",
        disable=not progress,
    ) as bar:
        yield bar.update


def compute_blocks(
    client: Any,
    ds: xr.Dataset,
    blocks: Sequence[tuple[int, int]],
    todo: Sequence[int],
    on_done: Callable[[int, xr.Dataset], None],
    progress: Callable[[int], Any],
) -> None:
    """Compute the time blocks `todo` of `ds` and hand each to `on_done` as it finishes.

    With a ``distributed`` `client`, a few blocks (twice the workers) are in flight
    at once and handled in completion order; without, one after the other.
    """
    if client is None:
        for i in todo:
            a, b = blocks[i]
            on_done(i, ds.isel(time=slice(a, b)).compute())
            progress(1)
        return
    from distributed import as_completed

    window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    queue = list(todo)[::-1]
    pending: dict[Any, int] = {}
    finished = as_completed()

    def submit() -> None:
        if queue:
            i = queue.pop()
            a, b = blocks[i]
            future = client.compute(ds.isel(time=slice(a, b)))
            pending[future.key] = i
            finished.add(future)

    for _ in range(window):
        submit()
    for future in finished:
        i = pending.pop(future.key)
        result = future.result()  # re-raises a worker's error here
        future.release()
        on_done(i, result)
        progress(1)
        submit()
