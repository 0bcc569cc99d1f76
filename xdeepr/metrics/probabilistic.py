"""Probabilistic scores of ensembles: CRPS, spread-skill ratio, rank histogram.

Each takes ``(observations, forecasts, member_dim="member", dim=None,
weights=None, keep_attrs=False)``, xskillscore's names and order; options of
its own (``fair``, ``seed``) follow as keywords. A point metric is a numpy
kernel over the member axis, wrapped once with :func:`xarray.apply_ufunc`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, InputError
from ._core import (
    Dims,
    Weights,
    XrObj,
    mask_both,
    prepare,
    require_member,
    set_attrs,
    single_chunk,
    weighted_mean,
)
from .deterministic import mae

__all__ = ["CALIBRATED_SPREAD_SKILL", "crps_ensemble", "rank_histogram", "spread_skill_ratio"]

#: Spread-skill ratios counted as calibrated, everywhere xdeepr judges calibration: the
#: selection of the weights in training, its calibration warning, the docs.
CALIBRATED_SPREAD_SKILL = (0.9, 1.1)


def _crps_numpy(observations: np.ndarray, forecasts: np.ndarray, fair: bool) -> np.ndarray:
    """CRPS of ensembles (members on the last axis of `forecasts`) against observations.

    ``CRPS = E|X - y| - ½ E|X - X'|``, the second term from the sorted members
    ``x_(1) <= ... <= x_(m)``: ``Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - m - 1) x_(i)``.
    Standard: divide that double sum by ``m²``; fair: by ``m (m - 1)``.
    NaN members are ignored; a NaN observation gives NaN.
    """
    x = np.sort(np.asarray(forecasts, dtype="float64"), axis=-1)  # NaN sort last
    y = np.asarray(observations, dtype="float64")[..., None]
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


def _over_members(
    kernel: Callable[..., np.ndarray],
    observations: XrObj,
    forecasts: XrObj,
    member_dim: Hashable,
    **kwargs: Any,
) -> XrObj:
    """``kernel(observations, forecasts, **kwargs)`` per point, members on the last axis.

    The one :func:`xarray.apply_ufunc` of this module: lazy on dask, the
    member dimension gathered into one chunk first.
    """
    return xr.apply_ufunc(
        kernel,
        observations,
        single_chunk(forecasts, [member_dim]),
        kwargs=kwargs,
        input_core_dims=[[], [member_dim]],
        dask="parallelized",
        output_dtypes=[np.float64],
    )


def crps_ensemble(
    observations: XrObj,
    forecasts: XrObj,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    keep_attrs: bool = False,
    *,
    fair: bool = False,
) -> XrObj:
    """Continuous ranked probability score of an ensemble, averaged over `dim`.

    ``CRPS = E|X - y| - ½ E|X - X'|`` with ``X, X'`` drawn from the ensemble's
    empirical distribution and ``y`` the observation. The default (standard)
    estimator equals :func:`properscoring.crps_ensemble` and xskillscore's;
    ``fair=True`` uses ``m (m - 1)`` instead of ``m²`` pairs in the second
    term (Ferro 2014), an unbiased estimate of the CRPS of the distribution the
    members are drawn from, which does not favour larger ensembles. Computed in
    O(m log m) per point by sorting the members. NaN members are ignored; points
    whose observation is missing are left out of the mean.

    A deterministic forecast (no `member_dim` dimension) is scored as a
    one-member ensemble: its CRPS is its mean absolute error (:func:`mae`).

    Parameters
    ----------
    observations : xarray.DataArray or xarray.Dataset
        Verifying field, without `member_dim`.
    forecasts : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim` on the same grid, or a
        deterministic one.
    member_dim : str, default "member"
        Name of the ensemble dimension.
    dim : str or sequence of str, optional
        Dimensions to average over; default all shared but `member_dim`.
    weights : xarray.DataArray or "area", optional
        Weights of the mean over `dim` (see :func:`rmse`).
    keep_attrs : bool, default False
        Copy the observations' attributes to the result.
    fair : bool, default False
        Use the fair (unbiased, finite-ensemble-adjusted) estimator.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The mean CRPS, in the units of the data (lower is better).

    Raises
    ------
    InputError
        When the observations have `member_dim` (arguments in the old order?)
        or the coordinates of the inputs differ.

    Examples
    --------
    >>> import xarray as xr
    >>> ens = xr.DataArray([[0.0, 1.0, 2.0]], dims=("x", "member"))
    >>> obs = xr.DataArray([1.0], dims="x")
    >>> round(float(crps_ensemble(obs, ens)), 4)  # 2/3 - 4/9
    0.2222
    >>> round(float(crps_ensemble(obs, ens, fair=True)), 4)  # 2/3 - 4/6
    0.0
    """
    if member_dim not in forecasts.dims and member_dim not in observations.dims:
        out = mae(observations, forecasts, dim=dim, weights=weights)
        return set_attrs(out, observations, "crps", keep_attrs)
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights, member_dim)
    point = _over_members(_crps_numpy, observations, forecasts, member_dim, fair=fair)
    out = weighted_mean(point, dims, w)
    return set_attrs(out, observations, "crps", keep_attrs)


ObservationError = float | Mapping[Any, float]


def observation_variance(error: ObservationError, like: XrObj) -> float | xr.Dataset:
    """The variance of the observation error: one number, or one per variable of `like`.

    `error` is a standard deviation in the data's units (one for all variables, or a
    mapping from variable name to one); it must be finite and at least 0.

    Examples
    --------
    >>> import xarray as xr
    >>> observation_variance(0.3, xr.DataArray([1.0], name="t2m"))  # doctest: +ELLIPSIS
    0.09...
    >>> ds = xr.Dataset({"t2m": ("x", [1.0]), "msl": ("x", [1.0])})
    >>> observation_variance({"t2m": 0.5, "msl": 0.0}, ds)["t2m"].item()
    0.25
    """

    def sigma(value: Any, name: Hashable | None) -> float:
        where = f" for {name!r}" if name is not None else ""
        ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        if not ok or not np.isfinite(value) or value < 0:
            raise ConfigError(
                f"observation_error{where} must be a finite standard deviation >= 0 in the "
                f"data's units (e.g. 0.3 for stations of 0.3 K error), got {value!r}"
            )
        return float(value)

    if not isinstance(error, Mapping):
        return sigma(error, None) ** 2
    names = list(like.data_vars) if isinstance(like, xr.Dataset) else [like.name]
    missing = [n for n in names if n not in error]
    if missing:
        hint = " (name the DataArray, or give one number)" if names == [None] else ""
        raise ConfigError(
            f"observation_error gives no value for the variable(s) {missing}; give one per "
            f"variable ({names}) or one number for all{hint}"
        )
    if not isinstance(like, xr.Dataset):
        return sigma(error[names[0]], names[0]) ** 2
    return xr.Dataset({n: sigma(error[n], n) ** 2 for n in names})


def spread_skill_ratio(
    observations: XrObj,
    forecasts: XrObj,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    keep_attrs: bool = False,
    *,
    observation_error: ObservationError | None = None,
) -> XrObj:
    """Spread-skill ratio: ensemble spread over the error of the ensemble mean.

    ``ratio = sqrt((m + 1) / m * mean(var)) / rmse(ensemble mean)``, with
    ``var`` the members' variance (``ddof=1``) and both means over `dim`
    (weighted alike). For an ensemble whose members and observation are draws
    of the same distribution, the mean squared error of the m-member mean is
    ``(1 + 1/m)`` times the variance; the ``(m + 1)/m`` factor corrects for
    that, so a calibrated ensemble scores 1 whatever its size. Below 1:
    under-dispersive (overconfident); above 1: over-dispersive. xdeepr counts
    ratios within :data:`CALIBRATED_SPREAD_SKILL` (0.9 to 1.1) as calibrated.

    Observations with an error of their own (stations: instrument and
    representativeness error) add its variance to the mean's squared error, so
    even a perfect ensemble scores below 1 against them. With
    ``observation_error=sigma`` the spread becomes
    ``sqrt((m + 1) / m * mean(var) + sigma**2)``, and a calibrated ensemble
    scores 1 again (the observation-error-aware ratio, as in Saetra et al. 2004,
    "Effects of observation errors on the statistics for ensemble spread and
    reliability", Mon. Wea. Rev. 132).

    Parameters
    ----------
    observations : xarray.DataArray or xarray.Dataset
        Verifying field, without `member_dim`.
    forecasts : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim` (at least 2 members).
    member_dim, dim, weights, keep_attrs
        As in :func:`crps_ensemble`.
    observation_error : float or mapping of str to float, optional
        Standard deviation of the observations' error, in the data's units (one
        for all variables or one per variable); default none (a gridded truth).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Dimensionless ratio.

    Raises
    ------
    InputError
        When `member_dim` is missing or has fewer than two members.
    ConfigError
        When `observation_error` is negative, not finite, not a number, or a mapping
        that lacks a variable.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> ens = xr.DataArray(rng.normal(size=(20000, 10)), dims=("x", "member"))
    >>> obs = xr.DataArray(rng.normal(size=20000), dims="x")
    >>> round(float(spread_skill_ratio(obs, ens)), 1)
    1.0
    >>> noisy = obs + rng.normal(scale=0.5, size=20000)  # observations with 0.5 error
    >>> round(float(spread_skill_ratio(noisy, ens)), 2)  # looks overconfident
    0.9
    >>> round(float(spread_skill_ratio(noisy, ens, observation_error=0.5)), 1)
    1.0
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights, member_dim)
    m = require_member(forecasts, member_dim)
    if m < 2:
        raise InputError(
            f"the spread-skill ratio needs at least 2 members along {member_dim!r}, got {m}"
        )
    mean = forecasts.mean([member_dim])
    var = forecasts.var([member_dim], ddof=1)
    obs_m, mean = mask_both(observations, mean)
    var = var.where(mean.notnull())
    spread2 = (m + 1) / m * weighted_mean(var, dims, w)
    if observation_error is not None:
        spread2 = spread2 + observation_variance(observation_error, observations)
    spread = spread2**0.5
    skill = weighted_mean((mean - obs_m) ** 2, dims, w) ** 0.5
    out = spread / skill
    return set_attrs(out, observations, "spread_skill", keep_attrs)


def _ranks_numpy(observations: np.ndarray, forecasts: np.ndarray, seed: int) -> np.ndarray:
    """Rank of each observation among its members (last axis), ties broken at random."""
    x = np.asarray(forecasts, dtype="float64")
    y = np.asarray(observations, dtype="float64")[..., None]
    below = (x < y).sum(axis=-1)
    ties = (x == y).sum(axis=-1)
    rng = np.random.default_rng(seed)
    rank = (below + rng.integers(0, ties + 1)).astype("float64")
    invalid = np.isnan(x).any(axis=-1) | np.isnan(y[..., 0])
    return np.where(invalid, np.nan, rank)


def rank_histogram(
    observations: XrObj,
    forecasts: XrObj,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    keep_attrs: bool = False,
    *,
    seed: int = 0,
) -> XrObj:
    """Rank (Talagrand) histogram: how often the observation falls at each rank.

    The rank of a case is the number of members below the observation, 0..m.
    Ties (members equal to the observation) are broken uniformly at random
    with a generator seeded by `seed` (drawn per dask chunk for dask-backed
    input). Cases where the observation or any member is missing are left out.

    A calibrated ensemble gives a flat histogram; a U shape means
    under-dispersion, a dome over-dispersion, a slope a bias.

    Parameters
    ----------
    observations : xarray.DataArray or xarray.Dataset
        Verifying field, without `member_dim`.
    forecasts : xarray.DataArray or xarray.Dataset
        Ensemble forecast with dimension `member_dim`.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions whose cases are counted together; default all shared but `member_dim`.
    weights : xarray.DataArray or "area", optional
        Count each case with its weight: the histogram is then the weighted
        frequency of each rank times the number of valid cases, so it sums to
        that number as the plain counts do (and equals them for equal weights).
    keep_attrs : bool, default False
        Copy the observations' attributes to the result.
    seed : int, default 0
        Seed of the tie-breaking generator.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Counts (integers; floats when weighted) over a new dimension ``rank``
        (0..m), plus the dimensions not in `dim`. They sum to the number of
        valid cases.

    Examples
    --------
    >>> import xarray as xr
    >>> ens = xr.DataArray([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], dims=("x", "member"))
    >>> obs = xr.DataArray([-1.0, 0.5, 2.0], dims="x")
    >>> rank_histogram(obs, ens).values.tolist()
    [1, 1, 1]
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights, member_dim)
    m = require_member(forecasts, member_dim)
    ranks = _over_members(_ranks_numpy, observations, forecasts, member_dim, seed=seed)
    levels = xr.DataArray(np.arange(m + 1), dims="rank", name="rank")
    valid = ranks.notnull()
    if w is None:
        counts = (ranks == levels).sum(dims).astype("int64")
    else:
        frequency = weighted_mean((ranks == levels).where(valid), dims, w)
        counts = frequency * valid.sum(dims)
    counts = counts.assign_coords(rank=levels)
    return set_attrs(counts, observations, "rank_histogram", keep_attrs)
