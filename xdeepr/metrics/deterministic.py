"""Deterministic scores (DeepR's set): RMSE, MAE, mean error and R².

Each takes ``(observations, forecasts, dim=None, weights=None, skipna=True,
keep_attrs=False)``, xskillscore's names and order. Dimensions of `forecasts`
absent from `observations` (such as ``member``) are kept: the score of each
member.
"""

from __future__ import annotations

from ._core import (
    Dims,
    Weights,
    XrObj,
    mask_both,
    prepare,
    set_attrs,
    weighted_mean,
)

__all__ = ["mae", "mean_error", "r2", "rmse"]


def rmse(
    observations: XrObj,
    forecasts: XrObj,
    dim: Dims = None,
    weights: Weights = None,
    skipna: bool = True,
    keep_attrs: bool = False,
) -> XrObj:
    """Root-mean-square error, ``sqrt(mean((forecasts - observations)**2))``.

    Parameters
    ----------
    observations, forecasts : xarray.DataArray or xarray.Dataset
        Fields on the same grid (a Dataset is scored variable by variable).
        Dimensions of `forecasts` absent from `observations` (such as
        ``member``) are kept: the score of each member.
    dim : str or sequence of str, optional
        Dimensions to reduce over; default all dimensions the two share.
    weights : xarray.DataArray or "area", optional
        Weights of the mean over `dim`: a DataArray on (some of) the
        observations' dimensions, or ``"area"`` for cos-latitude weights
        (:func:`xdeepr.metrics.area_weights`). The mean divides by the sum of
        the weights of the points valid in both inputs.
    skipna : bool, default True
        Leave out the points missing in either input. xskillscore's default
        is False; here missing points (a land-sea mask, a station gap) are
        the rule, so they are skipped unless this is False, which makes any
        NaN give NaN.
    keep_attrs : bool, default False
        Copy the observations' attributes to the result. Either way the result
        carries the metric's ``long_name`` and ``units``.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The score, in the units of the data.

    Raises
    ------
    InputError
        When the times or other coordinates of the inputs differ (a
        :class:`~xdeepr.errors.GridError` for latitude and longitude).

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(rmse(obs, obs + 2.0))
    2.0
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights)
    out = weighted_mean((forecasts - observations) ** 2, dims, w, skipna) ** 0.5
    return set_attrs(out, observations, "rmse", keep_attrs)


def mae(
    observations: XrObj,
    forecasts: XrObj,
    dim: Dims = None,
    weights: Weights = None,
    skipna: bool = True,
    keep_attrs: bool = False,
) -> XrObj:
    """Mean absolute error, ``mean(|forecasts - observations|)``.

    Parameters and return value as in :func:`rmse`.

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(mae(obs, obs + xr.DataArray([1.0, -1.0, 4.0], dims="x")))
    2.0
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights)
    out = weighted_mean(abs(forecasts - observations), dims, w, skipna)
    return set_attrs(out, observations, "mae", keep_attrs)


def mean_error(
    observations: XrObj,
    forecasts: XrObj,
    dim: Dims = None,
    weights: Weights = None,
    skipna: bool = True,
    keep_attrs: bool = False,
) -> XrObj:
    """Mean error (bias), ``mean(forecasts - observations)``: positive when too high.

    xskillscore's ``me(a, b)`` is ``mean(a - b)``, so ``me(observations,
    forecasts)`` has the opposite sign; this one keeps the sign of a bias.
    Parameters and return value as in :func:`rmse`.

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(mean_error(obs, obs - 0.5))
    -0.5
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights)
    out = weighted_mean(forecasts - observations, dims, w, skipna)
    return set_attrs(out, observations, "mean_error", keep_attrs)


def r2(
    observations: XrObj,
    forecasts: XrObj,
    dim: Dims = None,
    weights: Weights = None,
    skipna: bool = True,
    keep_attrs: bool = False,
) -> XrObj:
    """Coefficient of determination, ``1 - SSE / SST``.

    ``SSE = Σ w (forecasts - observations)²`` and ``SST = Σ w (observations -
    mean(observations))²``, the observations' (weighted) mean and both sums
    taken over `dim`, on the points valid in both. 1 is perfect, 0 is no
    better than the observations' mean over `dim`, and it is unbounded below.

    Parameters and return value as in :func:`rmse` (dimensionless).

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([1.0, 2.0, 3.0], dims="x")
    >>> float(r2(obs, xr.DataArray([1.0, 2.0, 4.0], dims="x")))
    0.5
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights)
    obs_m, forecasts = mask_both(observations, forecasts)
    sse = weighted_mean((forecasts - obs_m) ** 2, dims, w, skipna)
    sst = weighted_mean((obs_m - weighted_mean(obs_m, dims, w, skipna)) ** 2, dims, w, skipna)
    out = 1.0 - sse / sst
    return set_attrs(out, observations, "r2", keep_attrs)
