"""Training over several processes (``torchrun``): ranks, sharding, noise, reductions.

Outside ``torchrun`` (no ``RANK``/``WORLD_SIZE`` in the environment and no process
group) :class:`Ranks` is the single process of today and every method here is the
identity, so a plain run is bit-identical to one without this module. Under
``torchrun`` :func:`setup` joins the process group (``nccl`` on CUDA, ``gloo`` on the
CPU) and training becomes data-parallel:

- the network is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`,
  which averages the gradients, so every rank holds the same weights and EMA;
- ``batch_size`` is per rank: the global batch is ``batch_size x world_size``;
- ``learning_rate`` is the learning rate of that global batch, used as given (no
  scaling rule is applied; see docs/distributed.md);
- each rank reads a disjoint, contiguous share of every time block
  (:class:`ShardedBlocks`), streamed from dask/zarr like a single process's blocks;
- the diffusion time and noise of a sample depend on (seed, step, time index) only
  (:func:`sample_noise`), so ranks draw different noise, the run is reproducible, and
  a run's result does not depend on which rank held which sample;
- rank 0 alone writes checkpoints (atomically) and shows progress; validation is
  sharded and reduced with :func:`all_reduce_sum` (sums and counts).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .._torch import choose_device
from ..diffusion.noise import StackedRandomGenerator
from ..errors import ConfigError
from .data import _Blocks, _Data

__all__ = [
    "LR_RULE",
    "Ranks",
    "ShardedBlocks",
    "all_gather_objects",
    "all_reduce_sum",
    "barrier",
    "gather_shares",
    "is_main",
    "launched",
    "sample_noise",
    "setup",
]

#: How the learning rate relates to the global batch, as stated in ``model.summary``.
LR_RULE = "learning_rate is the global batch's, used as given (no scaling with world size)"


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set).

    Examples
    --------
    >>> import os
    >>> launched() == ("RANK" in os.environ and "WORLD_SIZE" in os.environ)
    True
    """
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main() -> bool:
    """Whether this process is rank 0 (always true outside ``torchrun``).

    Use it to write the model file once::

        model = xdeepr.train(features, labels, static)
        if xdeepr.training.distributed.is_main():
            model.save("t2m.xdeepr")

    Examples
    --------
    >>> is_main()
    True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _mix(*keys: int) -> int:
    """A 64-bit seed from integer `keys` (numpy's SeedSequence: well spread, stable)."""
    seq = np.random.SeedSequence([int(k) % 2**63 for k in keys])
    return int(seq.generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank, world size, and whether it is distributed.

    ``Ranks()`` is a plain single-process run: every method is then the identity.

    Examples
    --------
    >>> r = Ranks()
    >>> r.is_main, r.world_size, r.mean(6.0, 3)
    (True, 1, 2.0)
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False  # a process group is in use (even of one rank)
    created: bool = False  # setup() initialised it, close() destroys it

    @property
    def is_main(self) -> bool:
        """Rank 0: writes checkpoints, shows progress."""
        return self.rank == 0

    def blocks(self, data: _Data, indices: np.ndarray, block_size: int, train: bool) -> _Blocks:
        """Today's blocks (one process), or this rank's shares of them (distributed)."""
        if not self.distributed:
            return _Blocks(data, indices, block_size)
        return ShardedBlocks(data, indices, block_size, self.rank, self.world_size, train=train)

    def wrap(self, net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """`net` itself, or wrapped in DistributedDataParallel (gradients averaged)."""
        if not self.distributed:
            return net
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # no BatchNorm in the U-Net: buffers need no broadcast at every forward pass
        # (torch >= 2.13 names the switch forward_sync_buffers; older ones broadcast_buffers)
        params = inspect.signature(DistributedDataParallel).parameters
        sync = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
        options: dict[str, Any] = {sync: False}
        return DistributedDataParallel(net, device_ids=ids, **options)

    def seed(self, base: int) -> int:
        """`base` (one process), or a seed of (`base`, rank): ranks draw other dropout."""
        return base if not self.distributed else _mix(base, self.rank)

    def noise(
        self, seed: int, step: int, items: np.ndarray, like: torch.Tensor, num_steps: int
    ) -> dict[str, torch.Tensor]:
        """``{}`` (one process: the loss draws from the step's generator), else per-sample
        ``t`` and ``noise`` from :func:`sample_noise`."""
        if not self.distributed:
            return {}
        return sample_noise((seed, step), items, like, num_steps)

    def mean(self, total: float, count: float, device: torch.device | None = None) -> float:
        """``total / count`` over all ranks (NaN when no rank counted anything)."""
        if self.distributed:
            total, count = all_reduce_sum([total, count], device).tolist()
        return total / count if count else float("nan")

    def any(self, flag: bool, device: torch.device | None = None) -> bool:
        """Whether `flag` is true on any rank (so that all ranks stop together)."""
        if not self.distributed:
            return flag
        return bool(all_reduce_sum([float(flag)], device)[0] > 0)

    def close(self) -> None:
        """Destroy the process group if :func:`setup` created it."""
        if self.created and dist.is_initialized():
            dist.destroy_process_group()

    def summary(self, batch_size: int) -> dict[str, Any]:
        """The entries of ``model.summary`` that say how the batch was split."""
        return {
            "world_size": self.world_size,
            "batch_size_per_rank": batch_size,
            "global_batch_size": batch_size * self.world_size,
            "learning_rate_rule": LR_RULE,
        }


def setup(device: str | None) -> tuple[Ranks, torch.device]:
    """This process's :class:`Ranks` and training device; joins ``torchrun``'s group.

    Outside ``torchrun`` (and without a process group) returns ``Ranks()`` and
    ``choose_device(device)``. Under ``torchrun`` the process group is initialised
    from the environment (``env://``) unless it already is, with ``nccl`` where the
    device is CUDA and ``gloo`` otherwise; a CUDA device becomes ``cuda:LOCAL_RANK``.
    Ranks other than 0 ignore warnings from then on (logs on rank 0 only).

    Raises
    ------
    ConfigError
        For a device this machine lacks, or a CUDA device index that is not the
        local rank's.

    Examples
    --------
    >>> setup("cpu")  # not under torchrun
    (Ranks(rank=0, world_size=1, local_rank=0, distributed=False, created=False), device(type='cpu'))
    """  # noqa: E501
    initialised = dist.is_available() and dist.is_initialized()
    if not initialised and not launched():
        return Ranks(), choose_device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = choose_device(device)
    if dev.type == "cuda":
        if dev.index is not None and dev.index != local and device not in (None, "", "cuda"):
            raise ConfigError(
                f"device {device!r} under torchrun: each rank trains on cuda:LOCAL_RANK "
                f"(here cuda:{local}); pass device='cuda' or leave it unset"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    created = False
    if not initialised:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        created = True
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), local, True, created)
    if not ranks.is_main:
        warnings.simplefilter("ignore")
    return ranks, dev


def barrier() -> None:
    """Wait until every rank arrives (a no-op outside a process group).

    Examples
    --------
    >>> barrier()
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: Sequence[float], device: torch.device | None = None) -> torch.Tensor:
    """Element-wise sums of `values` over all ranks, as a float64 CPU tensor.

    The reduction runs on `device` (CUDA for ``nccl``; the CPU for ``gloo``). Sum
    numerators and counts separately and divide afterwards: a mean of per-rank means
    is wrong when ranks hold different numbers of samples. Outside a process group,
    the values themselves.

    Examples
    --------
    >>> all_reduce_sum([2.0, 3.0]).tolist()
    [2.0, 3.0]
    """
    t = torch.tensor(list(values), dtype=torch.float64)
    if dist.is_available() and dist.is_initialized():
        on = device if device is not None and device.type == "cuda" else torch.device("cpu")
        t = t.to(on)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_gather_objects(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order (picklable objects: per-rank scores, times).

    Examples
    --------
    >>> all_gather_objects({"crps": 0.3})
    [{'crps': 0.3}]
    """
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_shares(n: int, fn: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
    """``fn`` over this rank's contiguous share of ``range(n)``; all shares, in order.

    For work that every rank needs the whole result of, such as the ensembles of a
    validation by skill: each rank computes ``fn(indices)`` for its share (a tensor
    with one row per index), and every rank gets the rows of all shares concatenated
    in index order (as CPU tensors). Outside a process group, ``fn(np.arange(n))``.

    Examples
    --------
    >>> gather_shares(3, lambda i: torch.as_tensor(i) * 10).tolist()
    [0, 10, 20]
    """
    if not (dist.is_available() and dist.is_initialized()):
        return fn(np.arange(n))
    share = np.array_split(np.arange(n), dist.get_world_size())[dist.get_rank()]
    parts = all_gather_objects(fn(share).cpu() if share.size else None)
    return torch.cat([p for p in parts if p is not None])


def sample_noise(
    key: Sequence[int], items: np.ndarray, like: torch.Tensor, num_steps: int
) -> dict[str, torch.Tensor]:
    """Diffusion time ``t`` (B,) and noise ε shaped like `like` (B, C, H, W), per sample.

    Sample k's draws come from a generator seeded by (`key`, ``items[k]``), where the
    item is the sample's time index: they do not depend on the batch it sits in, its
    position, or the rank that holds it (EDM's per-item generators).

    Examples
    --------
    >>> x = torch.zeros(2, 1, 4, 4)
    >>> a = sample_noise((0, 5), np.array([10, 11]), x, 1000)
    >>> b = sample_noise((0, 5), np.array([11]), x[:1], 1000)
    >>> bool((a["noise"][1] == b["noise"][0]).all()) and int(a["t"][1]) == int(b["t"][0])
    True
    """
    gens = StackedRandomGenerator.from_seeds([_mix(*key, int(i)) for i in items])
    t = torch.cat([torch.randint(0, num_steps, (1,), generator=g) for g in gens])  # (B,)
    return {"t": t, "noise": gens(0, like.cpu())}  # ε: (B, C, H, W)


class ShardedBlocks(_Blocks):
    """This rank's contiguous share of each time block, and its batches.

    The time steps are cut into the same blocks as in one process; block ``g`` is then
    cut into ``world`` contiguous shares (sizes differ by at most one) and this rank
    loads share ``rank`` only. A block with fewer steps than ranks is merged into the
    one before. In training every rank takes the same number of steps: a share one
    shorter repeats its first sample of the epoch's order. Block order and in-share
    order depend on (seed, epoch, block) only.

    Examples
    --------
    >>> import numpy as np
    >>> b = ShardedBlocks(None, np.arange(9), 4, rank=1, world=2)  # type: ignore[arg-type]
    >>> [s.tolist() for s in b.blocks]  # blocks [0..3], [4..8]: the 1-step tail merged
    [[2, 3], [7, 8]]
    """

    def __init__(
        self,
        data: _Data,
        indices: np.ndarray,
        block_size: int,
        rank: int,
        world: int,
        *,
        train: bool = True,
    ) -> None:
        super().__init__(data, indices, block_size)
        whole = list(self.blocks)
        if len(whole) > 1 and len(whole[-1]) < world:
            whole[-2:] = [np.concatenate(whole[-2:])]
        if train and whole and len(whole[0]) < world:
            raise ConfigError(
                f"{len(indices)} training time step(s) cannot be shared by {world} ranks: "
                "each rank needs at least one; train with fewer ranks or more data"
            )
        shares = [np.array_split(g, world) for g in whole]
        self.share_size = [max(len(s) for s in parts) for parts in shares]
        self.blocks = [parts[rank] for parts in shares]
        if not train:  # validation: a rank may hold nothing of a block
            self.share_size = [n for n, s in zip(self.share_size, self.blocks) if len(s)]
            self.blocks = [s for s in self.blocks if len(s)]

    def batches(self, epoch: int, seed: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
        """(block, positions-in-share) of this rank's batches; equally many on every rank."""
        out = []
        for b in np.random.default_rng([seed, epoch]).permutation(len(self.blocks)):
            order = np.random.default_rng([seed, epoch, b]).permutation(len(self.blocks[b]))
            order = np.resize(order, self.share_size[b])  # a shorter share repeats its first
            out += [(int(b), order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
        return out
