"""The ``.deepr`` accessor: a thin façade over :mod:`xdeepr`'s modules.

It validates and delegates; it holds no maths of its own. Every method returns a
new object and leaves the original untouched. One base class holds the methods;
``Dataset.deepr`` and ``DataArray.deepr`` are thin subclasses, so both have real
methods that ``help()``, tab completion and the API reference see. On a DataArray
each method works on the one-variable Dataset of that array and hands back an
array named as the input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import xarray as xr

from . import grid
from .errors import ConfigError
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

        Bounds in any order; latitude ascending or descending; longitude 0..360 or
        -180..180, a box across the seam included. The result keeps the input's
        orientation and attributes. See :func:`xdeepr.grid.crop`.

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
        """Pad lat/lon to multiples of ``2 ** (levels - 1)``; :meth:`unpad` undoes it exactly.

        See :func:`xdeepr.grid.pad`.

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
        """Interpolate onto `target`'s grid (a Dataset, a mapping or a model's label grid).

        Coordinate-aware: any regular grid, orientation or longitude convention.
        See :func:`xdeepr.grid.interpolate`.

        Parameters
        ----------
        target : Dataset, DataArray, mapping or DownscalingModel
            Its latitude/longitude define the grid; a model means its label grid.
        method : {"bicubic", "bilinear", "nearest"}

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
        options: SamplingOptions | None = None,
        observations: xr.Dataset | None = None,
    ) -> T:
        """Downscale this coarse input into an ensemble on the model's label grid.

        The sampling keywords are the fields of :class:`xdeepr.SamplingOptions`, one
        for one: they become one frozen SamplingOptions (or pass `options` directly),
        resolved once against the model by :func:`xdeepr.inference.downscale` and
        passed down to the sampler.

        Parameters
        ----------
        model : DownscalingModel
            From :func:`xdeepr.train` or :func:`xdeepr.load_model`.
        target : xarray.Dataset, optional
            Another hi-res domain carrying the model's static covariates; the network
            is convolutional, so the model downscales onto `target`'s grid.
        options : xdeepr.SamplingOptions, optional
            All the sampling options at once; then no other sampling keyword may be
            given.
        observations : xarray.Dataset, optional
            Station observations (CF timeSeries: dims ``time``, ``station``; see
            :func:`xdeepr.datasets.stations_from_table`). A model trained with
            observations takes them as condition channels (any stations, or none),
            and they guide the sampling of any model (`guidance`). Stations outside
            the domain are dropped with a warning; times are matched as the model
            was trained (:mod:`xdeepr.observations`).
        <sampling options>
        Returns
        -------
        Dataset or DataArray
            The label variable(s) with dims (member, time, lat, lon) on the label grid
            (its coordinate names, values and orientation), CF attributes and
            provenance attributes. Lazy (dask-backed) when the input is.

        Raises
        ------
        xdeepr.errors.ConfigError
            A sampling option of the wrong type or range, named.
        xdeepr.errors.InputError
            Input the model cannot use (variables, grid, coverage, time, NaN), named.

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
        return self._back(
            downscale(self._dataset(), model, opts, target=target, observations=observations)
        )

    if downscale.__doc__:  # the options' documentation has one home: SamplingOptions
        downscale.__doc__ = downscale.__doc__.replace(
            "        <sampling options>\n", SamplingOptions.parameters_doc(8) + "\n"
        )

    def predict_mean(self, model: DownscalingModel, target: xr.Dataset | None = None) -> T:
        """The model's regression mean: a deterministic downscaling of this coarse input.

        For models trained with ``TrainConfig(mean="regression")`` (CorrDiff), whose
        U-Net predicts the hi-res field from the condition (the counterpart of DeepR's
        deterministic networks); ``score(..., baseline="regression", model=model)``
        scores it next to the ensemble. Computed, not lazy; ``(time, lat, lon)`` on the
        label grid (or `target`'s). Raises :class:`~xdeepr.errors.ConfigError` for a
        model without one. See :func:`xdeepr.model.mean.regression_mean`.

        Examples
        --------
        >>> mean = era5.deepr.predict_mean(model)  # doctest: +SKIP
        >>> mean.t2m.dims  # doctest: +SKIP
        ('time', 'latitude', 'longitude')
        """
        from .model.mean import regression_mean

        return self._back(regression_mean(model, self._dataset(), target))

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

        Parameters
        ----------
        truth : Dataset or DataArray
            Observed hi-res fields on the same grid; scored on the times both share.
        baseline : str, Dataset, mapping, list of those, or None
            Baseline(s) to compare with: ``"bicubic"``, ``"bilinear"``, ``"nearest"``
            (the coarse `features` interpolated onto the truth's grid),
            ``"climatology"`` (bicubic plus the training period's mean residual by
            month and hour of day, stored in `model` by :func:`xdeepr.train`: a model
            that only learned the fixed patterns does not beat it), ``"regression"``
            (the `model`'s regression mean, :meth:`predict_mean`), a Dataset, a
            mapping of name to Dataset, or a list mixing them, e.g.
            ``["bicubic", "climatology"]``.
        features : Dataset or DataArray, optional
            Coarse input, for the named baselines. Without it the named baselines
            are skipped (see Returns): ``hires.deepr.score(truth)`` scores the
            prediction alone.
        model : DownscalingModel, optional
            The model that made this prediction: its climatology or regression mean,
            for ``"climatology"`` and ``"regression"`` (skipped without it).
        member_dim, dim, weights
            See :func:`xdeepr.metrics.score` (``weights="area"``: cos-latitude).

        Returns
        -------
        xarray.Dataset
            One variable per field with dims (metric, model); see
            :func:`xdeepr.metrics.score` and :func:`xdeepr.metrics.format_table`.
            Named baselines that need an input not given (`features`, `model`) are
            left out; the attribute ``xdeepr_skipped_baselines``
            (:data:`xdeepr.metrics.SKIPPED_BASELINES`) names them and why, and
            :func:`~xdeepr.metrics.format_table` prints it.

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
    ) -> xr.Dataset:
        """Score this (ensemble) prediction at weather stations, metric by metric.

        The prediction and the baselines are interpolated bilinearly to the
        stations and matched on the observation times; see
        :func:`xdeepr.metrics.score_at` and :func:`xdeepr.metrics.at_stations`.

        Parameters
        ----------
        observations : Dataset or DataArray
            Station observations in the CF timeSeries form (dims ``(time, station)``,
            ``latitude(station)``, ``longitude(station)``, NaN = missing), e.g. from
            :func:`xdeepr.observations.stations_from_table`. Stations outside this
            prediction's grid are dropped with a warning that counts them.
        baseline : str, Dataset, mapping, list of those, or None
            As in :meth:`score` (``"bicubic"``, ``"climatology"``, ``"regression"``,
            ...), made on this prediction's grid, then interpolated to the stations.
        stations : Dataset or DataArray, optional
            Deprecated name of `observations` (a :class:`FutureWarning`).
        features : Dataset or DataArray, optional
            Coarse input, for the named baselines (skipped without it, as in
            :meth:`score`).
        model : DownscalingModel, optional
            For ``"climatology"`` and ``"regression"``.
        member_dim, dim, weights, groupby
            See :func:`xdeepr.metrics.score_at`: ``dim="time"`` scores each station,
            ``groupby="season"`` (or ``"hour"``, ``"month"``) each group of times.
        time_tolerance : str or timedelta, optional
            Match observation times to the nearest prediction time within it.
        observation_error : float or mapping, optional
            Standard deviation of the stations' own error (e.g. ``0.3`` K); the
            spread-skill ratio then allows for it (see
            :func:`xdeepr.metrics.score_at`).

        Returns
        -------
        xarray.Dataset
            One variable per observed field with dims (metric, model, ...); metrics
            rmse, mae, mean_error (bias), r2, crps, spread_skill. Skipped baselines
            are named in ``xdeepr_skipped_baselines``, as in :meth:`score`.

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
        )
        return metrics.mark_skipped(scores, skipped)

    def _baselines(
        self,
        baseline: Any,
        grid_of: xr.Dataset,
        features: xr.Dataset | xr.DataArray | None,
        model: DownscalingModel | None,
    ) -> tuple[dict[str, xr.Dataset], dict[str, str]]:
        """Named baselines on `grid_of`'s grid from names, Datasets, mappings or a list.

        Returns the baselines and those skipped, ``{name: why}``: a named baseline
        whose input (`features`, `model`) was not given.
        """
        baselines: dict[str, xr.Dataset] = {}
        skipped: dict[str, str] = {}
        items = baseline if isinstance(baseline, (list, tuple)) else [baseline]
        for item in items:
            if isinstance(item, str):
                from .model.baselines import MODEL_BASELINES

                needs = []
                if features is None and (item in grid.INTERP_METHODS or item in MODEL_BASELINES):
                    needs.append("the coarse input (features=)")
                if model is None and item in MODEL_BASELINES:
                    needs.append("the model (model=)")
                if needs:
                    skipped[item] = "needs " + " and ".join(needs)
                    continue
                baselines[item] = self._named_baseline(item, grid_of, features, model)
            elif isinstance(item, (xr.Dataset, xr.DataArray)):
                baselines["baseline"] = _as_dataset(item, self._name())
            elif isinstance(item, Mapping):
                baselines.update({str(k): _as_dataset(v, self._name()) for k, v in item.items()})
            elif item is not None:
                raise ConfigError(f"baseline entries must be names or Datasets, got {item!r}")
        return baselines, skipped

    def _named_baseline(
        self,
        name: str,
        truth: xr.Dataset,
        features: xr.Dataset | xr.DataArray | None,
        model: DownscalingModel | None,
    ) -> xr.Dataset:
        """The baseline called `name` on the truth's grid (see :meth:`score`)."""
        from .model.baselines import named_baseline

        coarse = None if features is None else _as_dataset(features, self._name())
        return named_baseline(name, truth, coarse, model)

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
        if name not in out.data_vars:
            raise KeyError(f"the result has no variable {name!r}")  # pragma: no cover
        res = out[name].rename(self._obj.name)
        res.attrs = {**out.attrs, **res.attrs}  # keep provenance such as history
        return res
