"""Per-variable transforms of the labels: what each target variable is learnt as.

A model learns every label variable in a space that fits its nature, chosen from its
CF ``standard_name`` and ``units`` (:func:`choose`), stated in the model (its ``repr``
and file) and overridable (``xdeepr.train(..., transforms={"tp": "sqrt"})``):

``identity``
    temperature-like fields, and every field not named below;
``log1p``
    non-negative, zero-inflated fields (precipitation amount or flux, snowfall):
    ``y = log(1 + x / scale)``, inverse ``x = scale (exp(y) - 1)``, then every value
    below ``threshold`` (the *dry threshold*, in the variable's units) becomes exactly
    0. The inverse can never give a negative value, and a dry point of the truth
    (below the threshold) is dry in the ensemble wherever its member lies below the
    threshold, so the dry fraction is reproduced rather than smeared into small
    negative and positive values;
``sqrt``
    the same with ``y = sqrt(x / scale)``, inverse ``x = scale y²`` (negative ``y``
    give 0).

Wind given as components (``eastward_wind`` / ``northward_wind``, ``x_wind`` /
``y_wind``) keeps the identity; both components are labels of the same network, so
each member's ``u`` and ``v`` are drawn together, and the wind speed is derived from
them (:func:`wind_speed`, from :mod:`xdeepr.wind`), never drawn separately.

The feature of the same name as a transformed label (the coarse ``tp`` of a ``tp``
model) is transformed alike, so the bicubic mean the network corrects, its residual
and its condition channel all live in the transformed space; the ensemble is turned
back (:func:`inverse`) after the mean is added.

Examples
--------
>>> import numpy as np
>>> t = choose({"standard_name": "precipitation_amount", "units": "kg m-2"})
>>> t.name, t.scale, t.threshold
('log1p', 1.0, 0.1)
>>> x = np.array([0.0, 0.05, 0.1, 3.0])
>>> t.inverse(t.forward(x)).tolist()
[0.0, 0.0, 0.1, 3.0]
>>> float(t.inverse(np.array(-5.0)))
0.0
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

import numpy as np
import xarray as xr

from ._validate import Map, Refused
from .errors import ConfigError, ModelFileError
from .wind import WIND_COMPONENTS, wind_pairs, wind_speed

__all__ = [
    "NAMES",
    "WIND_COMPONENTS",
    "ZERO_INFLATED",
    "Transform",
    "TransformsRule",
    "choose",
    "describe",
    "forward",
    "from_record",
    "inverse",
    "is_zero_inflated",
    "millimetre",
    "resolve",
    "to_record",
    "wind_pairs",
    "wind_speed",
]

#: The transforms there are.
NAMES = ("identity", "log1p", "sqrt")
#: CF standard names of non-negative, zero-inflated fields (``log1p`` by default).
ZERO_INFLATED = frozenset(
    (
        "precipitation_amount precipitation_flux lwe_thickness_of_precipitation_amount "
        "lwe_precipitation_rate convective_precipitation_amount convective_precipitation_flux "
        "stratiform_precipitation_amount stratiform_precipitation_flux rainfall_amount "
        "rainfall_flux thickness_of_rainfall_amount snowfall_amount snowfall_flux "
        "lwe_thickness_of_snowfall_amount lwe_snowfall_rate"
    ).split()
)
#: 1 mm (of water), or 1 mm/h for a rate, in each unit precipitation comes in: the
#: default ``scale``; the default dry ``threshold`` is a tenth of it (0.1 mm).
_MM = {
    "kg m-2": 1.0,
    "kg m**-2": 1.0,
    "kg/m2": 1.0,
    "kg/m^2": 1.0,
    "mm": 1.0,
    "m": 1e-3,
    "kg m-2 s-1": 1.0 / 3600.0,
    "kg m**-2 s**-1": 1.0 / 3600.0,
    "mm s-1": 1.0 / 3600.0,
    "m s-1": 1e-3 / 3600.0,
    "mm h-1": 1.0,
    "mm/h": 1.0,
    "mm hr-1": 1.0,
    "mm day-1": 24.0,
    "mm d-1": 24.0,
    "mm/day": 24.0,
}

T = TypeVar("T", np.ndarray, xr.DataArray)


@dataclass(frozen=True)
class Transform:
    """How one label variable is learnt: ``name``, its ``scale`` and dry ``threshold``.

    Attributes
    ----------
    name : {"identity", "log1p", "sqrt"}
    scale : float
        Unit of the non-negative transforms, in the variable's units (``x / scale``
        enters the function); 1 mm (or 1 mm/h) by default.
    threshold : float
        Dry threshold, in the variable's units: inverted values below it become
        exactly 0 (non-negative transforms only; 0.1 mm by default).
    units : str
        The variable's units, as the scale and threshold are stated in.
    reason : str
        Why it was chosen (``"standard_name 'precipitation_amount'"``, ``"given"``...).
    cut : float or None
        The dry cut fitted on validation (:mod:`xdeepr.model.drycut`): when set, the
        ensemble's values below it, rather than below `threshold`, become 0, so that
        its dry fraction matches the truth's; ``inverse(..., calibrated=False)``
        ignores it.

    Examples
    --------
    >>> import numpy as np
    >>> t = Transform("sqrt", scale=1.0, threshold=0.2, units="mm")
    >>> t.inverse(np.array([-1.0, 0.3, 2.0])).tolist()
    [0.0, 0.0, 4.0]
    >>> str(t)
    'sqrt(x / 1 mm), dry below 0.2 mm'
    """

    name: str = "identity"
    scale: float = 1.0
    threshold: float = 0.0
    units: str = ""
    reason: str = ""
    cut: float | None = None

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise ConfigError(f"unknown transform {self.name!r}; choose one of {list(NAMES)}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"a transform's scale must be a number > 0, got {self.scale!r}")
        if not (np.isfinite(self.threshold) and self.threshold >= 0):
            raise ConfigError(
                f"a transform's dry threshold must be a number >= 0, got {self.threshold!r}"
            )
        if self.cut is not None and not (np.isfinite(self.cut) and self.cut >= 0):
            raise ConfigError(f"a transform's dry cut must be a number >= 0, got {self.cut!r}")

    @property
    def nonnegative(self) -> bool:
        """Whether the inverse is never negative (every transform but the identity)."""
        return self.name != "identity"

    def forward(self, x: T) -> T:
        """The learnt value of physical `x` (numpy or xarray, lazy on dask)."""
        if self.name == "identity":
            return x
        z = np.maximum(x, 0.0) / self.scale
        return cast(T, np.log1p(z) if self.name == "log1p" else np.sqrt(z))

    def inverse(self, y: T, calibrated: bool = True) -> T:
        """Physical value of learnt `y`: never negative, 0 below the dry threshold (cut)."""
        if self.name == "identity":
            return y
        x = self.scale * (np.expm1(y) if self.name == "log1p" else np.square(np.maximum(y, 0.0)))
        low = self.cut if calibrated and self.cut is not None else self.threshold
        if isinstance(x, xr.DataArray):
            return cast(T, x.where(x >= low, 0.0))
        return cast(T, np.where(x >= low, x, 0.0).astype(np.result_type(x)))

    def __str__(self) -> str:
        if self.name == "identity":
            return "identity"
        u = f" {self.units}" if self.units else ""
        fn = "log(1 + x / {s})" if self.name == "log1p" else "sqrt(x / {s})"
        text = fn.format(s=f"{self.scale:g}{u}") + f", dry below {self.threshold:g}{u}"
        return text + (f" (members cut below {self.cut:.3g}{u})" if self.cut is not None else "")


def millimetre(units: str) -> float | None:
    """1 mm of water (1 mm/h for a rate) in `units`, or None for units not known.

    Examples
    --------
    >>> millimetre("m"), millimetre("kg m-2"), millimetre("K")
    (0.001, 1.0, None)
    """
    return _MM.get(str(units).strip())


def is_zero_inflated(attrs: Mapping[Any, Any]) -> bool:
    """Whether `attrs` (a variable's) name a non-negative, zero-inflated field.

    Examples
    --------
    >>> is_zero_inflated({"standard_name": "precipitation_flux"})
    True
    >>> is_zero_inflated({"standard_name": "air_temperature"})
    False
    """
    return str(attrs.get("standard_name", "")) in ZERO_INFLATED


def choose(attrs: Mapping[Any, Any], name: str = "") -> Transform:
    """The transform of a variable with CF attributes `attrs` (``standard_name``, ``units``).

    ``log1p`` with a 1 mm scale and a 0.1 mm dry threshold (in the variable's units:
    ``m`` gives 0.001 and 0.0001, ``kg m-2 s-1`` 1 mm/h) for a zero-inflated
    ``standard_name`` (:data:`ZERO_INFLATED`); the identity otherwise. Units not known
    for precipitation keep the scale 1 and threshold 0.1, with a warning.

    Examples
    --------
    >>> str(choose({"standard_name": "precipitation_amount", "units": "m"}))
    'log(1 + x / 0.001 m), dry below 0.0001 m'
    >>> choose({"standard_name": "air_temperature", "units": "K"}).name
    'identity'
    """
    std = str(attrs.get("standard_name", ""))
    units = str(attrs.get("units", "")).strip()
    if std not in ZERO_INFLATED:
        return Transform("identity", units=units, reason=f"standard_name {std!r}" if std else "")
    mm = _MM.get(units)
    if mm is None:
        warnings.warn(
            f"{name or 'a variable'} ({std}) has units {units!r}, not known to xdeepr: its "
            "log1p transform uses scale 1 and dry threshold 0.1 in those units; state them "
            f"with transforms={{{name!r}: {{'name': 'log1p', 'scale': ..., 'threshold': ...}}}}",
            UserWarning,
            stacklevel=3,
        )
        mm = 1.0
    return Transform("log1p", mm, 0.1 * mm, units, f"standard_name {std!r}")


def _given(value: Any, auto: Transform, var: str) -> Transform:
    """`auto` overridden by a name or a mapping {name, scale, threshold}."""
    if isinstance(value, Transform):
        return value
    spec = {"name": value} if isinstance(value, str) else dict(value)
    unknown = sorted(set(spec) - {"name", "scale", "threshold"})
    if unknown:
        raise ConfigError(
            f"transforms[{var!r}] has unknown key(s) {unknown}; use 'name', 'scale', 'threshold'"
        )
    name = str(spec.get("name", auto.name))
    base = auto if auto.name != "identity" else Transform("log1p", *_defaults(auto.units))
    scale = float(spec.get("scale", base.scale))
    threshold = float(spec.get("threshold", base.threshold if name != "identity" else 0.0))
    try:
        return Transform(name, scale, threshold, auto.units, "given")
    except ConfigError as err:
        raise ConfigError(f"transforms[{var!r}]: {err}") from None


def _defaults(units: str) -> tuple[float, float]:
    mm = _MM.get(units, 1.0)
    return mm, 0.1 * mm


def resolve(
    labels: xr.Dataset, variables: Iterable[str], given: Mapping[str, Any] | None = None
) -> dict[str, Transform]:
    """The transform of each label variable: chosen (:func:`choose`), or as `given`.

    Parameters
    ----------
    labels : xarray.Dataset
        The label variables with their CF attributes.
    variables : iterable of str
        The label variables, in order.
    given : mapping, optional
        Overrides, variable to a transform name or ``{"name", "scale", "threshold"}``
        (missing keys: the chosen transform's, or 1 mm / 0.1 mm).

    Raises
    ------
    ConfigError
        For an override of a variable that is not a label, or a wrong name or value.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"tp": ((), 0.0, {"standard_name": "precipitation_amount",
    ...                                   "units": "kg m-2"})})
    >>> str(resolve(ds, ["tp"], {"tp": {"threshold": 0.05}})["tp"])
    'log(1 + x / 1 kg m-2), dry below 0.05 kg m-2'
    """
    names = [str(v) for v in variables]
    given = dict(given or {})
    stray = sorted(set(given) - set(names))
    if stray:
        raise ConfigError(
            f"transforms= names {stray}, which are not label variables (the labels are "
            f"{names}); name a label variable"
        )
    out = {}
    for v in names:
        auto = choose(labels[v].attrs, v)
        out[v] = _given(given[v], auto, v) if v in given else auto
    return out


def _apply(
    ds: xr.Dataset, transforms: Mapping[str, Transform], inverse_: bool, calibrated: bool = True
) -> xr.Dataset:
    out = ds.copy()
    for v, t in transforms.items():
        if v in ds.data_vars and t.name != "identity":
            da = ds[v]
            res = t.inverse(da, calibrated) if inverse_ else t.forward(da)
            res = res.astype(da.dtype) if np.issubdtype(da.dtype, np.floating) else res
            res.attrs, res.encoding = dict(da.attrs), dict(da.encoding)
            out[v] = res
    return out


def forward(ds: xr.Dataset, transforms: Mapping[str, Transform] | None) -> xr.Dataset:
    """`ds` with each variable named in `transforms` in its learnt space (attrs kept).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"tp": ("x", [0.0, 1.0])})
    >>> forward(ds, {"tp": Transform("sqrt")}).tp.values.tolist()
    [0.0, 1.0]
    """
    return _apply(ds, transforms or {}, False)


def inverse(
    ds: xr.Dataset, transforms: Mapping[str, Transform] | None, calibrated: bool = True
) -> xr.Dataset:
    """`ds` with each variable named in `transforms` back in physical units (attrs kept).

    ``calibrated=False`` ignores fitted dry cuts (the nominal dry thresholds apply).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"tp": ("x", [-0.5, 0.01, 2.0])})
    >>> inverse(ds, {"tp": Transform("sqrt", threshold=0.1)}).tp.values.tolist()
    [0.0, 0.0, 4.0]
    """
    return _apply(ds, transforms or {}, True, calibrated)


def to_record(transforms: Mapping[str, Transform]) -> dict[str, dict[str, Any]]:
    """The transforms as plain values, for the model file (:func:`from_record` reads it)."""
    # no cut fitted: no key, so models from before dry cuts keep their identities
    return {v: {k: x for k, x in asdict(t).items() if x is not None} for v, t in transforms.items()}


def from_record(record: Any, labels: Iterable[str]) -> dict[str, Transform]:
    """Transforms from a model file's ``transforms`` entry (None: identity for all).

    Raises
    ------
    ModelFileError
        When the entry is not a mapping of label variables to transforms.

    Examples
    --------
    >>> from_record(None, ["t2m"])["t2m"].name
    'identity'
    """
    names = [str(v) for v in labels]
    if record is None:
        return {v: Transform() for v in names}
    if not isinstance(record, Mapping) or set(map(str, record)) - set(names):
        raise ModelFileError(
            f"the model file's 'transforms' entry must map label variables {names} to "
            f"transforms, got {str(record)[:200]}"
        )
    out = {}
    for v in names:
        item = record.get(v, {})
        if isinstance(item, Transform):
            out[v] = item
            continue
        try:
            out[v] = Transform(
                **{
                    k: item[k]
                    for k in ("name", "scale", "threshold", "units", "reason", "cut")
                    if k in item
                }
            )
        except (ConfigError, TypeError, ValueError) as err:
            raise ModelFileError(f"the model file's transform of {v!r} is refused: {err}") from None
    return out


def describe(
    transforms: Mapping[str, Transform], attrs: Mapping[str, Mapping[Any, Any]]
) -> list[str]:
    """One indented line per transformed variable and wind pair, for a model's ``repr``.

    Examples
    --------
    >>> describe({"tp": Transform("sqrt", units="mm")}, {"tp": {}})
    ['  transform tp: sqrt(x / 1 mm), dry below 0 mm']
    """
    lines = [f"  transform {v}: {t}" for v, t in transforms.items() if t.name != "identity"]
    lines += [
        f"  transform {u}, {v}: wind components, drawn together (speed derived per member)"
        for u, v in wind_pairs(attrs)
    ]
    return lines


class TransformsRule(Map):
    """Rule of ``TrainConfig.transforms``: variable -> name or {name, scale, threshold}."""

    @property
    def allowed(self) -> str:
        return (
            f"a mapping of label variables to a transform name {list(NAMES)} or to "
            "{'name': ..., 'scale': ..., 'threshold': ...}"
        )

    def accept(self, value: Any) -> dict[str, Any]:
        out = super().accept(value)
        for var, spec in out.items():
            item = {"name": spec} if isinstance(spec, str) else spec
            if not isinstance(item, Mapping) or set(item) - {"name", "scale", "threshold"}:
                raise Refused(why=f": the entry of {var!r} is not a name or such a mapping")
            try:
                _given(item, Transform(), str(var))
            except (ConfigError, TypeError, ValueError) as err:
                raise Refused(why=f": {err}") from None
        return {str(k): (v if isinstance(v, str) else dict(v)) for k, v in out.items()}
