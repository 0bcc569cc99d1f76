"""unet: one forward pass of the seed U-Net on the complete domain, time and peak memory."""

from __future__ import annotations

from . import harness as H


def run(ctx: H.Context) -> str:
    """Run the unet suite and return its markdown section."""
    from .bench_unet import measure

    h, w = (64, 48) if ctx.quick else (504, 800)
    res, rss = H.isolated(measure, str(ctx.device), h, w, 1, 5)
    row = [
        f"seed U-Net ({res['parameters']:,} par.)",
        f"{w}x{h}",
        1,
        res["seconds"],
        f"{rss:.0f}",
        f"{res['rss_forward']:.0f}",
        f"{res['cuda_peak']:.0f}" if res["cuda_peak"] is not None else "n/a (CPU)",
    ]
    body = H.table(
        [
            "network",
            "W x H",
            "batch",
            "forward s",
            "peak RSS (MiB)",
            "RSS growth in forward (MiB)",
            "peak CUDA allocated (MiB)",
        ],
        [row],
    )
    note = "`torch.no_grad`, fp32, after no warm-up (first call), in a fresh process."
    return H.section(ctx, "unet", "one forward pass of the seed U-Net", [note, body])
