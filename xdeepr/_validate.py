"""One validator for every setting: rule types and :func:`check`.

A :class:`Rule` says what one setting accepts (an integer range, a number range, a
choice, a flag, a list, None or a rule, ...). :func:`check` applies it and refuses a
wrong value with one message form,

    ``{name} must be {allowed}, got {value!r}`` (`` ({type})`` when the type is wrong),

raised as :class:`~xdeepr.errors.ConfigError` by :class:`~xdeepr.TrainConfig` (its
fields carry their rules), :class:`~xdeepr.SamplingOptions` and the DeepR reader
(:mod:`xdeepr.adapters.deepr`), each putting where the setting comes from in front.
:meth:`Rule.parse` turns command-line text (``xdeepr train --set KEY=VALUE``) into a
value of the rule's type.

Examples
--------
>>> check("members", 4, Int(1))
4
>>> check("members", 2.5, Int(1))
Traceback (most recent call last):
...
xdeepr.errors.ConfigError: members must be an integer >= 1, got 2.5 (float)
>>> OrNone(Int(1), "train for `epochs`").parse("none") is None
True
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import os
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = [
    "BOOL",
    "DEVICE",
    "AnyOf",
    "Bool",
    "Choice",
    "Device",
    "Float",
    "Int",
    "Map",
    "OrNone",
    "Refused",
    "Rule",
    "Seq",
    "Text",
    "check",
    "parse",
    "refusal",
    "shown",
]

SHOWN = 200  #: the most characters a message quotes of one value (:func:`shown`)
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 8


def shown(value: Any, limit: int = SHOWN) -> str:
    """`value` as every message quotes it: its repr, at most 3 levels of 8 items, `limit` long.

    A value built to be huge (YAML aliases: one list nested 40 deep) cannot fill memory.

    Examples
    --------
    >>> a = [0] * 9
    >>> for _ in range(40):
    ...     a = [a] * 9
    >>> shown([1, 2]), len(shown(a))
    ('[1, 2]', 200)
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Refused(ValueError):
    """A value a rule does not accept; `typed`: its type is wrong, `why`: said after it."""

    def __init__(self, *, typed: bool = True, why: str = "") -> None:
        super().__init__(why)
        self.typed, self.why = typed, why


def refusal(name: str, allowed: str, value: Any, *, typed: bool = True, why: str = "") -> str:
    """The one refusal message: ``{name} must be {allowed}, got {value!r} ({type})``.

    Examples
    --------
    >>> refusal("steps", "an integer >= 1", 0, typed=False)
    'steps must be an integer >= 1, got 0'
    """
    quoted = shown(value) + (f" ({type(value).__name__})" if typed else "")
    return f"{name} must be {allowed}, got {quoted}{why}"


def check(name: str, value: Any, rule: Rule, *, prefix: str = "") -> Any:
    """`value` of setting `name`, normalised by `rule`, or a ConfigError.

    Parameters
    ----------
    name : str
        The setting (a field, an option, a key path), named in the message.
    value : object
        What was given.
    rule : Rule
        What the setting accepts.
    prefix : str
        Where the setting comes from, put in front of the message.

    Returns
    -------
    object
        The value normalised: a Python int or float, lists as tuples, ...

    Raises
    ------
    ConfigError
        ``{prefix}{name} must be {allowed}, got {value!r}`` (the type added when the type
        is wrong).

    Examples
    --------
    >>> check("features", "t2m", Seq(Text(), "a variable name or a list of names"))
    ('t2m',)
    """
    try:
        return rule.accept(value)
    except Refused as err:
        msg = refusal(name, rule.allowed, value, typed=err.typed, why=err.why)
        raise ConfigError(prefix + msg) from None


def parse(name: str, text: str, rule: Rule, *, prefix: str = "") -> Any:
    """Command-line `text` as a value of `rule`'s type (not yet range-checked).

    Examples
    --------
    >>> parse("is_attention", "[false, true]", Seq(BOOL, "a list of True/False"))
    (False, True)
    """
    try:
        return rule.parse(text)
    except Refused as err:
        msg = refusal(name, rule.allowed, text, typed=err.typed, why=err.why)
        raise ConfigError(prefix + msg) from None


def _unquote(text: str) -> str:
    return text.strip().strip("'\"").strip()


def _split_list(text: str) -> list[str]:
    """'[a, b]', '(1, 2)', 'a,b' or 'a' as a list of stripped, unquoted items."""
    s = text.strip()
    if len(s) >= 2 and s[0] + s[-1] in ("[]", "()"):
        s = s[1:-1]
    return [_unquote(p) for p in s.split(",") if p.strip()]


@dataclass(frozen=True)
class Rule:
    """What one setting accepts; :attr:`allowed` says it in messages."""

    @property
    def allowed(self) -> str:
        raise NotImplementedError

    def accept(self, value: Any) -> Any:
        """`value` normalised; raises :class:`Refused` when it does not fit."""
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """Command-line `text` as a value of this rule's type; :class:`Refused` if not."""
        return _unquote(text)


@dataclass(frozen=True)
class Int(Rule):
    """An integer (numpy integers too; bools, floats and text refused) in [lo, hi)."""

    lo: int | None = None
    hi: int | None = None  # exclusive

    @property
    def allowed(self) -> str:
        lo = f" >= {self.lo}" if self.lo is not None else ""
        hi = (" and" if lo else "") + f" < {self.hi}" if self.hi is not None else ""
        return "an integer" + lo + hi

    def accept(self, value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise Refused()
        v = int(value)
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v >= self.hi):
            raise Refused(typed=False)
        return v

    def parse(self, text: str) -> int:
        try:
            return int(_unquote(text))
        except ValueError:
            raise Refused() from None


@dataclass(frozen=True)
class Float(Rule):
    """A real number (finite unless ``finite=False``) within bounds, open or closed."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    note: str = ""
    finite: bool = True

    @property
    def allowed(self) -> str:
        if self.lo is not None and self.hi is not None:
            a, b = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            text = f"a number in {a}{self.lo:g}, {self.hi:g}{b}"
        elif self.lo is not None:
            text = f"a number {'>' if self.lo_open else '>='} {self.lo:g}"
        else:
            text = "a number"
        return text + (f" ({self.note})" if self.note else "")

    def accept(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise Refused()
        v = float(value)
        # written so that NaN fails every bound
        ok = (not self.finite or math.isfinite(v)) and (
            self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
        )
        if not ok or (self.hi is not None and not (v < self.hi if self.hi_open else v <= self.hi)):
            raise Refused(typed=False)
        return v

    def parse(self, text: str) -> float:
        try:
            return float(_unquote(text))
        except ValueError:
            raise Refused() from None


@dataclass(frozen=True)
class Choice(Rule):
    """One of `choices` (text), said in their given order."""

    choices: tuple[str, ...]
    note: str = ""

    @property
    def allowed(self) -> str:
        return f"one of {list(self.choices)}" + (f" ({self.note})" if self.note else "")

    def accept(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Refused()
        if value not in self.choices:
            raise Refused(typed=False)
        return value


@dataclass(frozen=True)
class Bool(Rule):
    """True or False (numpy booleans too); as text also yes/no, on/off, 1/0."""

    @property
    def allowed(self) -> str:
        return "True or False"

    def accept(self, value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise Refused()
        return bool(value)

    def parse(self, text: str) -> bool:
        t = _unquote(text).lower()
        if t in ("true", "yes", "on", "1"):
            return True
        if t in ("false", "no", "off", "0"):
            return False
        raise Refused(why="; as text: true/false, yes/no, on/off or 1/0")


@dataclass(frozen=True)
class Text(Rule):
    """Non-empty text (a path too with ``paths=True``), described as `what`."""

    what: str = "a text"
    paths: bool = False

    @property
    def allowed(self) -> str:
        return self.what

    def accept(self, value: Any) -> str:
        if self.paths and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value:
            raise Refused()
        return str(value)


@dataclass(frozen=True)
class Device(Rule):
    """A device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or a ``torch.device``, as text."""

    @property
    def allowed(self) -> str:
        return "a string naming a device ('cpu', 'cuda', 'cuda:N', ...) or a torch.device"

    def accept(self, value: Any) -> str:
        if type(value).__name__ == "device" and not isinstance(value, str):  # torch.device
            return str(value)
        if not isinstance(value, str) or not value:
            raise Refused()
        return value


@dataclass(frozen=True)
class Seq(Rule):
    """A non-empty list of `item` values, as a tuple; one value is a list of one."""

    item: Rule
    text: str
    unique: bool = False

    @property
    def allowed(self) -> str:
        return self.text

    def accept(self, value: Any) -> tuple[Any, ...]:
        # one name (one level) where a list is expected is a list of one, never its letters
        items = [value] if isinstance(value, (str, numbers.Number)) else value
        if isinstance(items, np.ndarray):
            items = items.tolist()
        if not isinstance(items, (list, tuple)) or not items:
            raise Refused()
        out = tuple(self.item.accept(v) for v in items)
        if self.unique:
            _unique(out)
        return out

    def parse(self, text: str) -> tuple[Any, ...]:
        out = tuple(self.item.parse(p) for p in _split_list(text))
        if self.unique:
            _unique(out)
        return out


def _unique(items: tuple[Any, ...]) -> None:  # refuses a repeated item, naming it
    for i, item in enumerate(items):
        if item in items[:i]:
            raise Refused(typed=False, why=f" (a name is repeated: {shown(item)}; give it once)")


@dataclass(frozen=True)
class Map(Rule):
    """A mapping of names to values, as a dict; as text JSON or a Python literal."""

    @property
    def allowed(self) -> str:
        return "a mapping of names to values"

    def accept(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Refused()
        return dict(value)

    def parse(self, text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text.strip())
            except (ValueError, SyntaxError):
                raise Refused() from None
        if not isinstance(value, dict):
            raise Refused()
        return value


@dataclass(frozen=True)
class OrNone(Rule):
    """None (meaning `meaning`) or a value of `rule`; `text` replaces the description."""

    rule: Rule
    meaning: str = ""
    text: str = ""

    @property
    def allowed(self) -> str:
        if self.text:
            return self.text
        return f"{self.rule.allowed}, or None" + (f" ({self.meaning})" if self.meaning else "")

    def accept(self, value: Any) -> Any:
        return None if value is None else self.rule.accept(value)

    def parse(self, text: str) -> Any:
        if _unquote(text).lower() in ("none", "null", "~", ""):
            return None
        return self.rule.parse(text)


@dataclass(frozen=True)
class AnyOf(Rule):
    """A value of the first of `rules` that accepts it; `text` describes them together."""

    rules: tuple[Rule, ...]
    text: str

    @property
    def allowed(self) -> str:
        return self.text

    def accept(self, value: Any) -> Any:
        typed = True
        for rule in self.rules:
            try:
                return rule.accept(value)
            except Refused as err:
                typed = typed and err.typed
        raise Refused(typed=typed)

    def parse(self, text: str) -> Any:
        for rule in self.rules:
            try:
                return rule.parse(text)
            except Refused:
                pass
        raise Refused()


#: Shared by TrainConfig and SamplingOptions, so their messages are the same.
BOOL = Bool()
DEVICE = Device()
