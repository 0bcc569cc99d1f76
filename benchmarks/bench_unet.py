"""Time and memory of one U-Net forward pass on the complete label domain.

The seed network (n_channels=16, multipliers (1, 2, 2, 4), attention on the two
coarsest levels, 2 blocks per level, 4 condition channels) on batch 1 at 800×504
(the 800×500 CERRA-like domain padded to a multiple of 8), under
``torch.no_grad``.

Usage::

    python benchmarks/bench_unet.py [--device cpu|cuda] [--height 800] [--width 504]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch

from xdeepr.nn import UNet


def _maxrss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--height", type=int, default=800, help="rows (default: 800)")
    parser.add_argument("--width", type=int, default=504, help="columns (default: 504)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    torch.manual_seed(0)
    net = UNet(
        image_channels=1,
        n_channels=16,
        channel_multipliers=(1, 2, 2, 4),
        is_attention=(False, False, True, True),
        n_blocks=2,
        conditioned_on_input=4,
    ).to(device)
    net.eval()
    n_params = sum(p.numel() for p in net.parameters())
    x = torch.randn(args.batch, 1, args.height, args.width, device=device)  # (B, 1, H, W)
    cond = torch.randn(args.batch, 4, args.height, args.width, device=device)  # (B, 4, H, W)
    t = torch.full((args.batch,), 500.0, device=device)  # (B,)
    calendar = torch.rand(args.batch, 2, device=device)  # (B, 2)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = _maxrss_mib()
    start = time.perf_counter()
    with torch.no_grad():
        out = net(x, t, cond, calendar)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    rss_after = _maxrss_mib()

    print(f"device            {device} ({torch.get_num_threads()} CPU threads)")
    print(f"torch             {torch.__version__}")
    print(f"parameters        {n_params:,}")
    print(f"input             {tuple(x.shape)} + condition {tuple(cond.shape)}")
    print(f"output            {tuple(out.shape)}")
    print(f"forward time      {elapsed:.3f} s")
    print(f"peak RSS          {rss_after:.0f} MiB (+{rss_after - rss_before:.0f} MiB in forward)")
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak CUDA memory  {peak:.0f} MiB")


if __name__ == "__main__":
    main()
