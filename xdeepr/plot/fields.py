"""Figures of gridded fields: maps side by side, power spectra, rank histograms."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import metrics as _metrics
from ..grid import find_grid, grid_latlon
from ._figure import axis_label, default_variable, finish, new_figure, pick_variable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["comparison", "rank_histogram", "spectra"]


def _select(
    da: xr.DataArray, time: Any, keep: Sequence[Hashable], time_dim: Hashable = "time"
) -> xr.DataArray:
    """Reduce `da` to the dims in `keep`: `time` picks along ``time``, else the first index."""
    for d in [d for d in da.dims if d not in keep]:
        if d == time_dim and time is not None:
            if isinstance(time, (int, np.integer)):
                da = da.isel({d: int(time)})
            else:
                da = da.sel({d: time}, method="nearest")
        else:
            da = da.isel({d: 0})
    return da.transpose(*keep)


def _ascending(da: xr.DataArray) -> tuple[xr.DataArray, str, str]:
    """`da` sorted by latitude and longitude, and their names; on a projected or
    curvilinear grid `da` as is and its index dimensions ``(y, x)``."""
    spec = find_grid(da)
    lat, lon = spec.dims
    return (da.sortby([lat, lon]) if spec.is_regular else da), lat, lon


def _extent(da: xr.DataArray, lat: str, lon: str) -> tuple[float, float, float, float]:
    """Pixel-edge extent (left, right, bottom, top) of an ascending grid.

    On a projected or curvilinear grid: the longitude and latitude range of its points.
    """
    spec = find_grid(da)
    if not spec.is_regular:
        la, lo = grid_latlon(da, spec)
        return float(lo.min()), float(lo.max()), float(la.min()), float(la.max())
    x = np.asarray(da[lon].values, dtype="float64")
    y = np.asarray(da[lat].values, dtype="float64")
    hx = (x[-1] - x[0]) / (x.size - 1) / 2 if x.size > 1 else 0.5
    hy = (y[-1] - y[0]) / (y.size - 1) / 2 if y.size > 1 else 0.5
    return x[0] - hx, x[-1] + hx, y[0] - hy, y[-1] + hy


def comparison(
    coarse: xr.Dataset | xr.DataArray,
    bicubic: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    ensemble: xr.Dataset | xr.DataArray,
    *,
    time: Any = None,
    variable: Hashable | None = None,
    member_dim: Hashable = "member",
    members: Sequence[int] = (0, 1),
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Maps of one time step: coarse input, bicubic, truth, ensemble mean, members, spread.

    Seven panels on two rows: the coarse input, its bicubic interpolation,
    the truth and the ensemble mean on the first; the members chosen by
    `members` and the ensemble spread (standard deviation over members) on the
    second. The fields share one colour scale, spanning the truth and the
    coarse input over the truth's domain, with a colour bar labelled with the
    variable's ``long_name`` and ``units``; the spread has its own. All panels
    show the truth's domain (a larger coarse input is cut to it).

    Parameters
    ----------
    coarse, bicubic, truth : xarray.Dataset or xarray.DataArray
        Fields on latitude/longitude grids (found with cf-xarray); `bicubic`,
        `truth` and `ensemble` may also be on a projected or curvilinear grid
        (:func:`xdeepr.grid.find_grid`), drawn with ``pcolormesh`` at their 2-D
        latitude/longitude.
    ensemble : xarray.Dataset or xarray.DataArray
        Downscaled ensemble with dimension `member_dim`.
    time : int, label or None
        Time step: a position (int) or a label (nearest), along ``time``;
        default the first. Other extra dimensions take their first index.
    variable : str, optional
        Data variable of Dataset inputs; default the first they share.
    member_dim : str, default "member"
    members : pair of int, default (0, 1)
        Positions of the members to show.
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        1600×750 pixels; 9 axes: the 7 map panels in the order above, then the
        colour bars of the fields and of the spread (in the eighth grid cell).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> def grid(step, n):
    ...     lat = 48 - step * np.arange(n)
    ...     lon = 9 + step * np.arange(n)
    ...     data = np.add.outer(lat, lon) + np.random.default_rng(0).normal(size=(n, n))
    ...     return xr.DataArray(data, dims=("latitude", "longitude"),
    ...                         coords={"latitude": lat, "longitude": lon})
    >>> truth = grid(0.05, 20)
    >>> ens = xr.concat([truth + i for i in range(3)], dim="member")
    >>> fig = comparison(grid(0.25, 4), truth, truth, ens)
    >>> len(fig.axes)
    9
    """
    if variable is None:
        variable = default_variable(coarse, bicubic, truth, ensemble)
    ens = pick_variable(ensemble, variable)
    if member_dim not in ens.dims:
        raise ValueError(
            f"the ensemble has no member dimension {member_dim!r}; its dimensions are "
            f"{list(ens.dims)}"
        )
    truth_da, lat, lon = _ascending(pick_variable(truth, variable))
    keep2 = (lat, lon)
    truth_da = _select(truth_da, time, keep2)
    panels: list[tuple[str, xr.DataArray]] = []
    coarse_da, clat, clon = _ascending(pick_variable(coarse, variable))
    coarse_da = _select(coarse_da, time, (clat, clon))
    panels.append(("coarse input", coarse_da))
    bic, blat, blon = _ascending(pick_variable(bicubic, variable))
    panels.append(("bicubic", _select(bic, time, (blat, blon))))
    panels.append(("truth", truth_da))
    ens, elat, elon = _ascending(ens)
    ens = _select(ens, time, (member_dim, elat, elon))
    panels.append((f"ensemble mean ({ens.sizes[member_dim]} members)", ens.mean([member_dim])))
    for i in members:
        label = ens[member_dim].values[i] if member_dim in ens.coords else i
        panels.append((f"member {label}", ens.isel({member_dim: i})))
    spread = ens.std([member_dim], ddof=1 if ens.sizes[member_dim] > 1 else 0)
    panels.append(("ensemble spread (std)", spread))

    left, right, bottom, top = _extent(truth_da, lat, lon)
    inside = (
        (coarse_da[clat] >= bottom)
        & (coarse_da[clat] <= top)
        & (coarse_da[clon] >= left)
        & (coarse_da[clon] <= right)
    )
    scale = np.concatenate(
        [np.ravel(truth_da.values), np.ravel(coarse_da.where(inside).values)]
    ).astype("float64")
    vmin, vmax = float(np.nanmin(scale)), float(np.nanmax(scale))
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5

    # 2×4 grid: seven maps, the eighth cell holds the two colour bars.
    ncols = 4
    fig = new_figure((16.0, 7.5))
    grid = fig.add_gridspec(2, ncols)
    axes = [fig.add_subplot(grid[k // ncols, k % ncols]) for k in range(len(panels))]
    aspect = 1.0 / max(np.cos(np.radians(float(grid_latlon(truth_da)[0].mean()))), 0.1)
    images = []
    for k, (ax, (title, da)) in enumerate(zip(axes, panels)):
        is_spread = k == len(panels) - 1
        cmap = "viridis" if is_spread else "RdYlBu_r"
        lo_v, hi_v = (None, None) if is_spread else (vmin, vmax)
        spec = find_grid(da)
        values = np.asarray(da.transpose(*spec.dims).values, dtype="float64")
        image: Any
        if spec.is_regular:
            image = ax.imshow(
                values,
                origin="lower",
                extent=_extent(da, *spec.dims),
                interpolation="nearest",
                aspect=aspect,
                cmap=cmap,
                vmin=lo_v,
                vmax=hi_v,
            )
        else:  # projected/curvilinear: cells drawn at their 2-D latitude/longitude
            la, lo = grid_latlon(da, spec)
            image = ax.pcolormesh(
                lo, la, values, shading="nearest", cmap=cmap, vmin=lo_v, vmax=hi_v
            )
            ax.set_aspect(aspect)
        images.append(image)
        ax.set_title(title)
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
        if k % ncols == 0:
            ax.set_ylabel("latitude [°N]")
        if k >= ncols - 1:
            ax.set_xlabel("longitude [°E]")
    bars = grid[1, ncols - 1].subgridspec(1, 5, width_ratios=[0.1, 0.25, 0.35, 0.1, 0.2])
    field_bar = fig.colorbar(images[0], cax=fig.add_subplot(bars[0, 1]))
    field_bar.set_label(axis_label(truth_da))
    spread_bar = fig.colorbar(images[-1], cax=fig.add_subplot(bars[0, 3]))
    spread_bar.set_label(axis_label(truth_da, "spread"))
    title = str(truth_da.name) if truth_da.name is not None else "field"
    if "time" in truth_da.coords and truth_da["time"].size == 1:
        value = truth_da["time"].values
        stamp = (
            np.datetime_as_string(value, unit="m")
            if np.issubdtype(value.dtype, np.datetime64)
            else str(value)
        )
        title = f"{title}, {stamp}"
    fig.suptitle(title)
    return finish(fig, path)


def spectra(
    truth: xr.Dataset | xr.DataArray,
    ensemble: xr.Dataset | xr.DataArray,
    bicubic: xr.Dataset | xr.DataArray,
    *,
    member_dim: Hashable = "member",
    variable: Hashable | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Power spectra of the truth, every ensemble member and the bicubic baseline.

    Spectra come from :func:`xdeepr.metrics.power_spectrum` (Hann window,
    plane removed), averaged over every dimension but the members (e.g. time).
    Log-log against wavelength in km, the axis inverted so large scales are on
    the left: truth in black, members as thin blue lines, bicubic dashed.

    Parameters
    ----------
    truth, ensemble, bicubic : xarray.Dataset or xarray.DataArray
        Fields on the same latitude/longitude grid; `ensemble` has `member_dim`.
    member_dim : str, default "member"
    variable : str, optional
        Data variable of Dataset inputs; default the first they share.
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        800×550 pixels, one axes; 2 + number-of-members lines.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> coords = {"latitude": 48 - 0.05 * np.arange(32), "longitude": 9 + 0.05 * np.arange(32)}
    >>> truth = xr.DataArray(rng.normal(size=(32, 32)), dims=("latitude", "longitude"),
    ...                      coords=coords)
    >>> ens = xr.concat([truth * 0.9, truth * 1.1], dim="member")
    >>> fig = spectra(truth, ens, truth * 0.5)
    >>> len(fig.axes[0].get_lines())
    4
    """
    if variable is None:
        variable = default_variable(truth, ensemble, bicubic)
    truth_da = pick_variable(truth, variable)
    ens = pick_variable(ensemble, variable)
    bic = pick_variable(bicubic, variable)
    if member_dim not in ens.dims:
        raise ValueError(
            f"the ensemble has no member dimension {member_dim!r}; its dimensions are "
            f"{list(ens.dims)}"
        )

    def spectrum(da: xr.DataArray, keep: Sequence[Hashable] = ()) -> xr.DataArray:
        spec = _metrics.power_spectrum(da)
        extra = [d for d in spec.dims if d != "wavelength" and d not in keep]
        return spec.mean(extra).compute()

    s_truth = spectrum(truth_da)
    s_ens = spectrum(ens, keep=[member_dim]).transpose(member_dim, "wavelength")
    s_bic = spectrum(bic)
    wavelength = s_truth["wavelength"].values

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = new_figure((8.0, 5.5))
    ax = fig.add_subplot()
    for i, line in enumerate(s_ens.values):
        ax.loglog(
            s_ens["wavelength"].values,
            line,
            color="tab:blue",
            lw=1.2,
            alpha=0.8,
            zorder=3,  # above the truth: where they coincide, the members stay visible
            label=f"xdeepr members ({s_ens.sizes[member_dim]})" if i == 0 else None,
        )
    ax.loglog(
        s_bic["wavelength"].values, s_bic.values, color="tab:orange", ls="--", lw=2, label="bicubic"
    )
    ax.loglog(wavelength, s_truth.values, color="black", lw=3.5, label="truth", zorder=2)
    ax.set_xlim(wavelength.max(), wavelength.min())  # large scales on the left
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("wavelength [km]")
    ax.set_ylabel(axis_label(s_truth) if "units" in s_truth.attrs else "power spectral density")
    name = truth_da.attrs.get("long_name", truth_da.name)
    ax.set_title(f"power spectra{f' of {name}' if name is not None else ''}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    return finish(fig, path)


def rank_histogram(
    hist: xr.Dataset | xr.DataArray,
    *,
    variable: Hashable | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Bar chart of a rank histogram with the flat line a calibrated ensemble would give.

    Parameters
    ----------
    hist : xarray.DataArray or xarray.Dataset
        Output of :func:`xdeepr.metrics.rank_histogram`; dimensions other than
        ``rank`` are summed.
    variable : str, optional
        Data variable of a Dataset; default the first.
    path : str or path, optional
        Also save the figure there (PNG at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        700×450 pixels, one axes.

    Examples
    --------
    >>> import xarray as xr
    >>> hist = xr.DataArray([5, 3, 2, 4], dims="rank", coords={"rank": [0, 1, 2, 3]})
    >>> fig = rank_histogram(hist)
    >>> len(fig.axes[0].patches)
    4
    """
    da = pick_variable(hist, variable)
    if "rank" not in da.dims:
        raise ValueError(f"expected a 'rank' dimension, found {list(da.dims)}")
    da = da.sum([d for d in da.dims if d != "rank"]).compute()
    ranks = np.asarray(da["rank"].values) if "rank" in da.coords else np.arange(da.size)
    counts = np.asarray(da.values, dtype="float64")
    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    ax.bar(ranks, counts, width=0.9, color="tab:blue", label="observed")
    ax.axhline(counts.sum() / counts.size, color="black", ls="--", label="calibrated (flat)")
    ax.set_xlabel(f"rank of the truth among {counts.size - 1} members")
    ax.set_ylabel("count")
    ax.set_ylim(0, 1.2 * max(float(counts.max()), 1.0))
    ax.set_title("rank histogram" + (f" of {da.name}" if da.name is not None else ""))
    ax.legend()
    return finish(fig, path)
