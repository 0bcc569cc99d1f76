"""Synthetic label grids of real data's kinds, built from an analytic field.

- :func:`lambert`: a 32 x 32 window of CERRA's native grid (Lambert conformal conic,
  standard parallels 50/50, central meridian 8°E, origin 50°N, sphere of radius
  6 371 229 m, 5.5 km spacing);
- :func:`rotated`: a 32 x 32 window of EURO-CORDEX's rotated-pole grid (pole 39.25°N,
  162°W, 0.11° spacing);
- :func:`curvilinear`: the Lambert window with its 2-D latitude/longitude only.

Labels are the analytic field :func:`field` at each grid point's latitude and
longitude (computed with pyproj), features the same field on a regular 0.25° grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

LCC = {
    "grid_mapping_name": "lambert_conformal_conic",
    "standard_parallel": [50.0, 50.0],
    "longitude_of_central_meridian": 8.0,
    "latitude_of_projection_origin": 50.0,
    "earth_radius": 6371229.0,
}
ROTATED = {
    "grid_mapping_name": "rotated_latitude_longitude",
    "grid_north_pole_latitude": 39.25,
    "grid_north_pole_longitude": -162.0,
}
T_ATTRS = {"standard_name": "air_temperature", "units": "K", "long_name": "2 m temperature"}


def field(lat: np.ndarray, lon: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """A smooth temperature (K): waves of 12° in latitude and 15° in longitude."""
    return (
        285.0
        + 8.0 * np.cos(2 * np.pi * (lat - 45.0) / 12.0)
        + 6.0 * np.sin(2 * np.pi * (lon + phase) / 15.0)
    )


def _latlon(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = crs.source_crs if crs.is_geographic else crs.geodetic_crs
    t = pyproj.Transformer.from_crs(crs, base, always_xy=True)
    xx, yy = np.meshgrid(x, y)
    lon, lat = t.transform(xx, yy)
    return np.asarray(lat), np.asarray(lon)


def _grid(kind: str, n: int) -> xr.Dataset:
    if kind == "rotated":
        x, y = -8.0 + 0.11 * np.arange(n), -2.0 + 0.11 * np.arange(n)
        names, std, units, mapping = (
            ("rlat", "rlon"),
            ("grid_latitude", "grid_longitude"),
            "degrees",
            ROTATED,
        )
    else:
        x, y = -60000.0 + 5500.0 * np.arange(n), -40000.0 + 5500.0 * np.arange(n)
        names, std, units, mapping = (
            ("y", "x"),
            ("projection_y_coordinate", "projection_x_coordinate"),
            "m",
            LCC,
        )
    lat, lon = _latlon(pyproj.CRS.from_cf(mapping), x, y)
    dims = names
    return xr.Dataset(
        coords={
            names[0]: (names[0], y, {"standard_name": std[0], "units": units, "axis": "Y"}),
            names[1]: (names[1], x, {"standard_name": std[1], "units": units, "axis": "X"}),
            "latitude": (dims, lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "longitude": (dims, lon, {"standard_name": "longitude", "units": "degrees_east"}),
            "crs": ((), np.int32(0), mapping),
        }
    )


def labels_on(kind: str, n: int = 32, times: int = 24) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """(features, labels, static) for `kind` in ``{"lambert", "rotated", "curvilinear"}``.

    Features: the field on a regular 0.25° grid covering the window with a halo; labels:
    the field at each label point plus a small-scale pattern the features cannot hold;
    static: orography on the label grid.
    """
    g = _grid("rotated" if kind == "rotated" else "lambert", n)
    if kind == "curvilinear":  # 2-D latitude/longitude only
        g = g.drop_vars(["x", "y", "crs"])
    time = pd.date_range("2010-01-01", periods=times, freq="6h")
    phase = np.linspace(0.0, 3.0, times)
    la, lo = g["latitude"].values, g["longitude"].values
    clat = np.arange(54.0, 45.9, -0.25)
    clon = np.arange(3.0, 14.01, 0.25)
    cla, clo = np.meshgrid(clat, clon, indexing="ij")
    features = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), np.stack([field(cla, clo, p) for p in phase]), T_ATTRS)},
        coords={
            "time": time,
            "lat": ("lat", clat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", clon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )
    dims = g["latitude"].dims
    detail = 0.5 * np.sin(la * 40.0) * np.cos(lo * 30.0)
    values = np.stack([field(la, lo, p) + detail for p in phase]).astype("float32")
    attrs = dict(T_ATTRS)
    if "crs" in g.coords:
        attrs["grid_mapping"] = "crs"
    labels = g.assign({"t2m": (("time", *dims), values, attrs)}).assign_coords(time=time)
    if "crs" in labels.coords:  # as a file opened plainly holds it: a data variable
        labels = labels.reset_coords("crs")
    orog = xr.DataArray(
        300.0 + 200.0 * np.cos(la * 7.0) * np.sin(lo * 5.0),
        dims=dims,
        attrs={"standard_name": "surface_altitude", "units": "m"},
    )
    static = g.assign(orog=orog)
    return features, labels, static
