"""Checks of a model's content before a model is built from it (at load, once).

:func:`check_content` looks at the mapping a model file holds (header values decoded,
tensors in place: :func:`xdeepr.model.parts.model_kwargs` calls it) and refuses, with
a :class:`~xdeepr.errors.ModelFileError` naming the header entry or tensor, its value
and what to do, anything that would otherwise load and fail later or, worse, give a
silently wrong ensemble:

- header values of the wrong type or out of range: the entries that are
  :class:`~xdeepr.TrainConfig` fields (``learn_residuals``, ``prediction``, the
  network's sizes, every field of ``config``) by the field's own rule
  (:mod:`xdeepr._validate`), the others by simple type rules;
- a header nested deeper than :data:`MAX_DEPTH`;
- non-finite weights, scaler statistics, static fields or grid coordinates, and
  scalers with a standard deviation that is not > 0;
- scalers whose statistics do not have the shape their method and grid give, or
  that lack a variable of the model;
- static names that are not the stored static fields, a network whose channels do
  not fit the variables and static fields;
- a network configuration whose tensors would not have the stored tensors' shapes or
  number of parameters, checked on torch's ``meta`` device (nothing allocated).

Examples
--------
>>> check_content({"prediction": "x0"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
xdeepr.errors.ModelFileError: header entry 'prediction' must be one of ['epsilon', 'v'], got...
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validate import BOOL, Choice, Float, Int, Map, OrNone, Refused, Rule, Seq, Text, refusal
from .._validate import shown as _shown
from ..errors import ModelFileError
from ..nn import UNet
from ..scaling import METHODS

__all__ = ["FIX", "MAX_DEPTH", "check_content", "check_depth"]

#: The deepest nesting of lists and mappings a model header may have (xdeepr writes 6).
MAX_DEPTH = 64
#: What to do about a damaged or edited file, said at the end of each refusal.
FIX = "re-save the model from a good copy (model.save) or re-train it"


@dataclass(frozen=True)
class _List(Rule):
    """A JSON list (never one value standing for a list) of `item` values."""

    item: Rule
    text: str
    empty: bool = False
    unique: bool = True

    @property
    def allowed(self) -> str:
        return self.text

    def accept(self, value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)) or (not value and not self.empty):
            raise Refused()
        out = [self.item.accept(v) for v in value]
        if self.unique and len(set(map(str, out))) != len(out):
            raise Refused(typed=False, why=" (a name is repeated)")
        return out


_NAME = Text("a name")
_NAMES = _List(_NAME, "a list of distinct names")
_STEP = Float(note="the grid step in degrees, not 0")
#: Header entries (``/``-joined paths) that are not TrainConfig fields, and their rules.
_RULES: dict[str, Rule] = {
    **{k: Map() for k in ("network", "scalers", "variables", "label_grid", "static")},
    "variables/features": _NAMES,
    "variables/labels": _NAMES,
    "label_grid/lat_name": _NAME,
    "label_grid/lon_name": _NAME,
    "label_attrs": Map(),
    "feature_grid": Map(),
    "feature_grid/lat_step": _STEP,
    "feature_grid/lon_step": _STEP,
    "static/names": _List(_NAME, "a list of distinct names (may be empty)", empty=True),
    "static/stats": Map(),
    "schedule": Map(),
    "schedule/name": _NAME,
    "schedule/num_steps": Int(1),
    "schedule/zero_terminal_snr": BOOL,
    "schedule/beta_start": Float(0.0, 1.0, lo_open=True),
    "schedule/beta_end": Float(0.0, 1.0, lo_open=True),
    "config": Map(),
    "summary": OrNone(Map()),
    "observations": OrNone(Map()),
    "observations/channels": _List(_NAME, "a list of distinct channel names", empty=True),
    "inputs": OrNone(Map()),
    "climatology/names": _NAMES,
    "climatology/hour": _List(Int(-1, 24), "a list of hours in [-1, 24)"),
    "climatology/by_hour": BOOL,
    # a student of xdeepr.distill: sampled "onepass" in this many network evaluations
    "config/distillation": OrNone(Map()),
    "config/distillation/evaluations": Int(1, 3),
    "config/distillation/method": Choice(("crps",)),
}
for _net in ("network", "regression"):
    _RULES[f"{_net}/config"] = Map()
    _RULES[f"{_net}/config/image_channels"] = Int(1)
    _RULES[f"{_net}/config/conditioned_on_input"] = Int(0)
for _which in ("scalers/features", "scalers/labels", "regression/scaler"):
    _RULES[_which] = Map()
    _RULES[f"{_which}/method"] = Choice(METHODS)
    _RULES[f"{_which}/by_month"] = BOOL
    _RULES[f"{_which}/mean"] = Map()
    _RULES[f"{_which}/std"] = Map()
#: The network settings that size its tensors, quoted when they do not fit the file.
_SIZING = (
    "n_channels",
    "channel_multipliers",
    "n_blocks",
    "image_channels",
    "conditioned_on_input",
)
#: Header entries checked by the rule of the TrainConfig field of the same name.
_NETWORK_FIELDS = ("n_channels", "channel_multipliers", "is_attention", "n_blocks", "dropout")
_CONFIG_FIELDS = (
    "learn_residuals",
    "prediction",
    *(
        f"{net}/config/{k}"
        for net in ("network", "regression")
        for k in (*_NETWORK_FIELDS, "calendar")
    ),
)


def _refuse(what: str, why: str) -> ModelFileError:
    return ModelFileError(f"{what} {why}; {FIX}")


def _lookup(d: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("/"):
        if not isinstance(d, Mapping) or part not in d:
            return False, None
        d = d[part]
    return True, d


def _check(path: str, value: Any, rule: Rule) -> None:
    if isinstance(rule, Seq) and not isinstance(value, (list, tuple)):  # one value, no list
        raise ModelFileError(f"{refusal(f'header entry {path!r}', rule.allowed, value)}; {FIX}")
    try:
        rule.accept(value)
    except Refused as err:
        msg = refusal(f"header entry {path!r}", rule.allowed, value, typed=err.typed, why=err.why)
        raise ModelFileError(f"{msg}; {FIX}") from None


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse lists and mappings nested deeper than `limit` (walked without recursion).

    Examples
    --------
    >>> deep: list = []
    >>> for _ in range(100):
    ...     deep = [deep]
    >>> check_depth({"config": {"extra": deep}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xdeepr.errors.ModelFileError: the header is nested more than 64 deep (at 'config/extra/0/...
    """
    stack = [(value, 0, "")]
    while stack:
        v, depth, path = stack.pop()
        if depth > limit:
            raise _refuse(
                f"the header is nested more than {limit} deep (at {path[:80] + '/...'!r})",
                "(xdeepr writes 6 levels: the file was edited or built to exhaust the reader)",
            )
        if isinstance(v, Mapping):
            stack.extend((x, depth + 1, f"{path}/{k}" if path else str(k)) for k, x in v.items())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, depth + 1, f"{path}/{i}" if path else str(i)) for i, x in enumerate(v))


def check_content(d: Mapping[str, Any]) -> None:
    """Refuse a model mapping whose values or tensors would give a wrong or failing model.

    Entries that are absent are left to the reader, which names them.

    Raises
    ------
    ModelFileError
        Naming the header entry or tensor, its value and what to do.
    """
    from ..training.config import TrainConfig  # here: training imports the model package

    check_depth(d)
    rules = {f.name: f.metadata["rule"] for f in dataclasses.fields(TrainConfig)}
    for path in _CONFIG_FIELDS:
        found, value = _lookup(d, path)
        if found:
            _check(path, value, rules[path.rsplit("/", 1)[-1]])
    for path, rule in _RULES.items():
        found, value = _lookup(d, path)
        if found:
            _check(path, value, rule)
    config = d.get("config")
    for name, value in (config or {}).items() if isinstance(config, Mapping) else ():
        if name in rules:
            _check(f"config/{name}", value, rules[name])
    _check_grid(d)
    _check_static(d)
    for which, variables in (
        ("scalers/features", d.get("variables", {}).get("features")),
        ("scalers/labels", d.get("variables", {}).get("labels")),
        ("regression/scaler", None),
    ):
        _check_scaler(d, which, variables)
    for net in ("network", "regression"):
        _check_network(d, net)


# ------------------------------------------------------------------ tensors
def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in (value.shape if hasattr(value, "shape") else np.shape(value)))


def _nonfinite(value: Any) -> int:
    """Number of NaN and infinite values in a tensor, an array or a number (0 for ints)."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return 0
        return int((~torch.isfinite(value)).sum())
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc":
        return 0
    return int((~np.isfinite(arr)).sum())


def _finite(path: str, value: Any, what: str) -> None:
    bad = _nonfinite(value)
    if bad:
        size = math.prod(_shape(value))
        raise _refuse(f"the tensor {path!r} holds {bad} NaN or infinite value(s) of {size}", what)


def _check_grid(d: Mapping[str, Any]) -> None:
    for key in ("lat", "lon"):
        found, value = _lookup(d, f"label_grid/{key}")
        if not found:
            continue
        path, arr = f"label_grid/{key}", np.asarray(value, dtype="float64")
        if arr.ndim != 1 or arr.size < 2:
            raise _refuse(f"the tensor {path!r} has shape {list(arr.shape)}", "(need 1-D, >= 2)")
        _finite(path, arr, "(grid coordinates must be numbers)")
        step = np.diff(arr)
        if not ((step > 0).all() or (step < 0).all()):
            raise _refuse(f"the tensor {path!r}", "is not strictly monotonic")


def _grid_shape(d: Mapping[str, Any]) -> tuple[int, int] | None:
    (a, lat), (b, lon) = _lookup(d, "label_grid/lat"), _lookup(d, "label_grid/lon")
    return (_shape(lat)[0], _shape(lon)[0]) if a and b else None


def _check_static(d: Mapping[str, Any]) -> None:
    found, static = _lookup(d, "static")
    if not found or not {"names", "values", "stats"} <= set(static):  # else: named as lacking
        return
    names, values = [str(n) for n in static["names"]], static["values"]
    missing, extra = sorted(set(names) - set(values)), sorted(set(values) - set(names))
    if missing or extra:
        raise _refuse(
            f"header entry 'static/names' is {_shown(names)}, the stored static fields "
            f"'static/values' are {_shown(sorted(values))}",
            f"(named but not stored: {missing}; stored but not named: {extra}): the static "
            "channels would not match the network",
        )
    stats = static["stats"]
    if sorted(stats) != sorted(names):
        raise _refuse(
            f"header entry 'static/stats' has {_shown(sorted(stats))}",
            f"where 'static/names' has {_shown(sorted(names))}",
        )
    for name in names:
        _finite(f"static/values/{name}", values[name], "(static channels must be numbers)")
        v = stats[name]
        ok = isinstance(v, (list, tuple)) and len(v) == 2
        ok = ok and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)
        if not ok or not v[1] > 0:
            raise _refuse(
                f"header entry 'static/stats/{name}' is {_shown(v)}",
                "(need [mean, std], finite numbers with std > 0)",
            )


def _check_scaler(d: Mapping[str, Any], which: str, variables: Any) -> None:
    found, sc = _lookup(d, which)
    if not found or not isinstance(sc, Mapping) or not {"mean", "std", "method"} <= set(sc):
        return
    mean, std, method = sc["mean"], sc["std"], sc["method"]
    lacking = [v for v in variables or () if v not in mean or v not in std]
    if lacking or set(mean) != set(std):
        raise _refuse(
            f"the scaler {which!r} has statistics for {_shown(sorted(mean))} (mean) and "
            f"{_shown(sorted(std))} (std)",
            f"where the model needs {_shown(list(variables or sorted(mean)))}",
        )
    grid = sc.get("grid") or {}
    lead = (12,) if sc.get("by_month") else ()
    if method == "domain-wise":
        want, text = lead, "domain-wise"
    elif method == "landmask-wise":
        want, text = (*lead, 2), "landmask-wise (sea, land)"
    else:
        if "lat" not in grid or "lon" not in grid:
            raise _refuse(f"the pixel-wise scaler {which!r}", "lacks its grid ('grid/lat', 'lon')")
        want, text = (*lead, _shape(grid["lat"])[0], _shape(grid["lon"])[0]), "pixel-wise"
        label = _grid_shape(d)
        if which != "scalers/features" and label is not None and want[-2:] != label:
            raise _refuse(
                f"the pixel-wise scaler {which!r} has a {list(want[-2:])} grid",
                f"where the label grid is {list(label)}",
            )
    for stat in ("mean", "std"):
        for name, value in sc[stat].items():
            path = f"{which}/{stat}/{name}"
            if _shape(value) != want:
                month = " by month" if lead else ""
                raise _refuse(
                    f"the tensor {path!r} has shape {list(_shape(value))}",
                    f"where a {text} scaler{month} has {list(want)}",
                )
            _finite(path, value, "(scaler statistics must be numbers)")
            if stat == "std" and not bool((np.asarray(value, "float64") > 0).all()):
                raise _refuse(
                    f"the tensor {path!r} holds a standard deviation of "
                    f"{float(np.asarray(value, 'float64').min()):g}",
                    "(need > 0: a degenerate scaler would change the output silently)",
                )


#: The UNet's defaults, for a network configuration that leaves a setting out.
_UNET = {k: p.default for k, p in inspect.signature(UNet).parameters.items()}


def _check_network(d: Mapping[str, Any], net: str) -> None:
    (a, config), (b, stored) = _lookup(d, f"{net}/config"), _lookup(d, f"{net}/state_dict")
    if not a or not b or not isinstance(stored, Mapping):
        return
    for name, value in stored.items():
        _finite(f"{net}/state_dict/{name}", value, "(the weights are damaged)")
    found, training = _lookup(d, f"{net}/training_state")
    for name, value in (training or {}).items() if found and isinstance(training, Mapping) else ():
        _finite(f"{net}/training_state/{name}", value, "(the training weights are damaged)")
    if net == "network":
        _check_channels(d, config)
    if config.get("kind") == "diffusers-unet2d":  # DeepR's: diffusers checks it when built
        return
    levels = len(config.get("channel_multipliers", _UNET["channel_multipliers"]))
    blocks = int(config.get("n_blocks", _UNET["n_blocks"]))
    if levels * (2 * blocks + 1) > len(stored):  # bounds the modules built below
        raise _refuse(
            f"header entry '{net}/config' (n_blocks={blocks}, {levels} levels) needs at least "
            f"{levels * (2 * blocks + 1)} tensors, the file stores {len(stored)}",
            "(the header does not match the stored weights)",
        )
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            want = {k: tuple(v.shape) for k, v in UNet(**config).state_dict().items()}
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise _refuse(f"header entry '{net}/config' is {_shown(dict(config))}:", str(err)) from None
    have = {str(k): _shape(v) for k, v in stored.items()}
    n_want, n_have = sum(math.prod(s) for s in want.values()), sum(map(math.prod, have.values()))
    sizes = f"{n_want:,} parameters, the file stores {n_have:,}"
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        raise _refuse(
            f"header entry '{net}/config' describes a network of {sizes}",
            f"(tensors it needs and the file lacks: {_shown(missing)}; tensors it has no use "
            f"for: {_shown(extra)})",
        )
    wrong = [k for k, shape in want.items() if have[k] != shape]
    if wrong:
        sizing = ", ".join(f"{k}={config[k]!r}" for k in _SIZING if k in config)
        raise _refuse(
            f"header entry '{net}/config' ({sizing}) describes a network of {sizes}: its "
            f"tensor '{net}/state_dict/{wrong[0]}' would have shape {list(want[wrong[0]])}, "
            f"the file stores {list(have[wrong[0]])}",
            "(refused before building the network: the header does not match the weights)",
        )


def _check_channels(d: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    features = d.get("variables", {}).get("features")
    labels = d.get("variables", {}).get("labels")
    static = d.get("static", {}).get("names")
    obs = d.get("observations") or {}
    if features is None or labels is None or static is None:
        return
    channels = len(features) + len(static) + len(obs.get("channels") or ())
    for key, want, what in (
        ("image_channels", len(labels), f"the {len(labels)} label variable(s)"),
        ("conditioned_on_input", channels, "the features, static fields and observations"),
    ):
        if config.get(key, _UNET[key]) != want:
            raise _refuse(
                f"header entry 'network/config/{key}' is {config.get(key, _UNET[key])!r}",
                f"where {what} give {want}",
            )
