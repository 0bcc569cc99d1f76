"""A DeepR model as a DownscalingModel: DeepR's conditioning and output, xdeepr's sampling.

:class:`DeepRModel` is a :class:`~xdeepr.model.DownscalingModel` whose network is
DeepR's ``UNet2DModel`` (:class:`~.network.DiffusersUNet`) and whose condition and
output are DeepR's own (``deepr/model/conditional_ddpm.py``, ``cDDPMPipeline``):

1. the coarse field, cropped to the training coverage and scaled by the feature
   scaler, is upsampled ×5 by ``torch.nn.functional.interpolate(mode="bicubic")`` and
   centre-cropped to the label grid (:func:`upsample`), north up as DeepR's data;
2. with ``instance_norm``, each sample's upsampled field is standardised by its own
   mean and standard deviation;
3. xdeepr's sampler draws x from the network conditioned on that field and the hour
   of day; with ``learn_residuals`` the upsampled field is added back; with
   ``instance_norm`` the standardisation is undone;
4. the label scaler is inverted (by the usual downscaling path).

Steps 2 and 3 happen in :meth:`DeepRModel.sample`, which returns samples in the label
scaler's units, so everything above the tensor boundary (dask, chunk-invariant seeds,
scoring, the CLI) works unchanged. DeepR's settings live in ``config["deepr"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xarray as xr

from ...diffusion.noise import StackedRandomGenerator
from ...errors import GridError, InputError
from ...grid import find_latlon, pad
from ...model.container import DownscalingModel
from ...options import SamplingOptions

__all__ = ["SCALE", "DeepRModel", "crop_offsets", "north_up", "upsample"]

#: DeepR's fixed upsampling factor (ERA5 0.25° → CERRA 0.05°).
SCALE = 5


def crop_offsets(coarse: tuple[int, int], fine: tuple[int, int]) -> tuple[int, int]:
    """Pixels DeepR's centre crop drops on each side of the ×5 field, per axis.

    Raises
    ------
    GridError
        When ×5 the coarse grid is smaller than the fine one, or the difference is
        odd (DeepR's symmetric crop would then not give the label grid's size).

    Examples
    --------
    >>> crop_offsets((60, 60), (240, 240))
    (30, 30)
    """
    out = []
    for axis, n_c, n_f in zip(("latitude", "longitude"), coarse, fine, strict=True):
        extra = SCALE * n_c - n_f
        if extra < 0 or extra % 2:
            raise GridError(
                f"DeepR upsamples the coarse field x{SCALE} and centre-crops it to the label "
                f"grid: {n_c} coarse {axis} points give {SCALE * n_c}, the label grid has "
                f"{n_f} (need {SCALE} x coarse >= label, with an even difference); check the "
                "spatial_coverage of both in the DeepR configuration"
            )
        out.append(extra // 2)
    return out[0], out[1]


def upsample(coarse: np.ndarray, offsets: tuple[int, int]) -> np.ndarray:
    """DeepR's ×5 bicubic upsampling and centre crop of ``(..., h, w)`` fields.

    ``torch.nn.functional.interpolate(scale_factor=5, mode="bicubic")`` (half-pixel
    centres, Keys' cubic with a = −0.75, edges clamped), then ``offsets`` pixels cut
    from both ends of each axis.

    Examples
    --------
    >>> upsample(np.ones((2, 4, 6), "float32"), (2, 5)).shape
    (2, 16, 20)
    """
    lead, (h, w) = coarse.shape[:-2], coarse.shape[-2:]
    x = torch.from_numpy(np.ascontiguousarray(coarse, dtype="float32")).reshape(-1, 1, h, w)
    up = torch.nn.functional.interpolate(x, scale_factor=SCALE, mode="bicubic")
    (a, b), (H, W) = offsets, up.shape[-2:]
    up = up[..., a : H - a, b : W - b]  # DeepR's centre crop
    return up.reshape(*lead, *up.shape[-2:]).numpy()


def north_up(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with latitude descending and longitude ascending (DeepR's orientation)."""
    lat, lon = find_latlon(ds)
    la, lo = np.asarray(ds[lat].values), np.asarray(ds[lon].values)
    if la.size > 1 and la[0] < la[-1]:
        ds = ds.isel({lat: slice(None, None, -1)})
    if lo.size > 1 and (np.diff(lo) % 360 > 180).all():  # decreasing, seam included
        ds = ds.isel({lon: slice(None, None, -1)})
    return ds


class DeepRModel(DownscalingModel):
    """A DownscalingModel imported from DeepR (:func:`xdeepr.from_deepr`).

    Everything a :class:`~xdeepr.model.DownscalingModel` does works; what differs is
    DeepR's: the condition is the ×5 bicubic, centre-cropped, scaled coarse field
    (:func:`upsample`), optionally instance-normalised, and the output adds that field
    back when ``learn_residuals``. The network is DeepR's ``UNet2DModel``, weights
    unchanged. Its label grid is fixed (no ``target=``), and it takes no station
    observations.

    Examples
    --------
    >>> model = xdeepr.from_deepr("deepr_model", "deepr.yml", era5, cerra)  # doctest: +SKIP
    >>> model.deepr["learn_residuals"], model.default_steps()  # doctest: +SKIP
    (True, 10)
    """

    @property
    def deepr(self) -> dict[str, Any]:
        """DeepR's settings: ``instance_norm``, ``learn_residuals``, ``offsets``, ``scheduler``."""
        return dict(self.config["deepr"])

    @property
    def levels(self) -> int:
        """Levels of the UNet2DModel (``len(block_out_channels)``)."""
        return int(self.network.levels)

    def __repr__(self) -> str:
        d, g = self.deepr, self.label_grid
        lat, lon = self.label_grid_names
        unet = self.network.config["unet"]
        return "\n".join(
            [
                f"<xdeepr.DownscalingModel {self.identity} (imported from DeepR)>",
                f"  features: {', '.join(self.features)}  ->  labels: {', '.join(self.labels)}",
                f"  label grid: {g.sizes[lat]}x{g.sizes[lon]} ({lat} {float(g[lat][0]):g}.."
                f"{float(g[lat][-1]):g}, {lon} {float(g[lon][0]):g}..{float(g[lon][-1]):g})",
                f"  condition: x{SCALE} bicubic + centre crop {list(d['offsets'])}, instance_norm="
                f"{d['instance_norm']}, learn_residuals={d['learn_residuals']}",
                f"  network: diffusers UNet2DModel block_out_channels="
                f"{list(unet['block_out_channels'])} hour={self.network.config['hour_embed']}"
                f" parameters={self.n_parameters:,}",
                f"  diffusion: {self.schedule!r}, prediction={self.prediction} (trained with "
                f"{d['scheduler']['class_name']}); default sampler {self.default_sampler}, "
                f"{self.default_steps()} steps",
            ]
        )

    # ------------------------------------------------------------------ inputs
    def required_coverage(self, target: xr.Dataset | None = None) -> dict[str, list[float]]:
        """The training coverage; DeepR's crop ties the model to its label grid (no `target`)."""
        if target is not None:
            raise InputError(
                "a model imported from DeepR downscales onto its own label grid only: DeepR's "
                f"x{SCALE} upsampling and centre crop are tied to the training coverages; "
                "drop target="
            )
        return super().required_coverage(None)

    def feature_stats(self) -> dict[str, tuple[float, float]]:
        """Overall (mean, std) of the features passed to :func:`xdeepr.from_deepr`."""
        stats = self.deepr["feature_stats"]
        return {v: (float(stats[v][0]), float(stats[v][1])) for v in self.features}

    def condition(
        self, features: xr.Dataset, target: xr.Dataset | None = None, *, validated: bool = False
    ) -> xr.DataArray:
        """DeepR's condition ``(time, channel, lat, lon)`` on the label grid, lazy on dask.

        The coarse features are validated and cropped to the training coverage, scaled
        by the feature scaler, turned north up, upsampled ×5 bicubically and
        centre-cropped (:func:`upsample`). Instance normalisation, which needs each
        sample's whole field, happens in :meth:`sample`.

        Raises
        ------
        InputError
            When `target` is given.
        GridError
            When the cropped input does not have the training grid's shape.
        """
        coarse = features if validated else self.coarse_features(features, target)
        if target is not None:
            self.required_coverage(target)  # refuses, naming why
        coarse = self.feature_scaler.normalize(north_up(coarse))
        lat, lon = find_latlon(coarse)
        want = tuple(self.feature_grid["shape"])
        have = (coarse.sizes[lat], coarse.sizes[lon])
        if have != want:
            raise GridError(
                f"the input cropped to the training coverage has {have[0]}x{have[1]} points, "
                f"the DeepR model was imported with {want[0]}x{want[1]}: DeepR's x{SCALE} "
                "upsampling and centre crop need exactly the training grid"
            )
        glat, glon = self.label_grid_names
        offsets = tuple(self.deepr["offsets"])
        stack = xr.concat(
            [coarse[v].transpose("time", lat, lon) for v in self.features], dim="channel"
        ).transpose("time", "channel", lat, lon)
        up = xr.apply_ufunc(
            upsample,
            stack.astype("float32"),
            kwargs={"offsets": offsets},
            input_core_dims=[[lat, lon]],
            output_core_dims=[[glat, glon]],
            exclude_dims={lat, lon},
            dask="parallelized",
            output_dtypes=["float32"],
            dask_gufunc_kwargs={
                "output_sizes": {
                    glat: self.label_grid.sizes[glat],
                    glon: self.label_grid.sizes[glon],
                }
            },
        )
        up = up.assign_coords({glat: self.label_grid[glat], glon: self.label_grid[glon]})
        up = up.assign_coords(channel=list(self.features)).transpose("time", "channel", glat, glon)
        # the label grid is a multiple of the network's (checked at import): padding adds
        # nothing, it only records the (zero) widths the downscaling path removes
        return pad(up, levels=self.levels, mode="reflect")

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        condition: torch.Tensor,
        calendar: torch.Tensor | None = None,
        options: SamplingOptions | None = None,
        *,
        noise: StackedRandomGenerator | None = None,
        progress: Callable[[int], Any] | None = None,
        observed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Samples in the label scaler's units, DeepR's way (see the module docstring).

        Parameters are those of :meth:`xdeepr.model.DownscalingModel.sample`;
        `condition` is :meth:`condition`'s, ``(B, n_features, H, W)``.

        Raises
        ------
        InputError
            When `observed` is given: guidance by stations is not available for
            DeepR models.

        Examples
        --------
        >>> x = model.sample(cond, cal, xdeepr.SamplingOptions(steps=10))  # doctest: +SKIP
        """
        if observed is not None:
            raise InputError(
                "guidance by station observations is not available for a model imported from "
                "DeepR; downscale without observations="
            )
        d = self.deepr
        device = next(self.network.parameters()).device
        c = condition.to(device=device, dtype=torch.float32)  # (B, C, H, W)
        if d["instance_norm"]:  # each sample by its own moments, as DeepR (torch's std)
            m = c.mean((1, 2, 3), keepdim=True)
            s = c.std((1, 2, 3), keepdim=True)
            c = (c - m) / s
        x = super().sample(c, calendar, options, noise=noise, progress=progress)
        if d["learn_residuals"]:
            x = x + c  # (B, n_labels, H, W): n_labels == n_features, checked at import
        if d["instance_norm"]:
            x = x * s + m
        return x
