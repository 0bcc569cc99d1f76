"""Units and packing of input variables: what converts, what is refused, and why.

A model records the units of every variable it was trained on. Inputs given to
:func:`xdeepr.train` and ``Dataset.deepr.downscale`` are compared with them:
temperatures in K, °C or °F (with their UDUNITS spellings) and pressures in Pa,
hPa or kPa are converted by an affine table; anything else must match exactly
(after normalising the spelling), or is refused naming the variable, the units
expected and the units found. Data still packed as integers (``scale_factor`` /
``add_offset`` in the attributes: opened with ``mask_and_scale=False``) are refused
with how to decode them.

With pint and cf-xarray's unit registry installed, units outside the table are
converted through pint too.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"t2m": ("x", np.array([0.0, 20.0]), {"units": "degC"})})
>>> out = convert_units(ds, {"t2m": "K"}, what="input")
>>> out.t2m.values.tolist(), out.t2m.attrs["units"]
([273.15, 293.15], 'K')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .errors import InputError

__all__ = ["canonical_units", "check_packed", "check_range", "convert_units"]

#: Spellings of each canonical unit (compared case-insensitively, spaces removed).
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "K": ("k", "kelvin", "kelvins", "degk", "deg_k", "degreek", "degree_k", "degrees_k"),
    "degC": (
        "degc",
        "deg_c",
        "°c",
        "c",
        "celsius",
        "degreec",
        "degree_c",
        "degrees_c",
        "degree_celsius",
        "degrees_celsius",
    ),
    "degF": (
        "degf",
        "deg_f",
        "°f",
        "f",
        "fahrenheit",
        "degreef",
        "degree_f",
        "degrees_f",
        "degree_fahrenheit",
        "degrees_fahrenheit",
    ),
    "Pa": ("pa", "pascal", "pascals"),
    "hPa": ("hpa", "hectopascal", "hectopascals", "mbar", "millibar", "mb"),
    "kPa": ("kpa", "kilopascal", "kilopascals"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "1": ("1", "", "dimensionless", "fraction", "0-1", "(0-1)"),
}
_CANONICAL = {s: name for name, spellings in _SPELLINGS.items() for s in spellings}
#: value_in_base = scale * value + offset, per canonical unit, with the quantity's base.
_AFFINE: dict[str, tuple[str, float, float]] = {
    "K": ("K", 1.0, 0.0),
    "degC": ("K", 1.0, 273.15),
    "degF": ("K", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
    "Pa": ("Pa", 1.0, 0.0),
    "hPa": ("Pa", 100.0, 0.0),
    "kPa": ("Pa", 1000.0, 0.0),
}


def canonical_units(units: Any) -> str:
    """The canonical spelling of `units` (unknown spellings are returned as given, stripped).

    Examples
    --------
    >>> canonical_units("degrees_Celsius"), canonical_units("Kelvin"), canonical_units("m s-1")
    ('degC', 'K', 'm s-1')
    """
    text = str(units).strip()
    return _CANONICAL.get(text.lower().replace(" ", ""), text)


def _affine(found: str, expected: str) -> tuple[float, float] | None:
    """(scale, offset) with expected = scale * found + offset, or None if not convertible."""
    a, b = _AFFINE.get(found), _AFFINE.get(expected)
    if a is None or b is None or a[0] != b[0]:
        return None
    # base = a_s * x + a_o = b_s * y + b_o  =>  y = (a_s x + a_o - b_o) / b_s
    return a[1] / b[1], (a[2] - b[2]) / b[1]


def _pint_factor(found: str, expected: str) -> tuple[float, float] | None:  # pragma: no cover
    """(scale, offset) from pint with cf-xarray's registry, when both are installed."""
    try:
        from cf_xarray.units import units as ureg
    except ImportError:
        return None
    try:
        zero = ureg.Quantity(0.0, found).to(expected).magnitude
        one = ureg.Quantity(1.0, found).to(expected).magnitude
    except Exception:
        return None
    return float(one - zero), float(zero)


def check_packed(ds: xr.Dataset, what: str = "input") -> None:
    """Refuse variables still packed as integers (``scale_factor``/``add_offset`` in attrs).

    Raises
    ------
    xdeepr.errors.InputError
        Naming the variable and how to decode it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> raw = xr.Dataset({"t2m": ("x", np.array([1, 2], "int16"), {"scale_factor": 0.01})})
    >>> check_packed(raw)
    Traceback (most recent call last):
    ...
    xdeepr.errors.InputError: the input variable 't2m' is still packed (int16 ...
    """
    for name, da in ds.data_vars.items():
        packed = [k for k in ("scale_factor", "add_offset") if k in da.attrs]
        if packed:
            raise InputError(
                f"the {what} variable {str(name)!r} is still packed ({da.dtype} values with "
                f"{' and '.join(packed)} in its attributes): decode it first, e.g. open the "
                "file with xr.open_dataset(path) (mask_and_scale=True, the default) or apply "
                "xr.decode_cf(ds)"
            )


def convert_units(
    ds: xr.Dataset, expected: Mapping[Any, Any], *, what: str = "input"
) -> xr.Dataset:
    """Convert the variables of `ds` named in `expected` to those units, or refuse.

    Parameters
    ----------
    ds : xarray.Dataset
    expected : mapping of variable name to units
        Units the model was trained with (None or missing: nothing is checked).
    what : str
        How to call `ds` in messages ("features", "labels", "input").

    Returns
    -------
    xarray.Dataset
        A new Dataset; converted variables carry the expected ``units`` attribute and
        keep their other attributes. Variables without a ``units`` attribute are
        taken to be in the expected units.

    Raises
    ------
    xdeepr.errors.InputError
        Naming the variable, the units expected and the units found.
    """
    check_packed(ds, what)
    out = ds.copy(deep=False)
    for name, want in expected.items():
        if want is None or name not in ds.data_vars or "units" not in ds[name].attrs:
            continue
        found_raw = ds[name].attrs["units"]
        found, target = canonical_units(found_raw), canonical_units(want)
        if found == target:
            if str(found_raw) != str(want):
                out[name] = ds[name].assign_attrs(units=str(want))  # same unit, one spelling
            continue
        factor = _affine(found, target) or _pint_factor(str(found_raw), str(want))
        if factor is None:
            raise InputError(
                f"the {what} variable {str(name)!r} is in {found_raw!r}, but the model was "
                f"trained on {want!r} and xdeepr cannot convert between them; convert it "
                f"first (e.g. with pint-xarray) and set its 'units' attribute"
            )
        scale, offset = factor
        attrs = {**ds[name].attrs, "units": str(want)}
        converted = ds[name] * scale + offset
        out[name] = converted.astype(ds[name].dtype, copy=False).assign_attrs(attrs)
    return out


def check_range(
    ds: xr.Dataset,
    stats: Mapping[Any, tuple[float, float]],
    *,
    what: str = "input",
    sigmas: float = 10.0,
) -> None:
    """Refuse values more than `sigmas` training standard deviations from the training mean.

    One lazy pass (min and max of each variable, computed together). This catches
    wrong units that carry no ``units`` attribute (°C given to a Kelvin model), raw
    packed counts and fill values that were never masked.

    Parameters
    ----------
    stats : mapping of variable name to (mean, std)
        Training statistics of each variable.
    sigmas : float
        The allowed distance from the mean, in standard deviations (default 10).

    Raises
    ------
    xdeepr.errors.InputError
        Naming the variable, the range found and the range allowed.
    """
    names = [n for n in stats if n in ds.data_vars]
    if not names:
        return
    import dask

    lows = {n: ds[n].min() for n in names}
    highs = {n: ds[n].max() for n in names}
    lows, highs = dask.compute(lows, highs)
    for n in names:
        mean, std = (float(v) for v in stats[n])
        lo, hi = float(lows[n]), float(highs[n])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue  # NaN/Inf are reported by the finiteness checks, by time stamp
        allowed = (mean - sigmas * std, mean + sigmas * std)
        if lo < allowed[0] or hi > allowed[1]:
            units = ds[n].attrs.get("units", "units as trained")
            raise InputError(
                f"the {what} variable {str(n)!r} ranges over [{lo:.6g}, {hi:.6g}] {units}, more "
                f"than {sigmas:g} training standard deviations from the training mean "
                f"(allowed [{allowed[0]:.6g}, {allowed[1]:.6g}]): check its units, scaling "
                "and fill values"
            )
