"""Observations encoded on the label grid: checked, placed at pixels, as channels.

See :mod:`xdeepr.observations` for the channels and the choices behind them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import grid
from ..errors import InputError
from .checks import check_observations, station_positions
from .times import match_times
from .values import model_units, to_units

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = [
    "CHANNEL_KINDS",
    "CONDITION_KINDS",
    "channel_names",
    "observation_channels",
    "prepare_for_model",
    "prepare_observations",
    "station_pixels",
]

#: The kinds of observation channel, per observed variable, in channel order.
CHANNEL_KINDS = ("obs_departure", "obs_mask", "obs_target")
#: The kinds that enter the network as condition channels.
CONDITION_KINDS = ("obs_departure", "obs_mask")


def channel_names(variables: Sequence[str], kinds: Sequence[str] = CHANNEL_KINDS) -> list[str]:
    """Names of the observation channels of `variables`, kind-major.

    Examples
    --------
    >>> channel_names(["t2m"], ("obs_departure", "obs_mask"))
    ['obs_departure:t2m', 'obs_mask:t2m']
    """
    return [f"{k}:{v}" for k in kinds for v in variables]


def prepare_observations(
    obs: xr.Dataset | xr.DataArray,
    labels: Sequence[str],
    *,
    variables: Mapping[str, str] | None = None,
    time_like: Any = None,
    domain: xr.Dataset | None = None,
) -> tuple[xr.Dataset, dict[str, str]]:
    """Validate `obs` and name its variables after the label variables they observe.

    Parameters
    ----------
    obs : xarray.Dataset or DataArray
        CF timeSeries observations (dims ``time``, ``station``).
    labels : sequence of str
        The model's label variables.
    variables : mapping, optional
        ``{label: name in obs}``. Default: the labels `obs` holds under their own
        names; else, with one label and one observation variable, that pair.
    time_like, domain
        As in :func:`xdeepr.observations.check_observations` (the features; the grid whose
        hull the stations must lie in — outside ones are dropped with a counted warning).

    Returns
    -------
    (xarray.Dataset, dict)
        The checked observations with label-named variables, and the mapping used.

    Raises
    ------
    InputError
        Naming what is wrong (from :func:`~xdeepr.observations.check_observations`), or when
        no observation variable matches a label.
    """
    if isinstance(obs, xr.Dataset):
        names = [str(v) for v in obs.data_vars]
    else:  # a DataArray is a Dataset of its one variable; anything else is refused below
        names = [str(getattr(obs, "name", None) or "value")]
    if variables is not None:
        mapping = {str(k): str(v) for k, v in variables.items()}
        unknown = [k for k in mapping if k not in labels]
        if unknown:
            raise InputError(f"{unknown} are not label variables of the model ({list(labels)})")
    elif isinstance(obs, (xr.Dataset, xr.DataArray)):
        mapping = {v: v for v in labels if v in names}
        if not mapping and len(labels) == 1 and len(names) == 1:
            mapping = {labels[0]: names[0]}
        if not mapping:
            raise InputError(
                f"the observations hold none of the label variables {list(labels)} (they "
                f"hold {names}); rename them or pass the mapping {{label: observation name}}"
            )
    else:
        mapping = {}  # check_observations names what is wrong with `obs`
    clean = check_observations(obs, variables=mapping or None, time_like=time_like, domain=domain)
    return clean, mapping


def prepare_for_model(
    model: DownscalingModel,
    obs: xr.Dataset | xr.DataArray,
    features: xr.Dataset,
    *,
    domain: xr.Dataset | None = None,
    variables: Mapping[str, str] | None = None,
    tolerance: Any = None,
) -> xr.Dataset:
    """`obs` checked, in `model`'s units and matched to `features`' times, counted.

    :func:`prepare_observations`, then the units of the model's labels
    (:func:`~xdeepr.observations.values.to_units`: converted, or refused; without a
    ``units`` attribute, a range check against the training statistics), then
    :func:`~xdeepr.observations.match_times`, whose ``observations_used`` attribute
    counts the values used (none is refused, a few get a warning).

    Raises
    ------
    InputError
        Bad station input, units that cannot be converted or implausible values,
        every station outside `domain`, no observation at `features`' times.

    Examples
    --------
    >>> matched = prepare_for_model(model, stations, coarse, domain=grid)  # doctest: +SKIP
    >>> matched.attrs["observations_used"]  # doctest: +SKIP
    96
    """
    clean, _ = prepare_observations(
        obs, model.labels, variables=variables, time_like=features, domain=domain
    )
    units, stats = model_units(model)
    clean = to_units(clean, units, stats)
    return match_times(clean, features["time"], tolerance)


def station_pixels(obs: xr.Dataset, grid_: xr.Dataset | xr.DataArray) -> tuple[np.ndarray, ...]:
    """Row and column of the grid point nearest to each station of `obs`.

    Longitudes are compared modulo 360, so 0..360 and -180..180 conventions mix. On a
    projected or curvilinear grid the stations are placed by :func:`xdeepr.grid.locate`
    (projected with pyproj; rows and columns of the grid's index space ``(y, x)``).
    Positions are checked by :func:`~xdeepr.observations.checks.station_positions`.

    Examples
    --------
    >>> import xarray as xr
    >>> g = xr.Dataset(coords={"lat": [48.0, 47.95, 47.9], "lon": [9.2, 9.25, 9.3]})
    >>> o = xr.Dataset(coords={"latitude": ("station", [47.94]),
    ...                        "longitude": ("station", [369.29])})
    >>> [int(a[0]) for a in station_pixels(o, g)]
    [1, 2]
    """
    _, _, _, slat, slon = station_positions(obs, longitude_range=None)
    if not grid.find_grid(grid_).is_regular:  # projected/curvilinear: pyproj, index space
        return grid.locate(grid_, slat, slon).nearest
    lat, lon = grid.find_latlon(grid_)
    la = np.asarray(grid_[lat].values, dtype="float64")
    lo = np.asarray(grid_[lon].values, dtype="float64")
    rows = np.abs(slat[:, None] - la[None, :]).argmin(axis=1)
    dlon = (slon[:, None] - lo[None, :] + 180.0) % 360.0 - 180.0
    cols = np.abs(dlon).argmin(axis=1)
    return rows, cols


def _rasterise(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: Any) -> np.ndarray:
    """``(..., station)`` values → ``(..., ny, nx)`` mean per pixel, NaN where none."""
    lead = values.shape[:-1]
    total = np.zeros((*lead, shape[0] * shape[1]), dtype="float64")
    count = np.zeros_like(total)
    flat = rows * shape[1] + cols
    ok = np.isfinite(values)
    for s in range(values.shape[-1]):  # stations are few; np.add.at is slower here
        total[..., flat[s]] += np.where(ok[..., s], values[..., s], 0.0)
        count[..., flat[s]] += ok[..., s]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out.reshape(*lead, *shape)


def observation_channels(
    model: DownscalingModel,
    features: xr.Dataset,
    obs: xr.Dataset | None,
    target: xr.Dataset | None = None,
    *,
    variables: Sequence[str] | None = None,
    validated: bool = True,
) -> xr.DataArray:
    """Observation channels ``(time, channel, lat, lon)`` on the padded label grid.

    Parameters
    ----------
    model : DownscalingModel
    features : xarray.Dataset
        The coarse input (:meth:`~DownscalingModel.coarse_features` output when
        `validated`); its times are the channels' times.
    obs : xarray.Dataset or None
        Observations already checked and matched to `features`' times
        (:func:`prepare_observations`, :func:`~xdeepr.observations.match_times`); None
        gives empty channels (masks 0), which a model trained with observations accepts.
    target : xarray.Dataset, optional
        Another hi-res domain (as in :meth:`~DownscalingModel.condition`).
    variables : sequence of str, optional
        The label variables to make channels for (default: every label).

    Returns
    -------
    xarray.DataArray
        float32, channels :func:`channel_names` ``(variables)``: departure and target
        in normalised label units, mask 0/1; 0 where not observed and in the padding.
        Lazy when `features` is dask-backed.

    Examples
    --------
    >>> ch = observation_channels(model, coarse, obs)  # doctest: +SKIP
    >>> ch.channel.values.tolist()  # doctest: +SKIP
    ['obs_departure:t2m', 'obs_mask:t2m', 'obs_target:t2m']
    """
    names = list(variables or model.labels)
    base = model.baseline(features, target, validated=validated)  # physical, label grid
    lat, lon = grid.horizontal_dims(base)
    shape = (base.sizes[lat], base.sizes[lon])
    times = features["time"]
    phys: dict[str, xr.DataArray] = {}
    for v in names:
        if obs is None or v not in obs.data_vars:
            empty = xr.full_like(base[v].transpose("time", lat, lon), np.nan, dtype="float64")
            phys[v] = empty
            continue
        rows, cols = station_pixels(obs, base)
        at = base[v].isel(
            {lat: xr.DataArray(rows, dims="station"), lon: xr.DataArray(cols, dims="station")}
        )  # (time, station)
        values = obs[v].transpose("time", "station").assign_coords(time=times)
        # residual models sample label − bicubic: the observation's residual at its pixel
        value = values - at.drop_vars([lat, lon]) if model.learn_residuals else values
        raster = xr.apply_ufunc(
            _rasterise,
            value.astype("float64"),
            kwargs={"rows": rows, "cols": cols, "shape": shape},
            input_core_dims=[["station"]],
            output_core_dims=[[lat, lon]],
            dask="parallelized",
            output_dtypes=["float64"],
            dask_gufunc_kwargs={"output_sizes": {lat: shape[0], lon: shape[1]}},
        )
        phys[v] = raster.assign_coords({lat: base[lat], lon: base[lon]})
    ds = xr.Dataset(phys)
    for v in names:
        ds[v].attrs = {"units": model.label_scaler.units.get(v, "")}
    scaled = model.label_scaler.normalize(ds)  # x̂0 units: the network's sample space
    if model.learn_residuals:
        ref = model.label_scaler.normalize(xr.zeros_like(ds))  # a zero residual
    else:
        ref = model.label_scaler.normalize(base[names])
    chans = []
    for v in names:
        tgt = scaled[v].transpose("time", lat, lon)
        mask = np.isfinite(tgt)
        chans += [(tgt - ref[v].transpose("time", lat, lon)).where(mask, 0.0)]
        chans += [mask.astype("float64")]
        chans += [tgt.where(mask, 0.0)]
    order = [f"{k}:{v}" for v in names for k in CHANNEL_KINDS]
    out = xr.concat(chans, dim="channel", coords="minimal", compat="override")
    out = out.assign_coords(channel=order).sel(channel=channel_names(names))
    keep = {"time", "channel", lat, lon, *grid.grid_coords(base)}  # projected: 2-D lat/lon, crs
    out = out.drop_vars([c for c in out.coords if c not in keep])
    out = out.transpose("time", "channel", lat, lon).astype("float32")
    return grid.pad(out, levels=model.levels, mode="constant").fillna(0.0)
