"""What a model knows of its inputs, and inputs named or sampled otherwise.

A model records, at training, the CF attributes of its features (``standard_name``,
``units``, ``long_name``, ``cell_methods``) and the training data's time step (the
median spacing of the training times): :func:`input_record`, kept as
``model.inputs`` and written in the model file (optional: files without it load with
``inputs=None``). Before anything reads an input's variables, downscaling

- maps input names to the model's (:func:`match_variables`): by ``variables=``, or
  by an unambiguous CF ``standard_name`` (and convertible units) match, so that a
  CMIP ``tas`` feeds a ``t2m`` model;
- warns (:class:`~xdeepr.errors.TimeStepWarning`) when the input's time step or
  time ``cell_methods`` differ from the training data's (:func:`check_time_step`),
  e.g. daily means given to a 6-hourly model.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2001-01-01", periods=4, freq="6h")
>>> ds = xr.Dataset({"t2m": ("time", np.zeros(4), {"units": "K"})}, coords={"time": t})
>>> input_record(ds, ["t2m"])
{'attrs': {'t2m': {'units': 'K'}}, 'time_step': 21600.0}
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .._util import is_cftime
from ..errors import ConfigError, InputError, TimeStepWarning

if TYPE_CHECKING:
    from .container import DownscalingModel

#: The CF attributes of a feature recorded in the model.
RECORDED = ("standard_name", "units", "long_name", "cell_methods")
_TIME_METHOD = re.compile(r"\btime\s*:\s*([A-Za-z_]+)")
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def input_record(features: xr.Dataset, names: Sequence[str]) -> dict[str, Any]:
    """What the model records of its training features: CF attributes and time step.

    Parameters
    ----------
    features : xarray.Dataset
        The training features, paired by time.
    names : sequence of str
        The feature variables.

    Returns
    -------
    dict
        ``{"attrs": {name: {standard_name, units, long_name, cell_methods}},
        "time_step": seconds or None}`` (None: fewer than two times).

    Examples
    --------
    >>> import xdeepr
    >>> f, _, _ = xdeepr.datasets.load_sample(periods=4)
    >>> input_record(f, ["t2m"])["time_step"]
    21600.0
    """
    attrs = {
        str(v): {k: str(features[v].attrs[k]) for k in RECORDED if k in features[v].attrs}
        for v in names
    }
    return {"attrs": attrs, "time_step": median_step(features["time"])}


def median_step(time: xr.DataArray) -> float | None:
    """Median spacing in seconds of the distinct time stamps (None: fewer than two).

    Works for datetime64 and cftime calendars.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> median_step(xr.DataArray(pd.date_range("2001-01-01", periods=3, freq="D")))
    86400.0
    """
    values = np.asarray(time.values).ravel()
    if values.size < 2:
        return None
    if is_cftime(time):
        days = sorted(set(values.tolist()))
        seconds = np.array([(b - a).total_seconds() for a, b in itertools.pairwise(days)])
    else:
        stamps = np.unique(values.astype("datetime64[ns]"))
        seconds = np.diff(stamps).astype("int64") / 1e9
    return float(np.median(seconds)) if seconds.size else None


def model_attrs(model: DownscalingModel, name: str) -> dict[str, Any]:
    """CF attributes of the model's feature `name`; for files without them, the label's.

    Examples
    --------
    >>> model_attrs(model, "t2m")["standard_name"]  # doctest: +SKIP
    'air_temperature'
    """
    record = getattr(model, "inputs", None) or {}
    attrs = dict(record.get("attrs", {}).get(name) or model.label_attrs.get(name, {}))
    units = model.feature_scaler.units.get(name)
    if units is not None:
        attrs["units"] = units
    return attrs


def match_variables(
    model: DownscalingModel, ds: xr.Dataset, variables: Mapping[str, str] | None = None
) -> tuple[xr.Dataset, dict[str, str]]:
    """`ds` with its variables renamed to the model's names, and what was used for what.

    Each model feature missing from `ds` by name is taken from the input variable
    `variables` maps to it, else from the one input variable whose ``standard_name``
    equals the feature's (and whose units convert to its units). A match that is not
    unique is not guessed.

    Parameters
    ----------
    model : DownscalingModel
    ds : xarray.Dataset
        The coarse input.
    variables : mapping of str to str, optional
        Input name -> model feature name, e.g. ``{"tas": "t2m"}``.

    Returns
    -------
    (xarray.Dataset, dict)
        The renamed input, and ``{model name: how it was found}`` for each variable
        taken under another name (for the output's history).

    Raises
    ------
    ConfigError
        `variables` names an input variable the input lacks, a model variable the model
        does not read, maps two inputs to one model variable, or to a name the input
        already has.
    InputError
        Two input variables share the ``standard_name`` of a missing model variable, or
        two model variables share it (candidates listed; pass ``variables=``).

    Examples
    --------
    >>> cmip, used = match_variables(model, tas_input)  # doctest: +SKIP
    >>> used  # doctest: +SKIP
    {'t2m': "'tas' (standard_name air_temperature)"}
    """
    rename = _checked(model, ds, variables)
    used = {m: f"{i!r} (variables=)" for i, m in rename.items() if i != m}
    have = set(map(str, ds.data_vars)) - set(rename) | set(rename.values())
    taken = set(rename)
    for name in model.features:
        if name in have:
            continue
        sn = str(model_attrs(model, name).get("standard_name", "")).strip()
        if not sn:
            continue
        cands = [
            str(v)
            for v, da in ds.data_vars.items()
            if str(v) not in taken | set(model.features)
            and str(da.attrs.get("standard_name", "")).strip() == sn
            and _convertible(da.attrs.get("units"), model_attrs(model, name).get("units"))
        ]
        peers = [f for f in model.features if model_attrs(model, f).get("standard_name") == sn]
        if not cands:
            continue
        if len(cands) > 1 or len(peers) > 1:
            raise InputError(
                f"cannot tell which input variable to use for the model's {name!r}: the "
                f"input variable(s) {cands} and the model variable(s) {peers} all have "
                f"standard_name {sn!r}; pass variables= to say which, e.g. "
                f"variables={{{cands[0]!r}: {name!r}}}"
            )
        rename[cands[0]] = name
        taken.add(cands[0])
        used[name] = f"{cands[0]!r} (standard_name {sn})"
    rename = {i: m for i, m in rename.items() if i != m}
    return (ds.rename(rename) if rename else ds), used


def _checked(
    model: DownscalingModel, ds: xr.Dataset, variables: Mapping[str, str] | None
) -> dict[str, str]:
    """`variables` validated against the input and the model, as a plain dict."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise ConfigError(
            f"variables must map input names to the model's, e.g. {{'tas': 't2m'}}; got "
            f"{type(variables).__name__}"
        )
    rename = {str(k): str(v) for k, v in variables.items()}
    names = list(map(str, ds.data_vars))
    unknown = [k for k in rename if k not in names]
    if unknown:
        raise ConfigError(
            f"variables= names input variable(s) {unknown} the input lacks (it has {names})"
        )
    foreign = [v for v in rename.values() if v not in model.features]
    if foreign:
        raise ConfigError(
            f"variables= maps to {foreign}, which this model does not read (its variables "
            f"are {model.features})"
        )
    for target in set(rename.values()):
        sources = [k for k, v in rename.items() if v == target]
        if len(sources) > 1:
            raise ConfigError(
                f"variables= maps {sources} all to {target!r}; map one input variable to "
                "each model variable"
            )
        if target in names and target not in rename:
            raise ConfigError(
                f"variables= maps {sources[0]!r} to {target!r}, but the input also has a "
                f"variable {target!r}; drop one (e.g. ds.drop_vars({target!r}))"
            )
    return rename


def _convertible(found: Any, want: Any) -> bool:
    """Whether values in `found` units convert to `want` (either unknown: yes)."""
    if found is None or want is None:
        return True
    from ..units import convert_units

    probe = xr.Dataset({"x": ("n", np.zeros(1), {"units": str(found)})})
    try:
        convert_units(probe, {"x": str(want)})
    except InputError:
        return False
    return True


def history_note(used: Mapping[str, str]) -> str:
    """The output history's words for inputs taken under another name ('' for none).

    Examples
    --------
    >>> history_note({"t2m": "'tas' (variables=)"})
    "input 'tas' (variables=) used as the model's 't2m'"
    """
    return "; ".join(f"input {how} used as the model's {name!r}" for name, how in used.items())


def time_method(cell_methods: Any) -> str:
    """The ``time:`` method of a CF ``cell_methods`` string (``"point"`` when none).

    Examples
    --------
    >>> time_method("area: mean time: mean"), time_method("area: mean"), time_method(None)
    ('mean', 'point', 'point')
    """
    found = _TIME_METHOD.search(str(cell_methods or ""))
    return found.group(1).lower() if found else "point"


def check_time_step(model: DownscalingModel, ds: xr.Dataset) -> None:
    """Warn when `ds`'s time step or time ``cell_methods`` differ from the training data's.

    Nothing is checked for a model file without the record (unknown) or for an input
    of one time (its step is unknown; its ``cell_methods`` still are). Another time
    step alone is not warned about when every input variable says it is
    instantaneous (``cell_methods`` with ``time: point``): a subset of instantaneous
    fields is what the model was trained on.

    Warns
    -----
    TimeStepWarning
        Saying what the model was trained on and what was given, at the user's call.

    Examples
    --------
    >>> check_time_step(model, daily_means)  # doctest: +SKIP
    TimeStepWarning: the model was trained on fields 6 h apart, instantaneous ...
    """
    record = getattr(model, "inputs", None)
    if not record or "time" not in ds.coords:
        return  # unknown (an older file), or no time to check (refused elsewhere)
    trained, given = record.get("time_step"), median_step(ds["time"])
    step_differs = (
        trained is not None and given is not None and abs(given - trained) > 1e-3 * trained
    )
    attrs = record.get("attrs", {})
    methods = {
        v: (
            time_method(attrs.get(v, {}).get("cell_methods")),
            time_method(ds[v].attrs.get("cell_methods")),
        )
        for v in model.features
        if v in ds.data_vars
    }
    differ = {v: m for v, m in methods.items() if m[0] != m[1]}
    declared = [_TIME_METHOD.search(str(ds[v].attrs.get("cell_methods") or "")) for v in methods]
    points = all(d is not None and d.group(1).lower() == "point" for d in declared)
    if not differ and (not step_differs or points):
        return
    was = ", ".join(f"{v}: {_method_words(a)}" for v, (a, _) in methods.items())
    now = ", ".join(f"{v}: {_method_words(b)}" for v, (_, b) in methods.items())
    warnings.warn(
        f"the model was trained on fields {_duration(trained)} apart ({was}); the input "
        f"gives fields {_duration(given)} apart ({now}). Each input time step is downscaled "
        "as a field of the training kind, so the result is not what the model learnt to "
        "produce: give inputs of the training time step and cell_methods"
        + (
            ""
            if differ
            else " (instantaneous fields taken at another step are fine: say so with "
            "cell_methods 'time: point')"
        ),
        TimeStepWarning,
        stacklevel=_user_stacklevel(),
    )


def _method_words(method: str) -> str:
    return "instantaneous" if method == "point" else f"'time: {method}'"


def _duration(seconds: float | None) -> str:
    """``21600.0`` -> ``'6 h'``; None -> ``'an unknown time'``."""
    if seconds is None:
        return "an unknown time"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            text = f"{value:.3g}"
            return f"{text} {'day' if unit == 'days' and text == '1' else unit}"
    return f"{seconds:g} s"


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside xdeepr, for the warnings' caller."""
    frame = sys._getframe(1)  # the function that calls warnings.warn: level 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
