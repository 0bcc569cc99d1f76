"""The GPU fast path: mixed precision, memory format, compilation, pinned copies, batch sizes.

Each switch is an option of :class:`FastPath`, passed as ``fast_path=`` to
``Dataset.deepr.downscale`` and :meth:`xdeepr.DownscalingModel.sample`. None of them
changes what is sampled beyond floating-point rounding (bf16 autocast rounds the
network's matmuls and convolutions to 8 significant bits; the sampler's arithmetic
stays float32). Whether each is worth its cost on a given GPU is measured by
``python -m benchmarks sampling --device cuda --compile`` (BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from ._torch import autocast
from .tiling import Denoiser

__all__ = ["COMPILE_MODES", "FastPath", "batch_from_memory", "free_device_memory"]


#: Attribute of a network under which its compiled versions are kept, by mode. A plain
#: dict in the module's ``__dict__``: not a submodule (so not in its state_dict), and
#: collected with the network (a cache keyed on the network would keep it alive, since
#: a compiled module refers to its network).
COMPILED_ATTR = "_xdeepr_compiled"
#: The modes ``torch.compile`` accepts.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclasses.dataclass(frozen=True)
class FastPath:
    """Switches of the sampling fast path.

    Parameters
    ----------
    bf16 : bool, optional
        Run the network under ``torch.autocast`` in bfloat16. Default (None): on for
        CUDA devices, off elsewhere (CPUs gain nothing from it).
    channels_last : bool
        Keep the network's weights and activations in NHWC memory layout
        (``torch.channels_last``), which tensor-core convolutions prefer. Off by default.
    compile : bool or str
        Compile the network with ``torch.compile`` (``True``, or a mode such as
        ``"max-autotune"``). Compilation is cached per network and mode, so it is paid
        once per process. Off by default.
    pin_memory : bool, optional
        Stage host inputs and outputs in page-locked memory and copy them
        asynchronously, so the host prepares the next batch while the device samples.
        Default (None): on for CUDA devices (it has no meaning elsewhere).

    Examples
    --------
    >>> FastPath().resolve("cpu")
    FastPath(bf16=False, channels_last=False, compile=False, pin_memory=False)
    >>> FastPath(channels_last=True).resolve("cuda").label()
    'bf16 + channels_last + pinned'
    >>> FastPath.coerce({"compile": "max-autotune"}).compile
    'max-autotune'
    """

    bf16: bool | None = None
    channels_last: bool = False
    compile: bool | str = False
    pin_memory: bool | None = None

    def __post_init__(self) -> None:
        for name in ("bf16", "pin_memory"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"FastPath {name} must be True, False or None, got {value!r}")
        if not isinstance(self.channels_last, bool):
            raise TypeError(
                f"FastPath channels_last must be True or False, got {self.channels_last!r}"
            )
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise ValueError(
                f"FastPath compile must be True, False or a torch.compile mode "
                f"{list(COMPILE_MODES)}, got {self.compile!r}"
            )

    @classmethod
    def coerce(cls, value: FastPath | Mapping[str, Any] | None) -> FastPath:
        """A FastPath from itself, a mapping of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            fields = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - fields)
            if unknown:
                raise ValueError(
                    f"fast_path has no option(s) {unknown}; the options are {sorted(fields)}"
                )
            return cls(**dict(value))
        raise TypeError(
            f"fast_path must be an xdeepr.FastPath, a mapping of its options or None, "
            f"got {type(value).__name__}"
        )

    def resolve(self, device: str | torch.device) -> FastPath:
        """The switches with each None replaced by the default for `device`."""
        cuda = torch.device(device).type == "cuda"
        return dataclasses.replace(
            self,
            bf16=cuda if self.bf16 is None else bool(self.bf16),
            pin_memory=cuda if self.pin_memory is None else bool(self.pin_memory) and cuda,
        )

    def label(self) -> str:
        """A short human-readable description of the switches that are on."""
        on = [
            name
            for name, value in (
                ("bf16", self.bf16),
                ("channels_last", self.channels_last),
                ("compile" if self.compile is True else f"compile:{self.compile}", self.compile),
                ("pinned", self.pin_memory),
            )
            if value
        ]
        return " + ".join(on) or "fp32, contiguous, eager"

    def denoiser(self, net: torch.nn.Module, device: str | torch.device) -> Denoiser:
        """`net` as ``fn(x, t, condition, calendar) -> float32`` with the switches applied.

        ``channels_last`` converts `net`'s weights to that layout in place (their
        values are unchanged, and so is what it computes and saves); ``compile`` wraps
        it once per network and mode, kept on the network itself.
        """
        dev = torch.device(device)
        fp = self.resolve(dev)
        fmt = torch.channels_last if fp.channels_last else torch.contiguous_format
        if fp.channels_last:
            net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        module: Any = net
        if fp.compile:
            mode = None if fp.compile is True else str(fp.compile)
            cache = net.__dict__.setdefault(COMPILED_ATTR, {})
            key = str(mode)
            if key not in cache:
                cache[key] = torch.compile(net, mode=mode)
            module = cache[key]
        use_bf16 = bool(fp.bf16)

        def fn(
            x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None, cal: torch.Tensor | None
        ) -> torch.Tensor:
            if fp.channels_last:
                x = x.contiguous(memory_format=fmt)
                cond = None if cond is None else cond.contiguous(memory_format=fmt)
            with autocast(dev, use_bf16):
                out = module(x, t, cond, cal)
            return out.float()

        return fn

    def to_device(self, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Copy a host tensor to `device`: pinned and asynchronous when ``pin_memory``."""
        if self.pin_memory and device.type == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(device, non_blocking=True)
        return tensor.to(device)


def free_device_memory(device: str | torch.device) -> int | None:
    """Free bytes on a CUDA device (``torch.cuda.mem_get_info``); None for other devices."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(dev)
    return int(free)


def batch_from_memory(
    free_bytes: int, bytes_per_sample: float, *, fraction: float = 0.7, cap: int = 1024
) -> int:
    """The largest batch whose working memory fits `fraction` of `free_bytes`.

    Parameters
    ----------
    free_bytes : int
        Free device memory.
    bytes_per_sample : float
        Peak working memory of one sample's network evaluation (measured).
    fraction : float
        Share of the free memory to plan for; the rest absorbs allocator
        fragmentation and whatever else runs on the device.
    cap : int
        Upper bound (beyond it, batches only add latency).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> batch_from_memory(80 * 2**30, 2**30)
    56
    >>> batch_from_memory(10, 2**30)
    1
    """
    if bytes_per_sample <= 0:
        return cap
    return int(max(1, min(cap, (fraction * free_bytes) // bytes_per_sample)))
