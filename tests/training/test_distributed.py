"""Training under torch.distributed (2 gloo processes on 127.0.0.1), sharding, prefetch.

The multi-process tests spawn their ranks with ``torch.multiprocessing`` and join a
gloo process group on a free local port, as ``torchrun`` would: they need no GPU and
no network. Tolerance of "same weights": a 2-rank step averages two half-batch
gradients where one process takes the mean over the whole batch, so float sums run
in another order; over 16 AdamW steps the weights agree to ``atol=rtol=2e-5``
(measured: at most 3e-6 apart, weights of order 0.1).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.multiprocessing as tmp

import xdeepr
from xdeepr import training
from xdeepr.training import distributed
from xdeepr.training.distributed import Ranks, ShardedBlocks, sample_noise
from xdeepr.training.prefetch import BlockCache, BlockFeeder, upcoming_blocks

from ..conftest import TINY

STEPS, KILL_AT = 16, 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(batch: int) -> dict[str, Any]:
    """Tiny network; blocks of 4 times shared by the ranks; 40 training, 10 validation times."""
    kw: dict[str, Any] = {
        **TINY,
        "batch_size": batch,
        "block_size": 4,
        "steps": STEPS,
        "seed": 3,
        "validation_fraction": 0.2,
        "checkpoint_every": 4,
    }
    fields = {f.name for f in dataclasses.fields(xdeepr.TrainConfig)}
    if "validate_every" in fields:  # validation by skill: kept small and cheap here
        kw.update(validate_every=8, validation_times=2, validation_members=2)
    return kw


def _state(model: xdeepr.DownscalingModel) -> dict[str, Any]:
    return {
        "ema": {k: v.clone() for k, v in model.network.state_dict().items()},
        "net": {k: v.clone() for k, v in model.training_state.items()},
        "history": model.summary["history"],
        "summary": {k: v for k, v in model.summary.items() if k != "history"},
    }


class _Killed(Exception):
    pass


def _worker(rank: int, world: int, port: int, out: str, batch: int, env_init: bool) -> None:
    """One rank: train uninterrupted, then killed after a checkpoint, then resumed."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    if not env_init:  # as a user's script would; else train() joins from the environment
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
        )
    results: dict[str, Any] = {
        "gathered": distributed.gather_shares(5, lambda i: torch.as_tensor(i) * (rank + 1)).tolist()
    }
    f, l, s = xdeepr.datasets.load_sample(periods=50)
    f, l = f.chunk(time=8), l.chunk(time=8)  # streamed from dask, as from zarr
    kw = _config(batch)
    results["full"] = _state(xdeepr.train(f, l, s, checkpoint_dir=f"{out}/a", **kw))
    if world > 1:
        original = training.loop._save_checkpoint

        def save_then_die(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)  # rank 0 writes, every rank passes the barrier
            if args[5] == KILL_AT:
                raise _Killed  # ... and then every rank dies

        training.loop._save_checkpoint = save_then_die
        try:
            xdeepr.train(f, l, s, checkpoint_dir=f"{out}/b", **kw)
        except _Killed:
            pass
        training.loop._save_checkpoint = original
        state = torch.load(f"{out}/b/{training.CHECKPOINT_NAME}", weights_only=True)
        results["checkpoint_step"] = state["step"]
        results["resumed"] = _state(
            xdeepr.train(f, l, s, checkpoint_dir=f"{out}/b", resume=True, **kw)
        )
    torch.save(results, f"{out}/rank{rank}-of-{world}.pt")
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """A 2-rank run (per-rank batch 2, spawned) and a 1-process run (batch 4), under gloo."""
    out = tmp_path_factory.mktemp("ddp")
    tmp.spawn(_worker, args=(2, _free_port(), str(out), 2, False), nprocs=2, join=True)
    saved = dict(os.environ)
    try:  # one process: here, joining a group of one from the environment, as torchrun's
        _worker(0, 1, _free_port(), str(out), 4, True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {p.stem: torch.load(p, weights_only=False) for p in Path(out).glob("rank*.pt")}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], **tol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if tol:
            torch.testing.assert_close(a[k], b[k], msg=k, **tol)
        else:
            assert torch.equal(a[k], b[k]), k


def test_two_ranks_equal_one_process_with_twice_the_batch(runs):
    two, one = runs["rank0-of-2"]["full"], runs["rank0-of-1"]["full"]
    for what in ("net", "ema"):
        _assert_same(two[what], one[what], atol=2e-5, rtol=2e-5)
    assert two["summary"]["world_size"] == 2 and one["summary"]["world_size"] == 1
    assert two["summary"]["global_batch_size"] == one["summary"]["global_batch_size"] == 4
    assert two["summary"]["batch_size_per_rank"] == 2
    assert "no scaling" in two["summary"]["learning_rate_rule"]
    assert two["summary"]["train_times"] == 40 and two["summary"]["validation_times"] == 10
    # the validation loss is sharded and reduced: the same number as one process's
    v2 = [h["validation_loss"] for h in two["history"] if "validation_loss" in h]
    v1 = [h["validation_loss"] for h in one["history"] if "validation_loss" in h]
    np.testing.assert_allclose(v2, v1, rtol=1e-4)
    assert len(v2) == 2 and all(np.isfinite(v2))


def test_ranks_hold_the_same_weights(runs):
    _assert_same(runs["rank0-of-2"]["full"]["ema"], runs["rank1-of-2"]["full"]["ema"])


def test_gather_shares_gives_every_rank_all_shares_in_order(runs):
    # 5 items over 2 ranks: 0, 1, 2 on rank 0 (x1) and 3, 4 on rank 1 (x2)
    assert runs["rank0-of-2"]["gathered"] == runs["rank1-of-2"]["gathered"] == [0, 1, 2, 6, 8]
    assert runs["rank0-of-1"]["gathered"] == [0, 1, 2, 3, 4]


def test_two_ranks_killed_after_a_checkpoint_resume_exactly(runs):
    r = runs["rank0-of-2"]
    assert r["checkpoint_step"] == KILL_AT
    _assert_same(r["resumed"]["net"], r["full"]["net"])
    _assert_same(r["resumed"]["ema"], r["full"]["ema"])
    assert r["resumed"]["history"] == r["full"]["history"]


# ------------------------------------------------------------- one process, no group


def test_shares_are_disjoint_cover_every_time_and_give_equal_steps():
    idx = np.arange(3, 3 + 23)
    shards = [ShardedBlocks(None, idx, 8, r, 3) for r in range(3)]  # type: ignore[arg-type]
    held = np.concatenate([b for s in shards for b in s.blocks])
    assert sorted(held.tolist()) == idx.tolist()  # disjoint, and nothing left out
    assert all(np.all(np.diff(b) == 1) for s in shards for b in s.blocks)  # contiguous reads
    plans = [s.batches(epoch=1, seed=0, batch_size=2) for s in shards]
    assert len({len(p) for p in plans}) == 1  # every rank takes the same number of steps
    with pytest.raises(xdeepr.errors.ConfigError, match="cannot be shared by 4 ranks"):
        ShardedBlocks(None, np.arange(3), 8, 0, 4)  # type: ignore[arg-type]
    val = ShardedBlocks(None, np.arange(1), 8, 1, 2, train=False)  # type: ignore[arg-type]
    assert val.blocks == []  # a rank may validate nothing


def test_noise_depends_on_the_sample_not_the_batch():
    like = torch.zeros(3, 1, 4, 4)
    a = sample_noise((1, 2), np.array([5, 6, 7]), like, 1000)
    b = sample_noise((1, 2), np.array([7]), like[:1], 1000)
    assert torch.equal(a["noise"][2], b["noise"][0]) and a["t"][2] == b["t"][0]
    c = sample_noise((1, 3), np.array([7]), like[:1], 1000)  # another step: other noise
    assert not torch.equal(c["noise"], b["noise"])


def test_outside_torchrun_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    ranks, device = distributed.setup("cpu")
    assert ranks == Ranks() and not ranks.distributed and device.type == "cpu"
    assert ranks.noise(0, 1, np.arange(2), torch.zeros(2, 1, 2, 2), 10) == {}
    assert ranks.seed(42) == 42 and ranks.mean(3.0, 0) != ranks.mean(3.0, 0)  # NaN
    assert distributed.all_gather_objects(1) == [1] and distributed.is_main()


def test_prefetch_and_cache_change_no_value_and_prepare_each_block_once(sample_small, monkeypatch):
    f, l, s = sample_small
    f, l = f.isel(time=slice(0, 40)).chunk(time=8), l.isel(time=slice(0, 40)).chunk(time=8)
    loads: list[int] = []
    original = training.data._Blocks.load
    monkeypatch.setattr(
        training.data._Blocks, "load", lambda self, b: loads.append(b) or original(self, b)
    )
    kw = {**TINY, "steps": 12, "block_size": 8, "seed": 1, "validation_fraction": 0.0}
    before = xdeepr.train(f, l, s, prefetch=False, block_cache_mib=0, **kw)
    n_before, loads[:] = len(loads), []
    after = xdeepr.train(f, l, s, **kw)  # defaults: prefetch on, 2 GiB cache
    _assert_same(before.network.state_dict(), after.network.state_dict())
    assert len(loads) == 5 < n_before  # 5 blocks of 8, each prepared once over 3 epochs


def test_block_feeder_follows_the_order_and_the_cache_keeps_its_budget():
    class Counting:
        blocks = [np.arange(2)] * 3

        def __init__(self) -> None:
            self.calls: list[int] = []

        def load(self, b: int) -> tuple[torch.Tensor, ...]:
            self.calls.append(b)
            return (torch.full((4,), float(b)), torch.zeros(1), torch.zeros(1))

    plan = [(0, None), (0, None), (2, None), (1, None)]
    src = Counting()
    order = upcoming_blocks(lambda e: plan, 0, len(plan), 6)  # 0 2 1 | 0 0 -> 0 2 1 0
    with BlockFeeder(src, order) as feed:  # type: ignore[arg-type]
        got = [int(feed.load(b)[0][0]) for b, _ in (plan + plan)[:6]]
    assert got == [0, 0, 2, 1, 0, 0] and src.calls == [0, 2, 1, 0]
    cache = BlockCache(48 / 2**20)  # room for two blocks of 24 bytes
    for b in range(3):
        cache.put("train", b, src.load(b), lazy=True)  # type: ignore[arg-type]
    assert cache.get("train", 1) is not None and cache.get("train", 2) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_under_torchrun_on_cuda():
    """nccl over the GPUs present (at most 2): each rank on cuda:LOCAL_RANK."""
    from benchmarks import suite_training

    world = min(2, torch.cuda.device_count())
    spec = {
        "quick": True,
        "device": "cuda",
        "times": 32,
        "block": 8,
        "steps": 4,
        "batch": 2,
        "prefetch": True,
        "cache": 64.0,
        "threads": 1,
    }
    r = suite_training.launch(spec, world)
    assert r["world"] == world and r["global_batch"] == 2 * world and r["cuda_peak"] > 0


@pytest.mark.slow
def test_cli_train_under_torchrun_writes_one_model(tmp_path):
    """``torchrun --standalone --nproc-per-node 2 -m xdeepr train ...``: rank 0 writes."""
    import subprocess
    import sys

    f, l, s = xdeepr.datasets.load_sample(periods=40)
    for name, ds in (("f", f), ("l", l), ("s", s)):
        ds.to_netcdf(tmp_path / f"{name}.nc")
    sets = [
        "steps=4",
        "n_channels=8",
        "channel_multipliers=[1,2]",
        "batch_size=2",
        "is_attention=[False,True]",
        "block_size=8",
        "validation_times=1",
        "validation_members=2",
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "xdeepr",
        "train",
        "f.nc",
        "l.nc",
        "--static",
        "s.nc",
        "--output",
        "m.xdeepr",
        *[a for kv in sets for a in ("--set", kv)],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("<xdeepr.DownscalingModel") == 1  # printed by rank 0 only
    summary = xdeepr.load_model(tmp_path / "m.xdeepr").summary
    assert summary["world_size"] == 2 and summary["global_batch_size"] == 4
