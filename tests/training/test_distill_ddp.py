"""xdeepr.distill under torch.distributed: 2 gloo ranks on 127.0.0.1, as torchrun would.

The student's two evaluations per member run through DistributedDataParallel in one
forward-backward step each; after the run both ranks hold the same weights (DDP
averages the gradients, so the replicas never drift) and the same selection.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as tmp

import xdeepr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    # One group for the whole script, as a torchrun script running train then distill
    # should: train and distill join it instead of each creating and destroying one
    # on the same port (a re-initialisation that can race).
    torch.distributed.init_process_group("gloo")
    f, l, s = xdeepr.datasets.load_sample(periods=40)
    tiny: dict[str, Any] = {
        "n_channels": 4,
        "channel_multipliers": (1, 2),
        "is_attention": (False, False),
        "progress": False,
        "validation_times": 2,
        "validation_members": 2,
    }
    teacher = xdeepr.train(f, l, s, steps=2, batch_size=2, **tiny)  # joins the group
    student = xdeepr.distill(
        teacher,
        f,
        l,
        evaluations=2,
        steps=3,
        batch_size=2,
        crps_members=2,
        progress=False,
        validation_times=2,
        validation_members=2,
    )
    torch.save(
        {
            "weights": {k: v.clone() for k, v in student.network.state_dict().items()},
            "summary": {k: student.summary[k] for k in ("world_size", "selected_step")},
        },
        f"{out}/rank{rank}.pt",
    )
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distill_runs_data_parallel_and_ranks_agree(tmp_path):
    ctx = tmp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 300  # a hung collective fails here, never hangs CI
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("the two distill ranks did not finish within 300 s (hung collective)")
    a, b = (torch.load(Path(tmp_path) / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert a["summary"] == b["summary"] and a["summary"]["world_size"] == 2
    for k in a["weights"]:
        torch.testing.assert_close(a["weights"][k], b["weights"][k], atol=1e-6, rtol=1e-6)
