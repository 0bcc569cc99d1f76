"""The ``.deepr`` accessor: a thin façade over :mod:`xdeepr`'s modules.

It validates and delegates; it holds no maths of its own. Every method returns a
new object and leaves the original untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import xarray as xr

from . import grid
from .scaling import Scaler

if TYPE_CHECKING:
    from .fastpath import FastPath
    from .model import DownscalingModel


@xr.register_dataset_accessor("deepr")
class DeepRAccessor:
    """Downscaling operations on a Dataset, reached as ``ds.deepr``.

    Examples
    --------
    >>> import xdeepr
    >>> features, labels, static = xdeepr.datasets.load_sample(periods=4)
    >>> features.deepr.latlon
    ('latitude', 'longitude')
    """

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    # ------------------------------------------------------------------ grid
    @property
    def latlon(self) -> tuple[str, str]:
        """Names of the latitude and longitude coordinates."""
        return grid.find_latlon(self._obj)

    @property
    def spacing(self) -> tuple[float, float]:
        """Signed (latitude, longitude) grid steps in degrees."""
        return grid.grid_spacing(self._obj)

    def crop(
        self,
        longitude: Sequence[float] | None = None,
        latitude: Sequence[float] | None = None,
        *,
        coverage: Mapping[str, Any] | None = None,
    ) -> xr.Dataset:
        """Crop to a lon/lat box or a DeepR ``spatial_coverage`` mapping.

        See :func:`xdeepr.grid.crop`.

        Examples
        --------
        >>> import xdeepr
        >>> f, _, _ = xdeepr.datasets.load_sample(periods=2)
        >>> f.deepr.crop(coverage={"longitude": [9, 11], "latitude": [48.5, 47]}).t2m.shape
        (2, 7, 9)
        """
        return grid.crop(self._obj, longitude, latitude, coverage=coverage)

    def pad(self, levels: int = 4, mode: str = "reflect") -> xr.Dataset:
        """Pad lat/lon to multiples of ``2 ** (levels - 1)``; see :func:`xdeepr.grid.pad`."""
        return grid.pad(self._obj, levels=levels, mode=mode)

    def unpad(self) -> xr.Dataset:
        """Undo :meth:`pad` exactly; see :func:`xdeepr.grid.unpad`."""
        return grid.unpad(self._obj)

    def interpolate(
        self,
        target: xr.Dataset | xr.DataArray | Mapping[str, Any] | DownscalingModel,
        method: str = "bicubic",
    ) -> xr.Dataset:
        """Interpolate onto `target`'s grid (a Dataset, a mapping or a model's label grid).

        See :func:`xdeepr.grid.interpolate`.
        """
        if hasattr(target, "label_grid"):
            target = target.label_grid
        return grid.interpolate(self._obj, target, method=method)  # type: ignore[arg-type]

    # ------------------------------------------------------------- downscaling
    def downscale(
        self,
        model: DownscalingModel,
        members: int = 20,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        device: str | None = None,
        target: xr.Dataset | None = None,
        fill: str | float | None = None,
        progress: bool = True,
        tile: int | tuple[int, int] | None = None,
        overlap: int = 16,
        fast_path: FastPath | dict[str, Any] | None = None,
    ) -> xr.Dataset:
        """Downscale this coarse Dataset into an ensemble on the model's label grid.

        Parameters
        ----------
        model : DownscalingModel
            From :func:`xdeepr.train` or :func:`xdeepr.load_model`.
        members : int
            Ensemble size.
        steps : int, optional
            Sampling steps (default: the sampler's default; all 1000 for DDPM).
        sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde"}, optional
            Default: the model's default sampler.
        seed : int
            The noise of each (time, member) depends only on `seed`, the time stamp
            and the member index: the same ensemble however the work is split (on a
            GPU, to rounding that may vary with the batch size; fix `batch_size` for
            bit-identical reruns).
        batch_size : int, optional
            Samples per network call (default: on CUDA, what fits in the free device
            memory, measured; halved on an out-of-memory error).
        device : str, optional
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (default: CUDA when available).
        target : xarray.Dataset, optional
            Another hi-res domain carrying the model's static covariates; the network
            is convolutional, so the model downscales onto `target`'s grid.
        fill : {None, "mean"} or float
            NaN in the input are an error naming the time stamps unless filled with
            the spatial mean of each field (``"mean"``) or a number.
        progress : bool
            Show a tqdm bar (numpy-backed input, computed at once).
        tile, overlap : int, optional
            Run the network on overlapping tiles of `tile` pixels, blended at every
            step, for domains that do not fit the device (off by default).
        fast_path : xdeepr.FastPath or dict, optional
            GPU fast-path switches: ``bf16`` autocast (default on CUDA),
            ``channels_last``, ``compile`` (``torch.compile``), ``pin_memory`` (pinned,
            asynchronous host-device copies; default on CUDA). See BENCHMARKS.md for
            what each is worth.

        Returns
        -------
        xarray.Dataset
            The label variable(s) with dims (member, time, lat, lon) on the label grid
            (its coordinate names, values and orientation), CF attributes and
            provenance attributes. Lazy (dask-backed) when this Dataset is.

        Examples
        --------
        >>> hires = era5.deepr.downscale(model, members=20)  # doctest: +SKIP
        >>> hires.t2m.dims  # doctest: +SKIP
        ('member', 'time', 'latitude', 'longitude')
        """
        from .inference import downscale

        return downscale(
            self._obj, model, members=members, steps=steps, sampler=sampler, seed=seed,
            batch_size=batch_size, device=device, target=target, fill=fill, progress=progress,
            tile=tile, overlap=overlap, fast_path=fast_path,
        )  # fmt: skip

    def score(
        self,
        truth: xr.Dataset,
        baseline: str | xr.Dataset | Mapping[str, xr.Dataset] | None = "bicubic",
        *,
        features: xr.Dataset | None = None,
        member_dim: str = "member",
        dim: Any = None,
    ) -> xr.Dataset:
        """Score this (ensemble) prediction against `truth`, metric by metric.

        Parameters
        ----------
        truth : xarray.Dataset
            Observed hi-res fields on the same grid and times.
        baseline : "bicubic", "bilinear", "nearest", Dataset, mapping or None
            Baseline(s) to compare with. An interpolation method name needs the coarse
            `features`, interpolated onto the truth's grid.
        features : xarray.Dataset, optional
            Coarse input, for an interpolation baseline.
        member_dim, dim
            See :func:`xdeepr.metrics.score`.

        Returns
        -------
        xarray.Dataset
            One variable per field with dims (metric, model); see
            :func:`xdeepr.metrics.score` and :func:`xdeepr.metrics.format_table`.

        Examples
        --------
        >>> scores = hires.deepr.score(truth, features=era5)  # doctest: +SKIP
        >>> print(xdeepr.metrics.format_table(scores))  # doctest: +SKIP
        """
        from . import metrics

        baselines: dict[str, Any] = {}
        if isinstance(baseline, str):
            if baseline not in grid.INTERP_METHODS:
                raise ValueError(
                    f"unknown baseline {baseline!r}; use one of {grid.INTERP_METHODS}, a "
                    "Dataset, a mapping of name to Dataset, or None"
                )
            if features is None:
                raise ValueError(
                    f"baseline={baseline!r} needs the coarse input: pass features=<Dataset>"
                )
            names = [v for v in truth.data_vars if v in features.data_vars]
            interp = grid.interpolate(features[names], truth, method=baseline)
            baselines[baseline] = interp.sel(time=truth["time"])
        elif isinstance(baseline, xr.Dataset):
            baselines["baseline"] = baseline
        elif baseline is not None:
            baselines.update(baseline)
        return metrics.score(
            self._obj, truth, baselines=baselines or None, member_dim=member_dim, dim=dim
        )

    # --------------------------------------------------------------- scaling
    def normalize(self, scaler: Scaler) -> xr.Dataset:
        """Normalise the variables `scaler` knows; lazy on dask."""
        return scaler.normalize(self._obj)  # type: ignore[no-any-return]

    def denormalize(self, scaler: Scaler) -> xr.Dataset:
        """Invert :meth:`normalize`, restoring units."""
        return scaler.denormalize(self._obj)  # type: ignore[no-any-return]


@xr.register_dataarray_accessor("deepr")
class DeepRDataArrayAccessor:
    """``da.deepr``: forwards to the Dataset accessor via ``to_dataset``."""

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    def _name(self) -> Any:
        return self._obj.name if self._obj.name is not None else "__xdeepr__"

    def __getattr__(self, attr: str) -> Any:
        target = getattr(DeepRAccessor(self._obj.to_dataset(name=self._name())), attr)
        if not callable(target):
            return target

        def forward(*args: Any, **kwargs: Any) -> Any:
            out = target(*args, **kwargs)
            if isinstance(out, xr.Dataset) and self._name() in out.data_vars:
                res = out[self._name()].rename(self._obj.name)
                res.attrs = {**out.attrs, **res.attrs}  # keep provenance such as history
                return res
            return out

        forward.__doc__ = target.__doc__
        return forward
