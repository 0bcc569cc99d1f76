"""Time and memory of one U-Net forward pass on the complete label domain.

The seed network (n_channels=16, multipliers (1, 2, 2, 4), attention on the two
coarsest levels, 2 blocks per level, 4 condition channels) on batch 1 at 800×504
(the 800×500 CERRA-like domain padded to a multiple of 8), under
``torch.no_grad``. Also the ``unet`` suite of ``python -m benchmarks``.

Usage::

    python benchmarks/bench_unet.py [--device cpu|cuda] [--height 504] [--width 800]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Any

import torch

from xdeepr.nn import UNet


def _maxrss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def measure(
    device: str = "cpu", height: int = 504, width: int = 800, batch: int = 1, condition: int = 4
) -> dict[str, Any]:
    """One forward pass of the seed U-Net: seconds, RSS before/after, peak CUDA memory.

    Parameters
    ----------
    device : str
        Torch device.
    height, width : int
        Field size, multiples of 8.
    batch : int
        Batch size.
    condition : int
        Condition channels.

    Returns
    -------
    dict
        ``seconds``, ``parameters``, ``rss_before``, ``rss_after``, ``rss_forward``
        (MiB), ``cuda_peak`` (MiB or None), the shapes.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    net = UNet(
        image_channels=1,
        n_channels=16,
        channel_multipliers=(1, 2, 2, 4),
        is_attention=(False, False, True, True),
        n_blocks=2,
        conditioned_on_input=condition,
    ).to(dev)
    net.eval()
    x = torch.randn(batch, 1, height, width, device=dev)  # (B, 1, H, W)
    cond = torch.randn(batch, condition, height, width, device=dev)  # (B, Cc, H, W)
    t = torch.full((batch,), 500.0, device=dev)  # (B,)
    calendar = torch.rand(batch, 2, device=dev)  # (B, 2)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _maxrss_mib()
    start = time.perf_counter()
    with torch.no_grad():
        out = net(x, t, cond, calendar)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elapsed = time.perf_counter() - start
    rss_after = _maxrss_mib()
    return {
        "seconds": elapsed,
        "parameters": sum(p.numel() for p in net.parameters()),
        "input": tuple(x.shape),
        "condition": tuple(cond.shape),
        "output": tuple(out.shape),
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_forward": rss_after - rss_before,
        "cuda_peak": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--height", type=int, default=504, help="rows (default: 504)")
    parser.add_argument("--width", type=int, default=800, help="columns (default: 800)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    r = measure(args.device, args.height, args.width, args.batch)
    print(f"device            {args.device} ({torch.get_num_threads()} CPU threads)")
    print(f"torch             {torch.__version__}")
    print(f"parameters        {r['parameters']:,}")
    print(f"input             {r['input']} + condition {r['condition']}")
    print(f"output            {r['output']}")
    print(f"forward time      {r['seconds']:.3f} s")
    print(f"peak RSS          {r['rss_after']:.0f} MiB (+{r['rss_forward']:.0f} MiB in forward)")
    if r["cuda_peak"] is not None:
        print(f"peak CUDA memory  {r['cuda_peak']:.0f} MiB")


if __name__ == "__main__":
    main()
