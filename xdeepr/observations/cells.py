"""Station values moved to their cells' altitude, for training and for downscaling.

The glue between a model and :mod:`xdeepr.observations.altitude`: a station is placed
at its nearest label-grid pixel (:func:`~xdeepr.observations.station_pixels`), so its
value is moved to that pixel's orography (the model's static field). Training settles
the lapse rate (fitted for ``"fit"``) and records it in the model; sampling uses the
resolved :attr:`xdeepr.SamplingOptions.lapse_rate` (by default that record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import grid
from ..errors import InputError
from .altitude import (
    LapseRate,
    adjust,
    check_lapse_rate,
    fit_lapse_rate,
    is_temperature,
    model_orography,
    station_altitude,
)
from .encoding import station_pixels
from .times import match_times
from .values import model_units, to_units

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["cell_altitude", "for_sampling", "for_training"]


def cell_altitude(obs: xr.Dataset, orography: xr.DataArray | None) -> np.ndarray | None:
    """The orography (m) of each station's nearest grid pixel; None without orography.

    Examples
    --------
    >>> g = xr.DataArray([[100.0, 200.0], [300.0, 400.0]], dims=("lat", "lon"),
    ...                  coords={"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> o = xr.Dataset(coords={"latitude": ("station", [47.96]),
    ...                        "longitude": ("station", [9.21])})
    >>> cell_altitude(o, g).tolist()
    [300.0]
    """
    if orography is None:
        return None
    rows, cols = station_pixels(obs, orography)
    ydim, xdim = grid.horizontal_dims(orography)
    values = np.asarray(orography.squeeze(drop=True).transpose(ydim, xdim).values, "float64")
    return values[rows, cols]


def _departures(
    model: DownscalingModel, obs: xr.Dataset, labels: xr.Dataset, tolerance: Any
) -> np.ndarray:
    """Station minus grid ``(time, station)`` of the temperature-like variables, stacked."""
    matched = match_times(obs, labels["time"], tolerance, few=0)
    rows, cols = station_pixels(obs, labels)
    lat, lon = grid.horizontal_dims(labels)
    out = []
    for v in matched.data_vars:
        attrs = {**model.label_attrs.get(str(v), {}), **matched[v].attrs}
        if str(v) not in labels.data_vars or not is_temperature(attrs):
            continue
        at = labels[v].isel(
            {lat: xr.DataArray(rows, dims="station"), lon: xr.DataArray(cols, dims="station")}
        )
        at = at.transpose("time", "station").values.astype("float64")
        out.append(matched[v].transpose("time", "station").values - at)
    if not out:
        raise InputError(
            "lapse_rate='fit' needs a temperature-like observed variable (standard_name "
            "air_temperature or units K); the observations hold "
            f"{[str(v) for v in obs.data_vars]}"
        )
    return np.concatenate(out, axis=0)


def for_training(
    model: DownscalingModel, obs: xr.Dataset, labels: xr.Dataset, lapse_rate: LapseRate
) -> xr.Dataset:
    """`obs` (checked, in any units) for training `model`: in its units, at its cells' altitude.

    `labels` are the training split's labels (the grid values ``"fit"`` compares the
    stations with). The lapse rate used is recorded in ``model.observations``:
    ``"lapse_rate"`` (K/km: a number, 12 numbers or None) and, when fitted,
    ``"lapse_rate_fit"`` (``rate``, ``stderr``, ``pairs``).

    Raises
    ------
    ConfigError
        A bad `lapse_rate`.
    InputError
        ``"fit"`` without station altitudes, an orography among the static fields, a
        temperature-like variable or enough altitude spread.

    Examples
    --------
    >>> obs = for_training(model, obs, labels.isel(time=train), "fit")  # doctest: +SKIP
    >>> model.observations["lapse_rate"]  # doctest: +SKIP
    -6.41
    """
    rate = check_lapse_rate(lapse_rate, fit=True)
    units, stats = model_units(model)
    obs = to_units(obs, units, stats)
    z_grid = cell_altitude(obs, model_orography(model))
    record = model.observations if model.observations is not None else {}
    if rate == "fit":
        if z_grid is None or station_altitude(obs) is None:
            raise InputError(
                "lapse_rate='fit' needs the stations' altitude (an 'altitude' coordinate) "
                "and the orography among the static fields (a variable named 'orog' or with "
                "standard_name 'surface_altitude'); give a number (K/km) instead"
            )
        z_station = station_altitude(obs)
        assert z_station is not None
        dep = _departures(model, obs, labels, record.get("tolerance"))
        fit = fit_lapse_rate(dep, z_station - z_grid)  # (k * time, station) and (station,)
        record["lapse_rate_fit"] = fit
        rate = fit["rate"]
    record["lapse_rate"] = list(rate) if isinstance(rate, tuple) else rate
    return adjust(obs, z_grid, rate, reference=model.label_attrs)


def for_sampling(
    model: DownscalingModel, obs: xr.Dataset, target: xr.Dataset | None, lapse_rate: LapseRate
) -> xr.Dataset:
    """`obs` (checked, in the model's units) at the altitude of their cells of the output grid.

    The orography is the model's static field, or `target`'s variable of the same name.

    Examples
    --------
    >>> moved = for_sampling(model, obs, None, -6.5)  # doctest: +SKIP
    >>> moved.attrs["xdeepr_altitude_adjustment"]  # doctest: +SKIP
    't2m moved to the grid altitude at -6.5 K/km (40 stations, mismatch -480..390 m)'
    """
    z_grid = cell_altitude(obs, model_orography(model, target))
    return adjust(obs, z_grid, check_lapse_rate(lapse_rate), reference=model.label_attrs)
