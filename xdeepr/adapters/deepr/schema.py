"""Walking a DeepR file: sections, typed values and the keys ignored, by key path.

:class:`Reader` checks each value with the shared rules (:mod:`xdeepr._validate`), so a
wrong one is refused as every setting is, naming the key path:
``DeepR configuration: {key path} must be {allowed}, got {value!r} ({type})``. It notes
the keys it ignores (with the reason from :data:`~.keys.IGNORED`), the ones it does not
know, and the settings xdeepr reads differently (``lossy``).
"""

from __future__ import annotations

import datetime as _dt
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..._validate import BOOL, Choice, Float, Int, Rule, Text, check, refusal
from ...errors import ConfigError
from ...scaling import METHODS as SCALING_METHODS
from .keys import IGNORED

__all__ = ["PREFIX", "Reader"]

#: What every refusal of a DeepR file starts with.
PREFIX = "DeepR configuration: "
_UNKNOWN = "unknown to xdeepr's DeepR reader"
_DATE = "a date such as 1981-01 or 1981-01-01"
_TEXT = Text()


class Reader:
    """Walks the file, checking types and noting what it ignores, by key path.

    Attributes
    ----------
    ignored : dict
        Key path → why it was not mapped.
    unknown : list of str
        Key paths the reader does not know.
    lossy : list of str
        ``"{key path}: {why}"`` for settings xdeepr reads differently.

    Examples
    --------
    >>> r = Reader()
    >>> r.number({"seed": "1"}, "seed", "training_parameters", int, 0)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: DeepR configuration: training_parameters.seed must be an integer, got '1' (str)
    """  # noqa: E501

    def __init__(self) -> None:
        self.ignored: dict[str, str] = {}
        self.unknown: list[str] = []
        self.lossy: list[str] = []

    @staticmethod
    def fail(path: str, what: str, value: Any = ...) -> ConfigError:
        """The refusal of the value at `path`: it must be `what`."""
        if value is ...:
            return ConfigError(f"{PREFIX}{path} must be {what}")
        return ConfigError(PREFIX + refusal(path, what, value))

    @staticmethod
    def check(path: str, value: Any, rule: Rule) -> Any:
        """`value` at key `path` checked by the shared `rule`."""
        return check(path, value, rule, prefix=PREFIX)

    def note_lossy(self, path: str, why: str) -> None:
        """Note a setting xdeepr reads differently: said in the warning, kept in ignored."""
        self.lossy.append(f"{path}: {why}")
        self.ignored[path] = why

    def note_unknown(self, path: str) -> None:
        self.unknown.append(path)
        self.ignored[path] = _UNKNOWN

    def section(
        self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = True
    ) -> dict[str, Any]:
        full = f"{path}.{key}" if path else key
        if key not in parent or parent[key] is None:
            if required:
                raise ConfigError(f"{PREFIX}the section {full} is missing")
            return {}
        value = parent[key]
        if not isinstance(value, Mapping):
            raise self.fail(full, "a mapping (a section of keys)", value)
        return dict(value)

    def known(
        self, sec: Mapping[str, Any], path: str, used: set[str], ignored: Mapping[str, str]
    ) -> None:
        """Note the ignored keys of `sec` and collect the unknown ones."""
        for key in sec:
            if key in used:
                continue
            full = f"{path}.{key}"
            reason = next(
                (r for k, r in ignored.items() if full == k or full.endswith("." + k)), None
            )
            if reason is not None:
                self.ignored[full] = reason
            else:
                self.note_unknown(full)

    def number(self, sec: Mapping[str, Any], key: str, path: str, kind: type, default: Any) -> Any:
        """An integer (`kind` int) or a finite number (float) at ``path.key``."""
        return self.check(f"{path}.{key}", sec.get(key, default), Int() if kind is int else Float())

    def text(self, sec: Mapping[str, Any], key: str, path: str, default: Any = ...) -> str:
        full = f"{path}.{key}"
        if key not in sec:
            if default is ...:
                raise ConfigError(f"{PREFIX}the key {full} is missing")
            return str(default)
        value: str = self.check(full, sec[key], _TEXT)
        return value

    def choice(
        self, sec: Mapping[str, Any], key: str, path: str, choices: Any, default: Any = ...
    ) -> str:
        """Text at ``path.key`` that must be one of `choices`."""
        value = self.text(sec, key, path, default)
        out: str = self.check(f"{path}.{key}", value, Choice(tuple(choices)))
        return out

    def flag(self, sec: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value: bool = self.check(f"{path}.{key}", sec.get(key, default), BOOL)
        return value

    def coverage(self, sec: Mapping[str, Any], path: str) -> dict[str, tuple[float, float]]:
        cov = self.section(sec, "spatial_coverage", path)
        out: dict[str, tuple[float, float]] = {}
        for axis in ("longitude", "latitude"):
            full = f"{path}.spatial_coverage.{axis}"
            pair = cov.get(axis)
            if pair is None:
                raise ConfigError(f"{PREFIX}the key {full} is missing")
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in pair)
            ):
                raise self.fail(full, "a list of two numbers", pair)
            out[axis] = (float(pair[0]), float(pair[1]))
        self.known(cov, f"{path}.spatial_coverage", {"longitude", "latitude"}, {})
        return out

    def names(self, sec: Mapping[str, Any], path: str, keys: tuple[str, ...]) -> tuple[str, ...]:
        key = next((k for k in keys if k in sec), None)
        if key is None:
            raise ConfigError(f"{PREFIX}the key {path}.{keys[0]} is missing")
        value = sec[key]
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v for v in items)
        ):
            raise self.fail(f"{path}.{key}", "a variable name or a list of names", value)
        return tuple(items)

    def scaling(self, sec: Mapping[str, Any], path: str) -> tuple[str | None, set[str]]:
        """The method of a ``standardization`` block (None when off) and the keys read."""
        if "apply_standardization" in sec:  # DeepR's first files
            on = self.flag(sec, "apply_standardization", path, True)
            return ("domain-wise" if on else None), {"apply_standardization"}
        if "standardization" not in sec:
            return None, set()
        std = self.section(sec, "standardization", path)
        spath = f"{path}.standardization"
        if not self.flag(std, "to_do", spath, True):
            self.known(std, spath, {"to_do", "method"}, IGNORED)
            return None, {"standardization"}
        method = self.choice(std, "method", spath, SCALING_METHODS, "domain-wise")
        self.known(std, spath, {"to_do", "method"}, IGNORED)
        return method, {"standardization"}

    def date(self, sec: Mapping[str, Any], key: str, path: str) -> str:
        value = sec.get(key)
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if not isinstance(value, str) or not value:
            raise self.fail(f"{path}.{key}", _DATE, value)
        try:
            np.datetime64(value)
        except ValueError:
            raise self.fail(f"{path}.{key}", _DATE, value) from None
        return value

    def period(self, sec: Mapping[str, Any], path: str) -> tuple[str, str]:
        out = (self.date(sec, "start", path), self.date(sec, "end", path))
        self.known(
            sec,
            path,
            {"start", "end"},
            IGNORED | {"frequency": IGNORED["temporal_coverage.frequency"]},
        )
        return out
