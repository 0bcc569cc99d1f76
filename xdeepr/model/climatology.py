"""The residual climatology: the training period's mean of label − bicubic, by calendar.

:func:`xdeepr.train` stores it in the model; "bicubic + climatology" is the honest
baseline of ``score(..., baseline="climatology")``: it already knows every fixed
pattern (lapse rate on the orography, lake and land contrasts, their seasonal and
diurnal cycles) that bicubic interpolation misses, so a model that only learned
those patterns does not beat it.

Layout: one variable per label, dims ``(month, hour, lat, lon)`` on the label grid;
``month`` is 1..12, ``hour`` the hours of day present in the training times (sub-daily
data) followed by ``-1``, the mean over those hours (used for a month's hour that
training never saw, and the only entry for daily data). A month that training never
saw takes the mean over all training times.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2001-01-01", periods=8, freq="12h")
>>> r = xr.Dataset({"t2m": (("time", "lat", "lon"), np.arange(8.0).reshape(8, 1, 1) % 2)},
...                coords={"time": t, "lat": [0.0], "lon": [0.0]})
>>> clim = fit_climatology(r)
>>> clim.hour.values.tolist()
[0, 12, -1]
>>> climatology_at(clim, t[:2])["t2m"].values.ravel().tolist()
[0.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["add_climatology", "climatology_at", "fit_climatology"]


def _hours(time: xr.DataArray) -> np.ndarray:
    return np.asarray(time.dt.hour.values, dtype="int64")


def _months(time: xr.DataArray) -> np.ndarray:
    return np.asarray(time.dt.month.values, dtype="int64")


def fit_climatology(residual: xr.Dataset) -> xr.Dataset:
    """Mean of `residual` (time, lat, lon) by month and hour of day, gaps filled.

    Parameters
    ----------
    residual : xarray.Dataset
        Label minus bicubic interpolation over the training times (numpy or dask;
        computed once here).

    Returns
    -------
    xarray.Dataset
        ``(month, hour, lat, lon)`` per variable, float32; see the module's docstring.
    """
    time = residual["time"]
    hours = np.unique(_hours(time))
    by_hour = hours.size > 1
    key = _months(time) * 100 + (_hours(time) if by_hour else 0)
    keyed = residual.assign_coords(clim_key=("time", key))
    means = keyed.groupby("clim_key").mean("time")
    overall = residual.mean("time")
    import dask

    means, overall = dask.compute(means, overall)
    hour_axis = [*hours.tolist(), -1] if by_hour else [-1]
    out = {}
    for name, da in residual.data_vars.items():
        spatial = [d for d in da.dims if d != "time"]
        shape = (12, len(hour_axis), *(da.sizes[d] for d in spatial))
        values = np.full(shape, np.nan)
        group = means[name].transpose("clim_key", *spatial)
        for k, v in zip(group["clim_key"].values.tolist(), group.values):
            m, h = divmod(int(k), 100)
            values[m - 1, hour_axis.index(h) if by_hour else 0] = v
        if by_hour:  # the month's mean over its hours, then its missing hours
            with np.errstate(invalid="ignore"), _quiet():
                values[:, -1] = np.nanmean(values[:, :-1], axis=1)
            gaps = np.isnan(values[:, :-1])
            values[:, :-1] = np.where(gaps, values[:, -1:], values[:, :-1])
        months_missing = np.isnan(values).all(axis=tuple(range(1, values.ndim)))
        values[months_missing] = overall[name].transpose(*spatial).values
        out[str(name)] = (
            ("month", "hour", *spatial),
            values.astype("float32"),
            {"units": da.attrs.get("units", ""), "long_name": f"mean {name} residual"},
        )
    coords: dict[str, Any] = {"month": np.arange(1, 13), "hour": np.asarray(hour_axis)}
    for d in residual.dims:
        if d != "time" and d in residual.coords:
            coords[str(d)] = residual[d].variable
    return xr.Dataset(out, coords=coords, attrs={"by_hour": int(by_hour)})


class _quiet:
    """Silence numpy's "mean of empty slice" for months training never saw."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


def climatology_at(climatology: xr.Dataset, times: Any) -> xr.Dataset:
    """The stored climatology at each of `times`: ``(time, lat, lon)`` per variable.

    The hour of day is matched exactly when the climatology has it, else the month's
    mean over hours is used.

    Examples
    --------
    >>> clim = fit_climatology(r)  # doctest: +SKIP
    >>> climatology_at(clim, ds.time)  # doctest: +SKIP
    """
    time = times if isinstance(times, xr.DataArray) else xr.DataArray(times, dims="time")
    time = time.rename("time") if time.name != "time" else time
    hour_axis = climatology["hour"].values.tolist()
    hours = _hours(time)
    hi = np.array(
        [hour_axis.index(h) if h in hour_axis[:-1] else len(hour_axis) - 1 for h in hours.tolist()]
    )
    mi = _months(time) - 1
    out = climatology.isel(
        month=xr.DataArray(mi, dims="time"), hour=xr.DataArray(hi, dims="time")
    ).drop_vars(["month", "hour"])
    out = out.assign_coords(time=time.variable if "time" in time.dims else time.values)
    out.attrs = {}
    return out


def add_climatology(climatology: xr.Dataset, bicubic: xr.Dataset) -> xr.Dataset:
    """``bicubic`` + the climatology at its times: the "climatology" baseline of ``score``.

    `bicubic` is the coarse input interpolated onto the label grid (any orientation
    and coordinate names); the climatology is matched to it by coordinate values.

    Raises
    ------
    InputError
        When `bicubic`'s grid is not the climatology's (the label grid).

    Examples
    --------
    >>> add_climatology(model.climatology, era5.deepr.interpolate(model))  # doctest: +SKIP
    """
    from ..errors import InputError
    from ..grid import horizontal_dims

    clat, clon = horizontal_dims(climatology)
    blat, blon = horizontal_dims(bicubic)
    clim = climatology_at(climatology, bicubic["time"])
    try:
        clim = clim.rename({clat: blat, clon: blon}) if (clat, clon) != (blat, blon) else clim
        clim = clim.reindex(
            {blat: bicubic[blat].values, blon: bicubic[blon].values},
            method="nearest",
            tolerance=1e-6,
        )
        if any(bool(clim[v].isnull().any()) for v in clim.data_vars):
            raise ValueError("its grid points are not all on the label grid")
    except (KeyError, ValueError) as err:
        raise InputError(
            "the climatology baseline needs the truth on the model's label grid "
            f"({climatology.sizes[clat]}x{climatology.sizes[clon]} from "
            f"{float(climatology[clat][0]):g}, {float(climatology[clon][0]):g}): {err}"
        ) from None
    missing = [v for v in bicubic.data_vars if v not in clim.data_vars]
    if missing:
        raise InputError(f"the model's climatology has no {missing}")
    out = xr.Dataset(
        {v: bicubic[v] + clim[v].transpose(*bicubic[v].dims).values for v in bicubic.data_vars}
    )
    for v in out.data_vars:
        out[v].attrs = dict(bicubic[v].attrs)
    return out
