"""Benchmark downscaling on the embedded sample: speed per sampler, CRPS vs steps, dask workers.

Prints, on the device it runs on:

1. seconds per 20-member ensemble per time step for each sampler at its default steps;
2. CRPS (and ensemble-mean RMSE) on held-out times versus the number of steps, per
   sampler — the measurement the default sampler is chosen by;
3. the wall time of a lazy downscale on a dask.distributed LocalCluster with 1 and 2
   worker processes, and the speed-up.

Usage::

    python benchmarks/bench_downscale.py [--model PATH] [--device cpu] [--skip-dask]

The model is trained once (the demo's configuration, 600 steps) and cached at --model.
The same measurements, as markdown tables for BENCHMARKS.md, are the ``sampling``,
``skill`` and ``dask`` suites of ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import xdeepr


def _model(path: Path) -> xdeepr.DownscalingModel:
    if path.exists():
        return xdeepr.load_model(path)
    f, l, s = xdeepr.datasets.load_sample()
    train = slice(None, "2021-06-30")
    model = xdeepr.train(
        f.sel(time=train), l.sel(time=train), s, config=xdeepr.TrainConfig.small(),
        progress=False,
    )
    model.save(path)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="benchmarks/.cache/demo-600.xdeepr")
    p.add_argument("--device", default=None)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--skip-dask", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    path = Path(args.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _model(path)
    f, l, _ = xdeepr.datasets.load_sample()
    test = slice("2021-07-01", None)
    ft, lt = f.sel(time=test), l.sel(time=test)
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    n_par = model.n_parameters
    print(f"device: {dev}, torch threads: {torch.get_num_threads()}, {n_par:,} parameters")

    print("\n1. seconds per 20-member ensemble per time step (reduced domain 20x32)")
    for sampler, n_times in (("dpm++2m", 8), ("ddim", 4), ("ddpm", 1)):
        x = ft.isel(time=slice(0, n_times))
        x.deepr.downscale(model, members=2, sampler=sampler, steps=2, progress=False, device=dev)
        t0 = time.perf_counter()
        x.deepr.downscale(model, members=args.members, sampler=sampler, progress=False, device=dev)
        dt = (time.perf_counter() - t0) / n_times
        steps = model.default_steps(sampler) or model.schedule.num_steps
        print(f"   {sampler:8s} {steps:5d} steps: {dt:8.3f} s")

    print("\n2. skill on held-out times (every 24th from 2021-07-01) vs steps, 10 members")
    sub = ft.isel(time=slice(None, None, 24))
    truth = lt.sel(time=sub.time)
    bic = sub.deepr.interpolate(truth)
    print(f"   bicubic: RMSE {float(xdeepr.metrics.rmse(bic.t2m, truth.t2m)):.4f} K, "
          f"CRPS (=MAE) {float(xdeepr.metrics.mae(bic.t2m, truth.t2m)):.4f} K")  # fmt: skip
    grid = {"dpm++2m": (5, 10, 20, 50), "ddim": (10, 20, 50, 100), "ddpm": (100, 1000)}
    for sampler, steps_list in grid.items():
        for steps in steps_list:
            ens = sub.deepr.downscale(model, members=10, sampler=sampler, steps=steps,
                                      progress=False, device=dev)  # fmt: skip
            crps = float(xdeepr.metrics.crps_ensemble(ens.t2m, truth.t2m))
            rmse = float(xdeepr.metrics.rmse(ens.t2m.mean("member"), truth.t2m))
            ssr = float(xdeepr.metrics.spread_skill_ratio(ens.t2m, truth.t2m))
            print(f"   {sampler:8s} {steps:5d} steps: CRPS {crps:.4f} K, RMSE {rmse:.4f} K, "
                  f"spread-skill {ssr:.3f}")  # fmt: skip

    if args.skip_dask:
        return
    print("\n3. dask.distributed LocalCluster, 48 time steps x 10 members, chunks of 4")
    from distributed import Client, LocalCluster

    lazy_in = ft.isel(time=slice(0, 48)).chunk(time=4)
    walls = {}
    for workers in (1, 2):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            client.run(torch.set_num_threads, 1)
            warm_in = lazy_in.isel(time=slice(0, 4 * workers))
            warm = warm_in.deepr.downscale(model, members=2, steps=2)
            client.compute(warm).result()
            t0 = time.perf_counter()
            client.compute(lazy_in.deepr.downscale(model, members=10)).result()
            walls[workers] = time.perf_counter() - t0
        print(f"   {workers} worker(s): {walls[workers]:.2f} s")
    print(f"   speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
