"""What precipitation users read: dry fraction, a threshold score, quantiles.

Precipitation is zero on most points and heavy-tailed on the rest, so CRPS and RMSE
alone do not say whether a downscaled ensemble rains in the right places and as
hard. These scores do, for any variable whose ``standard_name`` is zero-inflated
(:data:`xdeepr.transforms.ZERO_INFLATED`); :func:`~xdeepr.metrics.score` adds them
(:data:`PRECIP_METRICS`) to such variables, NaN for the others:

- :func:`dry_fraction`: the fraction of points (and members) below the dry
  threshold, 0.1 mm by default; ``dry_fraction_error`` is the forecast's minus the
  observations';
- :func:`brier_score`: the Brier score of exceeding 1 mm, the ensemble's probability
  being the fraction of its members above it (``brier_1mm``); :func:`hit_rate` the
  probability of detection;
- :func:`quantiles`: the 0.5, 0.9 and 0.99 quantiles of all values (members pooled);
  ``q50_error``... are the forecast's minus the observations'.

Thresholds are in mm of water (mm/h for a rate) and converted to the data's units
(``m``, ``kg m-2``, ``kg m-2 s-1``...: :func:`xdeepr.transforms.millimetre`); data in
units xdeepr does not know are taken as mm. Quantiles ignore `weights`.

Examples
--------
>>> import xarray as xr
>>> obs = xr.DataArray([0.0, 0.0, 2.0, 5.0], dims="x", attrs={"units": "mm"})
>>> ens = xr.DataArray([[0.0, 0.0], [0.5, 0.0], [1.5, 0.0], [4.0, 6.0]],
...                    dims=("x", "member"), attrs={"units": "mm"})
>>> float(dry_fraction(obs)), float(dry_fraction(ens))
(0.5, 0.5)
>>> float(brier_score(obs, ens))  # P(> 1 mm) = 0, 0, 0.5, 1 against 0, 0, 1, 1
0.0625
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..transforms import is_zero_inflated, millimetre
from ._core import Dims, Weights, as_list, prepare, resolve_weights, weighted_mean

__all__ = [
    "DRY_MM",
    "PRECIP_METRICS",
    "QUANTILES",
    "WET_MM",
    "brier_score",
    "dry_fraction",
    "hit_rate",
    "precipitation_scores",
    "precipitation_summary",
    "quantiles",
]

#: Dry threshold (mm): a point with less is dry.
DRY_MM = 0.1
#: Threshold of :func:`brier_score` and :func:`hit_rate` (mm).
WET_MM = 1.0
#: Quantiles compared by :func:`precipitation_scores`.
QUANTILES = (0.5, 0.9, 0.99)
#: Rows :func:`~xdeepr.metrics.score` adds for a precipitation-like variable.
PRECIP_METRICS = ("dry_fraction_error", "brier_1mm", "q50_error", "q90_error", "q99_error")
#: Meaning of each row (the ``metric`` coordinate's description).
PRECIP_INFO = {
    "dry_fraction_error": "fraction of dry points (< 0.1 mm), forecast - observation",
    "brier_1mm": "Brier score of exceeding 1 mm (ensemble probability: member fraction)",
    "q50_error": "median, forecast - observation (members pooled)",
    "q90_error": "0.9 quantile, forecast - observation (members pooled)",
    "q99_error": "0.99 quantile, forecast - observation (members pooled)",
}


def _in_units(da: xr.DataArray, mm: float | None, default_mm: float) -> float:
    """A threshold given in mm (None: `default_mm`) in the units of `da`."""
    one = millimetre(str(da.attrs.get("units", "mm"))) or 1.0
    return (default_mm if mm is None else mm) * one


def dry_fraction(
    x: xr.DataArray,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    *,
    threshold: float | None = None,
) -> xr.DataArray:
    """Fraction of the valid values of `x` below `threshold` (members pooled).

    Parameters
    ----------
    x : xarray.DataArray
        Precipitation, an ensemble (with `member_dim`) or a single field.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Dimensions to reduce besides the members; default all.
    weights : xarray.DataArray or "area", optional
    threshold : float, optional
        In mm (mm/h for a rate); default :data:`DRY_MM` (0.1 mm).

    Examples
    --------
    >>> import xarray as xr
    >>> float(dry_fraction(xr.DataArray([0.0, 0.05, 0.3, 2.0], dims="x")))
    0.5
    """
    thr = _in_units(x, threshold, DRY_MM)
    dims = [d for d in (as_list(dim) or list(x.dims)) if d != member_dim]
    if member_dim in x.dims:
        dims.append(member_dim)
    w = resolve_weights(weights, x.isel({member_dim: 0}) if member_dim in x.dims else x)
    dry = (x < thr).astype("float64").where(x.notnull())
    out = weighted_mean(dry, dims, w)
    out.attrs = {"long_name": f"fraction of values below {thr:g}", "units": "1"}
    return out


def _exceedance(fc: xr.DataArray, thr: float, member_dim: Hashable) -> xr.DataArray:
    above = (fc > thr).astype("float64").where(fc.notnull())
    return above.mean(member_dim) if member_dim in fc.dims else above


def brier_score(
    observations: xr.DataArray,
    forecasts: xr.DataArray,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
    *,
    threshold: float | None = None,
) -> xr.DataArray:
    """Brier score of exceeding `threshold`: mean of ``(p - o)²`` over `dim`.

    ``p`` is the fraction of members above the threshold (0 or 1 for a deterministic
    forecast), ``o`` 1 where the observation is. 0 is perfect; climatology scores
    ``f(1 - f)`` for an event of frequency ``f``.

    Parameters
    ----------
    threshold : float, optional
        In mm (mm/h for a rate); default :data:`WET_MM` (1 mm).

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([0.0, 3.0], dims="x")
    >>> float(brier_score(obs, xr.DataArray([[0.0, 2.0], [2.0, 2.0]], dims=("x", "member"))))
    0.125
    """
    observations, forecasts, dims, w = prepare(observations, forecasts, dim, weights, member_dim)
    thr = _in_units(observations, threshold, WET_MM)
    p = _exceedance(forecasts, thr, member_dim)
    o = (observations > thr).astype("float64").where(observations.notnull())
    out = weighted_mean((p - o) ** 2, dims, w)
    out.attrs = {"long_name": f"Brier score of exceeding {thr:g}", "units": "1"}
    return out


def hit_rate(
    observations: xr.DataArray,
    forecasts: xr.DataArray,
    member_dim: Hashable = "member",
    dim: Dims = None,
    *,
    threshold: float | None = None,
) -> xr.DataArray:
    """Probability of detection: mean forecast probability above `threshold` where observed.

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([0.0, 3.0, 4.0], dims="x")
    >>> float(hit_rate(obs, xr.DataArray([5.0, 2.0, 0.0], dims="x")))
    0.5
    """
    observations, forecasts, dims, _ = prepare(observations, forecasts, dim, None, member_dim)
    thr = _in_units(observations, threshold, WET_MM)
    p = _exceedance(forecasts, thr, member_dim)
    out = p.where(observations > thr).mean(dims)
    out.attrs = {"long_name": f"hit rate above {thr:g}", "units": "1"}
    return out


def quantiles(
    x: xr.DataArray,
    q: Sequence[float] = QUANTILES,
    member_dim: Hashable = "member",
    dim: Dims = None,
) -> xr.DataArray:
    """Quantiles `q` of the valid values of `x`, members pooled, along ``quantile``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> quantiles(xr.DataArray(np.arange(101.0), dims="x"), [0.5, 0.9]).values.tolist()
    [50.0, 90.0]
    """
    dims = [d for d in (as_list(dim) or list(x.dims)) if d != member_dim]
    if member_dim in x.dims:
        dims.append(member_dim)
    if x.chunks:
        x = x.chunk({d: -1 for d in dims})
    out = x.quantile(list(q), dim=dims, skipna=True)
    out.attrs = {"long_name": "quantiles", "units": x.attrs.get("units", "")}
    return out


def precipitation_scores(
    observations: xr.DataArray,
    forecasts: xr.DataArray,
    member_dim: Hashable = "member",
    dim: Dims = None,
    weights: Weights = None,
) -> xr.DataArray:
    """The :data:`PRECIP_METRICS` of `forecasts` along a ``metric`` dimension.

    ``dry_fraction_error`` and the quantile errors are forecast minus observation
    (0 is perfect), ``brier_1mm`` is :func:`brier_score` above 1 mm.

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([0.0, 0.0, 2.0, 5.0], dims="x", attrs={"units": "mm"})
    >>> s = precipitation_scores(obs, obs)
    >>> s.sel(metric="dry_fraction_error").item(), s.sel(metric="brier_1mm").item()
    (0.0, 0.0)
    """
    observations, forecasts, dims, _ = prepare(observations, forecasts, dim, None, member_dim)
    obs_masked = observations.where(
        forecasts.isel({member_dim: 0}, missing_dims="ignore").notnull()
    )
    rows = [
        dry_fraction(forecasts, member_dim, dims, weights)
        - dry_fraction(obs_masked, member_dim, dims, weights),
        brier_score(observations, forecasts, member_dim, dims, weights),
    ]
    qf = quantiles(forecasts, QUANTILES, member_dim, dims)
    qo = quantiles(obs_masked, QUANTILES, member_dim, dims)
    rows += [(qf - qo).sel(quantile=q, drop=True) for q in QUANTILES]
    out = xr.concat(rows, dim="metric", coords="minimal", compat="override")
    return out.assign_coords(metric=list(PRECIP_METRICS))


def precipitation_summary(
    observations: xr.DataArray,
    forecasts: Mapping[str, xr.DataArray],
    member_dim: Hashable = "member",
) -> xr.DataArray:
    """Truth and each forecast side by side: minimum, dry fraction, P(> 1 mm), quantiles.

    A ``(metric, model)`` table (``model``: ``"truth"`` then the names of `forecasts`)
    of statistics over all values, members pooled; print it with
    :func:`~xdeepr.metrics.format_table`.

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([0.0, 0.0, 2.0, 5.0], dims="x", attrs={"units": "mm"})
    >>> s = precipitation_summary(obs, {"bicubic": obs - 0.5})
    >>> s.sel(metric="min").values.tolist()
    [0.0, -0.5]
    """
    cols: dict[str, xr.DataArray] = {"truth": observations, **forecasts}
    stats: dict[str, list[Any]] = {}
    for name, da in cols.items():
        thr = _in_units(observations, WET_MM, WET_MM)
        wet = (da > thr).astype("float64").where(da.notnull()).mean()
        qs = quantiles(da, QUANTILES, member_dim)
        stats[name] = [float(da.min()), float(dry_fraction(da, member_dim)), float(wet)]
        stats[name] += [float(v) for v in np.asarray(qs.values)]
    metrics = [
        "min",
        "dry_fraction",
        "wet_fraction_1mm",
        *(f"q{round(q * 100)}" for q in QUANTILES),
    ]
    values = np.array([stats[n] for n in cols]).T
    return xr.DataArray(
        values,
        dims=("metric", "model"),
        coords={"metric": metrics, "model": list(cols)},
        attrs={"units": observations.attrs.get("units", ""), "long_name": "precipitation summary"},
    )


def is_precipitation(da: xr.DataArray) -> bool:
    """Whether `da` is a zero-inflated field by its ``standard_name`` (gets these scores).

    Examples
    --------
    >>> import xarray as xr
    >>> is_precipitation(xr.DataArray(0.0, attrs={"standard_name": "precipitation_amount"}))
    True
    """
    return is_zero_inflated(da.attrs)


def precipitation_rows(
    observations: xr.Dataset,
    forecasts: xr.Dataset,
    member_dim: Hashable,
    dims: Sequence[Hashable],
    weights: xr.DataArray | None,
    like: xr.Dataset,
) -> dict[str, xr.Dataset]:
    """:data:`PRECIP_METRICS` rows of :func:`~xdeepr.metrics.score`, NaN where not precipitation.

    `like` is one of score's rows (the shape every row has); a variable is scored
    when :func:`is_precipitation` says so of the observations'.
    """
    rows = {m: xr.full_like(like, np.nan) for m in PRECIP_METRICS}
    for name in observations.data_vars:
        if not is_precipitation(observations[name]):
            continue
        fc = forecasts[name]
        if member_dim not in fc.dims:
            fc = fc.expand_dims({member_dim: 1})
        obs = observations[name]
        s = precipitation_scores(obs, fc, member_dim, list(dims), weights)
        for m in PRECIP_METRICS:
            rows[m][name] = s.sel(metric=m, drop=True).broadcast_like(like[name])
    return rows
