"""The ``.deepr`` accessor: a thin façade over :mod:`xdeepr`'s modules.

It validates and delegates (no maths of its own); every method returns a new object.
One base class holds the methods; ``Dataset.deepr`` and ``DataArray.deepr`` are thin
subclasses, so both have real methods that ``help()``, tab completion and the API
reference see. On a DataArray each method works on its one-variable Dataset and
hands back an array named as the input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import xarray as xr

from . import grid
from .options import SamplingOptions
from .scaling import Scaler

if TYPE_CHECKING:
    from .fastpath import FastPath
    from .model import DownscalingModel

__all__ = ["DeepRAccessor", "DeepRDataArrayAccessor", "DeepRDatasetAccessor"]

T = TypeVar("T", xr.Dataset, xr.DataArray)
#: Name a nameless DataArray takes inside its one-variable Dataset.
_UNNAMED = "__xdeepr__"


class DeepRAccessor(Generic[T]):
    """Downscaling operations on a Dataset or a DataArray, reached as ``obj.deepr``.

    Examples
    --------
    >>> import xdeepr
    >>> features, labels, static = xdeepr.datasets.load_sample(periods=4)
    >>> features.deepr.latlon
    ('latitude', 'longitude')
    >>> features.t2m.deepr.spacing
    (-0.25, 0.25)
    """

    def __init__(self, obj: T) -> None:
        self._obj: T = obj

    # -------------------------------------------------- Dataset <-> DataArray plumbing
    def _dataset(self) -> xr.Dataset:
        """The accessed object as a Dataset (a DataArray as its one-variable Dataset)."""
        raise NotImplementedError

    def _back(self, out: xr.Dataset) -> T:
        """A Dataset result in the accessed object's type."""
        raise NotImplementedError

    # ------------------------------------------------------------------ grid
    @property
    def latlon(self) -> tuple[str, str]:
        """Names of the latitude and longitude coordinates (found with cf-xarray)."""
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
    ) -> T:
        """Crop to a lon/lat box or a DeepR ``spatial_coverage`` mapping.

        Bounds in any order, any orientation and longitude convention, a box across
        the seam included; see :func:`xdeepr.grid.crop`.

        Parameters
        ----------
        longitude, latitude : (float, float), optional
            The box's bounds in degrees.
        coverage : mapping, optional
            DeepR's ``spatial_coverage`` block as is:
            ``{"longitude": [w, e], "latitude": [n, s]}``.

        Returns
        -------
        Dataset or DataArray
            The cropped object, of the accessed type.

        Examples
        --------
        >>> import xdeepr
        >>> f, _, _ = xdeepr.datasets.load_sample(periods=2)
        >>> f.deepr.crop(coverage={"longitude": [9, 11], "latitude": [48.5, 47]}).t2m.shape
        (2, 7, 9)
        >>> f.t2m.deepr.crop(longitude=(9, 11), latitude=(47, 48.5)).shape
        (2, 7, 9)
        """
        return grid.crop(self._obj, longitude, latitude, coverage=coverage)

    def pad(self, levels: int = 4, mode: str = "reflect") -> T:
        """Pad lat/lon to multiples of ``2 ** (levels - 1)``; see :func:`xdeepr.grid.pad`.

        Examples
        --------
        >>> import xdeepr
        >>> _, labels, _ = xdeepr.datasets.load_sample(periods=2)
        >>> labels.t2m.isel(longitude=slice(0, 30)).deepr.pad(levels=4).shape
        (2, 24, 32)
        """
        return grid.pad(self._obj, levels=levels, mode=mode)

    def unpad(self) -> T:
        """Undo :meth:`pad` exactly; see :func:`xdeepr.grid.unpad`.

        Examples
        --------
        >>> import xdeepr
        >>> _, labels, _ = xdeepr.datasets.load_sample(periods=2)
        >>> da = labels.t2m.isel(longitude=slice(0, 30))
        >>> da.deepr.pad().deepr.unpad().identical(da)
        True
        """
        return grid.unpad(self._obj)

    def interpolate(
        self,
        target: xr.Dataset | xr.DataArray | Mapping[str, Any] | DownscalingModel,
        method: str = "bicubic",
    ) -> T:
        """Interpolate onto `target`'s grid (a model: its label grid); see
        :func:`xdeepr.grid.interpolate` (coordinate-aware, any orientation).

        Examples
        --------
        >>> import xdeepr
        >>> f, l, _ = xdeepr.datasets.load_sample(periods=2)
        >>> f.t2m.deepr.interpolate(l).shape
        (2, 20, 32)
        """
        if hasattr(target, "label_grid"):
            target = target.label_grid
        return grid.interpolate(self._obj, target, method=method)

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
        *,
        eta: float = 0.0,
        guidance: float | None = None,
        observation_error: float = 0.3,
        lapse_rate: float | tuple[float, ...] | str | None = "model",
        calibrate: bool = True,
        options: SamplingOptions | None = None,
        observations: xr.Dataset | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> T:
        """Downscale this coarse input into an ensemble on the model's label grid.

        The sampling keywords are the fields of :class:`xdeepr.SamplingOptions`, one for
        one (or pass `options`), resolved once by :func:`xdeepr.inference.downscale`.

        Parameters
        ----------
        model : DownscalingModel
            From :func:`xdeepr.train` or :func:`xdeepr.load_model`.
        target : xarray.Dataset, optional
            Another hi-res domain with the model's static covariates, to downscale onto.
        options : xdeepr.SamplingOptions, optional
            All the sampling options at once (then no other sampling keyword).
        observations : xarray.Dataset, optional
            Station observations (CF timeSeries, :mod:`xdeepr.observations`): condition
            channels of a model trained with them, and guidance of any model.
        variables : mapping of str to str, optional
            Input names -> the model's, e.g. ``{"tas": "t2m"}``; without it, an input
            variable of a missing one's ``standard_name`` is used if it is the only one.
        <sampling options>
        Returns
        -------
        Dataset or DataArray
            The label variable(s), dims (member, time, lat, lon) on the label grid, with
            CF and provenance attributes; lazy (dask-backed) when the input is.

        Raises
        ------
        xdeepr.errors.ConfigError, xdeepr.errors.InputError
            A sampling option, or input the model cannot use, named.

        Examples
        --------
        >>> hires = era5.deepr.downscale(model, members=20)  # doctest: +SKIP
        >>> hires.t2m.dims  # doctest: +SKIP
        ('member', 'time', 'latitude', 'longitude')
        """
        from .inference import downscale

        given = locals()  # the sampling keywords, by SamplingOptions' field names
        opts = SamplingOptions.from_keywords(
            options, **{name: given[name] for name in SamplingOptions.names()}
        )
        ds, obs = self._dataset(), observations
        return self._back(
            downscale(ds, model, opts, target=target, observations=obs, variables=variables)
        )

    if downscale.__doc__:  # the options' documentation has one home: SamplingOptions
        downscale.__doc__ = downscale.__doc__.replace(
            "        <sampling options>\n", SamplingOptions.parameters_doc(8) + "\n"
        )

    def predict_mean(
        self,
        model: DownscalingModel,
        target: xr.Dataset | None = None,
        *,
        variables: Mapping[str, str] | None = None,
    ) -> T:
        """The regression mean of a ``mean="regression"`` model (CorrDiff), computed.

        ``(time, lat, lon)`` on the label grid (or `target`'s); `variables` as for
        :meth:`downscale`. See :func:`xdeepr.model.mean.regression_mean`.

        Examples
        --------
        >>> mean = era5.deepr.predict_mean(model)  # doctest: +SKIP
        """
        from .model.mean import regression_mean

        return self._back(regression_mean(model, self._dataset(), target, variables))

    def score(
        self,
        truth: xr.Dataset | xr.DataArray,
        baseline: str | xr.Dataset | Mapping[str, xr.Dataset] | Sequence[Any] | None = "bicubic",
        *,
        features: xr.Dataset | xr.DataArray | None = None,
        model: DownscalingModel | None = None,
        member_dim: str = "member",
        dim: Any = None,
        weights: Any = None,
    ) -> xr.Dataset:
        """Score this (ensemble) prediction against `truth`, metric by metric.

        See :func:`xdeepr.metrics.score` for `member_dim`, `dim` and `weights`
        (``weights="area"``: cos-latitude) and :func:`xdeepr.metrics.format_table`.

        Parameters
        ----------
        truth : Dataset or DataArray
            Observed hi-res fields on the same grid; scored on the times both share.
        baseline : str, Dataset, mapping, list of those, or None
            ``"bicubic"``, ``"bilinear"``, ``"nearest"`` (`features` interpolated onto
            the truth's grid), ``"climatology"`` (bicubic plus the training period's
            mean residual by month and hour, stored in `model`), ``"regression"`` (the
            `model`'s regression mean), a Dataset, a mapping of name to Dataset, or a
            list mixing them, e.g. ``["bicubic", "climatology"]``.
        features, model : optional
            The coarse input and the model that made this prediction, for the named
            baselines. A named baseline whose input is not given is skipped, and the
            attribute ``xdeepr_skipped_baselines`` says which and why (printed by
            ``format_table``): ``hires.deepr.score(truth)`` scores the prediction alone.

        Returns
        -------
        xarray.Dataset
            One variable per field with dims (metric, model).

        Raises
        ------
        ConfigError
            An unknown baseline name, or a `model` that lacks what a baseline needs.

        Examples
        --------
        >>> scores = hires.deepr.score(truth, features=era5)  # doctest: +SKIP
        >>> print(xdeepr.metrics.format_table(scores))  # doctest: +SKIP
        """
        from . import metrics

        truth_ds = _as_dataset(truth, self._name())
        baselines, skipped = self._baselines(baseline, truth_ds, features, model)
        scores = metrics.score(
            truth_ds,
            self._dataset(),
            baselines=baselines or None,
            member_dim=member_dim,
            dim=dim,
            weights=weights,
        )
        return metrics.mark_skipped(scores, skipped)

    def score_at(
        self,
        observations: xr.Dataset | xr.DataArray | None = None,
        baseline: str | xr.Dataset | Mapping[str, xr.Dataset] | None = "bicubic",
        *,
        stations: xr.Dataset | xr.DataArray | None = None,
        features: xr.Dataset | xr.DataArray | None = None,
        model: DownscalingModel | None = None,
        member_dim: str = "member",
        dim: Any = None,
        weights: Any = None,
        groupby: str | None = None,
        time_tolerance: Any = None,
        observation_error: float | Mapping[Any, float] | None = None,
        lapse_rate: float | tuple[float, ...] | None = -6.5,
    ) -> xr.Dataset:
        """Score this (ensemble) prediction at weather stations, metric by metric.

        Read bilinearly at the stations on their times and scored by
        :func:`xdeepr.metrics.score_at`, which documents the other keywords (``dim="time"``
        scores each station; ``groupby``; `lapse_rate`: temperatures moved to the grid's
        orography, `model`'s or this prediction's ``orog`` variable).

        Parameters
        ----------
        observations : Dataset or DataArray
            Station observations, CF timeSeries (dims ``(time, station)``, NaN = missing),
            e.g. from :func:`xdeepr.observations.stations_from_table`; stations outside
            this prediction's grid are dropped with a warning that counts them.
        baseline, features, model
            As in :meth:`score`: baselines are made on this prediction's grid, then
            interpolated to the stations; those whose inputs were not given are
            skipped and named in ``xdeepr_skipped_baselines``.
        stations : Dataset or DataArray, optional
            Deprecated name of `observations` (a :class:`FutureWarning`).

        Returns
        -------
        xarray.Dataset
            One per observed field, dims (metric, model, ...): rmse, mae, mean_error, crps...

        Examples
        --------
        >>> obs = xdeepr.datasets.load_sample_stations(periods=8)  # doctest: +SKIP
        >>> scores = hires.deepr.score_at(obs, features=era5)  # doctest: +SKIP
        >>> print(xdeepr.metrics.format_table(scores))  # doctest: +SKIP
        """
        from . import metrics
        from .observations import observations_argument

        obs = observations_argument(observations, stations, "score_at")
        hires = self._dataset()
        baselines, skipped = self._baselines(baseline, hires, features, model)
        scores = metrics.score_at(
            obs,
            hires,
            baselines or None,
            member_dim=member_dim,
            dim=dim,
            weights=weights,
            groupby=groupby,
            time_tolerance=time_tolerance,
            observation_error=observation_error,
            lapse_rate=lapse_rate,
            orography=model,  # its static orography, else the prediction's own
        )
        return metrics.mark_skipped(scores, skipped)

    def _baselines(
        self,
        baseline: Any,
        grid_of: xr.Dataset,
        features: xr.Dataset | xr.DataArray | None,
        model: DownscalingModel | None,
    ) -> tuple[dict[str, xr.Dataset], dict[str, str]]:
        """Baselines and those skipped: :func:`xdeepr.model.baselines.collect_baselines`."""
        from .model.baselines import collect_baselines

        coarse = None if features is None else _as_dataset(features, self._name())
        return collect_baselines(
            baseline, grid_of, coarse, model, lambda obj: _as_dataset(obj, self._name())
        )

    # --------------------------------------------------------------- scaling
    def normalize(self, scaler: Scaler) -> T:
        """Normalise the variables `scaler` knows; lazy on dask.

        Examples
        --------
        >>> import xdeepr
        >>> f, _, _ = xdeepr.datasets.load_sample(periods=8)
        >>> scaler = xdeepr.Scaler.fit(f, method="domain-wise", by_month=False)
        >>> abs(float(f.deepr.normalize(scaler).t2m.mean())) < 1e-4
        True
        """
        return self._back(scaler.normalize(self._dataset()))

    def denormalize(self, scaler: Scaler) -> T:
        """Invert :meth:`normalize`, restoring values and units."""
        return self._back(scaler.denormalize(self._dataset()))

    def _name(self) -> Hashable:
        return _UNNAMED


def _as_dataset(obj: xr.Dataset | xr.DataArray, name: Hashable) -> xr.Dataset:
    if isinstance(obj, xr.Dataset):
        return obj
    return obj.to_dataset(name=obj.name if obj.name is not None else name)


@xr.register_dataset_accessor("deepr")
class DeepRDatasetAccessor(DeepRAccessor[xr.Dataset]):
    """``ds.deepr``: the downscaling methods on a Dataset; see :class:`DeepRAccessor`."""

    def _dataset(self) -> xr.Dataset:
        return self._obj

    def _back(self, out: xr.Dataset) -> xr.Dataset:
        return out


@xr.register_dataarray_accessor("deepr")
class DeepRDataArrayAccessor(DeepRAccessor[xr.DataArray]):
    """``da.deepr``: the downscaling methods on a DataArray; see :class:`DeepRAccessor`.

    Each method runs on the array's one-variable Dataset and returns the array of
    the same name (Dataset attributes such as provenance merged into its attrs).
    """

    def _name(self) -> Hashable:
        return self._obj.name if self._obj.name is not None else _UNNAMED

    def _dataset(self) -> xr.Dataset:
        return self._obj.to_dataset(name=self._name())

    def _back(self, out: xr.Dataset) -> xr.DataArray:
        name = self._name()
        if name not in out.data_vars and len(out.data_vars) == 1:
            name = next(iter(out.data_vars))  # an input of another name (variables=)
        res = out[name].rename(self._obj.name)
        res.attrs = {**out.attrs, **res.attrs}  # keep provenance such as history
        return res
