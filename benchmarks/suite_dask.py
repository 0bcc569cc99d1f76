"""dask: throughput of a lazy ``downscale`` on a LocalCluster of 1, 2 and 4 workers.

Worker processes with one thread each and one torch thread each
(``client.run(torch.set_num_threads, 1)``); a warm-up computation loads the model
on every worker before the timed one.
"""

from __future__ import annotations

import os
import time

import torch

from . import harness as H


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


def run(ctx: H.Context) -> str:
    """Run the dask suite and return its markdown section."""
    from distributed import Client, LocalCluster

    model = ctx.model()
    f, _, _ = ctx.sample()
    n_times, chunk, members = (4, 2, 2) if ctx.quick else (48, 4, 10)
    steps = 2 if ctx.quick else None
    workers = (1, 2) if ctx.quick else (1, 2, 4)
    lazy = f.sel(time=slice(H.TEST_START, None)).isel(time=slice(0, n_times)).chunk(time=chunk)
    device = "cuda" if ctx.cuda else "cpu"
    rows, base = [], None
    for k in workers:
        cluster = LocalCluster(
            n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            client.run(_set_threads, 1)
            warm = lazy.isel(time=slice(0, chunk * k))
            client.compute(warm.deepr.downscale(model, members=1, steps=1, device=device)).result()
            t0 = time.perf_counter()
            out = lazy.deepr.downscale(model, members=members, steps=steps, device=device)
            client.compute(out).result()
            wall = time.perf_counter() - t0
        rate = n_times * members / wall
        base = base or rate
        rows.append([k, wall, rate, rate / base])
    body = H.table(["workers", "wall s", "samples / s (time x member)", "speed-up vs 1"], rows)
    sampler = model.default_sampler
    note = (
        f"{n_times} time steps x {members} members, time chunks of {chunk}, "
        f"{sampler} with {steps or model.default_steps()} steps, `LocalCluster(processes=True, "
        f"threads_per_worker=1)`, one torch thread per worker, on {os.cpu_count()} CPU cores"
        + (
            " (more workers than cores oversubscribe)"
            if max(workers) > (os.cpu_count() or 1)
            else ""
        )
        + "."
    )
    return H.section(ctx, "dask", "scaling over dask workers", [note, body])
