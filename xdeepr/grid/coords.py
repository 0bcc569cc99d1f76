"""Finding and checking regular latitude/longitude grids (cf-xarray first, names second)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

import numpy as np
import xarray as xr

from ..errors import GridError

XrObj = TypeVar("XrObj", xr.Dataset, xr.DataArray)

#: Fallback names tried when no coordinate carries CF metadata.
LAT_NAMES = ("latitude", "lat", "nav_lat", "y_lat")
LON_NAMES = ("longitude", "lon", "nav_lon", "x_lon")
#: Matching tolerance, as a fraction of the grid step.
TOLERANCE = 0.25


def _cf_coord(obj: xr.Dataset | xr.DataArray, key: str) -> list[Hashable]:
    try:
        import cf_xarray  # noqa: F401  (registers .cf)

        names = obj.cf.coordinates.get(key, [])
    except Exception:  # pragma: no cover - cf-xarray failing is not fatal
        names = []
    return [n for n in names if n in obj.coords and obj[n].ndim == 1]


def find_latlon(obj: xr.Dataset | xr.DataArray) -> tuple[str, str]:
    """Find the 1-D latitude and longitude coordinates of `obj`.

    Coordinates are looked up through cf-xarray (``standard_name``, ``units``,
    ``axis``), then by the common names ``latitude``/``lat`` and
    ``longitude``/``lon``.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Object on a regular latitude/longitude grid.

    Returns
    -------
    tuple of str
        ``(latitude_name, longitude_name)``.

    Raises
    ------
    GridError
        When a coordinate cannot be found, or several candidates are found.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [50.0, 49.75], "lon": [6.0, 6.25]})
    >>> find_latlon(ds)
    ('lat', 'lon')
    """
    found: list[str] = []
    for key, fallback, units in (
        ("latitude", LAT_NAMES, "degrees_north"),
        ("longitude", LON_NAMES, "degrees_east"),
    ):
        names = _cf_coord(obj, key)
        if not names:
            names = [n for n in fallback if n in obj.coords and obj[n].ndim == 1]
        if not names:
            raise GridError(
                f"no {key} coordinate found among {sorted(map(str, obj.coords))}: looked for "
                f"standard_name={key!r}, units={units!r} (cf-xarray) and the names "
                f"{list(fallback)}. Rename your coordinate or set its standard_name."
            )
        if len(names) > 1:
            raise GridError(
                f"several {key} coordinates found: {sorted(map(str, names))}; select one "
                "variable (ds[name]) or drop the others."
            )
        found.append(str(names[0]))
    return found[0], found[1]


def _diffs(values: np.ndarray, is_lon: bool) -> np.ndarray:
    d = np.diff(values.astype("float64"))
    if is_lon:
        d = (d + 180.0) % 360.0 - 180.0
    return d


def grid_step(obj: xr.Dataset | xr.DataArray, name: Hashable) -> float:
    """Return the signed spacing of the regular 1-D coordinate `name`.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
    name : hashable
        Coordinate name.

    Returns
    -------
    float
        Step in the coordinate's units (negative for descending coordinates).

    Raises
    ------
    GridError
        When the coordinate has fewer than two points or is not regular.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [50.0, 49.75, 49.5], "lon": [6.0, 6.25]})
    >>> grid_step(ds, "lat")
    -0.25
    """
    values = np.asarray(obj[name].values)
    if values.size < 2:
        raise GridError(f"coordinate {name!r} has {values.size} point(s); need at least 2")
    d = _diffs(values, is_lon=_is_longitude(obj, name))
    step = float(np.median(d))
    if not _regular(d):
        if _regular(
            _diffs(values, is_lon=True)
        ):  # regular modulo 360: a longitude split at the seam
            raise GridError(
                f"coordinate {name!r} is regular but split at the 0°/360° seam (it jumps from "
                f"{_seam(values)}); mark it as a longitude (standard_name='longitude') or "
                f"roll it to -180..180: ds.assign_coords({name}=((ds.{name} + 180) % 360) - 180)"
                f'.sortby("{name}")'
            )
        raise GridError(
            f"coordinate {name!r} is not regular: spacing ranges from {d.min():g} to "
            f"{d.max():g}. Regrid it to a regular grid first."
        )
    # Round away float noise such as 0.25000000000000355.
    return float(np.round(step, 10))


#: ``units`` of a longitude coordinate (CF; as cf-xarray reads them).
LON_UNITS = ("degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese")


def _is_longitude(obj: xr.Dataset | xr.DataArray, name: Hashable) -> bool:
    """Whether the coordinate `name` is a longitude: by CF metadata, by name, or as found.

    Looked at one coordinate at a time, so that a Dataset holding two grids (static
    fields at two resolutions) still knows its longitudes.
    """
    attrs = obj[name].attrs
    if attrs.get("standard_name") == "longitude" or str(name) in LON_NAMES:
        return True
    if str(attrs.get("units", "")).lower() in LON_UNITS:
        return True
    try:
        return name in _cf_coord(obj, "longitude") or name == find_latlon(obj)[1]
    except GridError:
        return False


def _regular(d: np.ndarray) -> bool:
    step = float(np.median(d))
    return step != 0 and bool(np.allclose(d, step, rtol=1e-3, atol=1e-6 * abs(step)))


def _seam(values: np.ndarray) -> str:
    """Where a longitude split at the seam jumps, e.g. ``'359.75 to 0'``."""
    i = int(np.argmax(np.abs(np.diff(values.astype("float64")))))
    return f"{values[i]:g} to {values[i + 1]:g}"


def grid_spacing(obj: xr.Dataset | xr.DataArray) -> tuple[float, float]:
    """Return the signed ``(latitude, longitude)`` steps of a regular grid.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(coords={"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> grid_spacing(ds)
    (-0.05, 0.05)
    """
    lat, lon = find_latlon(obj)
    return grid_step(obj, lat), grid_step(obj, lon)


def scale_factor(coarse: xr.Dataset | xr.DataArray, fine: xr.Dataset | xr.DataArray) -> int:
    """Integer ratio between the grid steps of a coarse and a fine grid.

    Raises
    ------
    GridError
        When the ratio is not an integer or differs between latitude and longitude.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> c = xr.Dataset(coords={"lat": [50.0, 49.75], "lon": [6.0, 6.25]})
    >>> f = xr.Dataset(coords={"lat": [48.0, 47.95], "lon": [9.2, 9.25]})
    >>> scale_factor(c, f)
    5
    """
    factors = []
    for axis, sc, sf in zip(("latitude", "longitude"), grid_spacing(coarse), grid_spacing(fine)):
        ratio = abs(sc) / abs(sf)
        k = round(ratio)
        if k < 1 or abs(ratio - k) > 1e-3 * ratio:
            raise GridError(
                f"the {axis} steps {abs(sc):g} (coarse) and {abs(sf):g} (fine) are not in an "
                f"integer ratio ({ratio:g}); regrid one of them."
            )
        factors.append(k)
    if factors[0] != factors[1]:
        raise GridError(
            f"the scale factor differs between latitude ({factors[0]}) and longitude ({factors[1]})"
        )
    return int(factors[0])


def _lon_offsets(lon: np.ndarray, west: float) -> np.ndarray:
    """Eastward distance in degrees [0, 360) from `west` to each longitude."""
    return (np.asarray(lon, dtype="float64") - west) % 360.0


def _lat_range(obj: xr.Dataset | xr.DataArray, name: str) -> tuple[float, float]:
    v = np.asarray(obj[name].values, dtype="float64")
    return float(v.min()), float(v.max())


def _lon_extent(obj: xr.Dataset | xr.DataArray, name: str) -> tuple[float, float]:
    """(west, span) of a longitude coordinate that may cross the seam."""
    v = np.asarray(obj[name].values, dtype="float64")
    d = _diffs(v, is_lon=True)
    if np.all(d >= 0):
        west = float(v[0])
    else:
        west = float(v[-1])
    span = float(_lon_offsets(v, west).max())
    return west, span
