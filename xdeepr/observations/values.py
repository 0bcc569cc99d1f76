"""Station values: in the model's units (converted, or refused), and counted when used.

Station values go through the conversion and refusal of gridded input
(:func:`xdeepr.units.convert_units`): a ``units`` attribute the model's units can be
reached from is converted (°C and °F to K, hPa to Pa...), any other is refused. A
value without a ``units`` attribute is taken to be in the model's units, but checked
against the range trained on (:func:`xdeepr.units.check_range`): °C given to a kelvin
model is refused with a message saying to set ``units``.

:func:`~xdeepr.observations.match_times` counts the values a field's times use.

Examples
--------
>>> import numpy as np, xarray as xr
>>> obs = xr.Dataset({"t2m": (("time", "station"), [[20.0]], {"units": "degC"})})
>>> to_units(obs, {"t2m": "K"}).t2m.values.tolist()
[[293.15]]
>>> bare = xr.Dataset({"t2m": (("time", "station"), [[20.0]])})
>>> to_units(bare, {"t2m": "K"}, {"t2m": (270.0, 5.0)})
Traceback (most recent call last):
...
xdeepr.errors.InputError: the station observations' variable 't2m' has no 'units' ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..errors import InputError
from ..units import canonical_units, check_range, convert_units

if TYPE_CHECKING:
    from ..model import DownscalingModel

__all__ = ["field_stats", "model_units", "to_units"]

#: Units of the variables whose values are checked for plausibility (wrong units shift
#: a temperature by 273 K; other quantities' spreads are too wide to tell).
TEMPERATURES = ("K", "degC", "degF")
#: The reference (mean, std) of a temperature without statistics: 10 std either side
#: spans what the Earth's air has (150..350 K), but not the other units' values.
PHYSICAL = {"K": (250.0, 10.0), "degC": (-23.15, 10.0), "degF": (-9.67, 18.0)}
#: The plausibility check allows this many standard deviations from the reference mean.
SIGMAS = 10.0
#: ...and a standard deviation of at least this fraction of the mean's magnitude.
STD_FLOOR = 0.01

_SET_UNITS = (
    "set its units: obs[{v!r}].attrs['units'] = 'degC' (or the units it is in), "
    "stations_from_table(..., units='degC'), or a 'units' column in a CSV table; "
    "xdeepr then converts it to {want}"
)


def model_units(
    model: DownscalingModel,
) -> tuple[dict[str, str], dict[str, tuple[float, float]]]:
    """The units of `model`'s label variables and, where known, their training (mean, std).

    The (mean, std) are those of the feature of the same name (the coarse input of
    that variable): the label scaler may hold residual statistics.

    Examples
    --------
    >>> model_units(model)[0]  # doctest: +SKIP
    {'t2m': 'K'}
    """
    units: dict[str, str] = {}
    for v in model.labels:
        u = model.label_attrs.get(v, {}).get("units") or model.label_scaler.units.get(v)
        if u:
            units[v] = str(u)
    features = model.feature_stats()
    stats = {v: features[v] for v in model.labels if v in features}
    return units, stats


def to_units(
    obs: xr.Dataset,
    units: Mapping[str, str | None],
    stats: Mapping[str, tuple[float, float]] | None = None,
    *,
    what: str = "station observations",
) -> xr.Dataset:
    """`obs` with each variable in `units`: converted, checked, or refused.

    Parameters
    ----------
    obs : xarray.Dataset
        Checked observations (:func:`~xdeepr.observations.check_observations`), variables
        named as in `units`.
    units : mapping of str to str
        The units each variable must be in (the model's, the truth's).
    stats : mapping of str to (mean, std), optional
        A reference (mean, std) per variable in those units (default: :data:`PHYSICAL`,
        the air's); for temperatures (units K, °C or °F), values more than
        :data:`SIGMAS` standard deviations (at least :data:`STD_FLOOR` × |mean|) from
        the mean are refused, naming the ``units`` attribute (or its absence).
    what : str
        How to call `obs` in messages.

    Returns
    -------
    xarray.Dataset
        A copy; converted variables carry the new ``units`` attribute, variables without
        one get it.

    Raises
    ------
    InputError
        Units that cannot be converted (naming both), or values outside the
        plausible range (naming the range, the units found and how to set them).
    """
    wanted = {v: u for v, u in units.items() if u and v in obs.data_vars}
    out = convert_units(obs, wanted, what=f"{what}'")
    for v, want in wanted.items():
        kind = canonical_units(want)
        if kind not in TEMPERATURES:
            continue
        mean, std = (stats or {}).get(v, PHYSICAL[kind])
        spread = max(float(std), STD_FLOOR * abs(float(mean)), float(np.finfo("float32").eps))
        try:
            check_range(out[[v]], {v: (float(mean), spread)}, what=f"{what}'", sigmas=SIGMAS)
        except InputError as err:
            if "units" not in obs[v].attrs:
                fix = _SET_UNITS.format(v=v, want=want)
                raise InputError(
                    f"the {what}' variable {v!r} has no 'units' attribute and its values "
                    f"are implausible in {want} ({err}); {fix}"
                ) from None
            raise InputError(
                f"{err}; its 'units' attribute says {obs[v].attrs['units']!r}: correct it"
            ) from None
    for v, u in wanted.items():
        if "units" not in out[v].attrs:
            out[v] = out[v].assign_attrs(units=u)
    return out


def field_stats(field: xr.Dataset, names: Any) -> dict[str, tuple[float, float]]:
    """(mean, std) of each variable of `field` among `names` (a reference for :func:`to_units`).

    Examples
    --------
    >>> field_stats(xr.Dataset({"t2m": ("x", [270.0, 272.0])}), ["t2m"])
    {'t2m': (271.0, 1.0)}
    """
    out = {}
    for v in names:
        if v in field.data_vars and np.issubdtype(field[v].dtype, np.number):
            mean, std = xr.Dataset({"m": field[v].mean(), "s": field[v].std()}).compute().values()
            if np.isfinite(float(mean)):
                out[str(v)] = (float(mean), float(std))
    return out
