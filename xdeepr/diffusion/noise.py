"""Noise sources: where a sampler's initial and per-step Gaussian noise comes from.

A noise source is called as ``noise(step, like)`` and returns standard normal noise
shaped like `like` for sampler step `step` (``step = -1`` for the initial x_T).
:class:`StackedRandomGenerator` (the name NVlabs' EDM gives the idea) draws each
batch item's noise from that item's own generator, so a sample depends only on its
own seed, never on the batch it was drawn in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import torch

__all__ = ["NoiseSource", "StackedRandomGenerator", "check_noise"]


class NoiseSource(Protocol):
    """``noise(step, like) -> Tensor``: standard normal noise shaped like `like`."""

    def __call__(self, step: int, like: torch.Tensor) -> torch.Tensor: ...


class StackedRandomGenerator:
    """One :class:`torch.Generator` per batch item; item k's noise comes from generator k.

    Parameters
    ----------
    generators : sequence of torch.Generator
        One per batch item, already seeded.

    Examples
    --------
    >>> import torch
    >>> a = StackedRandomGenerator.from_seeds([1, 2])
    >>> b = StackedRandomGenerator.from_seeds([2])
    >>> x = torch.zeros(2, 1, 4, 4)
    >>> bool((a(-1, x)[1] == b(-1, x[:1])[0]).all())  # item 1 of a is item 0 of b
    True
    """

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)

    @classmethod
    def from_seeds(
        cls, seeds: Sequence[int], device: str | torch.device = "cpu"
    ) -> StackedRandomGenerator:
        """Generators on `device` seeded with `seeds`, one per batch item."""
        return cls([torch.Generator(device=device).manual_seed(int(s)) for s in seeds])

    def __len__(self) -> int:
        return len(self.generators)

    def __call__(self, step: int, like: torch.Tensor) -> torch.Tensor:
        """Noise shaped like `like` (B, ...), item k drawn from generator k."""
        if like.shape[0] != len(self.generators):
            raise ValueError(
                f"got {len(self.generators)} generators for a batch of {like.shape[0]}"
            )
        shape = tuple(like.shape[1:])
        z = torch.stack([torch.randn(shape, generator=g, device=g.device) for g in self])
        return z.to(device=like.device)

    def __iter__(self) -> Iterator[torch.Generator]:
        return iter(self.generators)


def check_noise(noise: NoiseSource | None, step: int, like: torch.Tensor) -> torch.Tensor:
    """Draw from `noise` (default ``torch.randn_like``), checking its shape against `like`."""
    if noise is None:
        return torch.randn_like(like)
    z = noise(step, like)
    if tuple(z.shape) != tuple(like.shape):
        raise ValueError(f"noise({step}) has shape {tuple(z.shape)}, expected {tuple(like.shape)}")
    return z.to(device=like.device, dtype=like.dtype)
