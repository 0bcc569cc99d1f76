"""What every figure shares: a pyplot-free Figure, saving, picking the variable, labels."""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import TYPE_CHECKING

import xarray as xr

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of saved figures.
DPI = 100


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A Figure on an Agg canvas; a clear ImportError without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "xdeepr.plot needs matplotlib: pip install xdeepr[plot] (or pip install matplotlib)"
        ) from err
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def finish(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    """Save `fig` to `path` (PNG at :data:`DPI`) when given; return it."""
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig


def pick_variable(obj: xr.Dataset | xr.DataArray, variable: Hashable | None) -> xr.DataArray:
    """`obj` itself (a DataArray) or its variable `variable` (default the first)."""
    if isinstance(obj, xr.DataArray):
        return obj
    if variable is None:
        if not obj.data_vars:
            raise ValueError("the Dataset has no data variables to plot")
        variable = next(iter(obj.data_vars))
    if variable not in obj.data_vars:
        raise ValueError(f"variable {variable!r} not found among {list(obj.data_vars)}")
    return obj[variable]


def default_variable(*objs: xr.Dataset | xr.DataArray) -> Hashable | None:
    """The first data variable that every Dataset among `objs` has."""
    datasets = [o for o in objs if isinstance(o, xr.Dataset)]
    if not datasets:
        return None
    for name in datasets[0].data_vars:
        if all(name in d.data_vars for d in datasets):
            return name
    raise ValueError("the Datasets share no data variable; pass variable=<name>")


def axis_label(da: xr.DataArray, what: str | None = None) -> str:
    """``"<what> of <long_name> [<units>]"`` from `da`'s attributes."""
    name = str(da.attrs.get("long_name", da.name if da.name is not None else "value"))
    if what:
        name = f"{what} of {name}"
    units = da.attrs.get("units")
    return f"{name} [{units}]" if units else name
