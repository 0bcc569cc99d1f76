"""What a label grid is: regular latitude/longitude, projected (CF ``grid_mapping``) or curvilinear.

:func:`find_grid` reads a Dataset's horizontal grid once into a :class:`GridSpec`
(kind, index dimensions, 1-D and 2-D coordinates, grid mapping and its pyproj CRS);
the rest of :mod:`xdeepr.grid` works from it. Coordinates are found through
cf-xarray (``standard_name`` ``latitude``/``longitude``,
``projection_x_coordinate``/``projection_y_coordinate``,
``grid_longitude``/``grid_latitude``, a variable's ``grid_mapping`` attribute);
projections are pyproj's (:meth:`pyproj.CRS.from_cf`), never a formula of ours.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from xdeepr.grid import find_grid
>>> gm = {"grid_mapping_name": "rotated_latitude_longitude",
...       "grid_north_pole_latitude": 39.25, "grid_north_pole_longitude": -162.0}
>>> ds = xr.Dataset(
...     {"tas": (("rlat", "rlon"), np.zeros((3, 4)), {"grid_mapping": "crs"}), "crs": ((), 0, gm)},
...     coords={"rlat": ("rlat", [0.0, 0.11, 0.22], {"standard_name": "grid_latitude"}),
...             "rlon": ("rlon", [0.0, 0.11, 0.22, 0.33], {"standard_name": "grid_longitude"})})
>>> spec = find_grid(ds)
>>> spec.kind, spec.dims, spec.grid_mapping
('projected', ('rlat', 'rlon'), 'crs')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import GridError
from .coords import LAT_NAMES, LON_NAMES, find_latlon

if TYPE_CHECKING:
    import pyproj

#: The kinds of horizontal grid :func:`find_grid` recognises.
GRID_KINDS = ("regular", "projected", "curvilinear")
#: ``standard_name`` of the 1-D index coordinates of a projected grid, as (y, x) candidates.
Y_NAMES = ("projection_y_coordinate", "grid_latitude")
X_NAMES = ("projection_x_coordinate", "grid_longitude")
#: Attribute marking index coordinates xdeepr made up for a grid without any.
INDEX_ATTR = "xdeepr_index"
_LENGTH_UNITS = {"m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0}
_LENGTH_UNITS.update({"km": 1e3, "kilometre": 1e3, "kilometer": 1e3, "kilometres": 1e3})


@dataclass(frozen=True)
class GridSpec:
    """One object describing a horizontal grid: what it is and where its coordinates are.

    Attributes
    ----------
    kind : {"regular", "projected", "curvilinear"}
    dims : (str, str)
        The index dimensions ``(y, x)``: the arrays' rows and columns.
    y, x : str or None
        The 1-D coordinates along `dims` (latitude/longitude for a regular grid,
        projection coordinates for a projected one), None where there are none.
    latitude, longitude : str or None
        The latitude and longitude coordinates (1-D on a regular grid, 2-D
        ``(y, x)`` otherwise); None on a projected grid that does not carry them
        (they are then computed from the projection).
    grid_mapping : str or None
        The name of the CF grid-mapping variable.
    mapping : tuple of (str, value)
        Its attributes (CF grid-mapping parameters), frozen.
    """

    kind: str
    dims: tuple[str, str]
    y: str | None
    x: str | None
    latitude: str | None
    longitude: str | None
    grid_mapping: str | None = None
    mapping: tuple[tuple[str, Any], ...] = ()

    @property
    def is_regular(self) -> bool:
        """Whether this is a regular latitude/longitude grid."""
        return self.kind == "regular"

    @property
    def mapping_attrs(self) -> dict[str, Any]:
        """The grid mapping's CF attributes as a dict (empty without one)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.mapping}

    @property
    def crs(self) -> pyproj.CRS | None:
        """The grid's :class:`pyproj.CRS` (read with :meth:`pyproj.CRS.from_cf`), or None."""
        if not self.mapping:
            return None
        import pyproj

        try:
            return pyproj.CRS.from_cf(self.mapping_attrs)
        except Exception as err:  # pyproj raises CRSError and friends
            raise GridError(
                f"the grid mapping {self.grid_mapping!r} ({self.mapping_attrs}) is not one "
                f"pyproj reads: {err}. Check its CF attributes (grid_mapping_name and the "
                "parameters the CF conventions list for it)."
            ) from None


def _cf(obj: xr.Dataset | xr.DataArray, key: str, ndim: int) -> list[str]:
    try:
        import cf_xarray  # noqa: F401  (registers .cf)

        names = obj.cf.coordinates.get(key, [])
    except Exception:  # pragma: no cover - cf-xarray failing is not fatal
        names = []
    out = [str(n) for n in names if n in obj.coords and obj[n].ndim == ndim]
    if not out:
        fallback = LAT_NAMES if key == "latitude" else LON_NAMES
        out = [n for n in fallback if n in obj.coords and obj[n].ndim == ndim]
    return out


def _mapping_name(obj: xr.Dataset | xr.DataArray) -> str | None:
    """The grid-mapping variable's name: from a ``grid_mapping`` attribute or encoding."""
    das = list(obj.data_vars.values()) if isinstance(obj, xr.Dataset) else [obj]
    names = set()
    for da in das:
        ref = da.attrs.get("grid_mapping", da.encoding.get("grid_mapping"))
        if isinstance(ref, str) and ref.strip():
            names.add(ref.strip().split(":")[0].split()[0])
    variables = dict(obj.coords) if isinstance(obj, xr.DataArray) else dict(obj.variables)
    holders = [str(k) for k, v in variables.items() if "grid_mapping_name" in v.attrs]
    if not names:
        names = set(holders)
    if len(names) > 1:
        raise GridError(
            f"several grid mappings found: {sorted(names)}; select the variables on one grid"
        )
    if not names:
        return None
    name = names.pop()
    if name not in variables:
        if _cf(obj, "latitude", 2) and _cf(obj, "longitude", 2):
            return None  # the 2-D latitude/longitude still describe the grid
        raise GridError(
            f"the variables name the grid mapping {name!r} (attribute 'grid_mapping'), but there "
            f"is no such variable; keep it with ds[[..., {name!r}]] or open the file with "
            "decode_coords='all'"
        )
    return name


def _axis(obj: xr.Dataset | xr.DataArray, std_names: tuple[str, ...], axis: str) -> list[str]:
    """1-D dimension coordinates along `axis`: by standard_name, by ``axis``, then by name."""
    found = {"std": [], "axis": [], "name": []}  # type: dict[str, list[str]]
    names = ("y", "rlat") if axis == "Y" else ("x", "rlon")
    for name, c in obj.coords.items():
        if c.ndim != 1 or c.dims[0] != name:
            continue
        if c.attrs.get("standard_name") in std_names:
            found["std"].append(str(name))
        elif c.attrs.get("axis") == axis:
            found["axis"].append(str(name))
        elif str(name) in names:
            found["name"].append(str(name))
    return found["std"] or found["axis"] or found["name"]


def find_grid(obj: xr.Dataset | xr.DataArray) -> GridSpec:
    """Find the horizontal grid of `obj`: regular, projected or curvilinear.

    In order: 1-D latitude and longitude (:func:`~xdeepr.grid.find_latlon`) make a
    regular grid; a grid mapping (a variable's ``grid_mapping`` attribute, or a
    variable with ``grid_mapping_name``) with 1-D projection coordinates
    (``standard_name`` ``projection_x_coordinate``/``grid_longitude`` and the y
    counterparts, or ``axis`` X/Y) makes a projected grid; 2-D latitude and
    longitude alone make a curvilinear one.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray

    Returns
    -------
    GridSpec

    Raises
    ------
    GridError
        Naming what was looked for when nothing matches, or the ambiguity.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat2, lon2 = np.meshgrid([50.0, 50.1], [8.0, 8.1, 8.2], indexing="ij")
    >>> ds = xr.Dataset(coords={"lat": (("j", "i"), lat2), "lon": (("j", "i"), lon2)})
    >>> find_grid(ds).kind, find_grid(ds).dims
    ('curvilinear', ('j', 'i'))
    """
    try:
        lat, lon = find_latlon(obj)
    except GridError as err:
        first = err
    else:
        return GridSpec("regular", (lat, lon), lat, lon, lat, lon)
    lats, lons = _cf(obj, "latitude", 2), _cf(obj, "longitude", 2)
    if len(lats) > 1 or len(lons) > 1:
        raise GridError(
            f"several 2-D latitude/longitude coordinates found: {lats} / {lons}; drop the others"
        )
    lat2 = lats[0] if lats else None
    lon2 = lons[0] if lons else None
    gm = _mapping_name(obj)
    if gm is not None:
        ys, xs = _axis(obj, Y_NAMES, "Y"), _axis(obj, X_NAMES, "X")
        if len(ys) == 1 and len(xs) == 1:
            attrs = obj[gm].attrs
            mapping = tuple(
                (str(k), tuple(v.tolist()) if isinstance(v, np.ndarray) else _plain(v))
                for k, v in attrs.items()
            )
            return GridSpec("projected", (ys[0], xs[0]), ys[0], xs[0], lat2, lon2, gm, mapping)
        if lat2 is None:
            raise GridError(
                f"the grid mapping {gm!r} has no 1-D projection coordinates: looked for "
                f"standard_name in {list(X_NAMES)} / {list(Y_NAMES)} or axis='X'/'Y' among "
                f"{sorted(map(str, obj.coords))}; set the standard_name of the x and y coordinates"
            )
    if lat2 is not None and lon2 is not None:
        dims = obj[lat2].dims
        if obj[lon2].dims != dims:
            raise GridError(
                f"the 2-D latitude {lat2!r} has dims {dims}, the longitude {lon2!r} "
                f"{obj[lon2].dims}; they must share their dimensions"
            )
        ydim, xdim = (str(d) for d in dims)
        y = ydim if ydim in obj.coords else None
        x = xdim if xdim in obj.coords else None
        return GridSpec("curvilinear", (ydim, xdim), y, x, lat2, lon2)
    if "several" in str(first):
        raise first
    raise GridError(
        f"{first} Nor is it a projected grid (a 'grid_mapping' with projection_x/y_coordinate "
        "or grid_longitude/grid_latitude) or a curvilinear one (2-D latitude and longitude)."
    ) from None


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def horizontal_dims(obj: xr.Dataset | xr.DataArray) -> tuple[str, str]:
    """The grid's index dimensions ``(y, x)``: ``(lat, lon)`` on a regular grid.

    Examples
    --------
    >>> import xarray as xr
    >>> horizontal_dims(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0]}))
    ('lat', 'lon')
    """
    return find_grid(obj).dims


def _length_scale(obj: xr.Dataset | xr.DataArray, name: str) -> float:
    units = str(obj[name].attrs.get("units", "m")).strip().lower()
    return _LENGTH_UNITS.get(units, 1.0)


def projection_xy(obj: xr.Dataset | xr.DataArray, spec: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """1-D x and y of a projected grid in the CRS's units (metres, or degrees when rotated).

    Examples
    --------
    >>> x, y = projection_xy(ds, find_grid(ds))  # doctest: +SKIP
    """
    if spec.x is None or spec.y is None:
        raise GridError("the grid has no 1-D projection coordinates")
    crs = spec.crs
    geographic = crs is not None and crs.is_geographic
    sx = 1.0 if geographic else _length_scale(obj, spec.x)
    sy = 1.0 if geographic else _length_scale(obj, spec.y)
    x = np.asarray(obj[spec.x].values, dtype="float64") * sx
    y = np.asarray(obj[spec.y].values, dtype="float64") * sy
    return x, y


def _geodetic(crs: pyproj.CRS) -> pyproj.CRS:
    # a rotated pole is a derived geographic CRS: its base, not itself, holds true lat/lon
    base = crs.source_crs if crs.is_derived and crs.is_geographic else None
    base = base if base is not None else crs.geodetic_crs
    if base is None:  # pragma: no cover - pyproj gives every CRS read from CF one
        raise GridError(f"the projection {crs.name!r} has no geographic base CRS")
    return base


def to_latlon(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of projected points ``(x, y)`` (pyproj), as float64 arrays.

    Examples
    --------
    >>> import pyproj
    >>> crs = pyproj.CRS.from_cf({"grid_mapping_name": "rotated_latitude_longitude",
    ...     "grid_north_pole_latitude": 39.25, "grid_north_pole_longitude": -162.0})
    >>> [round(float(v), 2) for v in to_latlon(crs, np.array(0.0), np.array(0.0))]
    [50.75, 18.0]
    """
    import pyproj

    t = pyproj.Transformer.from_crs(crs, _geodetic(crs), always_xy=True)
    lon, lat = t.transform(np.asarray(x, "float64"), np.asarray(y, "float64"))
    return np.asarray(lat, "float64"), np.asarray(lon, "float64")


def from_latlon(crs: pyproj.CRS, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projected ``(x, y)`` of points given by latitude and longitude (pyproj).

    Examples
    --------
    >>> import pyproj
    >>> crs = pyproj.CRS.from_cf({"grid_mapping_name": "rotated_latitude_longitude",
    ...     "grid_north_pole_latitude": 39.25, "grid_north_pole_longitude": -162.0})
    >>> [abs(round(float(v), 6)) for v in from_latlon(crs, np.array(50.75), np.array(18.0))]
    [0.0, 0.0]
    """
    import pyproj

    t = pyproj.Transformer.from_crs(_geodetic(crs), crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, "float64"), np.asarray(lat, "float64"))
    return np.asarray(x, "float64"), np.asarray(y, "float64")


def grid_latlon(
    obj: xr.Dataset | xr.DataArray, spec: GridSpec | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(latitude, longitude)`` of every grid point, 2-D ``(y, x)`` float64 arrays.

    Read from the 2-D coordinates when there are, computed from the projection
    (pyproj) when not, spread from the 1-D coordinates on a regular grid.

    Examples
    --------
    >>> import xarray as xr
    >>> la, lo = grid_latlon(xr.Dataset(coords={"lat": [1.0, 2.0], "lon": [3.0, 4.0, 5.0]}))
    >>> la.shape, float(lo[1, 2])
    ((2, 3), 5.0)
    """
    spec = find_grid(obj) if spec is None else spec
    if spec.is_regular:
        assert spec.latitude is not None and spec.longitude is not None
        la = np.asarray(obj[spec.latitude].values, dtype="float64")
        lo = np.asarray(obj[spec.longitude].values, dtype="float64")
        lat2, lon2 = np.meshgrid(la, lo, indexing="ij")
        return lat2, lon2
    if spec.latitude is not None and spec.longitude is not None:
        la2 = obj[spec.latitude].transpose(*spec.dims)
        lo2 = obj[spec.longitude].transpose(*spec.dims)
        return np.asarray(la2.values, "float64"), np.asarray(lo2.values, "float64")
    crs = spec.crs
    assert crs is not None
    x, y = projection_xy(obj, spec)
    xx, yy = np.meshgrid(x, y)
    return to_latlon(crs, xx, yy)
