"""Figures at weather stations: an ensemble against one station's record, a map of
per-station scores, and box plots of errors by hour, month and season.

Forecasts may be on their grid or already at the stations: they are read at the
stations with :func:`xdeepr.metrics.at_stations` (bilinear, on the observation times).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import metrics as _metrics
from .._util import is_cftime
from ..errors import InputError
from ..grid import find_latlon
from ..metrics.score import SEASONS
from ..observations import check_observations, station_positions
from ._figure import axis_label, default_variable, finish, new_figure, pick_variable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["error_boxplots", "station_map", "station_series"]

Field = xr.Dataset | xr.DataArray
#: Colours of the models, the forecasts first, in the station figures.
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")


def _time_axis(times: np.ndarray) -> tuple[np.ndarray, str]:
    """x values for `times` and the axis label: cftime becomes days since the first time."""
    if is_cftime(times):
        first = times[0]
        days = np.array([(t - first).total_seconds() / 86400.0 for t in times])
        return days, f"days since {first} ({first.calendar} calendar)"
    return times, "time"


def _at(field: Field, obs: xr.Dataset, variable: Hashable, tolerance: Any) -> xr.DataArray:
    """`field`'s `variable` at the stations of `obs`, on its times."""
    return _metrics.at_stations(
        pick_variable(field, variable), obs, time_tolerance=tolerance
    ).rename(variable)


def station_series(
    observations: xr.Dataset,
    forecasts: Field,
    station: Hashable | int = 0,
    baselines: Mapping[str, Field] | None = None,
    *,
    variable: Hashable | None = None,
    member_dim: Hashable = "member",
    quantiles: tuple[float, float] = (0.1, 0.9),
    time_tolerance: Any = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """An ensemble against the observations at one station, over time.

    The ensemble at the station is drawn as a light band from its minimum to
    its maximum, a darker band between the `quantiles` (10 % and 90 % by
    default) and its mean as a line; baselines as dashed lines; the
    observations as black dots (gaps left out), over the times they share with
    the forecasts. The legend gives the CRPS of the ensemble (MAE of a
    baseline) at that station.

    Parameters
    ----------
    observations : xarray.Dataset
        Station observations (CF timeSeries form, see
        :func:`xdeepr.observations.check_observations`).
    forecasts : xarray.Dataset or xarray.DataArray
        Ensemble (with `member_dim`) or deterministic forecast, on a grid or at the stations.
    station : station id or int, default 0
        The station's id (``observations.station``), or its position when an
        int that is not an id.
    baselines : mapping of str to Dataset or DataArray, optional
        Named deterministic references, e.g. ``{"bicubic": ...}``.
    variable : str, optional
        Variable to show; default the first the observations and forecasts share.
    member_dim : str, default "member"
    quantiles : (float, float), default (0.1, 0.9)
        Bounds of the inner band.
    time_tolerance : str or timedelta, optional
        As in :func:`xdeepr.metrics.at_stations`.
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        1000×450 pixels, one axes: two bands (``PolyCollection``) for an
        ensemble, then one line for its mean, one per baseline and the
        observations' markers.

    Examples
    --------
    >>> import xdeepr
    >>> _, labels, _ = xdeepr.datasets.load_sample(periods=8)
    >>> obs = xdeepr.datasets.load_sample_stations(periods=8)
    >>> ens = xr.concat([labels + 0.5 * k for k in range(-2, 3)], dim="member")
    >>> fig = station_series(obs, ens, "S01")
    >>> len(fig.axes[0].collections), len(fig.axes[0].get_lines())
    (2, 2)
    """
    obs = check_observations(observations)
    variable = variable if variable is not None else default_variable(obs, forecasts)
    ids = list(obs.station.values)
    if station in ids:
        pos = ids.index(station)
    elif isinstance(station, (int, np.integer)) and -len(ids) <= station < len(ids):
        pos = int(station) % len(ids)
    else:
        raise ValueError(f"station {station!r} not found among {len(ids)} stations: {ids[:10]}...")
    one = obs.isel(station=[pos])
    fc = _at(forecasts, one, variable, time_tolerance).isel(station=0).compute()
    seen = pick_variable(one, variable).isel(station=0).sel(time=fc["time"])
    times, xlabel = _time_axis(np.asarray(fc["time"].values))

    fig = new_figure((10.0, 4.5))
    ax = fig.add_subplot()
    if member_dim in fc.dims:
        q = fc.quantile(list(quantiles), dim=[member_dim]).values
        n = fc.sizes[member_dim]
        ax.fill_between(
            times,
            fc.min([member_dim]),
            fc.max([member_dim]),
            color="tab:blue",
            alpha=0.18,
            lw=0,
            label=f"ensemble min–max ({n} members)",
        )
        ax.fill_between(
            times,
            q[0],
            q[1],
            color="tab:blue",
            alpha=0.38,
            lw=0,
            label=f"ensemble {quantiles[0]:.0%}–{quantiles[1]:.0%}",
        )
        mean = fc.mean([member_dim])
    else:
        mean = fc
    crps = float(_metrics.crps_ensemble(seen, fc, member_dim))
    units = seen.attrs.get("units", "")
    what = "ensemble mean" if member_dim in fc.dims else "forecast"
    ax.plot(times, mean, color="tab:blue", lw=2, label=f"{what} (CRPS {crps:.3g} {units})")
    for k, (name, base) in enumerate((baselines or {}).items()):
        line = _at(base, one, variable, time_tolerance).isel(station=0).compute()
        if member_dim in line.dims:
            raise InputError(
                f"baseline {name!r} has a {member_dim!r} dimension; baselines are drawn as "
                f"one line: pass a deterministic field (e.g. its .mean({member_dim!r}))"
            )
        line = line.sel(time=fc["time"])
        mae = float(_metrics.mae(seen, line))
        ax.plot(
            times,
            line,
            ls="--",
            lw=1.5,
            color=_COLOURS[1 + k % (len(_COLOURS) - 1)],
            label=f"{name} (MAE {mae:.3g} {units})",
        )
    ax.plot(times, seen, "o", color="black", ms=4, label="observations", zorder=5)
    where = f"{float(one.latitude[0]):.2f}°N, {float(one.longitude[0]):.2f}°E"
    if "altitude" in one.coords:
        where += f", {float(one.altitude[0]):.0f} m"
    ax.set_title(f"{variable} at station {ids[pos]} ({where})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(axis_label(seen))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if not is_cftime(fc["time"].values):
        fig.autofmt_xdate()
    return finish(fig, path)


def station_map(
    scores: Field,
    *,
    metric: str = "crps",
    model: str = "xdeepr",
    variable: Hashable | None = None,
    background: Field | None = None,
    cmap: str = "viridis",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """A map of a per-station score: stations as dots coloured by their score.

    Parameters
    ----------
    scores : xarray.Dataset or xarray.DataArray
        Per-station scores, from ``xdeepr.metrics.score_at(..., dim="time")``
        (dims metric, model, station), or any DataArray along one station
        dimension with latitude and longitude coordinates.
    metric, model : str
        The ``metric`` and ``model`` to show, where `scores` has those dimensions.
    variable : str, optional
        Variable of a Dataset; default the first.
    background : xarray.DataArray or xarray.Dataset, optional
        A field on a lat/lon grid drawn in grey beneath the stations (the
        orography, say), with the outline of its domain; of a Dataset, its
        ``orog`` or first variable (first time / member).
    cmap : str, default "viridis"
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        800×600 pixels: the map and the scores' colour bar; the stations are
        one ``PathCollection``; a background is an image with its own colour
        bar, its outline a rectangle.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> crps = xr.DataArray([0.3, 0.5, 0.4], dims="station",
    ...                     coords={"latitude": ("station", [47.2, 47.5, 47.9]),
    ...                             "longitude": ("station", [9.3, 10.1, 9.8])})
    >>> fig = station_map(crps)
    >>> len(fig.axes[0].collections)
    1
    """
    da = pick_variable(scores, variable)
    for name, value in (("metric", metric), ("model", model)):
        if name in da.dims:
            if value not in da[name].values:
                raise ValueError(f"{name} {value!r} not among {list(map(str, da[name].values))}")
            da = da.sel({name: value})
    sdim, _, _, y, x = station_positions(da, longitude_range=None)
    extra = [d for d in da.dims if d != sdim]
    if extra or da.ndim != 1:
        raise ValueError(
            f"station_map shows one value per station; these scores also vary along {extra} "
            "(score with dim='time' and no groupby, or select one)"
        )
    da = da.compute()
    fig = new_figure((8.0, 6.0))
    ax = fig.add_subplot()
    if background is not None:
        bg = background
        if isinstance(bg, xr.Dataset):
            bg = bg["orog"] if "orog" in bg.data_vars else pick_variable(bg, None)
        blat, blon = find_latlon(bg)
        bg = bg.isel({d: 0 for d in bg.dims if d not in bg[blat].dims + bg[blon].dims})
        bg = bg.sortby([blat, blon])
        bx = np.asarray(bg[blon].values, dtype="float64")
        by = np.asarray(bg[blat].values, dtype="float64")
        x = bx[0] + (x - bx[0]) % 360.0  # the stations in the background's longitudes
        x = np.where(x > bx[0] + 359.999, x - 360.0, x)
        hx = (bx[-1] - bx[0]) / max(bx.size - 1, 1) / 2
        hy = (by[-1] - by[0]) / max(by.size - 1, 1) / 2
        edges = (bx[0] - hx, bx[-1] + hx, by[0] - hy, by[-1] + hy)
        image = ax.imshow(
            np.asarray(bg.transpose(blat, blon).values, dtype="float64"),
            origin="lower",
            extent=edges,
            cmap="Greys",
            alpha=0.6,
            interpolation="nearest",
        )
        from matplotlib.patches import Rectangle

        ax.add_patch(
            Rectangle(
                (edges[0], edges[2]),
                edges[1] - edges[0],
                edges[3] - edges[2],
                fill=False,
                ec="black",
                lw=1.2,
            )
        )
        mx, my = 0.03 * (edges[1] - edges[0]), 0.03 * (edges[3] - edges[2])
        ax.set_xlim(edges[0] - mx, edges[1] + mx)
        ax.set_ylim(edges[2] - my, edges[3] + my)
        grey = fig.colorbar(
            image,
            ax=ax,
            orientation="horizontal",
            shrink=0.5,
            pad=0.02,
            aspect=30,
            location="bottom",
        )
        grey.set_label(axis_label(bg))
    dots = ax.scatter(
        x,
        y,
        c=np.asarray(da.values, dtype="float64"),
        cmap=cmap,
        s=70,
        edgecolors="black",
        linewidths=0.6,
        zorder=3,
    )
    units = da.attrs.get("units")
    name = str(da.name) if da.name is not None else "value"
    bar = fig.colorbar(dots, ax=ax, shrink=0.85)
    bar.set_label(f"{metric} of {name}" + (f" [{units}]" if units else ""))
    ax.set_aspect(1.0 / max(np.cos(np.radians(float(np.nanmean(y)))), 0.1))
    ax.set_xlabel("longitude [°E]")
    ax.set_ylabel("latitude [°N]")
    valid = int(np.isfinite(da.values).sum())
    mean = f"{float(np.nanmean(da.values)):.3g}" + (f" {units}" if units else "")
    ax.set_title(f"{metric} of {model} at {valid} stations (mean {mean})")
    return finish(fig, path)


def _boxes(ax: Axes, groups: list[list[np.ndarray]], keys: Sequence[Any], names: list[str]) -> None:
    """Box plots of `groups[model][key]`, models side by side at each key."""
    width = 0.8 / len(names)
    for m, (name, per_key) in enumerate(zip(names, groups)):
        where = np.arange(len(keys)) + (m - (len(names) - 1) / 2) * width
        colour = _COLOURS[m % len(_COLOURS)]
        parts = ax.boxplot(
            per_key,
            positions=where,
            widths=width * 0.9,
            patch_artist=True,
            showfliers=True,
            flierprops={"markersize": 2, "alpha": 0.4},
            medianprops={"color": "black"},
            manage_ticks=False,
        )
        for box in parts["boxes"]:
            box.set_facecolor(colour)
            box.set_alpha(0.75)
        parts["boxes"][0].set_label(name)
    ax.axhline(0.0, color="black", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(keys)), [str(k) for k in keys])


def error_boxplots(
    observations: xr.Dataset,
    forecasts: Field,
    baselines: Mapping[str, Field] | None = None,
    *,
    groupby: str | Sequence[str] = ("hour", "month", "season"),
    variable: Hashable | None = None,
    member_dim: Hashable = "member",
    time_tolerance: Any = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Box plots of errors at the stations by hour of day, month and season.

    The error of a forecast is its (ensemble-mean) value at a station minus the
    observation, for every station and time where both exist. Each grouping
    gets a panel; in it each group a box per model (the forecasts, then the
    baselines, side by side): median, quartiles, whiskers at 1.5 IQR, outliers
    as dots; a dotted line at zero.

    Parameters
    ----------
    observations : xarray.Dataset
        Station observations (CF timeSeries form).
    forecasts : xarray.Dataset or xarray.DataArray
        Ensemble (with `member_dim`) or deterministic forecast, on a grid or at the stations.
    baselines : mapping of str to Dataset or DataArray, optional
        Named references, e.g. ``{"bicubic": ...}``.
    groupby : str or sequence of {"hour", "month", "season"}
        The panels, in order; datetime64 or cftime times.
    variable : str, optional
        Variable to show; default the first the observations and forecasts share.
    member_dim : str, default "member"
    time_tolerance : str or timedelta, optional
        As in :func:`xdeepr.metrics.at_stations`.
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per grouping, as wide as its number of groups, 4.5 inches
        high, sharing the error axis; one box (a patch) per group and model.

    Examples
    --------
    >>> import xdeepr
    >>> _, labels, _ = xdeepr.datasets.load_sample(periods=8)
    >>> obs = xdeepr.datasets.load_sample_stations(periods=8)
    >>> fig = error_boxplots(obs, labels + 0.2, {"cold": labels - 0.5}, groupby="hour")
    >>> len(fig.axes[0].patches)  # 4 hours x 2 models
    8
    """
    obs = check_observations(observations)
    variable = variable if variable is not None else default_variable(obs, forecasts)
    kinds = [groupby] if isinstance(groupby, str) else list(groupby)
    if not kinds:
        raise ValueError("groupby names no grouping; use 'hour', 'month' and/or 'season'")
    models = {"xdeepr": forecasts, **dict(baselines or {})}
    errors = {}
    for name, model in models.items():
        fc = _at(model, obs, variable, time_tolerance)
        if member_dim in fc.dims:
            fc = fc.mean([member_dim])
        seen = pick_variable(obs, variable).sel(time=fc["time"])
        errors[name] = (fc - seen).transpose("time", "station")
    aligned = xr.align(*errors.values(), join="inner")  # the times every model has
    errors = {name: err.compute() for name, err in zip(errors, aligned)}
    first = aligned[0]
    labels = {kind: _metrics.group_labels(first["time"], kind).values for kind in kinds}
    keys = {
        kind: [k for k in SEASONS if k in set(labels[kind])]
        if kind == "season"
        else list(np.unique(labels[kind]))
        for kind in kinds
    }
    # Panels as wide as their groups, so that one month is not one very wide box.
    ratios = [max(len(keys[kind]), 2) for kind in kinds]
    width = max(4.5, 1.5 + 0.3 * (len(errors) + 1) * sum(ratios))
    fig = new_figure((width, 4.5))
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False, width_ratios=ratios)[0]
    for ax, kind in zip(axes, kinds):
        groups = []
        for err in errors.values():
            e = np.asarray(err.values)
            per_key = [e[labels[kind] == k].ravel() for k in keys[kind]]
            groups.append([v[np.isfinite(v)] for v in per_key])
        _boxes(ax, groups, keys[kind], list(errors))
        ax.set_xlim(-0.6, max(len(keys[kind]), 2) - 0.4)
        ax.set_xlabel({"hour": "hour of day (UTC)", "month": "month"}.get(kind, "season"))
        ax.set_title(f"by {kind}")
        ax.grid(True, axis="y", alpha=0.3)
    seen = pick_variable(obs, variable)
    units = seen.attrs.get("units")
    axes[0].set_ylabel("forecast − observation" + (f" [{units}]" if units else ""))
    axes[0].legend(loc="best", fontsize="small")
    name = seen.attrs.get("long_name", variable)
    title = f"errors of {name} at {first.sizes['station']} stations"
    fig.suptitle(textwrap.fill(title, width=int(width * 9)))  # ~9 characters an inch
    return finish(fig, path)
