"""DeepR's network behind xdeepr's network interface: a ``diffusers.UNet2DModel``, wrapped.

DeepR trains a ``diffusers.UNet2DModel`` whose input is the noisy field and the
upsampled coarse field concatenated on channels, and whose class labels are the hour
of day (``hour_embed_type``). :class:`DiffusersUNet` gives that network the call
xdeepr's samplers make of every network, ``net(x, t, condition, calendar)``: it
concatenates ``[x, condition]`` as DeepR does and turns the calendar's hour fraction
into DeepR's hour labels. Its :attr:`~DiffusersUNet.config` is plain JSON (the
diffusers configuration under ``"unet"``), so a model file carries the network as
``{"kind": "diffusers-unet2d", ...}`` and rebuilds it with :meth:`~DiffusersUNet.from_config`.

``diffusers`` is an optional dependency (``pip install 'xdeepr[deepr]'``), imported
only here, when such a network is built.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["HOUR_EMBEDS", "KIND", "DiffusersUNet", "import_diffusers"]

#: The network kind written in a model file's ``network/config/kind``.
KIND = "diffusers-unet2d"
#: DeepR's ``hour_embed_type`` values (deepr.model.utils.get_hour_embedding).
HOUR_EMBEDS = ("none", "class", "timestep", "positional", "cyclical")
_EXTRA = "pip install 'xdeepr[deepr]' (or pip install 'diffusers>=0.25')"


def import_diffusers(what: str) -> Any:
    """The ``diffusers`` module, or an ImportError saying which extra to install.

    Examples
    --------
    >>> import_diffusers("reading a DeepR model").__name__  # doctest: +SKIP
    'diffusers'
    """
    try:
        import diffusers
    except ImportError as err:
        raise ImportError(
            f"{what} needs the optional package 'diffusers' (DeepR's networks are "
            f"diffusers UNet2DModels), which is not installed: {_EXTRA}"
        ) from err
    return diffusers


def _plain(value: Any) -> Any:
    """A diffusers config value as JSON-able python (tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class DiffusersUNet(nn.Module):
    """A ``diffusers.UNet2DModel`` called the xdeepr way: ``net(x, t, condition, calendar)``.

    Parameters
    ----------
    unet : diffusers.UNet2DModel
        DeepR's network: ``in_channels`` = label channels + condition channels,
        ``out_channels`` = label channels.
    hour_embed : {"none", "class", "timestep", "positional", "cyclical"}
        DeepR's ``hour_embed_type``: how the hour of day becomes ``class_labels``.
    hour_embed_size : int
        Width of the ``"positional"`` hour embedding (DeepR's ``hour_embed_size``).

    Examples
    --------
    >>> from diffusers import UNet2DModel  # doctest: +SKIP
    >>> unet = UNet2DModel(sample_size=16, in_channels=2, out_channels=1,
    ...                    block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
    ...                    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    ...                    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    ...                    num_class_embeds=24)  # doctest: +SKIP
    >>> net = DiffusersUNet(unet, hour_embed="class")  # doctest: +SKIP
    >>> x, c = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)  # doctest: +SKIP
    >>> cal = torch.tensor([[0.25, 0.1], [0.75, 0.5]])  # 06 and 18 UTC  # doctest: +SKIP
    >>> net(x, torch.tensor([999.0, 10.0]), c, cal).shape  # doctest: +SKIP
    torch.Size([2, 1, 16, 16])
    """

    kind = KIND

    def __init__(self, unet: Any, *, hour_embed: str = "class", hour_embed_size: int = 64) -> None:
        super().__init__()
        if hour_embed not in HOUR_EMBEDS:
            raise ValueError(
                f"unknown hour_embed_type {hour_embed!r}; DeepR's are {list(HOUR_EMBEDS)}"
            )
        cfg: Any = unet.config
        in_ch, out_ch = int(cfg.in_channels), int(cfg.out_channels)
        if in_ch <= out_ch:
            raise ValueError(
                f"the UNet2DModel has in_channels={in_ch} and out_channels={out_ch}: a DeepR "
                "network takes the noisy field and the upsampled condition, so in_channels "
                "must exceed out_channels"
            )
        has_class = getattr(unet, "class_embedding", None) is not None
        if has_class and hour_embed == "none":
            raise ValueError(
                "the UNet2DModel has a class embedding (num_class_embeds or class_embed_type "
                "set) but hour_embed_type is 'none': DeepR passes the hour as class labels; "
                "set training_parameters.hour_embed_type as the model was trained ('class')"
            )
        self.unet = unet
        self.hour_embed = hour_embed if has_class else "none"
        self.hour_embed_size = int(hour_embed_size)
        self.image_channels = out_ch
        self.conditioned_on_input = in_ch - out_ch
        self.levels = len(cfg.block_out_channels)

    # ------------------------------------------------------------------ description
    @property
    def config(self) -> dict[str, Any]:
        """Plain JSON: the kind, channels, hour embedding and the diffusers configuration."""
        net: Any = self.unet
        unet = {k: _plain(v) for k, v in dict(net.config).items() if not k.startswith("_")}
        return {
            "kind": KIND,
            "image_channels": self.image_channels,
            "conditioned_on_input": self.conditioned_on_input,
            "calendar": self.hour_embed != "none",
            "hour_embed": self.hour_embed,
            "hour_embed_size": self.hour_embed_size,
            "unet": unet,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DiffusersUNet:
        """Build the (randomly initialised) network that :attr:`config` describes.

        Raises
        ------
        ImportError
            When ``diffusers`` is not installed (naming the extra to install).
        ValueError
            When `config` is not a ``diffusers-unet2d`` configuration.

        Examples
        --------
        >>> DiffusersUNet.from_config(net.config).config == net.config  # doctest: +SKIP
        True
        """
        if config.get("kind") != KIND or not isinstance(config.get("unet"), Mapping):
            raise ValueError(
                f"not a {KIND!r} network configuration (its 'kind' is {config.get('kind')!r})"
            )
        diffusers = import_diffusers("loading a model imported from DeepR")
        unet = diffusers.UNet2DModel.from_config(dict(config["unet"]))
        return cls(
            unet,
            hour_embed=str(config.get("hour_embed", "class")),
            hour_embed_size=int(config.get("hour_embed_size", 64)),
        )

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of this: 2**(number of down-samplings)."""
        return 2 ** (self.levels - 1)

    def __deepcopy__(self, memo: dict[int, Any]) -> DiffusersUNet:
        """A deep copy without the ``torch.compile`` wrappers cached on the network."""
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key != "_xdeepr_compiled":
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    # ------------------------------------------------------------------ forward
    def hour_labels(self, calendar: torch.Tensor) -> torch.Tensor | None:
        """DeepR's ``class_labels`` from xdeepr's ``(B, 2)`` calendar (hour / 24 first).

        The hour is the integer hour of day (minutes dropped), as DeepR's data
        generator reads ``time.hour``.
        """
        hours = torch.floor(calendar[:, 0].double() * 24.0 + 1e-6).long() % 24  # (B,)
        if self.hour_embed in ("class", "timestep"):
            return hours
        if self.hour_embed == "cyclical":
            angle = 2 * math.pi * hours.float() / 24
            return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (B, 2)
        if self.hour_embed == "positional":
            from diffusers.models.embeddings import get_timestep_embedding

            return get_timestep_embedding(hours, self.hour_embed_size, max_period=24)
        return None

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor | None = None,
        calendar: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict ε (or v): DeepR's ``unet(cat([x_t, condition]), t, class_labels=hour)``.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, image_channels, H, W)``; H and W multiples of :attr:`size_multiple`.
        t : torch.Tensor
            ``(B,)`` or scalar diffusion steps in [0, T).
        condition : torch.Tensor
            ``(B, conditioned_on_input, H, W)``: DeepR's upsampled coarse field(s).
        calendar : torch.Tensor, optional
            ``(B, 2)`` ``[hour / 24, day-of-year fraction]``; needed when the network
            embeds the hour.

        Returns
        -------
        torch.Tensor
            Shaped like `x`.
        """
        b, _, h, w = x.shape
        if x.shape[1] != self.image_channels:
            raise ValueError(f"x must be (B, {self.image_channels}, H, W); got {tuple(x.shape)}")
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"spatial size {h}x{w} is not a multiple of {self.size_multiple}, required by "
                f"this UNet2DModel's {self.levels - 1} down-samplings"
            )
        want = (b, self.conditioned_on_input, h, w)
        if condition is None or tuple(condition.shape) != want:
            got = None if condition is None else tuple(condition.shape)
            raise ValueError(f"condition must have shape {want}; got {got}")
        labels = None
        if self.hour_embed != "none":
            if calendar is None or tuple(calendar.shape) != (b, 2):
                got = None if calendar is None else tuple(calendar.shape)
                raise ValueError(
                    f"this network embeds the hour of day ({self.hour_embed!r}): calendar must "
                    f"have shape ({b}, 2) [hour/24, day-of-year fraction]; got {got}"
                )
            labels = self.hour_labels(calendar.to(x.device))
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(b) if t.ndim == 0 else t
        h_in = torch.cat([x, condition.to(x)], dim=1)  # (B, in_channels, H, W)
        return self.unet(h_in, t, class_labels=labels).sample  # (B, image_channels, H, W)
