"""The denoising U-Net Φ(x_t, t | condition, calendar).

Architecture of the DeepR seed, itself the labml.ai "annotated DDPM" U-Net:
residual blocks conditioned on a sinusoidal timestep embedding, self-attention
at the coarse levels, skip connections between the down and up paths. Two
changes: attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`
(memory linear in the number of pixels with the flash / memory-efficient
kernels), and an optional cyclic calendar embedding (hour of day, day of year)
is added to the timestep embedding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]

CALENDAR_HARMONICS = 3  # sin/cos of 2πkf for k = 1..3


def _groups(channels: int) -> int:
    """GroupNorm groups: a divisor of ``channels``, at most 32, with >= 2 channels per group.

    Two channels per group keep the norm defined even on a 1×1 feature map.
    """
    return math.gcd(channels, min(32, max(channels // 2, 1)))


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of (possibly non-integer) t, then Linear–SiLU–Linear.

    Parameters
    ----------
    base_channels : int
        Width of the sinusoidal features (even).
    out_channels : int
        Width of the embedding.
    """

    def __init__(self, base_channels: int, out_channels: int) -> None:
        super().__init__()
        self.base_channels = base_channels
        self.lin1 = nn.Linear(base_channels, out_channels)
        self.lin2 = nn.Linear(out_channels, out_channels)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.base_channels // 2
        # frequencies 10000^(−k/(half−1)), as in "Attention is all you need"
        freqs = torch.exp(
            -math.log(10_000.0) * torch.arange(half, device=t.device) / max(half - 1, 1)
        )
        args = t.float()[:, None] * freqs[None, :]  # (B, half)
        emb = torch.cat([args.sin(), args.cos()], dim=1)  # (B, base_channels)
        h = F.silu(self.lin1(emb.to(self.lin1.weight.dtype)))  # (B, out_channels)
        return self.lin2(h)  # (B, out_channels)


class CalendarEmbedding(nn.Module):
    """Cyclic features of (hour/24, day-of-year fraction) through a Linear.

    Each fraction f ∈ [0, 1) becomes (sin 2πkf, cos 2πkf) for k = 1..3.
    """

    def __init__(self, out_channels: int, harmonics: int = CALENDAR_HARMONICS) -> None:
        super().__init__()
        self.harmonics = harmonics
        self.proj = nn.Linear(2 * 2 * harmonics, out_channels)

    def forward(self, calendar: torch.Tensor) -> torch.Tensor:
        k = torch.arange(1, self.harmonics + 1, device=calendar.device, dtype=torch.float32)
        args = 2 * math.pi * calendar.float()[:, :, None] * k  # (B, 2, K)
        feats = torch.cat([args.sin(), args.cos()], dim=2).flatten(1)  # (B, 4K)
        return self.proj(feats.to(self.proj.weight.dtype))  # (B, out_channels)


class ResidualBlock(nn.Module):
    """GroupNorm–SiLU–conv, + time embedding, GroupNorm–SiLU–dropout–conv, + shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, time_channels: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = nn.Linear(time_channels, out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut: nn.Module = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.time_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the H·W pixels, with a residual connection."""

    def __init__(self, channels: int, n_heads: int = 1) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        qkv = self.qkv(tokens).reshape(b, h * w, 3, self.n_heads, c // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, HW, C/heads)
        attn = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        attn = attn.transpose(1, 2).reshape(b, h * w, c)  # (B, HW, C)
        return x + self.out(attn).transpose(1, 2).reshape(b, c, h, w)


class _Block(nn.Module):
    """A residual block followed by attention (or nothing)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_channels: int,
        attention: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.res = ResidualBlock(in_channels, out_channels, time_channels, dropout)
        self.attn: nn.Module = AttentionBlock(out_channels) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.attn(self.res(x, emb))


class MiddleBlock(nn.Module):
    """Residual – attention – residual at the coarsest level."""

    def __init__(self, channels: int, time_channels: int, dropout: float) -> None:
        super().__init__()
        self.res1 = ResidualBlock(channels, channels, time_channels, dropout)
        self.attn = AttentionBlock(channels)
        self.res2 = ResidualBlock(channels, channels, time_channels, dropout)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.res2(self.attn(self.res1(x, emb)), emb)


class Downsample(nn.Module):
    """Strided 3×3 convolution: (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Transposed 4×4 convolution: (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """Conditional denoising U-Net of the DeepR seed.

    Parameters
    ----------
    image_channels : int
        Channels of the field being denoised (x_t and the output).
    n_channels : int
        Channels after the input projection; the timestep embedding has
        ``4 * n_channels``.
    channel_multipliers : sequence of int
        Per-level channel factor *relative to the previous level* (as in the
        labml/DeepR seed): ``(1, 2, 2, 4)`` with 16 gives 16, 32, 64, 256.
        There are ``len(channel_multipliers)`` levels and one fewer halvings.
    is_attention : sequence of bool
        Self-attention after each residual block of a level.
    n_blocks : int
        Residual blocks per level on the way down (``n_blocks + 1`` on the way up).
    conditioned_on_input : int
        Channels of the condition concatenated to x_t (0: unconditional).
    dropout : float
        Dropout probability inside the residual blocks.
    calendar : bool
        Accept a ``(B, 2)`` calendar (hour/24, day-of-year fraction), embedded
        cyclically and added to the timestep embedding.

    Examples
    --------
    >>> net = UNet(image_channels=1, n_channels=8, conditioned_on_input=2)
    >>> x, cond = torch.randn(2, 1, 16, 24), torch.randn(2, 2, 16, 24)
    >>> net(x, torch.tensor([10.0, 999.0]), cond, torch.tensor([[0.5, 0.1], [0.0, 0.9]])).shape
    torch.Size([2, 1, 16, 24])
    >>> UNet(**net.config).config == net.config
    True
    """

    def __init__(
        self,
        image_channels: int = 1,
        n_channels: int = 16,
        channel_multipliers: Sequence[int] = (1, 2, 2, 4),
        is_attention: Sequence[bool] = (False, False, True, True),
        n_blocks: int = 2,
        conditioned_on_input: int = 0,
        dropout: float = 0.0,
        calendar: bool = True,
    ) -> None:
        super().__init__()
        mults = [int(m) for m in channel_multipliers]
        attn = [bool(a) for a in is_attention]
        if len(mults) != len(attn) or not mults:
            raise ValueError(
                f"channel_multipliers ({len(mults)} levels) and is_attention "
                f"({len(attn)} levels) must be non-empty and of equal length"
            )
        if n_channels < 2 or n_channels % 2:
            raise ValueError(f"n_channels must be an even number >= 2, got {n_channels}")
        if min(mults) < 1 or n_blocks < 1 or image_channels < 1 or conditioned_on_input < 0:
            raise ValueError(
                "need channel multipliers >= 1, n_blocks >= 1, image_channels >= 1 and "
                "conditioned_on_input >= 0"
            )
        self._config: dict[str, Any] = {
            "image_channels": int(image_channels),
            "n_channels": int(n_channels),
            "channel_multipliers": mults,
            "is_attention": attn,
            "n_blocks": int(n_blocks),
            "conditioned_on_input": int(conditioned_on_input),
            "dropout": float(dropout),
            "calendar": bool(calendar),
        }
        self.image_channels = int(image_channels)
        self.conditioned_on_input = int(conditioned_on_input)
        self.levels = len(mults)
        time_channels = 4 * n_channels

        self.time_emb = TimeEmbedding(n_channels, time_channels)
        self.calendar_emb = CalendarEmbedding(time_channels) if calendar else None
        self.image_proj = nn.Conv2d(image_channels + conditioned_on_input, n_channels, 3, padding=1)

        # down path: n_blocks blocks per level, halving between levels
        down: list[nn.Module] = []
        ch = n_channels
        for i, m in enumerate(mults):
            out = ch * m
            for _ in range(n_blocks):
                down.append(_Block(ch, out, time_channels, attn[i], dropout))
                ch = out
            if i < self.levels - 1:
                down.append(Downsample(ch))
        self.down = nn.ModuleList(down)

        self.middle = MiddleBlock(ch, time_channels, dropout)

        # up path: n_blocks + 1 blocks per level, each eating one skip connection
        up: list[nn.Module] = []
        for i in reversed(range(self.levels)):
            for _ in range(n_blocks):
                up.append(_Block(ch + ch, ch, time_channels, attn[i], dropout))
            out = ch // mults[i]
            up.append(_Block(ch + out, out, time_channels, attn[i], dropout))
            ch = out
            if i > 0:
                up.append(Upsample(ch))
        self.up = nn.ModuleList(up)

        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.final = nn.Conv2d(ch, image_channels, 3, padding=1)

    @property
    def config(self) -> dict[str, Any]:
        """Init keyword arguments as plain python values: ``UNet(**net.config)`` rebuilds it."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self._config.items()}

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of this, 2**(levels − 1)."""
        return 2 ** (self.levels - 1)

    def _check_inputs(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor | None,
        calendar: torch.Tensor | None,
    ) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.image_channels:
            raise ValueError(
                f"x must be (B, {self.image_channels}, H, W); got shape {tuple(x.shape)}"
            )
        b, _, h, w = x.shape
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(
                f"spatial size {h}x{w} is not a multiple of {m} = 2**({self.levels}-1), "
                f"required by the {self.levels}-level U-Net; pad the input, e.g. with "
                f"ds.deepr.pad(levels={self.levels})"
            )
        if self.conditioned_on_input and condition is None:
            raise ValueError(
                f"this network expects a condition with {self.conditioned_on_input} channels; "
                "got condition=None"
            )
        if condition is not None:
            if not self.conditioned_on_input:
                raise ValueError(
                    "this network is unconditional (conditioned_on_input=0) but got a condition "
                    f"with shape {tuple(condition.shape)}"
                )
            expected = (b, self.conditioned_on_input, h, w)
            if tuple(condition.shape) != expected:
                raise ValueError(
                    f"condition must have shape {expected} (B, conditioned_on_input, H, W); "
                    f"got {tuple(condition.shape)}"
                )
        if calendar is not None:
            if self.calendar_emb is None:
                raise ValueError("this network was built with calendar=False but got a calendar")
            if tuple(calendar.shape) != (b, 2):
                raise ValueError(
                    f"calendar must have shape ({b}, 2) [hour/24, day-of-year fraction]; "
                    f"got {tuple(calendar.shape)}"
                )
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(b)
        if tuple(t.shape) != (b,):
            raise ValueError(f"t must be a scalar or have shape ({b},); got {tuple(t.shape)}")
        return t

    def __deepcopy__(self, memo: dict[int, Any]) -> UNet:
        """A deep copy without the ``torch.compile`` wrappers cached on this network.

        :class:`xdeepr.FastPath` keeps compiled versions of a network in its
        ``__dict__``; they refer back to the network and cannot be copied, and a copy
        compiles its own when it needs them.
        """
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key != "_xdeepr_compiled":
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor | None = None,
        calendar: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict ε (or v) from the noisy field.

        Parameters
        ----------
        x : torch.Tensor
            Noisy field x_t, ``(B, image_channels, H, W)``; H and W multiples of
            ``2**(levels - 1)``.
        t : torch.Tensor
            Diffusion steps, ``(B,)`` (or scalar), int or float in [0, T).
        condition : torch.Tensor, optional
            ``(B, conditioned_on_input, H, W)``; required iff ``conditioned_on_input > 0``.
        calendar : torch.Tensor, optional
            ``(B, 2)`` fractions ``[hour_of_day / 24, day_of_year_fraction]`` in
            [0, 1); None adds nothing.

        Returns
        -------
        torch.Tensor
            Same shape as ``x``.
        """
        t = self._check_inputs(x, t, condition, calendar)
        emb = self.time_emb(t)  # (B, 4n)
        if calendar is not None and self.calendar_emb is not None:
            emb = emb + self.calendar_emb(calendar.to(x.device))  # (B, 4n)

        h = x if condition is None else torch.cat([x, condition.to(x)], dim=1)  # (B, Ci+Cc, H, W)
        h = self.image_proj(h)  # (B, n, H, W)
        skips = [h]
        for m in self.down:
            h = m(h) if isinstance(m, Downsample) else m(h, emb)  # halves H, W at Downsample
            skips.append(h)

        h = self.middle(h, emb)  # (B, C_last, H/2^(L-1), W/2^(L-1))

        for m in self.up:
            if isinstance(m, Upsample):
                h = m(h)  # (B, C, 2H, 2W)
            else:
                h = m(torch.cat([h, skips.pop()], dim=1), emb)  # skip concatenated on channels
        return self.final(F.silu(self.norm(h)))  # (B, image_channels, H, W)
