"""Tiled denoising: overlapping tiles, smooth blending, at every sampling step.

For domains (or devices) where the whole field does not fit, the denoiser runs on
overlapping tiles and the tile outputs are blended with smooth weights into one
field *at every step* of the sampler, as in MultiDiffusion (Bar-Tal et al. 2023,
eq. 5: the blended prediction is the weighted least-squares fit of the per-tile
predictions). The sampler only ever sees whole fields, so neighbouring tiles stay
consistent and no seams are stitched after the fact.

Tiles start on multiples of ``2**(levels - 1)`` so every tile sees the U-Net's
down-sampling grid in the same phase as the whole field; the last tile is aligned
with the far edge.

Examples
--------
>>> import torch
>>> fn = lambda x, t, c, cal: x * 2 + c
>>> x, c = torch.randn(1, 1, 64, 48), torch.randn(1, 1, 64, 48)
>>> out = tiled(fn, tile=32, overlap=8, multiple=8)(x, torch.zeros(1), c, None)
>>> torch.allclose(out, x * 2 + c, atol=1e-6)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["blend_window", "check_tile", "tile_slices", "tiled", "tiled_network"]

#: ``fn(x, t, condition, calendar) -> out``: x ``(B, C, H, W)``, t ``(B,)``,
#: condition ``(B, Cc, H, W)`` or None, calendar ``(B, 2)`` or None; out ``(B, C', H, W)``.
Denoiser = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor
]
TileSize = int | tuple[int, int]


def _pair(tile: TileSize) -> tuple[int, int]:
    if isinstance(tile, (tuple, list)):
        if len(tile) != 2:
            raise ValueError(f"tile must be an int or a (height, width) pair, got {tile!r}")
        return int(tile[0]), int(tile[1])
    return int(tile), int(tile)


def check_tile(tile: TileSize, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """Validate a tile size and overlap before any field is seen.

    Parameters
    ----------
    tile : int or (int, int)
    overlap : int
    multiple : int
        As in :func:`tile_slices`.

    Returns
    -------
    (int, int)
        The tile's (height, width).

    Raises
    ------
    ValueError
        As :func:`tile_slices` does for the tile and overlap.

    Examples
    --------
    >>> check_tile(64, 16, 8)
    (64, 64)
    """
    th, tw = _pair(tile)
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    for name, t in (("height", th), ("width", tw)):
        if t < 1 or t % multiple:
            raise ValueError(
                f"tile {name} must be a positive multiple of {multiple} (2**(levels-1) of the "
                f"U-Net), got {t}"
            )
        if overlap < 0 or overlap > t - multiple:
            raise ValueError(
                f"overlap must be between 0 and tile - multiple = {t - multiple} so that tiles "
                f"advance; got overlap={overlap} for tile {name} {t}"
            )
    return th, tw


def _starts(size: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Tile starts along one axis: multiples of `multiple`, first 0, last ``size - tile``."""
    if tile >= size:
        return [0]
    span = (size - tile) // multiple  # distance first → last start, in units of `multiple`
    stride = (tile - overlap) // multiple  # largest step keeping >= `overlap` shared pixels
    gaps = math.ceil(span / stride)
    # spread the starts evenly: consecutive steps differ by at most one unit, all <= stride
    return [(i * span // gaps) * multiple for i in range(gaps + 1)]


def tile_slices(
    height: int, width: int, tile: TileSize, overlap: int, multiple: int = 1
) -> list[tuple[slice, slice]]:
    """Overlapping tiles covering a ``height x width`` field.

    Parameters
    ----------
    height, width : int
        Field size; multiples of `multiple`.
    tile : int or (int, int)
        Tile size (height, width), multiples of `multiple`; clamped to the field size.
    overlap : int
        Minimum number of pixels neighbouring tiles share, ``0 <= overlap <= tile -
        multiple`` (so consecutive tiles advance by at least `multiple`).
    multiple : int
        ``2**(levels - 1)`` of the U-Net: tile sizes and starts are multiples of it.

    Returns
    -------
    list of (slice, slice)
        Row-major ``(rows, cols)`` slices, all of the same (clamped) size; the first
        tile of each axis starts at 0 and the last ends at the field edge.

    Raises
    ------
    ValueError
        For a non-positive size or `multiple`, a field or tile size that is not a
        multiple of `multiple`, or an overlap that is negative or too large.

    Examples
    --------
    >>> [(s.start, s.stop) for s, _ in tile_slices(100, 8, tile=48, overlap=8, multiple=4)][:3]
    [(0, 48), (24, 72), (52, 100)]
    """
    th, tw = check_tile(tile, overlap, multiple)
    if height < 1 or width < 1:
        raise ValueError(f"the field must be at least 1x1, got {height}x{width}")
    if height % multiple or width % multiple:
        raise ValueError(
            f"the field ({height}x{width}) must be a multiple of {multiple} in both "
            "dimensions; pad it first (ds.deepr.pad)"
        )
    th, tw = min(th, height), min(tw, width)
    rows = _starts(height, th, overlap, multiple)
    cols = _starts(width, tw, overlap, multiple)
    return [(slice(r, r + th), slice(c, c + tw)) for r in rows for c in cols]


def _ramp(n: int, overlap: int, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    """1-D window: raised-cosine rise over `overlap` pixels at both ends, 1 inside."""
    w = torch.ones(n, dtype=torch.float64)
    k = min(overlap, n // 2)
    if k > 0:
        i = torch.arange(k, dtype=torch.float64)
        rise = 0.5 - 0.5 * torch.cos(math.pi * (i + 0.5) / k)  # in (0, 1); w_i + w_{k-1-i} = 1
        w[:k] = rise
        w[n - k :] = rise.flip(0)
    return w.to(dtype=dtype, device=device)


def blend_window(
    h: int,
    w: int,
    overlap: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Blending weights of one tile: separable raised-cosine ramps, 1 inside.

    Parameters
    ----------
    h, w : int
        Tile size.
    overlap : int
        Ramp length at each edge (capped at half the tile); 0 gives all ones.
    dtype, device
        Of the returned tensor.

    Returns
    -------
    torch.Tensor
        ``(h, w)``, strictly positive, at most 1. Two ramps of adjacent tiles that
        overlap by exactly `overlap` pixels sum to 1 (a partition of unity).

    Examples
    --------
    >>> blend_window(1, 6, 2)
    tensor([[0.1464, 0.8536, 1.0000, 1.0000, 0.8536, 0.1464]])
    """
    if h < 1 or w < 1 or overlap < 0:
        raise ValueError(f"need h, w >= 1 and overlap >= 0, got h={h}, w={w}, overlap={overlap}")
    dev = None if device is None else torch.device(device)
    return _ramp(h, overlap, dtype, dev)[:, None] * _ramp(w, overlap, dtype, dev)[None, :]


def tiled(
    fn: Denoiser,
    tile: TileSize | None,
    overlap: int = 16,
    multiple: int = 1,
    *,
    tile_batch: int = 1,
) -> Denoiser:
    """Wrap a denoiser so it runs on overlapping tiles and blends their outputs.

    Parameters
    ----------
    fn : callable
        ``fn(x, t, condition, calendar) -> out`` with x ``(B, C, H, W)``, t ``(B,)``,
        condition ``(B, Cc, H, W)`` or None, calendar ``(B, 2)`` or None, and out
        ``(B, C', H, W)``.
    tile : int, (int, int) or None
        Tile size, a multiple of `multiple`; None returns `fn` itself.
    overlap : int
        Minimum overlap of neighbouring tiles, also the length of the blending ramps.
    multiple : int
        ``2**(levels - 1)`` of the U-Net (``UNet.size_multiple``).
    tile_batch : int
        Tiles evaluated together in one call of `fn` (concatenated on the batch
        dimension): more is faster, fewer needs less memory.

    Returns
    -------
    callable
        Same signature as `fn`. Each output pixel is ``Σ_k w_k(p) fn_k(p) / Σ_k w_k(p)``
        over the tiles k covering p, with w_k the :func:`blend_window` of tile k. When
        one tile covers the field, `fn` is called once on the whole field and its
        output returned unchanged.

    Raises
    ------
    ValueError
        For a tile size or overlap :func:`tile_slices` refuses (checked here, and
        against the field size at each call).

    Examples
    --------
    >>> fn = tiled(lambda x, t, c, cal: x + 1, tile=16, overlap=4, multiple=4)
    >>> fn(torch.zeros(2, 1, 40, 24), torch.zeros(2), None, None).unique()
    tensor([1.])
    """
    if tile is None:
        return fn
    if tile_batch < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
    check_tile(tile, overlap, multiple)  # fail now, not at the first step

    def run(
        x: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor | None = None,
        calendar: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, _, h, w = x.shape  # (B, C, H, W)
        tiles = tile_slices(h, w, tile, overlap, multiple)
        if len(tiles) == 1:
            return fn(x, t, condition, calendar)  # the whole field: exactly untiled
        th, tw = tiles[0][0].stop - tiles[0][0].start, tiles[0][1].stop - tiles[0][1].start
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(b)
        out: torch.Tensor | None = None
        weight: torch.Tensor | None = None
        for k in range(0, len(tiles), tile_batch):
            group = tiles[k : k + tile_batch]
            n = len(group)
            xs = torch.cat([x[:, :, r, c] for r, c in group])  # (n·B, C, th, tw)
            cs = None if condition is None else torch.cat([condition[:, :, r, c] for r, c in group])
            ts = t.repeat(n)  # (n·B,)
            cal = None if calendar is None else calendar.repeat(n, 1)  # (n·B, 2)
            ys = fn(xs, ts, cs, cal)  # (n·B, C', th, tw)
            if out is None or weight is None:
                win = blend_window(th, tw, overlap, dtype=torch.float32, device=ys.device)
                out = torch.zeros((b, ys.shape[1], h, w), dtype=torch.float32, device=ys.device)
                weight = torch.zeros((h, w), dtype=torch.float32, device=ys.device)
            for j, (r, c) in enumerate(group):
                out[:, :, r, c] += ys[j * b : (j + 1) * b].float() * win
                weight[r, c] += win
        assert out is not None and weight is not None
        return out / weight  # (B, C', H, W): normalised blend

    return run


def tiled_network(
    net: torch.nn.Module,
    tile: TileSize | None,
    overlap: int = 16,
    *,
    tile_batch: int = 1,
) -> Denoiser:
    """:func:`tiled` for an :class:`xdeepr.nn.UNet`, with ``multiple = net.size_multiple``.

    Parameters
    ----------
    net : xdeepr.nn.UNet
        The network (any module with ``size_multiple`` and the denoiser signature).
    tile, overlap, tile_batch
        As in :func:`tiled`; ``tile=None`` returns `net` itself.

    Returns
    -------
    callable
        ``denoiser(x, t, condition, calendar)``.

    Examples
    --------
    >>> from xdeepr.nn import UNet
    >>> net = UNet(n_channels=8, channel_multipliers=(1, 2), is_attention=(False, True))
    >>> tiled_network(net, None) is net
    True
    """
    if tile is None:
        return net
    return tiled(net, tile, overlap, int(getattr(net, "size_multiple", 1)), tile_batch=tile_batch)
