"""Plumbing shared by every metric: dimensions, alignment, masks, weights, attributes.

Nothing here scores anything. Each metric calls, in this order,
:func:`prepare` (:func:`align`: same grid, same names; :func:`reduce_dims`:
what ``dim`` means; :func:`resolve_weights`: ``None``, ``"area"`` or a
DataArray), its own numpy kernel or xarray arithmetic, :func:`weighted_mean`,
and :func:`set_attrs`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from ..errors import ConfigError, GridError, InputError
from ..grid import find_latlon, horizontal_dims

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)
Dims = Hashable | Iterable[Hashable] | None
#: What ``weights`` accepts: none, ``"area"`` (cos latitude) or a DataArray.
Weights = xr.DataArray | str | None

#: The ``weights`` attribute of :func:`xdeepr.metrics.score` for ``weights="area"``.
AREA_WEIGHTS_LABEL = "area (cos latitude)"


def _same_units(units: str | None) -> str | None:
    return units


def _dimensionless(units: str | None) -> str | None:
    return "1"


def _spectral_density(units: str | None) -> str | None:
    if not units:
        return "km"
    return f"({units})2 km" if " " in units else f"{units}2 km"


#: metric: (long_name, units of the result given the data's units; None = no units).
METRIC_INFO: dict[str, tuple[str, Callable[[str | None], str | None]]] = {
    "rmse": ("root-mean-square error", _same_units),
    "mae": ("mean absolute error", _same_units),
    "mean_error": ("mean error (forecast - observation)", _same_units),
    "r2": ("coefficient of determination", _dimensionless),
    "crps": ("continuous ranked probability score", _same_units),
    "spread_skill": ("spread-skill ratio", _dimensionless),
    "spectral_ratio": ("small-scale spectral power ratio (forecast / observation)", _dimensionless),
    "rank_histogram": ("rank histogram count", _dimensionless),
    "power_spectrum": ("power spectral density", _spectral_density),
}


def as_list(dim: Dims) -> list[Hashable]:
    """``dim`` as a list: ``None`` is empty, a single name a one-item list."""
    if dim is None:
        return []
    if isinstance(dim, str) or not isinstance(dim, Iterable):
        return [dim]
    return list(dim)


def reduce_dims(
    observations: xr.Dataset | xr.DataArray,
    forecasts: xr.Dataset | xr.DataArray,
    dim: Dims,
    member_dim: Hashable | None = None,
) -> list[Hashable]:
    """Dimensions to reduce over: `dim`, or all the two share but `member_dim`."""
    if dim is None:
        return [d for d in observations.dims if d in forecasts.dims and d != member_dim]
    dims = as_list(dim)
    known = set(forecasts.dims) | set(observations.dims)
    missing = [d for d in dims if d not in known]
    if missing:
        raise InputError(
            f"dim {missing} not found: the observations have dimensions "
            f"{list(observations.dims)} and the forecasts {list(forecasts.dims)}"
        )
    if member_dim is not None and member_dim in dims:
        raise InputError(
            f"dim must not contain the member dimension {member_dim!r}; ensemble scores "
            "reduce over it themselves"
        )
    return dims


def coord_tolerance(a: np.ndarray, b: np.ndarray) -> float:
    """How far two numeric coordinates may differ and still be one: 1e-6, a thousandth of
    the spacing, or the rounding of float32 values, whichever is largest.

    Examples
    --------
    >>> a = np.array([47.0, 47.05, 47.1])
    >>> coord_tolerance(a, a.astype("float32")) > 1e-6
    True
    """
    spacing = float(np.median(np.abs(np.diff(np.sort(a))))) if a.size > 1 else 0.0
    tol = max(1e-6, 1e-3 * spacing)
    if np.float32 in (a.dtype.type, b.dtype.type):
        scale = max(float(np.max(np.abs(a))) if a.size else 0.0, 1.0)
        tol = max(tol, 4.0 * float(np.finfo(np.float32).eps) * scale)
    return tol


def match_coords(reference: xr.Dataset | xr.DataArray, other: XrObj, what: str) -> XrObj:
    """Check `other` lies on `reference`'s coordinates; return it with `reference`'s values.

    Dimension coordinates present in both must have the same length and agree,
    numbers within :func:`coord_tolerance` (float32 against float64 passes), in
    either order (`other` is put in `reference`'s: an ascending latitude against a
    descending one); `other` then takes `reference`'s exact values, so that xarray's
    alignment keeps every point. `what` names the pair in errors, which name the
    coordinate and the largest difference.
    """
    try:
        spatial = set(horizontal_dims(reference))
    except GridError:
        spatial = set()
    updates: dict[Hashable, Any] = {}
    for name in reference.dims:
        if name not in other.dims:
            continue
        error = GridError if name in spatial else InputError
        if other.sizes[name] != reference.sizes[name]:
            raise error(
                f"{what} differ along coordinate {name!r}: {reference.sizes[name]} versus "
                f"{other.sizes[name]} points. Put them on the same grid and times first "
                "(e.g. ds.deepr.interpolate(observations), .sel(time=...))."
            )
        if name not in other.indexes or name not in reference.indexes:
            continue
        a = np.asarray(reference[name].values)
        b = np.asarray(other[name].values)
        numeric = np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)
        if numeric:
            a64, b64 = a.astype("float64"), b.astype("float64")
            tol = coord_tolerance(a, b)
            if a.size and not np.allclose(a64, b64, rtol=0.0, atol=tol):
                order = _same_points(a64, b64, tol)
                if order is None:
                    gap = np.abs(a64 - b64)
                    at = int(np.nanargmax(gap))
                    raise error(
                        f"{what} differ along coordinate {name!r}: largest difference "
                        f"{gap[at]:.6g} at position {at} ({a64[at]:.8g} versus "
                        f"{b64[at]:.8g}), more than the tolerance {tol:.3g}. Put them on "
                        "the same grid and times first (e.g. ds.deepr.interpolate(truth))."
                    )
                other = other.isel({name: order})
        elif not np.array_equal(a, b):
            bad = int(np.argmax(a != b))
            raise error(
                f"{what} differ along coordinate {name!r} (first difference at position "
                f"{bad}: {a[bad]!r} versus {b[bad]!r}). Put them on the same grid and times first."
            )
        if not np.array_equal(a, np.asarray(other[name].values)):
            updates[name] = reference[name]
    return other.assign_coords(updates) if updates else other


def _same_points(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray | None:
    """Positions in `b` that put its points in `a`'s order, if both hold the same points."""
    ia, ib = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    if not np.allclose(a[ia], b[ib], rtol=0.0, atol=tol):
        return None
    order = np.empty_like(ib)
    order[ia] = ib
    return order


def align(
    observations: XrObj, forecasts: XrObj, member_dim: Hashable | None = None
) -> tuple[XrObj, XrObj]:
    """Check observations and forecasts share a grid; return them with equal coordinates.

    Latitude/longitude found under other names in `forecasts` are renamed to
    the observations' names; see :func:`match_coords` for the rest.
    """
    if member_dim is not None and member_dim in observations.dims:
        raise InputError(
            f"the observations have the member dimension {member_dim!r}. Pass the "
            "observations first and the ensemble second, as xskillscore does: "
            "crps_ensemble(observations, forecasts)."
        )
    try:
        names_o = find_latlon(observations)
        names_f = find_latlon(forecasts)
    except GridError:
        pass
    else:
        rename = {f: o for f, o in zip(names_f, names_o) if f != o}
        if rename:
            forecasts = forecasts.rename(rename)
    forecasts = match_coords(observations, forecasts, "observations and forecasts")
    return observations, forecasts


def prepare(
    observations: XrObj,
    forecasts: XrObj,
    dim: Dims,
    weights: Weights,
    member_dim: Hashable | None = None,
) -> tuple[XrObj, XrObj, list[Hashable], xr.DataArray | None]:
    """:func:`align`, :func:`reduce_dims` and :func:`resolve_weights`, as every metric starts."""
    observations, forecasts = align(observations, forecasts, member_dim)
    dims = reduce_dims(observations, forecasts, dim, member_dim)
    return observations, forecasts, dims, resolve_weights(weights, observations, member_dim)


def mask_both(observations: XrObj, forecasts: XrObj) -> tuple[XrObj, XrObj]:
    """Keep only points valid in both (NaN elsewhere)."""
    return observations.where(forecasts.notnull()), forecasts.where(observations.notnull())


def require_member(ensemble: xr.Dataset | xr.DataArray, member_dim: Hashable) -> int:
    """Number of members along `member_dim`; an error naming the dims when it is absent."""
    if member_dim not in ensemble.dims:
        raise InputError(
            f"the forecasts have no member dimension {member_dim!r}; their dimensions are "
            f"{list(ensemble.dims)}. Pass member_dim=<name> or add the dimension "
            "(e.g. da.expand_dims(member=1))."
        )
    return int(ensemble.sizes[member_dim])


def single_chunk(obj: XrObj, dims: Sequence[Hashable]) -> XrObj:
    """Rechunk dask-backed `obj` to a single chunk along `dims` (core dims)."""
    if obj.chunks:
        return obj.chunk({d: -1 for d in dims if d in obj.dims})
    return obj


def area_weights(obj: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Area weights: cos(latitude) on a regular grid, cell areas on other grids.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Object with a latitude coordinate (found with :func:`xdeepr.grid.find_latlon`).

    Returns
    -------
    xarray.DataArray
        ``cos(latitude)``, along the latitude dimension, named ``"area_weights"``; on
        a projected or curvilinear grid the cell areas in m², ``(y, x)``
        (:func:`xdeepr.grid.cell_area`: pyproj's scale factors or the 2-D latitudes).
        The metrics divide by the sum of the weights of the valid points, so
        the weights need no normalisation.

    Raises
    ------
    GridError
        When no latitude coordinate is found.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [0.0, 60.0], "lon": [0.0, 1.0]})
    >>> area_weights(ds).values.round(3).tolist()
    [1.0, 0.5]
    """
    try:
        lat, _ = find_latlon(obj)
    except GridError:  # a projected or curvilinear grid: its cells' areas
        from ..grid import cell_area

        weights = cell_area(obj)
        weights.attrs = {"long_name": "area weights (cell area)", "units": "m2"}
        return weights.rename("area_weights")
    latitude = obj[lat].reset_coords(drop=True).astype("float64")
    weights = latitude.copy(data=np.cos(np.deg2rad(latitude.values)).clip(min=0.0))
    weights.attrs = {"long_name": "area weights (cos latitude)", "units": "1"}
    return weights.rename("area_weights")


def resolve_weights(
    weights: Weights,
    observations: xr.Dataset | xr.DataArray,
    member_dim: Hashable | None = None,
) -> xr.DataArray | None:
    """``None``, ``"area"`` or a DataArray → a DataArray on the observations' coordinates."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights != "area":
            raise ConfigError(
                f"weights must be None, 'area' (cos latitude) or a DataArray, got {weights!r}"
            )
        try:
            return area_weights(observations)
        except GridError as err:
            raise GridError(f"weights='area' needs a latitude coordinate: {err}") from None
    if not isinstance(weights, xr.DataArray):
        raise ConfigError(
            f"weights must be None, 'area' (cos latitude) or a DataArray, got {type(weights)}"
        )
    unknown = [d for d in weights.dims if d not in observations.dims]
    if member_dim is not None and member_dim in weights.dims:
        unknown.append(member_dim)
    if unknown:
        raise InputError(
            f"the weights have dimension(s) {unknown} the observations lack (or the member "
            f"dimension); the observations have {list(observations.dims)}"
        )
    if bool(weights.isnull().any()):
        raise InputError("the weights have missing values; give every point a weight (0 to skip)")
    return match_coords(observations, weights, "observations and weights")


def weights_label(weights: Weights, observations: xr.Dataset | xr.DataArray | None = None) -> str:
    """How the ``weights`` argument reads in a result's ``weights`` attribute.

    ``"area"`` reads as what :func:`area_weights` used on `observations`' grid: cos
    latitude on a regular grid, cell areas on a projected or curvilinear one.
    """
    if weights is None:
        return "none"
    if isinstance(weights, str):
        if observations is not None:
            try:
                find_latlon(observations)
            except GridError:
                return "area (cell area)"
        return AREA_WEIGHTS_LABEL
    return f"custom (DataArray over {', '.join(map(str, weights.dims))})"


def weighted_mean(
    x: XrObj, dims: Sequence[Hashable], weights: xr.DataArray | None, skipna: bool = True
) -> XrObj:
    """Mean of `x` over `dims`, weighted by `weights` when given.

    ``Σ w x / Σ w`` with both sums over the points of `x` that are valid: a
    NaN point drops out of the numerator and its weight out of the denominator
    (with ``skipna=False`` any NaN makes the mean NaN).
    """
    if weights is None:
        return x.mean(list(dims), skipna=skipna)
    return x.weighted(weights).mean(list(dims), skipna=skipna)


def set_attrs(
    result: XrObj,
    source: xr.Dataset | xr.DataArray,
    metric: str,
    keep_attrs: bool = False,
) -> XrObj:
    """Give each result variable the metric's long_name and units.

    The units follow from the source variable's: the data's units for errors,
    ``"1"`` for ratios. With `keep_attrs` the source's attributes are copied
    first (xskillscore's convention), the metric's long_name and units on top.
    """
    long_name, units_of = METRIC_INFO[metric]

    def attrs_for(var: xr.DataArray | None) -> dict[str, Any]:
        attrs: dict[str, Any] = dict(var.attrs) if keep_attrs and var is not None else {}
        attrs["long_name"] = long_name
        units = units_of(var.attrs.get("units") if var is not None else None)
        if units is None:
            attrs.pop("units", None)
        else:
            attrs["units"] = units
        return attrs

    def source_var(name: Hashable) -> xr.DataArray | None:
        if isinstance(source, xr.DataArray):
            return source
        return source[name] if name in source.data_vars else None

    if isinstance(result, xr.DataArray):
        result.attrs = attrs_for(source if isinstance(source, xr.DataArray) else None)
    else:
        for name in result.data_vars:
            result[name].attrs = attrs_for(source_var(name))
        result.attrs = dict(source.attrs) if keep_attrs else {}
    return result
