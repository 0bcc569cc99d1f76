"""The xarray side of a model: inputs validated, cropped and turned into conditions.

Plain functions of a :class:`~xdeepr.model.DownscalingModel` (what coverage an input
needs, the bicubic baseline, the condition channels, static covariates on another
grid), which the model's methods of the same names call; and the functions that
prepare static covariates and calendar features for training and inference.
Everything here stays above the tensor boundary: Datasets in, Datasets out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .._util import is_cftime
from ..errors import GridError, InputError

if TYPE_CHECKING:
    from .container import DownscalingModel

#: Marks a Dataset made by DownscalingModel.static_channels (a prepared target).
PREPARED = "xdeepr_static_channels"


def static_names(model: DownscalingModel) -> list[str]:
    """Names of the static channels, in channel order.

    Examples
    --------
    >>> static_names(model)  # doctest: +SKIP
    ['orog', 'lsm']
    """
    return [str(v) for v in model.static.data_vars]


def required_coverage(
    model: DownscalingModel, target: xr.Dataset | None = None
) -> dict[str, list[float]]:
    """Feature coverage needed to downscale onto the label grid or onto `target`.

    On the label grid it is the training coverage (so inputs are prepared exactly
    as in training). On another domain it is that domain's extent plus the
    training halo capped at two coarse cells per side, enough for the bicubic
    interpolation the condition is made of (the network itself only sees the
    hi-res grid).

    Examples
    --------
    >>> required_coverage(model)["longitude"]  # doctest: +SKIP
    [6.0, 13.75]
    """
    from ..grid import finest_grid, latlon_hull

    if target is None:
        cov = model.feature_grid["coverage"]
        return {"longitude": list(cov["longitude"]), "latitude": list(cov["latitude"])}
    for what, scaler in (("feature", model.feature_scaler), ("label", model.label_scaler)):
        if scaler.method != "domain-wise":
            raise InputError(
                f"target= needs a model trained with {what}_scaling='domain-wise'; this "
                f"one uses {scaler.method!r} statistics tied to its training grid"
            )
    (south, north), (west, span), _ = latlon_hull(finest_grid(target))  # any grid kind
    cap_lat = 2 * abs(model.feature_grid["lat_step"])
    cap_lon = 2 * abs(model.feature_grid["lon_step"])
    h = {
        k: min(v, cap_lon if k in ("west", "east") else cap_lat)
        for k, v in model.feature_grid["halo"].items()
    }
    return {
        "longitude": [float(west - h["west"]), float(west + span + h["east"])],
        "latitude": [float(north + h["north"]), float(south - h["south"])],
    }


def coarse_features(
    model: DownscalingModel, ds: xr.Dataset, target: xr.Dataset | None = None
) -> xr.Dataset:
    """Validate `ds` against what the model needs and crop it to the required coverage.

    Raises
    ------
    InputError
        Missing variables (all listed), no ``time`` coordinate, units that do not
        convert to the training units or undecoded packed data (variable, expected
        and found named), or an extra dimension larger than 1 (with the ``.isel``
        to use).
    GridError
        A grid step different from training (both given), or a coverage that does
        not contain what is needed (the edge named).
    TypeError
        A time coordinate that is neither datetime64 nor cftime.

    Examples
    --------
    >>> coarse = coarse_features(model, era5)  # doctest: +SKIP
    """
    from .. import grid
    from ..units import convert_units

    missing = [v for v in model.features if v not in ds.data_vars]
    if missing:
        raise InputError(
            f"the input lacks the variable(s) {missing} this model needs (it needs "
            f"{model.features}; the input has {list(map(str, ds.data_vars))}); name "
            f"the input variable to use with downscale(..., variables={{'<input name>': "
            f"{missing[0]!r}}})"
        )
    steps = grid.grid_spacing(ds)
    want = (model.feature_grid["lat_step"], model.feature_grid["lon_step"])
    if not np.allclose(np.abs(steps), np.abs(want), rtol=1e-3):
        raise GridError(
            f"the input grid step ({abs(steps[0]):g}° x {abs(steps[1]):g}°) differs from the "
            f"model's feature grid ({abs(want[0]):g}° x {abs(want[1]):g}°); regrid the input"
        )
    cov = required_coverage(model, target)
    lat, lon = grid.find_latlon(ds)
    box = xr.Dataset(
        coords={
            lat: np.array(cov["latitude"]),
            lon: np.array(cov["longitude"]),
        }
    )
    grid.check_inside(box, ds, inner_name="required feature", outer_name="input")
    _check_time(ds)
    ds = grid.squeeze_extra_dims(ds[model.features], "input")
    # units as trained: K/°C/°F and Pa/hPa convert, anything else is refused by name
    ds = convert_units(ds, {v: model.feature_scaler.units.get(v) for v in model.features})
    return grid.crop(ds, coverage=cov)


def feature_stats(model: DownscalingModel) -> dict[str, tuple[float, float]]:
    """Overall (mean, std) of each feature in training, from the feature scaler.

    The scaler's statistics may be per month, per pixel or per land class; the
    overall moments combine them (std² = mean of the variances + variance of the
    means), so the range check of downscaling is as wide as the data trained on.

    Examples
    --------
    >>> feature_stats(model)["t2m"]  # doctest: +SKIP
    (280.1, 7.3)
    """
    sc = model.feature_scaler
    out = {}
    for v in model.features:
        m = np.asarray(sc.mean[v], dtype="float64").ravel()
        sd = np.asarray(sc.std[v], dtype="float64").ravel()
        out[v] = (float(m.mean()), float(np.sqrt((sd**2).mean() + m.var())))
    return out


def baseline(
    model: DownscalingModel,
    features: xr.Dataset,
    target: xr.Dataset | None = None,
    method: str = "bicubic",
    *,
    validated: bool = False,
) -> xr.Dataset:
    """Interpolate the coarse label variables onto the label (or `target`) grid.

    ``validated=True`` says `features` already is :func:`coarse_features` output.

    Examples
    --------
    >>> bicubic = baseline(model, era5)  # doctest: +SKIP
    """
    from .. import grid

    coarse = features if validated else coarse_features(model, features, target)
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    return grid.interpolate(coarse[model.labels], tgt, method=method)


def condition(
    model: DownscalingModel,
    features: xr.Dataset,
    target: xr.Dataset | None = None,
    *,
    validated: bool = False,
) -> xr.DataArray:
    """Condition channels ``(time, channel, lat, lon)`` on the padded label grid.

    Coarse features are validated, cropped and normalised (``validated=True``: they
    already are :func:`coarse_features` output), interpolated onto the label grid by
    coordinate-aware bicubic interpolation, stacked with the static channels and
    padded to a multiple of ``2**(levels-1)``. Lazy on dask.

    Examples
    --------
    >>> condition(model, era5).dims  # doctest: +SKIP
    ('time', 'channel', 'latitude', 'longitude')
    """
    from .. import grid

    coarse = features if validated else coarse_features(model, features, target)
    coarse = model.feature_scaler.normalize(coarse)
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    hi = grid.interpolate(coarse, tgt, method="bicubic")
    if target is None:
        static = model.static
    elif target.attrs.get(PREPARED):
        static = target  # already the output of static_channels()
    else:
        static = static_channels(model, target)
    lat, lon = grid.horizontal_dims(hi)
    time = hi[model.features[0]].dims[0]
    chans = [hi[v].transpose(time, lat, lon) for v in model.features]
    chans += [static[v].broadcast_like(hi[model.features[0]]) for v in static_names(model)]
    cond = xr.concat(chans, dim="channel", coords="minimal", compat="override")
    cond = cond.assign_coords(channel=model.features + static_names(model))
    cond = cond.transpose(time, "channel", lat, lon).astype("float32")
    return grid.pad(cond, levels=model.levels, mode="reflect")


def static_channels(model: DownscalingModel, target: xr.Dataset) -> xr.Dataset:
    """Normalised static channels on `target`'s grid, read from `target`'s variables.

    Examples
    --------
    >>> chans = static_channels(model, other_domain)  # doctest: +SKIP
    """
    missing = [v for v in static_names(model) if v not in target.data_vars]
    if missing:
        raise InputError(
            f"target= lacks the static covariate(s) {missing} the model was trained with; "
            f"it must carry {static_names(model)}"
        )
    from ..grid import finest_grid

    grid_ = finest_grid(target)
    chans, _ = prepare_static(target[static_names(model)], grid_, model.static_stats)
    chans.attrs[PREPARED] = 1
    return chans


def calendar_features(time: xr.DataArray) -> np.ndarray:
    """``(n, 2)`` float32 ``[hour_of_day / 24, day_of_year_fraction]`` of each time stamp.

    Works for numpy datetime64 and cftime calendars (360_day, noleap, ...): the
    day-of-year fraction divides by that calendar's length of the year.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = xr.DataArray(pd.to_datetime(["2001-01-01T06", "2001-07-02T18"]), dims="time")
    >>> calendar_features(t)[:, 0].tolist()
    [0.25, 0.75]
    """
    dt = time.dt
    hour = np.asarray(dt.hour, dtype="float64") + np.asarray(dt.minute, dtype="float64") / 60
    doy = np.asarray(dt.dayofyear, dtype="float64")
    try:
        days = np.asarray(dt.days_in_year, dtype="float64")
    except (AttributeError, TypeError):  # pragma: no cover - old xarray
        days = np.full(doy.shape, 365.25)
    out = np.stack([hour / 24.0, (doy - 1 + hour / 24.0) / days], axis=-1)
    return np.mod(out, 1.0).astype("float32")


def _check_time(ds: xr.Dataset) -> None:
    if "time" not in ds.coords:
        raise InputError("the input has no 'time' coordinate; downscaling works per time step")
    t = ds["time"]
    if np.issubdtype(t.dtype, np.datetime64) or is_cftime(t):
        return
    raise TypeError(
        f"the input's 'time' coordinate has dtype {t.dtype}; it must be numpy datetime64 or "
        "cftime (decode times with xr.decode_cf or use_cftime=True)"
    )


def prepare_static(
    static: xr.Dataset,
    label_grid: xr.Dataset,
    stats: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[xr.Dataset, dict[str, tuple[float, float]]]:
    """Static covariates as normalised channels on `label_grid`.

    Each variable of `static` (any resolution, e.g. hi-res orography and a coarse
    land-sea mask) is interpolated onto the label grid (bicubic; the identity for a
    variable already on it) and standardised with `stats` (fitted when None).
    """
    from .. import grid

    lat, lon = grid.horizontal_dims(label_grid)
    out = {}
    fitted: dict[str, tuple[float, float]] = {}
    for name, da in static.data_vars.items():
        da = da.squeeze(drop=True)
        if (
            set(da.dims) == {lat, lon}
            and np.array_equal(da[lat], label_grid[lat])
            and (np.array_equal(da[lon], label_grid[lon]))
        ):
            hi = da
        else:
            hi = grid.interpolate(da, label_grid, method="bicubic")
        hi = hi.transpose(lat, lon).astype("float64")
        if stats is None:
            m, s = float(hi.mean()), float(hi.std())
            fitted[str(name)] = (m, s if s > 0 else 1.0)
        else:
            fitted[str(name)] = stats[str(name)]
        m, s = fitted[str(name)]
        if not np.isfinite(hi.values).all():
            raise InputError(f"static covariate {name!r} has NaN or Inf on the label grid")
        out[str(name)] = (
            ((hi - m) / s)
            .astype("float32")
            .drop_vars([c for c in hi.coords if c not in (lat, lon)])
        )
    return xr.Dataset(out, coords=label_grid.coords), fitted
