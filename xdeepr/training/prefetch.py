"""Blocks of training data prepared ahead of use, and kept when they fit a budget.

Preparing a block of dask-backed input (reading it, the bicubic condition, the
normalisation, the padding) takes time during which, in a plain loop, the device
waits. :class:`BlockFeeder` prepares the next block in a background thread while the
current one trains, and :class:`BlockCache` keeps prepared blocks of dask-backed input
in host memory up to ``block_cache_mib``, so a block's condition is computed once per
run rather than once per epoch when the data fit (the first blocks that fit are kept;
the others are prepared again each epoch). Neither changes a value: the tensors are
those :meth:`_Blocks.load` returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from .data import _Blocks

Block = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # condition, target, calendar
Plan = Callable[[int], list[tuple[int, np.ndarray]]]  # epoch -> (block, positions) per step

__all__ = ["BlockCache", "BlockFeeder", "upcoming_blocks"]


class BlockCache:
    """Prepared blocks in host memory, up to `budget_mib` MiB in all; the first that fit stay.

    Only lazily backed (dask) blocks are kept: a numpy-backed block is a cheap slice.

    Examples
    --------
    >>> c = BlockCache(1)
    >>> t = (torch.zeros(1000), torch.zeros(10), torch.zeros(2))
    >>> c.put("train", 0, t, lazy=True); c.get("train", 0) is t
    True
    >>> c.put("train", 1, (torch.zeros(10**6),) * 3, lazy=True); c.get("train", 1) is None
    True
    """

    def __init__(self, budget_mib: float) -> None:
        self.budget = int(budget_mib * 2**20)
        self.used = 0
        self._blocks: dict[tuple[str, int], Block] = {}
        self._lock = threading.Lock()

    def get(self, role: str, b: int) -> Block | None:
        """The kept block `b` of `role` ("train", "validation"), or None."""
        with self._lock:
            return self._blocks.get((role, b))

    def put(self, role: str, b: int, block: Block, lazy: bool) -> None:
        """Keep `block` if it is lazily backed and fits what is left of the budget."""
        size = sum(t.numel() * t.element_size() for t in block)
        with self._lock:
            if lazy and (role, b) not in self._blocks and self.used + size <= self.budget:
                self._blocks[(role, b)] = block
                self.used += size


class BlockFeeder:
    """Blocks of a :class:`_Blocks`, from the cache, a background thread, or loaded now.

    Parameters
    ----------
    blocks : _Blocks
        What to load (``blocks.load(b)``).
    order : iterator of int, optional
        The blocks in the order the loop will ask for them (consecutive repeats
        removed, see :func:`upcoming_blocks`). With it, asking for one block starts
        preparing the next in a thread; without it, nothing is prepared ahead.
    cache : BlockCache, optional
        Where prepared blocks are kept.
    role : str
        The cache's name for these blocks.

    Examples
    --------
    >>> class Fake:
    ...     blocks = [np.arange(2), np.arange(2, 4)]
    ...     def load(self, b):
    ...         return (torch.full((2,), b), torch.zeros(2), torch.zeros(2))
    >>> with BlockFeeder(Fake(), iter([1, 0])) as feed:  # type: ignore[arg-type]
    ...     int(feed.load(1)[0][0]), int(feed.load(0)[0][0])
    (1, 0)
    """

    def __init__(
        self,
        blocks: _Blocks,
        order: Iterator[int] | None = None,
        cache: BlockCache | None = None,
        role: str = "train",
    ) -> None:
        self.source = blocks
        self.blocks = blocks.blocks
        self.order = order
        self.cache = cache
        self.role = role
        data = getattr(blocks, "data", None)
        self.lazy = data is not None and (
            data.condition.chunks is not None or data.target.chunks is not None
        )
        self._pool = ThreadPoolExecutor(1, "xdeepr-prefetch") if order is not None else None
        self._pending: tuple[int, Future[Block]] | None = None
        self._current: tuple[int, Block] | None = None
        self._started = False

    def _prepare(self, b: int) -> Block:
        kept = self.cache.get(self.role, b) if self.cache is not None else None
        if kept is not None:
            return kept
        block = self.source.load(b)
        if self.cache is not None:
            self.cache.put(self.role, b, block, self.lazy)
        return block

    def load(self, b: int) -> Block:
        """Block `b` (condition, target, calendar); starts preparing the next one."""
        if self._current is not None and self._current[0] == b:
            return self._current[1]
        if self._pending is not None and self._pending[0] == b:
            block = self._pending[1].result()
        else:
            if self._pending is not None:  # the loop went another way: let it finish
                self._pending[1].result()
            block = self._prepare(b)
        self._pending = None
        if self.order is not None and not self._started:
            next(self.order, None)  # the order's first block is this one
        self._started = True
        self._current = (b, block)
        nxt = next(self.order, None) if self.order is not None else None
        if nxt is not None and self._pool is not None:
            self._pending = (nxt, self._pool.submit(self._prepare, nxt))
        return block

    def close(self) -> None:
        """Wait for a block in preparation and stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> BlockFeeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def upcoming_blocks(plan: Plan, step: int, per_epoch: int, total: int) -> Iterator[int]:
    """The blocks steps `step` .. `total` - 1 will use, in order, repeats removed.

    Examples
    --------
    >>> plan = lambda epoch: [(epoch % 2, None), (epoch % 2, None), (2, None)]
    >>> list(upcoming_blocks(plan, 1, 3, 7))
    [0, 2, 1, 2, 0]
    """
    last = None
    epoch, skip = divmod(step, per_epoch)
    while step < total:
        for block, _ in plan(epoch)[skip:]:
            if step >= total:
                return
            if block != last:
                yield block
                last = block
            step += 1
        epoch, skip = epoch + 1, 0
