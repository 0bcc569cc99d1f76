"""tiling: tiled against untiled sampling, same noise, on the reduced domain.

The demo model's network is wrapped by :func:`xdeepr.tiling.tiled_network` so the
whole ``downscale`` path runs tiled; both runs use the same seed, hence the same
noise, so the difference is the tiling alone (the seam difference).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

import xdeepr
from xdeepr import tiling

from . import harness as H


class TiledUNet(torch.nn.Module):
    """A U-Net whose forward pass runs on overlapping tiles (benchmark stand-in)."""

    def __init__(self, net: Any, tile: int, overlap: int) -> None:
        super().__init__()
        self.net = net
        self.fn = tiling.tiled_network(net, tile, overlap, tile_batch=64)

    @property
    def config(self) -> dict[str, Any]:
        return self.net.config

    @property
    def size_multiple(self) -> int:
        return int(self.net.size_multiple)

    def forward(self, *args: Any) -> torch.Tensor:
        return self.fn(*args)


def run(ctx: H.Context) -> str:
    """Run the tiling suite and return its markdown section."""
    model = ctx.model()
    ft, truth = ctx.held_out()
    members = 2 if ctx.quick else 10
    steps = 2 if ctx.quick else None
    opts = {"members": members, "steps": steps, "progress": False, "device": ctx.device}
    ref = ft.deepr.downscale(model, **opts)
    crps_ref = float(xdeepr.metrics.crps_ensemble(truth.t2m, ref.t2m))
    m = model.network.size_multiple
    rows = [["untiled", "", 1, crps_ref, "", ""]]
    h, w = model.condition(ft.isel(time=[0])).shape[2:]
    for tile, overlap in ((24, 8), (16, 8), (16, 4), (8, 4)) if not ctx.quick else ((8, 4),):
        if tile - overlap < m:
            continue
        tm = copy.copy(model)
        tm.network = TiledUNet(model.network, tile, overlap)  # type: ignore[assignment]
        out = ft.deepr.downscale(tm, **opts)
        d = out.t2m - ref.t2m
        n_tiles = len(tiling.tile_slices(h, w, tile, overlap, m))
        rows.append(
            [
                f"{min(tile, w)}x{min(tile, h)}",
                overlap,
                n_tiles,
                float(xdeepr.metrics.crps_ensemble(truth.t2m, out.t2m)),
                float(abs(d).max()),
                float((d**2).mean() ** 0.5),
            ]
        )
    body = H.table(
        [
            "tile W x H",
            "overlap",
            "tiles",
            "CRPS (K)",
            "max abs(tiled − untiled) (K)",
            "RMS(tiled − untiled) (K)",
        ],
        rows,
    )
    note = (
        f"Padded field {w}x{h}, {ft.sizes['time']} held-out times, {members} members, "
        f"{model.default_sampler} with {steps or model.default_steps()} steps, same seed; tiles "
        "are clamped to the field. "
        "Tiles see less context than the whole field (attention, GroupNorm statistics, "
        "zero padding at tile edges); the blend is re-done at every step."
    )
    return H.section(ctx, "tiling", "tiled against untiled sampling", [note, body])
