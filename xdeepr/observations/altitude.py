"""Station altitude against the grid's orography: the lapse-rate adjustment, in one place.

A station stands at its own altitude; the grid's value at it stands at the grid's
orography there (a 5.5 km cell's mean height). Temperature falls with height, by about
6.5 K per km, so a summit station 500 m above its cell reads about 3.25 K colder than
the cell, and a valley station warmer, without either being a model error. Before a
station value is compared with the grid (scoring), placed on it (condition channels)
or pulls the ensemble towards it (guidance), a *temperature-like* value is moved to
the grid's altitude::

    value at the grid's altitude = value + lapse_rate(month) * (z_grid - z_station) / 1000

with ``lapse_rate`` in K/km (negative: colder aloft), ``z`` in metres. A variable is
temperature-like when its CF ``standard_name`` is one of :data:`TEMPERATURE_NAMES`
(air, dew-point, wet-bulb, virtual, surface temperature) or, without a
``standard_name``, when its units are K, °C or °F; anything else (wind,
precipitation, potential temperature) is never adjusted.

The lapse rate is a number (default :data:`DEFAULT_LAPSE_RATE`, −6.5 K/km, the ICAO
standard atmosphere), twelve numbers (one per calendar month, January first),
``"fit"`` (training only: the least-squares slope of the training data's
station-minus-grid differences against the altitude differences,
:func:`fit_lapse_rate`), or None (no adjustment). What was applied is written to the
outputs' attributes (:func:`adjust`: ``xdeepr_lapse_rate``,
``xdeepr_altitude_adjustment``) and each station's mismatch ``z_station - z_grid`` to an
``altitude_mismatch(station)`` coordinate.

Station altitude is the ``altitude`` coordinate, or one whose ``standard_name`` is
``altitude``, ``surface_altitude`` or ``height`` (metres, or km by its ``units``). The
grid's orography is the model's high-resolution static field named like orography or
with ``standard_name: surface_altitude`` (:func:`model_orography`), or given.

Examples
--------
>>> import numpy as np, xarray as xr
>>> obs = xr.Dataset({"t2m": (("time", "station"), [[270.0]], {"units": "K"})},
...                  coords={"time": np.array(["2020-01-01"], "datetime64[ns]"),
...                          "station": ["summit"], "altitude": ("station", [1500.0])})
>>> out = adjust(obs, np.array([1000.0]), -6.5)
>>> float(out.t2m[0, 0]), float(out.altitude_mismatch[0])
(273.25, 500.0)
>>> out.attrs["xdeepr_altitude_adjustment"]
't2m moved to the grid altitude at -6.5 K/km (1 stations, mismatch 500..500 m)'
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, InputError
from ..units import canonical_units

__all__ = [
    "ALTITUDE_BINS",
    "DEFAULT_LAPSE_RATE",
    "MISMATCH",
    "TEMPERATURE_NAMES",
    "LapseRate",
    "Resolved",
    "adjust",
    "altitude_groups",
    "check_lapse_rate",
    "find_orography",
    "fit_lapse_rate",
    "is_temperature",
    "model_orography",
    "rate_at",
    "station_altitude",
]

#: K/km: the ICAO standard atmosphere's tropospheric lapse rate.
DEFAULT_LAPSE_RATE = -6.5
#: A lapse rate as given: K/km, twelve of them (January first), "fit", or None (off).
LapseRate = float | Sequence[float] | str | None
#: A lapse rate checked (:func:`check_lapse_rate`): a float, a tuple of 12, "fit" or None.
Resolved = float | tuple[float, ...] | str | None
#: CF standard names of the variables that are adjusted (temperature-like).
TEMPERATURE_NAMES = (
    "air_temperature",
    "dew_point_temperature",
    "wet_bulb_temperature",
    "virtual_temperature",
    "surface_temperature",
)
#: Units a variable without standard_name is temperature-like in; K per K of each.
_DEGREES = {"K": 1.0, "degC": 1.0, "degF": 1.8}
#: Names and standard names of a station's altitude, of a grid's orography.
_ALTITUDE_NAMES = ("altitude", "elevation", "station_altitude", "height", "surface_altitude")
_ALTITUDE_STANDARD = ("altitude", "surface_altitude", "height", "height_above_mean_sea_level")
_OROGRAPHY_NAMES = ("orog", "orography", "surface_altitude", "elevation", "topography", "hsurf")
#: The coordinate that holds each station's z_station − z_grid (m).
MISMATCH = "altitude_mismatch"
#: Edges (m) of the altitude-mismatch groups of ``score_at(groupby="altitude")``.
ALTITUDE_BINS = (-300.0, -100.0, 100.0, 300.0)
#: |rate| below this (K/km, nonzero) is taken for K/m given by mistake.
_TOO_SMALL = 0.05
_PLAUSIBLE = 20.0  # K/km either way


def check_lapse_rate(value: Any, *, fit: bool = False, name: str = "lapse_rate") -> Resolved:
    """`value` as a lapse rate: None, a float, a tuple of 12 floats, or ``"fit"``.

    Raises
    ------
    ConfigError
        Naming the value and what is allowed (``"fit"`` only where `fit`, i.e. training).

    Examples
    --------
    >>> check_lapse_rate(-6), check_lapse_rate(None), check_lapse_rate("fit", fit=True)
    (-6.0, None, 'fit')
    >>> check_lapse_rate(-0.0065)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: lapse_rate is in K/km, got -0.0065: did you give K/m? ...
    """
    allowed = (
        f"{name} must be None (no adjustment), a number in K/km (e.g. -6.5), 12 numbers "
        "(one per month, January first)" + (" or 'fit'" if fit else "")
    )
    if value is None:
        return None
    if isinstance(value, str):
        if fit and value == "fit":
            return "fit"
        why = " ('fit' is for training: sampling uses the model's)" if value == "fit" else ""
        raise ConfigError(f"{allowed}; got {value!r}{why}")
    if isinstance(value, bool):
        raise ConfigError(f"{allowed}; got {value!r}")
    scalar = np.ndim(value) == 0
    try:
        arr = np.asarray(value, dtype="float64").ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{allowed}; got {value!r}") from None
    if not scalar and arr.size != 12:
        raise ConfigError(f"{allowed}; got {arr.size} numbers")
    for x in arr:
        if not np.isfinite(x) or abs(x) > _PLAUSIBLE:
            raise ConfigError(f"{name} must be finite K/km within ±{_PLAUSIBLE:g}; got {x!r}")
        if 0 < abs(x) < _TOO_SMALL:
            raise ConfigError(
                f"{name} is in K/km, got {x:g}: did you give K/m? -0.0065 K/m is -6.5 K/km"
            )
    return float(arr[0]) if scalar else tuple(float(x) for x in arr)


def describe(rate: LapseRate) -> str:
    """The lapse rate in words: ``-6.5 K/km`` or ``per month -7.1..-5.9 K/km``."""
    if rate is None or isinstance(rate, str):
        return str(rate)
    if np.ndim(rate) == 0:
        return f"{float(rate):g} K/km"  # type: ignore[arg-type]
    arr = np.asarray(rate, dtype="float64")
    return f"per month {arr.min():g}..{arr.max():g} K/km"


def rate_at(rate: LapseRate, times: Any) -> np.ndarray:
    """The lapse rate (K/km) at each of `times` (datetime64 or cftime): one per month or all.

    Examples
    --------
    >>> t = np.array(["2020-01-15", "2020-07-15"], "datetime64[ns]")
    >>> rate_at(tuple(range(-12, 0)), t).tolist()
    [-12.0, -6.0]
    """
    times = np.asarray(times)
    if rate is None or isinstance(rate, str):
        raise ValueError(f"rate_at takes a resolved lapse rate, not {rate!r}")
    if np.ndim(rate) == 0:
        return np.full(times.shape, float(rate))  # type: ignore[arg-type]
    months = xr.DataArray(times, dims="time").dt.month.values.astype(int)
    return np.asarray(rate, dtype="float64")[months - 1]


def _attrs_of(obs: xr.Dataset, v: str, reference: Mapping[str, Any] | None) -> dict[str, Any]:
    ref = dict(reference or {})
    return {**ref, **{k: a for k, a in obs[v].attrs.items() if k in ("standard_name", "units")}}


def is_temperature(attrs: Mapping[str, Any]) -> bool:
    """Whether a variable with these attributes is temperature-like (adjusted).

    Examples
    --------
    >>> is_temperature({"standard_name": "air_temperature"}), is_temperature({"units": "degC"})
    (True, True)
    >>> is_temperature({"standard_name": "air_potential_temperature", "units": "K"})
    False
    """
    name = attrs.get("standard_name")
    if name:
        return str(name) in TEMPERATURE_NAMES
    return canonical_units(attrs.get("units", "")) in _DEGREES


def _factor(attrs: Mapping[str, Any]) -> float:
    """Units of the variable per K (1.8 for °F)."""
    return _DEGREES.get(canonical_units(attrs.get("units", "K")), 1.0)


def station_altitude(obs: xr.Dataset | xr.DataArray) -> np.ndarray | None:
    """Each station's altitude (m), float64, or None when the stations have none.

    Found by name (``altitude``, ``elevation``, ``height``...) or ``standard_name``
    (``altitude``, ``surface_altitude``, ``height``) among the coordinates along the
    station dimension; km are converted by ``units``.

    Raises
    ------
    InputError
        An altitude that is not numeric or not finite, naming the stations.

    Examples
    --------
    >>> o = xr.Dataset(coords={"station": ["A"], "z": ("station", [1.2], {
    ...     "standard_name": "surface_altitude", "units": "km"})})
    >>> station_altitude(o).tolist()
    [1200.0]
    """
    found = None
    for c in obs.coords:
        da = obs[c]
        if da.ndim != 1 or da.dims[0] == "time":
            continue
        if str(c) in _ALTITUDE_NAMES or da.attrs.get("standard_name") in _ALTITUDE_STANDARD:
            found = da
            break
    if found is None:
        return None
    try:
        z = np.asarray(found.values, dtype="float64")
    except (TypeError, ValueError) as err:
        raise InputError(f"the stations' altitude {found.name!r} is not numeric: {err}") from None
    if canonical_units(found.attrs.get("units", "m")) in ("km", "kilometre", "kilometer"):
        z = z * 1000.0
    bad = ~np.isfinite(z)
    if bad.any():
        ids = np.asarray(obs["station"].values if "station" in obs.coords else np.arange(z.size))
        raise InputError(
            f"the stations' altitude {found.name!r} is missing at {int(bad.sum())} station(s) "
            f"({', '.join(map(str, ids[bad][:10]))}): give each an altitude, or drop the "
            "coordinate to score and condition without the adjustment"
        )
    return z


def find_orography(ds: xr.Dataset | xr.DataArray | None) -> xr.DataArray | None:
    """The orography (m) among `ds`'s variables and coordinates: by name or standard_name.

    Examples
    --------
    >>> g = xr.Dataset({"hgt": (("lat", "lon"), [[100.0]], {"standard_name": "surface_altitude"})})
    >>> find_orography(g).name
    'hgt'
    """
    if ds is None:
        return None
    if isinstance(ds, xr.DataArray):
        return ds
    names = [*map(str, ds.data_vars), *map(str, ds.coords)]
    for n in names:
        if ds[n].attrs.get("standard_name") == "surface_altitude":
            return ds[n]
    for n in names:
        if n in _OROGRAPHY_NAMES and ds[n].ndim >= 2:
            return ds[n]
    return None


def model_orography(model: Any, target: xr.Dataset | None = None) -> xr.DataArray | None:
    """The grid's orography (m) of `model`: its static field, back in physical units.

    On `target` (another domain) it is `target`'s variable of the same name. None when
    the model has no static field that is orography (name or ``standard_name``).

    Examples
    --------
    >>> model_orography(model).dims  # doctest: +SKIP
    ('latitude', 'longitude')
    """
    static = getattr(model, "static", None)
    if static is None or not static.data_vars:
        return None
    found = find_orography(static)
    if found is None:
        return None
    name = str(found.name)
    if target is not None:
        return target[name] if name in target.data_vars else None
    mean, std = model.static_stats.get(name, (0.0, 1.0))
    return (found.astype("float64") * std + mean).rename(name)


def fit_lapse_rate(departure: np.ndarray, mismatch: np.ndarray) -> dict[str, float]:
    """Least-squares lapse rate from station-minus-grid differences and altitude mismatch.

    Fits ``departure = a + rate * (z_station - z_grid) / 1000`` (K, per station and
    time; ``a`` absorbs a constant station bias): ``departure`` ``(time, station)`` is
    station minus grid, `mismatch` ``(station,)`` is ``z_station - z_grid`` in m.

    Returns
    -------
    dict
        ``rate`` (K/km), its standard error ``stderr`` and the ``pairs`` used.

    Raises
    ------
    InputError
        Fewer than 3 pairs, or altitude differences spanning under 50 m (nothing to
        fit: give a number instead).

    Examples
    --------
    >>> dz = np.array([-400.0, 0.0, 500.0])
    >>> fit_lapse_rate(np.array([[2.6, 0.0, -3.25]]), dz)["rate"]
    -6.5
    """
    dep = np.asarray(departure, dtype="float64")
    x = np.broadcast_to(np.asarray(mismatch, dtype="float64") / 1000.0, dep.shape)
    ok = np.isfinite(dep) & np.isfinite(x)
    x, y = x[ok], dep[ok]
    if y.size < 3 or np.ptp(x) * 1000.0 < 50.0:
        span = np.ptp(x) * 1000.0 if x.size else 0.0
        raise InputError(
            f"lapse_rate='fit' needs stations at altitudes that differ from their cells': "
            f"{y.size} station-grid pairs, altitude differences spanning {span:.0f} m; "
            "give a number (K/km) instead"
        )
    xm = x - x.mean()
    rate = float(np.sum(xm * (y - y.mean())) / np.sum(xm**2))
    resid = y - y.mean() - rate * xm
    stderr = float(np.sqrt(np.sum(resid**2) / max(y.size - 2, 1) / np.sum(xm**2)))
    return {"rate": round(rate, 4), "stderr": round(stderr, 4), "pairs": int(y.size)}


def adjust(
    obs: xr.Dataset,
    grid_altitude: np.ndarray | None,
    rate: LapseRate,
    *,
    reference: Mapping[str, Mapping[str, Any]] | None = None,
) -> xr.Dataset:
    """`obs` with its temperature-like variables moved to the grid's altitude, and said so.

    Parameters
    ----------
    obs : xarray.Dataset
        Checked observations (dims ``time``, ``station``) with a station altitude
        (:func:`station_altitude`); without one nothing is adjusted.
    grid_altitude : numpy.ndarray or None
        The grid's orography at each station (m), where the grid's value is read
        (the nearest pixel for condition channels, bilinear for scoring); None: unknown.
    rate : float, 12 floats or None
        The lapse rate (K/km; :func:`check_lapse_rate`); None: no adjustment.
    reference : mapping, optional
        Per variable, the attributes (``standard_name``, ``units``) of the grid variable
        it observes, used where the observation's own are missing.

    Returns
    -------
    xarray.Dataset
        A copy; attributes ``xdeepr_lapse_rate`` (K/km: one or 12 numbers; absent when
        nothing was adjusted) and ``xdeepr_altitude_adjustment`` (what was done, or
        why not); coordinate ``altitude_mismatch`` (m, z_station − z_grid) when both
        altitudes are known.

    Raises
    ------
    ValueError
        For ``rate="fit"`` (fit first: :func:`fit_lapse_rate`).
    """
    if isinstance(rate, str):
        raise ValueError("adjust takes a number or 12 numbers; fit 'fit' first")
    out = obs.copy()
    z_station = station_altitude(obs)
    temps = [
        str(v)
        for v in obs.data_vars
        if is_temperature(_attrs_of(obs, str(v), (reference or {}).get(str(v))))
    ]
    why = None
    if z_station is None:
        why = "no station altitude"
    elif grid_altitude is None:
        why = "no grid orography"
    if why is None:
        mismatch = z_station - np.asarray(grid_altitude, dtype="float64")
        out = out.assign_coords(
            {
                MISMATCH: (
                    "station",
                    mismatch,
                    {"long_name": "station altitude minus grid altitude", "units": "m"},
                )
            }
        )
    if why is None and rate is None:
        why = "lapse_rate=None"
    if why is None and not temps:
        why = "no temperature-like variable"
    if why is not None:
        out.attrs["xdeepr_altitude_adjustment"] = f"none ({why})"
        out.attrs.pop("xdeepr_lapse_rate", None)
        return out
    per_time = rate_at(rate, obs["time"].values)[:, None]  # (time, 1) K/km
    for v in temps:
        factor = _factor(_attrs_of(obs, v, (reference or {}).get(v)))
        shift = per_time * (-mismatch[None, :]) / 1000.0 * factor
        out[v] = (obs[v].transpose("time", "station") + shift).assign_attrs(obs[v].attrs)
    out.attrs["xdeepr_lapse_rate"] = rate if np.ndim(rate) == 0 else list(rate)  # type: ignore[arg-type]
    out.attrs["xdeepr_altitude_adjustment"] = (
        f"{', '.join(temps)} moved to the grid altitude at {describe(rate)} "
        f"({mismatch.size} stations, mismatch {mismatch.min():.0f}..{mismatch.max():.0f} m)"
    )
    return out


def altitude_groups(
    mismatch: np.ndarray, bins: Sequence[float] | None = None
) -> list[tuple[str, np.ndarray]]:
    """Stations grouped by altitude mismatch: ``[(label, station indices), ...]``, non-empty.

    Examples
    --------
    >>> [(k, v.tolist()) for k, v in altitude_groups(np.array([-450.0, 20.0, 350.0]))]
    [('< -300 m', [0]), ('-100..100 m', [1]), ('>= 300 m', [2])]
    """
    edges = [float(b) for b in (ALTITUDE_BINS if bins is None else bins)]
    if not edges or sorted(set(edges)) != edges:
        raise ConfigError(f"altitude_bins must be increasing edges in m, got {bins!r}")
    which = np.digitize(mismatch, edges)
    labels = [f"< {edges[0]:g} m"]
    labels += [f"{a:g}..{b:g} m" for a, b in itertools.pairwise(edges)]
    labels += [f">= {edges[-1]:g} m"]
    return [(lab, np.flatnonzero(which == i)) for i, lab in enumerate(labels) if (which == i).any()]
