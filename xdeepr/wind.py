"""Wind given as components: finding the pairs, and the speed of each member.

Both components are labels of one network, so each member's ``u`` and ``v`` are drawn
together; the speed is derived from them (:func:`wind_speed`), never drawn apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from .errors import InputError

__all__ = ["WIND_COMPONENTS", "wind_pairs", "wind_speed"]

#: CF standard names of horizontal wind components: eastward-like -> northward-like.
WIND_COMPONENTS = {
    "eastward_wind": "northward_wind",
    "x_wind": "y_wind",
    "grid_eastward_wind": "grid_northward_wind",
}


def wind_pairs(attrs: Mapping[str, Mapping[Any, Any]]) -> list[tuple[str, str]]:
    """(eastward, northward) variable pairs among variables with CF attributes `attrs`.

    Examples
    --------
    >>> wind_pairs({"u10": {"standard_name": "eastward_wind"}, "t2m": {},
    ...             "v10": {"standard_name": "northward_wind"}})
    [('u10', 'v10')]
    """
    by_std = {str(a.get("standard_name", "")): v for v, a in attrs.items()}
    return [(by_std[e], by_std[n]) for e, n in WIND_COMPONENTS.items() if {e, n} <= set(by_std)]


def wind_speed(ds: xr.Dataset, u: str | None = None, v: str | None = None) -> xr.DataArray:
    """Wind speed ``sqrt(u² + v²)`` of each member, from its own components.

    The speed of an ensemble is derived from each member's ``u`` and ``v`` (drawn
    together by one network), never sampled or averaged separately: the ensemble mean
    of the speed is not the speed of the mean wind.

    Parameters
    ----------
    ds : xarray.Dataset
        Holding the two components (a downscaled ensemble, the truth, ...).
    u, v : str, optional
        Their names; default: the variables whose ``standard_name`` is
        ``eastward_wind`` and ``northward_wind`` (or ``x_wind`` / ``y_wind``).

    Returns
    -------
    xarray.DataArray
        Named after the components (``"si10"`` for ``u10``/``v10``, else ``"wind_speed"``),
        ``standard_name: wind_speed``, the components' units; lazy on dask.

    Raises
    ------
    InputError
        When the components are not found, naming what was looked for.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"u10": ("member", [3.0, 0.0], {"standard_name": "eastward_wind"}),
    ...                  "v10": ("member", [4.0, 2.0], {"standard_name": "northward_wind"})})
    >>> wind_speed(ds).values.tolist()
    [5.0, 2.0]
    """
    if u is None or v is None:
        pairs = wind_pairs({str(k): da.attrs for k, da in ds.data_vars.items()})
        if not pairs:
            raise InputError(
                "no wind components found: no variables with standard_name "
                f"{sorted(WIND_COMPONENTS)} and their northward partners (the dataset has "
                f"{list(map(str, ds.data_vars))}); pass u= and v="
            )
        u, v = pairs[0]
    for name in (u, v):
        if name not in ds.data_vars:
            raise InputError(
                f"wind component {name!r} is not in the dataset ({list(ds.data_vars)})"
            )
    speed = (ds[u] ** 2 + ds[v] ** 2) ** 0.5
    name = "si10" if (u, v) == ("u10", "v10") else "wind_speed"
    units = ds[u].attrs.get("units", "m s-1")
    speed.attrs = {"standard_name": "wind_speed", "long_name": "wind speed", "units": units}
    return speed.rename(name)
