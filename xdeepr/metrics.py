"""Verification metrics for downscaled fields, on xarray objects.

Every function takes :class:`xarray.DataArray` or :class:`xarray.Dataset`
inputs (a Dataset is scored variable by variable), works lazily on
dask-backed data and reduces over ``dim``: by default every dimension that
the prediction and the truth share, the ensemble ``member`` dimension
excepted. Pass ``dim="time"`` for maps of scores, ``dim=("latitude",
"longitude")`` for time series of scores, and so on.

Deterministic scores (DeepR's set): :func:`rmse`, :func:`mae`,
:func:`mean_error`, :func:`r2`. Probabilistic scores: :func:`crps_ensemble`,
:func:`spread_skill_ratio`, :func:`rank_histogram`. Spectral diagnostics:
:func:`power_spectrum`, :func:`spectral_ratio`. :func:`score` gathers all of
them for a model and its baselines, and :func:`format_table` prints the result.

Missing values (NaN) are skipped: a point enters a score only where both the
prediction and the truth are valid.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from .grid import GridError, find_latlon, grid_step

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)
Dims = Hashable | Iterable[Hashable] | None

#: Kilometres per degree of latitude (mean Earth radius 6371 km).
KM_PER_DEGREE = 111.2
#: Default small-scale threshold of :func:`spectral_ratio`: wavelengths up to
#: two 0.25° cells (the shortest wave an ERA5-like grid can carry), in km.
DEFAULT_MAX_WAVELENGTH_KM = 2 * 0.25 * KM_PER_DEGREE
#: Metrics computed by :func:`score`, in the order of its ``metric`` coordinate.
SCORE_METRICS = ("rmse", "mae", "mean_error", "r2", "crps", "spread_skill", "spectral_ratio")
#: Name of the model being evaluated in the ``model`` coordinate of :func:`score`.
MODEL_NAME = "xdeepr"

_METRIC_INFO: dict[str, tuple[str, bool]] = {
    # name: (long_name, carries the units of the data)
    "rmse": ("root-mean-square error", True),
    "mae": ("mean absolute error", True),
    "mean_error": ("mean error (prediction - truth)", True),
    "r2": ("coefficient of determination", False),
    "crps": ("continuous ranked probability score", True),
    "spread_skill": ("spread-skill ratio", False),
    "spectral_ratio": ("small-scale spectral power ratio (prediction / truth)", False),
}


# --------------------------------------------------------------------------- helpers


def _as_list(dim: Dims) -> list[Hashable]:
    if dim is None:
        return []
    if isinstance(dim, str) or not isinstance(dim, Iterable):
        return [dim]
    return list(dim)


def _reduce_dims(
    prediction: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    dim: Dims,
    member_dim: Hashable | None = None,
) -> list[Hashable]:
    """Dimensions to reduce over: `dim`, or all shared ones but `member_dim`."""
    if dim is None:
        shared = [d for d in truth.dims if d in prediction.dims and d != member_dim]
        return shared
    dims = _as_list(dim)
    known = set(prediction.dims) | set(truth.dims)
    missing = [d for d in dims if d not in known]
    if missing:
        raise ValueError(
            f"dim {missing} not found: the prediction has dimensions {list(prediction.dims)} "
            f"and the truth {list(truth.dims)}"
        )
    if member_dim is not None and member_dim in dims:
        raise ValueError(
            f"dim must not contain the member dimension {member_dim!r}; ensemble scores "
            "reduce over it themselves"
        )
    return dims


def _align(
    prediction: XrObj, truth: XrObj, member_dim: Hashable | None = None
) -> tuple[XrObj, XrObj]:
    """Check that prediction and truth share a grid; return them with equal coordinates.

    Latitude/longitude found under different names are renamed to the truth's
    names. Dimension coordinates present in both must agree (floats within
    1e-6); the prediction then takes the truth's exact values so that xarray's
    alignment keeps every point.
    """
    if member_dim is not None and member_dim in truth.dims:
        raise ValueError(
            f"the truth has the member dimension {member_dim!r}; pass the ensemble as the "
            "prediction and a single realisation as the truth"
        )
    try:
        names_p = find_latlon(prediction)
        names_t = find_latlon(truth)
    except GridError:
        pass
    else:
        rename = {p: t for p, t in zip(names_p, names_t) if p != t}
        if rename:
            prediction = prediction.rename(rename)
    updates: dict[Hashable, Any] = {}
    for name in truth.dims:
        if name not in prediction.dims:
            continue
        if prediction.sizes[name] != truth.sizes[name]:
            raise ValueError(
                f"prediction and truth differ along coordinate {name!r}: "
                f"{prediction.sizes[name]} versus {truth.sizes[name]} points. "
                "Put them on the same grid first (e.g. ds.deepr.interpolate(truth))."
            )
        if name not in prediction.indexes or name not in truth.indexes:
            continue
        a = np.asarray(prediction[name].values)
        b = np.asarray(truth[name].values)
        if np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number):
            same = bool(np.allclose(a, b, rtol=0.0, atol=1e-6))
        else:
            same = bool(np.array_equal(a, b))
        if not same:
            bad = int(np.argmax(a != b)) if a.shape == b.shape else 0
            raise ValueError(
                f"prediction and truth differ along coordinate {name!r} "
                f"(first difference at position {bad}: {a[bad]!r} versus {b[bad]!r}). "
                "Put them on the same grid and times first."
            )
        if not np.array_equal(a, b):
            updates[name] = truth[name]
    if updates:
        prediction = prediction.assign_coords(updates)
    return prediction, truth


def _mask_both(prediction: XrObj, truth: XrObj) -> tuple[XrObj, XrObj]:
    """Keep only points valid in both (NaN elsewhere)."""
    return prediction.where(truth.notnull()), truth.where(prediction.notnull())


def _require_member(ensemble: xr.Dataset | xr.DataArray, member_dim: Hashable) -> int:
    if member_dim not in ensemble.dims:
        raise ValueError(
            f"the ensemble has no member dimension {member_dim!r}; its dimensions are "
            f"{list(ensemble.dims)}. Pass member_dim=<name> or add the dimension "
            "(e.g. da.expand_dims(member=1))."
        )
    return int(ensemble.sizes[member_dim])


def _single_chunk(obj: XrObj, dims: Sequence[Hashable]) -> XrObj:
    """Rechunk dask-backed `obj` to a single chunk along `dims` (core dims)."""
    if obj.chunks:
        return obj.chunk({d: -1 for d in dims if d in obj.dims})
    return obj


def _set_attrs(result: XrObj, truth: xr.Dataset | xr.DataArray, metric: str) -> XrObj:
    """Give each result variable a long_name and, where meaningful, the truth's units."""
    long_name, keeps_units = _METRIC_INFO[metric]

    def attrs_for(source: xr.DataArray) -> dict[str, Any]:
        attrs: dict[str, Any] = {"long_name": long_name}
        if keeps_units and "units" in source.attrs:
            attrs["units"] = source.attrs["units"]
        elif not keeps_units:
            attrs["units"] = "1"
        return attrs

    if isinstance(result, xr.DataArray):
        assert isinstance(truth, xr.DataArray)
        result.attrs = attrs_for(truth)
    else:
        assert isinstance(truth, xr.Dataset)
        for name in result.data_vars:
            if name in truth.data_vars:
                result[name].attrs = attrs_for(truth[name])
    return result


# --------------------------------------------------------------------------- deterministic


def rmse(prediction: XrObj, truth: XrObj, dim: Dims = None) -> XrObj:
    """Root-mean-square error, ``sqrt(mean((prediction - truth)**2))``.

    Parameters
    ----------
    prediction, truth : xarray.DataArray or xarray.Dataset
        Fields on the same grid. Dimensions of `prediction` absent from `truth`
        (such as ``member``) are kept: the score of each member.
    dim : str or sequence of str, optional
        Dimensions to reduce over; default all dimensions the two share.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The score, in the units of the data.

    Raises
    ------
    ValueError
        When the grids or times of `prediction` and `truth` differ.

    Examples
    --------
    >>> import xarray as xr
    >>> truth = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(rmse(truth + 2.0, truth))
    2.0
    """
    prediction, truth = _align(prediction, truth)
    dims = _reduce_dims(prediction, truth, dim)
    out = (((prediction - truth) ** 2).mean(dims)) ** 0.5
    return _set_attrs(out, truth, "rmse")


def mae(prediction: XrObj, truth: XrObj, dim: Dims = None) -> XrObj:
    """Mean absolute error, ``mean(|prediction - truth|)``.

    Parameters and return value as in :func:`rmse`.

    Examples
    --------
    >>> import xarray as xr
    >>> truth = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(mae(truth + xr.DataArray([1.0, -1.0, 4.0], dims="x"), truth))
    2.0
    """
    prediction, truth = _align(prediction, truth)
    dims = _reduce_dims(prediction, truth, dim)
    out = abs(prediction - truth).mean(dims)
    return _set_attrs(out, truth, "mae")


def mean_error(prediction: XrObj, truth: XrObj, dim: Dims = None) -> XrObj:
    """Mean error (bias), ``mean(prediction - truth)``: positive when too high.

    Parameters and return value as in :func:`rmse`.

    Examples
    --------
    >>> import xarray as xr
    >>> truth = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(mean_error(truth - 0.5, truth))
    -0.5
    """
    prediction, truth = _align(prediction, truth)
    dims = _reduce_dims(prediction, truth, dim)
    out = (prediction - truth).mean(dims)
    return _set_attrs(out, truth, "mean_error")


def r2(prediction: XrObj, truth: XrObj, dim: Dims = None) -> XrObj:
    """Coefficient of determination, ``1 - SSE / SST``.

    ``SSE = sum((prediction - truth)**2)`` and ``SST = sum((truth - mean(truth))**2)``,
    the truth's mean and both sums taken over `dim` (on the points valid in
    both). 1 is perfect, 0 is no better than the truth's mean over `dim`, and
    it is unbounded below.

    Parameters and return value as in :func:`rmse` (dimensionless).

    Examples
    --------
    >>> import xarray as xr
    >>> truth = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(r2(xr.DataArray([1.0, 2.0, 4.0], dims="x"), truth))
    0.5
    """
    prediction, truth = _align(prediction, truth)
    dims = _reduce_dims(prediction, truth, dim)
    prediction, truth_m = _mask_both(prediction, truth)
    sse = ((prediction - truth_m) ** 2).sum(dims)
    sst = ((truth_m - truth_m.mean(dims)) ** 2).sum(dims)
    out = 1.0 - sse / sst
    return _set_attrs(out, truth, "r2")


# --------------------------------------------------------------------------- probabilistic


def _crps_numpy(ensemble: np.ndarray, obs: np.ndarray, fair: bool) -> np.ndarray:
    """CRPS of ensembles (members on the last axis) against observations.

    ``CRPS = E|X - y| - ½ E|X - X'|``, the second term from the sorted members
    ``x_(1) <= ... <= x_(m)``: ``Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - m - 1) x_(i)``.
    Standard: divide that double sum by ``m²``; fair: by ``m (m - 1)``.
    NaN members are ignored; a NaN observation gives NaN.
    """
    x = np.sort(np.asarray(ensemble, dtype="float64"), axis=-1)  # NaN sort last
    y = np.asarray(obs, dtype="float64")[..., None]
    valid = ~np.isnan(x)
    m = valid.sum(axis=-1, keepdims=True).astype("float64")
    rank = np.arange(1, x.shape[-1] + 1, dtype="float64")  # i = 1..m
    with np.errstate(invalid="ignore", divide="ignore"):
        skill = np.where(valid, np.abs(x - y), 0.0).sum(axis=-1) / m[..., 0]
        pair_sum = np.where(valid, (2.0 * rank - m - 1.0) * x, 0.0).sum(axis=-1)  # ½ΣΣ|xi-xj|
        norm = m[..., 0] * (m[..., 0] - 1.0) if fair else m[..., 0] ** 2
        spread = pair_sum / norm
        out = skill - spread
    out = np.where(np.isnan(y[..., 0]) | (m[..., 0] == 0), np.nan, out)
    if fair:
        out = np.where(m[..., 0] < 2, np.nan, out)
    return out


def crps_ensemble(
    ensemble: XrObj,
    truth: XrObj,
    *,
    member_dim: Hashable = "member",
    dim: Dims = None,
    fair: bool = False,
) -> XrObj:
    """Continuous ranked probability score of an ensemble, averaged over `dim`.

    ``CRPS = E|X - y| - ½ E|X - X'|`` with ``X, X'`` drawn from the ensemble's
    empirical distribution and ``y`` the truth. The default (standard)
    estimator equals :func:`properscoring.crps_ensemble`; ``fair=True`` uses
    ``m (m - 1)`` instead of ``m²`` pairs in the second term (Ferro 2014), an
    unbiased estimate of the CRPS of the distribution the members are drawn
    from, which does not favour larger ensembles. Computed in O(m log m) per
    point by sorting the members. NaN members are ignored.

    A deterministic forecast (no `member_dim` dimension) is scored as a
    one-member ensemble: its CRPS is its mean absolute error (:func:`mae`).

    Parameters
    ----------
    ensemble : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim`, or a deterministic one.
    truth : xarray.DataArray or xarray.Dataset
        Verifying field on the same grid, without `member_dim`.
    member_dim : str, default "member"
        Name of the ensemble dimension.
    dim : str or sequence of str, optional
        Dimensions to average over; default all shared but `member_dim`.
    fair : bool, default False
        Use the fair (unbiased, finite-ensemble-adjusted) estimator.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The mean CRPS, in the units of the data (lower is better).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ens = xr.DataArray([[0.0, 1.0, 2.0]], dims=("x", "member"))
    >>> truth = xr.DataArray([1.0], dims="x")
    >>> round(float(crps_ensemble(ens, truth)), 4)  # 2/3 - 4/9
    0.2222
    >>> round(float(crps_ensemble(ens, truth, fair=True)), 4)  # 2/3 - 4/6
    0.0
    """
    if member_dim not in ensemble.dims:
        out = mae(ensemble, truth, dim=dim)
        return _set_attrs(out, truth, "crps")
    ensemble, truth = _align(ensemble, truth, member_dim)
    dims = _reduce_dims(ensemble, truth, dim, member_dim)
    ensemble = _single_chunk(ensemble, [member_dim])
    point = xr.apply_ufunc(
        _crps_numpy,
        ensemble,
        truth,
        kwargs={"fair": fair},
        input_core_dims=[[member_dim], []],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out = point.mean(dims)
    return _set_attrs(out, truth, "crps")


def spread_skill_ratio(
    ensemble: XrObj,
    truth: XrObj,
    *,
    member_dim: Hashable = "member",
    dim: Dims = None,
) -> XrObj:
    """Spread-skill ratio: ensemble spread over the error of the ensemble mean.

    ``ratio = sqrt((m + 1) / m * mean(var)) / rmse(ensemble mean)``, with
    ``var`` the members' variance (``ddof=1``) and both means over `dim`. For
    an ensemble whose members and truth are draws of the same distribution,
    the mean squared error of the m-member mean is ``(1 + 1/m)`` times the
    variance; the ``(m + 1)/m`` factor corrects for that, so a calibrated
    ensemble scores 1 whatever its size. Below 1: under-dispersive
    (overconfident); above 1: over-dispersive.

    Parameters
    ----------
    ensemble : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim` (at least 2 members).
    truth : xarray.DataArray or xarray.Dataset
        Verifying field on the same grid.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions to average over; default all shared but `member_dim`.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Dimensionless ratio.

    Raises
    ------
    ValueError
        When `member_dim` is missing or has fewer than two members.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> ens = xr.DataArray(rng.normal(size=(20000, 10)), dims=("x", "member"))
    >>> truth = xr.DataArray(rng.normal(size=20000), dims="x")
    >>> round(float(spread_skill_ratio(ens, truth)), 1)
    1.0
    """
    m = _require_member(ensemble, member_dim)
    if m < 2:
        raise ValueError(f"the spread-skill ratio needs at least 2 members along {member_dim!r}")
    ensemble, truth = _align(ensemble, truth, member_dim)
    dims = _reduce_dims(ensemble, truth, dim, member_dim)
    mean = ensemble.mean([member_dim])
    var = ensemble.var([member_dim], ddof=1)
    mean, truth_m = _mask_both(mean, truth)
    var = var.where(mean.notnull())
    spread = ((m + 1) / m * var.mean(dims)) ** 0.5
    skill = (((mean - truth_m) ** 2).mean(dims)) ** 0.5
    out = spread / skill
    return _set_attrs(out, truth, "spread_skill")


def _ranks_numpy(ensemble: np.ndarray, obs: np.ndarray, seed: int) -> np.ndarray:
    """Rank of each observation among its members (last axis), ties broken at random."""
    x = np.asarray(ensemble, dtype="float64")
    y = np.asarray(obs, dtype="float64")[..., None]
    below = (x < y).sum(axis=-1)
    ties = (x == y).sum(axis=-1)
    rng = np.random.default_rng(seed)
    rank = (below + rng.integers(0, ties + 1)).astype("float64")
    invalid = np.isnan(x).any(axis=-1) | np.isnan(y[..., 0])
    return np.where(invalid, np.nan, rank)


def rank_histogram(
    ensemble: XrObj,
    truth: XrObj,
    *,
    member_dim: Hashable = "member",
    dim: Dims = None,
    seed: int = 0,
) -> XrObj:
    """Rank (Talagrand) histogram: how often the truth falls at each rank in the ensemble.

    The rank of a case is the number of members below the truth, 0..m. Ties
    (members equal to the truth) are broken uniformly at random with a
    generator seeded by `seed` (drawn per dask chunk for dask-backed input).
    Cases where the truth or any member is missing are left out.

    A calibrated ensemble gives a flat histogram; a U shape means
    under-dispersion, a dome over-dispersion, a slope a bias.

    Parameters
    ----------
    ensemble : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim`.
    truth : xarray.DataArray or xarray.Dataset
        Verifying field on the same grid.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions whose cases are counted together; default all shared but `member_dim`.
    seed : int, default 0
        Seed of the tie-breaking generator.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Integer counts over a new dimension ``rank`` (0..m), plus the
        dimensions not in `dim`. The counts sum to the number of valid cases.

    Examples
    --------
    >>> import xarray as xr
    >>> ens = xr.DataArray([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], dims=("x", "member"))
    >>> truth = xr.DataArray([-1.0, 0.5, 2.0], dims="x")
    >>> rank_histogram(ens, truth).values.tolist()
    [1, 1, 1]
    """
    m = _require_member(ensemble, member_dim)
    ensemble, truth = _align(ensemble, truth, member_dim)
    dims = _reduce_dims(ensemble, truth, dim, member_dim)
    ensemble = _single_chunk(ensemble, [member_dim])
    ranks = xr.apply_ufunc(
        _ranks_numpy,
        ensemble,
        truth,
        kwargs={"seed": seed},
        input_core_dims=[[member_dim], []],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    levels = xr.DataArray(np.arange(m + 1), dims="rank", name="rank")
    counts = (ranks == levels).sum(dims).astype("int64")
    counts = counts.assign_coords(rank=levels)
    counts.attrs = {"long_name": "rank histogram count", "units": "1"}
    if isinstance(counts, xr.Dataset):
        for name in counts.data_vars:
            counts[name].attrs = {"long_name": "rank histogram count", "units": "1"}
    return counts


# --------------------------------------------------------------------------- spectra


def _spatial_dims(
    field: xr.Dataset | xr.DataArray, dims: Sequence[Hashable] | None
) -> tuple[Hashable, Hashable]:
    if dims is None:
        return find_latlon(field)
    names = list(dims)
    if len(names) != 2:
        raise ValueError(f"dims must name the (latitude, longitude) dimensions, got {dims!r}")
    for name in names:
        if name not in field.dims:
            raise ValueError(f"dimension {name!r} not found among {list(field.dims)}")
    return names[0], names[1]


def _radial_bins(ny: int, nx: int, dy: float, dx: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Radial wavenumber (cycles/km) of each FFT cell, the bin centres and their width."""
    ky = np.fft.fftfreq(ny, d=dy)
    kx = np.fft.rfftfreq(nx, d=dx)
    k = np.hypot(ky[:, None], kx[None, :])  # (ny, nx//2+1)
    dk = max(1.0 / (ny * dy), 1.0 / (nx * dx))  # coarser fundamental frequency
    kmax = min(0.5 / dy, 0.5 / dx)  # Nyquist of the coarser direction
    nbins = int(np.floor(kmax / dk + 1e-9))
    centres = dk * np.arange(1, nbins + 1)
    return k, centres, dk


def _spectrum_numpy(
    data: np.ndarray,
    *,
    dy: float,
    dx: float,
    window: np.ndarray | None,
    detrend: str | None,
) -> np.ndarray:
    """Radially integrated power spectral density over the last two axes."""
    f = np.asarray(data, dtype="float64")
    ny, nx = f.shape[-2:]
    if detrend == "linear":
        # Least-squares plane a + b*y + c*x removed from each field.
        yy, xx = np.meshgrid(
            np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij"
        )
        design = np.stack([np.ones(ny * nx), yy.ravel(), xx.ravel()], axis=1)  # (ny*nx, 3)
        flat = f.reshape(-1, ny * nx).T  # (ny*nx, N)
        coef, *_ = np.linalg.lstsq(design, np.nan_to_num(flat), rcond=None)
        f = (flat - design @ coef).T.reshape(f.shape)
    elif detrend == "constant":
        f = f - f.mean(axis=(-2, -1), keepdims=True)
    weight = 1.0
    if window is not None:
        f = f * window
        weight = float(np.mean(window**2))  # restores the field's variance on average
    spec = np.fft.rfft2(f, axes=(-2, -1))  # (..., ny, nx//2+1)
    power = np.abs(spec) ** 2 / (ny * nx) ** 2 / weight
    # rfft2 keeps half the plane: count the mirrored columns twice (not k_x = 0 / Nyquist).
    mult = np.full(power.shape[-1], 2.0)
    mult[0] = 1.0
    if nx % 2 == 0:
        mult[-1] = 1.0
    power = power * mult
    k, centres, dk = _radial_bins(ny, nx, dy, dx)
    index = np.rint(k / dk).astype(int)  # bin n holds (n - ½) dk <= |k| < (n + ½) dk
    out = np.empty((*power.shape[:-2], centres.size))
    for n in range(1, centres.size + 1):
        out[..., n - 1] = power[..., index == n].sum(axis=-1) / dk
    nan = np.isnan(np.asarray(data, dtype="float64")).any(axis=(-2, -1))
    out[nan] = np.nan
    return out


def power_spectrum(
    field: XrObj,
    *,
    dims: Sequence[Hashable] | None = None,
    window: str | tuple[str, float] | None = "hann",
    detrend: str | None = "linear",
    mean_dims: Dims = None,
) -> XrObj:
    """Radially integrated power spectrum of fields on a regular latitude/longitude grid.

    Each 2-D field is detrended (a least-squares plane is removed, or its
    mean), tapered by a window, Fourier transformed, and its power summed over
    rings of radial wavenumber ``|k| = sqrt(kx² + ky²)``. Distances use
    ``dy = 111.2 km · |Δlat|`` and ``dx = 111.2 km · |Δlon| · cos(mean latitude)``.
    The rings are ``dk`` wide, ``dk`` the fundamental frequency of the shorter
    side of the domain, up to the Nyquist wavenumber of the coarser direction.

    The result is a power spectral density ``E(k)`` in ``units² · km``,
    normalised so that ``Σ E(k) dk`` is about the field's (detrended) variance.
    ``E(k)`` is the ring *sum*, the convention of atmospheric energy spectra: a
    field with ``E(k) ∝ k^-3`` (synoptic scales) or ``k^-5/3`` (mesoscale) shows
    that slope here.

    Parameters
    ----------
    field : xarray.DataArray or xarray.Dataset
        Field(s) on a regular grid; every other dimension (time, member, ...)
        is kept, one spectrum each, unless listed in `mean_dims`.
    dims : pair of str, optional
        The ``(latitude, longitude)`` dimensions; found with
        :func:`xdeepr.grid.find_latlon` by default.
    window : str or tuple, default "hann"
        Taper applied separably along both axes before the transform, any
        :func:`scipy.signal.get_window` specification: ``"hann"`` (default, a
        raised cosine, strongest leakage suppression) or ``("tukey", 0.25)``
        (flat in the middle, tapering the outer 12.5 % on each side, keeps more
        of the domain). ``None`` for no window (the field is then treated as
        periodic). The power is divided by the window's mean square.
    detrend : {"linear", "constant", None}, default "linear"
        Remove a least-squares plane (a large-scale gradient, as in
        temperature, would otherwise leak power to every wavenumber), only the
        mean, or nothing.
    mean_dims : str or sequence of str, optional
        Dimensions to average the spectra over (e.g. ``"time"``).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Spectra over a new dimension ``wavelength`` (km), ordered from the
        largest scale to the smallest (decreasing wavelength, increasing
        ``wavenumber``, a second coordinate in cycles/km). Fields with missing
        values give NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> da = xr.DataArray(
    ...     rng.normal(size=(3, 32, 32)),
    ...     dims=("time", "latitude", "longitude"),
    ...     coords={"latitude": 48 - 0.05 * np.arange(32),
    ...             "longitude": 9 + 0.05 * np.arange(32)},
    ... )
    >>> spec = power_spectrum(da, mean_dims="time")
    >>> spec.dims, spec.sizes["wavelength"]
    (('wavelength',), 10)
    """
    lat, lon = _spatial_dims(field, dims)
    ny, nx = int(field.sizes[lat]), int(field.sizes[lon])
    if ny < 4 or nx < 4:
        raise ValueError(f"the grid is too small for a spectrum: {ny}×{nx} points, need 4×4")
    if detrend not in ("linear", "constant", None):
        raise ValueError(f"detrend must be 'linear', 'constant' or None, got {detrend!r}")
    dlat = abs(grid_step(field, lat))
    dlon = abs(grid_step(field, lon))
    mean_lat = float(np.mean(np.asarray(field[lat].values, dtype="float64")))
    dy = KM_PER_DEGREE * dlat
    dx = KM_PER_DEGREE * dlon * math.cos(math.radians(mean_lat))
    taper: np.ndarray | None = None
    if window is not None:
        from scipy.signal import get_window

        taper = np.outer(
            get_window(window, ny, fftbins=False), get_window(window, nx, fftbins=False)
        )
    _, centres, _ = _radial_bins(ny, nx, dy, dx)
    if centres.size == 0:
        raise ValueError(f"the grid ({ny}×{nx}) is too small for a spectrum")
    field = _single_chunk(field, [lat, lon])
    spec = xr.apply_ufunc(
        _spectrum_numpy,
        field,
        kwargs={"dy": dy, "dx": dx, "window": taper, "detrend": detrend},
        input_core_dims=[[lat, lon]],
        output_core_dims=[["wavelength"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"wavelength": centres.size}},
        keep_attrs=False,
    )
    spec = spec.assign_coords(
        wavelength=("wavelength", 1.0 / centres, {"units": "km", "long_name": "wavelength"}),
        wavenumber=("wavelength", centres, {"units": "km-1", "long_name": "wavenumber"}),
    )
    if mean_dims is not None:
        spec = spec.mean(_as_list(mean_dims))

    def units(source: xr.DataArray) -> dict[str, str]:
        u = source.attrs.get("units")
        return {
            "long_name": "power spectral density",
            "units": (f"({u})2 km" if " " in u else f"{u}2 km") if u else "km",
        }

    if isinstance(spec, xr.DataArray):
        assert isinstance(field, xr.DataArray)
        spec.attrs = units(field)
    else:
        assert isinstance(field, xr.Dataset)
        for name in spec.data_vars:
            spec[name].attrs = units(field[name])
    return spec


def spectral_ratio(
    prediction: XrObj,
    truth: XrObj,
    *,
    max_wavelength_km: float | None = None,
    member_dim: Hashable = "member",
    dim: Dims = None,
    dims: Sequence[Hashable] | None = None,
) -> XrObj:
    """Small-scale power of the prediction relative to the truth.

    Power spectra (:func:`power_spectrum`) of both are averaged over `dim`
    (and over `member_dim`, so an ensemble is judged by its members' mean
    spectrum, not by the smooth spectrum of its mean); the ratio
    ``P_prediction(k) / P_truth(k)`` is then averaged over the wavelengths
    ``<= max_wavelength_km``. 1 means the right amount of small-scale
    variability; below 1 too smooth (as bicubic interpolation); above 1 too noisy.

    Parameters
    ----------
    prediction, truth : xarray.DataArray or xarray.Dataset
        Fields on the same regular latitude/longitude grid.
    max_wavelength_km : float, optional
        Largest wavelength counted as small scale. Default
        :data:`DEFAULT_MAX_WAVELENGTH_KM`, about 55.6 km: two 0.25° grid
        cells, the shortest wave an ERA5-like input resolves, so the score
        covers the scales downscaling has to create.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Non-spatial dimensions to average the spectra over; default all of them.
    dims : pair of str, optional
        The ``(latitude, longitude)`` dimensions; found automatically by default.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Dimensionless ratio (dimensions not in `dim` are kept).

    Raises
    ------
    ValueError
        When the grid has no wavelength below `max_wavelength_km`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> da = xr.DataArray(
    ...     rng.normal(size=(32, 32)),
    ...     dims=("latitude", "longitude"),
    ...     coords={"latitude": 48 - 0.05 * np.arange(32),
    ...             "longitude": 9 + 0.05 * np.arange(32)},
    ... )
    >>> float(spectral_ratio(da, da))
    1.0
    """
    prediction, truth = _align(prediction, truth, member_dim)
    lat, lon = _spatial_dims(truth, dims)
    limit = DEFAULT_MAX_WAVELENGTH_KM if max_wavelength_km is None else float(max_wavelength_km)
    avg: list[Hashable]
    if dim is None:
        avg = [d for d in set(prediction.dims) | set(truth.dims) if d not in (lat, lon)]
    else:
        avg = _as_list(dim)
        if lat in avg or lon in avg:
            raise ValueError("dim lists the non-spatial dimensions to average the spectra over")
        if member_dim in prediction.dims:
            avg = [*avg, member_dim]
    sp = power_spectrum(prediction, dims=(lat, lon))
    st = power_spectrum(truth, dims=(lat, lon))
    sp = sp.mean([d for d in avg if d in sp.dims])
    st = st.mean([d for d in avg if d in st.dims])
    small = st["wavelength"] <= limit
    if not bool(small.any()):
        raise ValueError(
            f"no wavelength <= {limit:g} km on this grid (shortest "
            f"{float(st['wavelength'].min()):.4g} km); pass a larger max_wavelength_km"
        )
    ratio = (sp / st).where(small, drop=True).mean("wavelength")
    ratio = ratio.drop_vars(["wavelength", "wavenumber"], errors="ignore")
    return _set_attrs(ratio, truth, "spectral_ratio")


# --------------------------------------------------------------------------- score


def _score_one(
    prediction: xr.Dataset,
    truth: xr.Dataset,
    *,
    member_dim: Hashable,
    dim: Dims,
    max_wavelength_km: float | None,
) -> xr.Dataset:
    """All metrics of one model, concatenated along ``metric``."""
    prediction, truth = _align(prediction, truth, member_dim)
    dims = _reduce_dims(prediction, truth, dim, member_dim)
    ensemble = member_dim in prediction.dims
    point = prediction.mean([member_dim]) if ensemble else prediction
    results: dict[str, xr.Dataset] = {
        "rmse": rmse(point, truth, dims),
        "mae": mae(point, truth, dims),
        "mean_error": mean_error(point, truth, dims),
        "r2": r2(point, truth, dims),
        "crps": crps_ensemble(prediction, truth, member_dim=member_dim, dim=dims),
    }
    if ensemble and prediction.sizes[member_dim] > 1:
        results["spread_skill"] = spread_skill_ratio(
            prediction, truth, member_dim=member_dim, dim=dims
        )
    else:
        results["spread_skill"] = xr.full_like(results["rmse"], np.nan)
    lat: Hashable | None
    lon: Hashable | None
    try:
        lat, lon = find_latlon(truth)
    except GridError:
        lat = lon = None
    results["spectral_ratio"] = xr.full_like(results["rmse"], np.nan)
    if lat is not None and lat in dims and lon in dims:
        try:
            results["spectral_ratio"] = spectral_ratio(
                prediction,
                truth,
                max_wavelength_km=max_wavelength_km,
                member_dim=member_dim,
                dim=[d for d in dims if d not in (lat, lon)],
            )
        except (ValueError, GridError) as err:
            warnings.warn(f"spectral_ratio left NaN: {err}", RuntimeWarning, stacklevel=3)
    return xr.concat(
        [results[name] for name in SCORE_METRICS],
        dim="metric",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop",
    ).assign_coords(metric=list(SCORE_METRICS))


def score(
    prediction: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    *,
    baselines: Mapping[str, xr.Dataset | xr.DataArray] | None = None,
    member_dim: Hashable = "member",
    dim: Dims = None,
    max_wavelength_km: float | None = None,
) -> xr.Dataset:
    """Score a downscaling model and its baselines against the truth, metric by metric.

    Parameters
    ----------
    prediction : xarray.Dataset or xarray.DataArray
        The model's output: an ensemble (with `member_dim`) or a deterministic field.
    truth : xarray.Dataset or xarray.DataArray
        Verifying high-resolution field(s) on the same grid.
    baselines : mapping of str to xarray.Dataset or xarray.DataArray, optional
        Named reference predictions on the same grid, usually deterministic
        (e.g. ``{"bicubic": coarse.deepr.interpolate(truth)}``).
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions to reduce over; default all the truth has. Other dimensions
        are kept (e.g. ``dim=("latitude", "longitude")`` keeps ``time``).
    max_wavelength_km : float, optional
        Small-scale threshold of :func:`spectral_ratio`.

    Returns
    -------
    xarray.Dataset
        One variable per data variable of `truth` (a DataArray is named after
        its ``name``, or ``"value"``), each with dimensions
        ``("metric", "model", *kept)``:

        - ``metric``: ``rmse``, ``mae``, ``mean_error``, ``r2`` (of the ensemble
          mean), ``crps`` (for deterministic predictions their MAE),
          ``spread_skill`` (NaN for deterministic predictions) and
          ``spectral_ratio`` (NaN unless `dim` covers latitude and longitude);
        - ``model``: ``"xdeepr"`` then the baselines' names, in order.

        ``rmse``, ``mae``, ``mean_error`` and ``crps`` are in the data's units
        (the variable's ``units`` attribute); the others are dimensionless.
        Lazy when the inputs are dask-backed: call ``.compute()``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> coords = {"latitude": 48 - 0.05 * np.arange(16), "longitude": 9 + 0.05 * np.arange(16)}
    >>> truth = xr.DataArray(rng.normal(size=(16, 16)), dims=("latitude", "longitude"),
    ...                      coords=coords, name="t2m")
    >>> ens = truth + xr.DataArray(rng.normal(size=(4, 16, 16)),
    ...                            dims=("member", "latitude", "longitude"), coords=coords)
    >>> scores = score(ens, truth, baselines={"zero": xr.zeros_like(truth)})
    >>> scores["t2m"].dims
    ('metric', 'model')
    >>> scores["model"].values.tolist()
    ['xdeepr', 'zero']
    """
    baselines = dict(baselines or {})
    if MODEL_NAME in baselines:
        raise ValueError(f"{MODEL_NAME!r} names the model being scored; rename that baseline")

    def as_dataset(obj: xr.Dataset | xr.DataArray, role: str) -> xr.Dataset:
        if isinstance(obj, xr.Dataset):
            return obj
        if not isinstance(obj, xr.DataArray):
            raise TypeError(f"{role} must be an xarray Dataset or DataArray, got {type(obj)}")
        name = truth.name if isinstance(truth, xr.DataArray) and truth.name is not None else None
        return obj.to_dataset(name=name if name is not None else (obj.name or "value"))

    truth_ds = as_dataset(truth, "truth")
    names = list(truth_ds.data_vars)
    models = {MODEL_NAME: prediction, **baselines}
    per_model = []
    for label, model in models.items():
        model_ds = as_dataset(model, f"baseline {label!r}" if label != MODEL_NAME else "prediction")
        missing = [n for n in names if n not in model_ds.data_vars]
        if missing:
            raise ValueError(
                f"{label!r} lacks the variable(s) {missing} of the truth; it has "
                f"{list(model_ds.data_vars)}"
            )
        per_model.append(
            _score_one(
                model_ds[names],
                truth_ds,
                member_dim=member_dim,
                dim=dim,
                max_wavelength_km=max_wavelength_km,
            )
        )
    out = xr.concat(
        per_model,
        dim="model",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="drop",
    )
    out = out.assign_coords(model=list(models))
    for name in names:
        units = truth_ds[name].attrs.get("units")
        out[name].attrs = {"long_name": f"scores of {name}"}
        if units:
            out[name].attrs["units"] = units
        out[name] = out[name].transpose("metric", "model", ...)
    out["metric"].attrs = {
        "long_name": "metric",
        "description": "; ".join(f"{k}: {v[0]}" for k, v in _METRIC_INFO.items()),
    }
    out.attrs = {"title": "xdeepr skill scores", "member_dim": str(member_dim)}
    return out


#: How to pick the best value in a row of :func:`format_table`.
_BEST: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rmse": lambda v: v,
    "mae": lambda v: v,
    "crps": lambda v: v,
    "mean_error": np.abs,
    "r2": lambda v: -v,
    "spread_skill": lambda v: np.abs(v - 1.0),
    "spectral_ratio": lambda v: np.abs(np.log(v)),
}


def format_table(scores: xr.Dataset, *, digits: int = 4) -> str:
    """Render :func:`score` output as a plain-text table, one block per variable.

    Rows are metrics, columns models; the best value of each row is starred
    (lowest error, r2 highest, spread-skill and spectral ratio closest to 1).

    Parameters
    ----------
    scores : xarray.Dataset
        Output of :func:`score`, reduced to dimensions ``(metric, model)``.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When a variable has dimensions besides ``metric`` and ``model``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.Dataset(
    ...     {"t2m": (("metric", "model"), [[1.0, 2.0], [0.9, 0.5]], {"units": "K"})},
    ...     coords={"metric": ["rmse", "r2"], "model": ["xdeepr", "bicubic"]},
    ... )
    >>> print(format_table(s))
    t2m [K]
    metric  xdeepr   bicubic
    rmse         1*        2
    r2         0.9*      0.5
    """
    blocks = []
    for name, da in scores.data_vars.items():
        extra = [d for d in da.dims if d not in ("metric", "model")]
        if extra:
            raise ValueError(
                f"variable {name!r} has dimensions {extra} besides metric and model; "
                "reduce them first (e.g. scores.mean(...)) or score with dim=None"
            )
        da = da.transpose("metric", "model").compute()
        metrics = [str(m) for m in da["metric"].values]
        models = [str(m) for m in da["model"].values]
        values = np.asarray(da.values, dtype="float64")
        cells: list[list[str]] = []
        for i, metric in enumerate(metrics):
            row = values[i]
            key = _BEST.get(metric)
            best = -1
            if key is not None and np.isfinite(row).sum() > 1:
                with np.errstate(invalid="ignore", divide="ignore"):
                    ranked = np.where(np.isfinite(row), key(row), np.inf)
                if np.isfinite(ranked).any():
                    best = int(np.argmin(ranked))
            cells.append(
                [
                    ("nan" if not np.isfinite(v) else f"{v:.{digits}g}")
                    + ("*" if j == best else " ")
                    for j, v in enumerate(row)
                ]
            )
        w0 = max(len("metric"), *(len(m) for m in metrics))
        widths = [max(len(m) + 1, *(len(r[j]) for r in cells)) for j, m in enumerate(models)]
        units = da.attrs.get("units")
        lines = [f"{name} [{units}]" if units else str(name)]
        lines.append(
            "  ".join(
                ["metric".ljust(w0), *((m + " ").rjust(w) for m, w in zip(models, widths))]
            ).rstrip()
        )
        for metric, row_cells in zip(metrics, cells):
            lines.append(
                "  ".join(
                    [metric.ljust(w0), *(c.rjust(w) for c, w in zip(row_cells, widths))]
                ).rstrip()
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
