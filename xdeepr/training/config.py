"""TrainConfig: every setting of :func:`xdeepr.train`, checked when it is built.

Over 400 lines because the table of what each field allows (read by the checks and by
:meth:`TrainConfig.parse_value`, which turns command-line text into a field's type)
stands beside the dataclass and its documented defaults; split apart, one would have to
be kept in step with the other by hand.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._torch import choose_device
from ..diffusion import DEFAULT_SAMPLER, PREDICTIONS, SAMPLERS, SCHEDULE_NAMES
from ..errors import ConfigError
from ..scaling import METHODS as SCALING_METHODS

__all__ = ["AUTO_VALIDATIONS", "MEANS", "SELECTIONS", "TrainConfig"]

#: What the diffusion model corrects: bicubic interpolation (DeepR) or a regression U-Net
#: (CorrDiff); None: no mean.
MEANS = ("bicubic", "regression")
#: Which weights train() returns: the best by validation skill, or the last EMA weights.
SELECTIONS = ("skill", "last")
#: Validations per run when ``validate_every`` is None (the last step always validates).
AUTO_VALIDATIONS = 8


@dataclass(frozen=True)
class _Rule:
    """What one :class:`TrainConfig` field accepts; ``allowed`` is said in error messages.

    ``kind``: ``int``, ``float``, ``bool``, ``choice``, ``text``, ``device``, ``names``
    (variable names), ``ints``, ``bools`` or ``mapping``. Bounds ``lo``/``hi`` are
    inclusive unless ``lo_open``/``hi_open``; ``optional`` admits None.
    """

    kind: str
    allowed: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False


def _int(lo: int, hi: int | None = None, none: str = "") -> _Rule:
    allowed = f"an integer >= {lo}" + (f" and < {hi}" if hi is not None else "")
    return _Rule(
        "int",
        allowed + (f", or None ({none})" if none else ""),
        lo=lo,
        hi=hi,
        hi_open=True,
        optional=bool(none),
    )


def _float(
    allowed: str,
    lo: float,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    none: str = "",
) -> _Rule:
    return _Rule(
        "float",
        allowed + (f", or None ({none})" if none else ""),
        lo=lo,
        hi=hi,
        lo_open=lo_open,
        hi_open=hi_open,
        optional=bool(none),
    )


def _choice(names: Sequence[str]) -> _Rule:
    return _Rule("choice", f"one of {sorted(names)}", choices=tuple(names))


_BOOL = _Rule("bool", "True or False")
_NAMES = _Rule(
    "names",
    "a variable name or a list of names, or None (every variable with dims (time, lat, lon))",
    optional=True,
)
_SCALING = _choice(SCALING_METHODS)

#: What each field allows; validation (``__post_init__``) and CLI parsing
#: (:meth:`TrainConfig.parse_value`) both read this table.
_RULES: dict[str, _Rule] = {
    "n_channels": _int(1),
    "channel_multipliers": _Rule("ints", "a non-empty list of integers >= 1 (one per level)", lo=1),
    "is_attention": _Rule("bools", "a non-empty list of True/False (one per level)"),
    "n_blocks": _int(1),
    "dropout": _float("a number in [0, 1)", 0.0, 1.0, hi_open=True),
    "calendar": _BOOL,
    "schedule": _choice(SCHEDULE_NAMES),
    "diffusion_steps": _int(1),
    "zero_terminal_snr": _BOOL,
    "prediction": _choice(PREDICTIONS),
    "sampler": _choice(list(SAMPLERS)),
    "features": _NAMES,
    "labels": _NAMES,
    "learn_residuals": _BOOL,
    "mean": _Rule(
        "choice",
        "'bicubic', 'regression' or None (no mean: the network models the whole field)",
        choices=MEANS,
        optional=True,
    ),
    "mean_steps": _int(1, none="as many as the diffusion's steps"),
    "feature_scaling": _SCALING,
    "label_scaling": _SCALING,
    "scale_by_month": _BOOL,
    "validation_fraction": _float("a number in [0, 1)", 0.0, 1.0, hi_open=True),
    "patch_size": _int(1, none="the whole padded domain"),
    "block_size": _int(1),
    "batch_size": _int(1),
    "learning_rate": _float("a number > 0", 0.0, lo_open=True),
    "weight_decay": _float("a number >= 0", 0.0),
    "warmup_steps": _int(0),
    "epochs": _int(1),
    "steps": _int(1, none="train for `epochs`"),
    "max_minutes": _float("a number > 0", 0.0, lo_open=True, none="no time limit"),
    "grad_clip": _float("a number >= 0 (0: no clipping)", 0.0),
    "ema_decay": _float("a number in [0, 1)", 0.0, 1.0, hi_open=True),
    "seed": _int(0, 2**32),
    "device": _Rule(
        "device",
        "'cpu', 'cuda', 'cuda:N' (a device torch finds here), or None (CUDA when available)",
        optional=True,
    ),
    "validate_every": _int(
        0, none=f"about {AUTO_VALIDATIONS} validations per run, at least 50 steps apart"
    ),
    "validation_times": _int(1),
    "validation_members": _int(2),
    "selection": _choice(SELECTIONS),
    "patience": _int(1, none="no early stopping"),
    "prefetch": _BOOL,
    "block_cache_mib": _float("a number >= 0 (0: no cache)", 0.0),
    "observation_dropout": _float("a number in [0, 1)", 0.0, 1.0, hi_open=True),
    "observation_tolerance": _Rule(
        "text", "a time span such as '30min', or None (exact times)", optional=True
    ),
    "checkpoint_dir": _Rule("text", "a directory path, or None (no checkpoints)", optional=True),
    "checkpoint_every": _int(0),
    "progress": _BOOL,
    "extra": _Rule("mapping", "a mapping of names to values"),
}


def _refuse(name: str, value: Any, allowed: str, why: str = "") -> ConfigError:
    shown = f"{value!r}" + (f" ({type(value).__name__})" if isinstance(value, str) else "")
    return ConfigError(f"TrainConfig.{name}={shown} is not allowed{why}: {name} must be {allowed}")


def _in_range(rule: _Rule, v: float) -> bool:
    if rule.lo is not None and (v <= rule.lo if rule.lo_open else v < rule.lo):
        return False
    return rule.hi is None or (v < rule.hi if rule.hi_open else v <= rule.hi)


def _scalar(rule: _Rule, value: Any) -> Any:
    """`value` normalised for a scalar `rule`; raises ValueError when it does not fit."""
    kind = rule.kind
    if kind in ("int", "ints"):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ValueError
        v: Any = int(value)
    elif kind == "float":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError
        v = float(value)
        if not math.isfinite(v):
            raise ValueError
    elif kind in ("bool", "bools"):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError
        return bool(value)
    elif kind == "choice":
        if not isinstance(value, str) or value not in rule.choices:
            raise ValueError
        return value
    elif kind == "text":
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise ValueError
        return str(os.fspath(value))
    elif kind == "device":
        if isinstance(value, torch.device):
            return str(value)
        if not isinstance(value, str) or not value:
            raise ValueError
        return value
    elif kind == "names":
        if not isinstance(value, str) or not value:
            raise ValueError
        return value
    else:  # pragma: no cover - the table holds only the kinds above
        raise AssertionError(kind)
    if not _in_range(rule, v):
        raise ValueError
    return v


def _check_field(name: str, value: Any) -> Any:
    """`value` of field `name`, normalised (lists to tuples, a name to a 1-tuple), or refused."""
    rule = _RULES[name]
    if value is None:
        if rule.optional:
            return None
        raise _refuse(name, value, rule.allowed)
    try:
        if rule.kind == "mapping":
            if not isinstance(value, Mapping):
                raise ValueError
            return dict(value)
        if rule.kind in ("names", "ints", "bools"):
            # one name (one level) where a list is expected is a list of one, never its letters
            items = [value] if isinstance(value, (str, numbers.Number)) else value
            if isinstance(items, np.ndarray):
                items = items.tolist()
            if not isinstance(items, (list, tuple)) or not items:
                raise ValueError
            out = tuple(_scalar(rule, v) for v in items)
            if rule.kind == "names" and len(set(out)) < len(out):
                raise _refuse(name, value, rule.allowed, " (a name is repeated)")
            return out
        return _scalar(rule, value)
    except ValueError as err:
        if isinstance(err, ConfigError):
            raise
        raise _refuse(name, value, rule.allowed) from None


def _unknown_fields(names: Sequence[str]) -> ConfigError:
    valid = list(_RULES)
    hints = [
        f"{n!r} (did you mean {m[0]!r}?)"
        if (m := difflib.get_close_matches(n, valid, 1))
        else repr(n)
        for n in names
    ]
    return ConfigError(
        f"unknown TrainConfig field(s) {sorted(names)}: {', '.join(hints)}; valid fields are "
        f"{sorted(valid)}"
    )


def _split_list(text: str) -> list[str]:
    """'[a, b]', '(1, 2)', 'a,b' or 'a' as a list of stripped, unquoted items."""
    s = text.strip()
    if len(s) >= 2 and s[0] + s[-1] in ("[]", "()"):
        s = s[1:-1]
    return [p.strip().strip("'\"").strip() for p in s.split(",") if p.strip()]


def _parse_bool(name: str, text: str) -> bool:
    t = text.strip().strip("'\"").lower()
    if t in ("true", "yes", "on", "1"):
        return True
    if t in ("false", "no", "off", "0"):
        return False
    raise _refuse(name, text, "true or false (also yes/no, on/off, 1/0)")


@dataclass
class TrainConfig:
    """Settings of :func:`xdeepr.train`; every field can be overridden by keyword.

    Network (the DeepR seed's defaults)
        ``n_channels``, ``channel_multipliers``, ``is_attention``, ``n_blocks``,
        ``dropout``, ``calendar`` (hour-of-day and day-of-year embeddings).
    Diffusion
        ``schedule`` (``"cosine"``, or the seed's ``"linear"``: 1e-4 to 0.02),
        ``diffusion_steps``, ``zero_terminal_snr``, ``prediction`` (``"v"``, or the
        seed's ``"epsilon"``), ``sampler`` (the model's default sampler,
        ``"dpm++2m-sde"``, 10 steps). The defaults were chosen by measurement
        (BENCHMARKS.md): at the same training budget on the embedded sample, cosine + v
        beat the seed's linear + epsilon by a factor ~3 in RMSE, and the sampler is the
        cheapest calibrated one within 1 % of the best fair CRPS;
        ``schedule="linear", prediction="epsilon"`` reproduces the seed.
    Data
        ``features`` / ``labels`` (variable names; default all; one name is a list of
        one), ``mean``: what the diffusion model corrects, ``"bicubic"`` (target = label
        − bicubic feature, DeepR's ``learn_residuals``, which stays as an alias:
        ``learn_residuals=False`` means ``mean=None``), ``"regression"`` (CorrDiff: a
        deterministic U-Net trained with MSE for ``mean_steps`` steps predicts the
        field from the condition, the diffusion model learns the rest) or None,
        ``feature_scaling`` / ``label_scaling`` (``"domain-wise"``, ``"pixel-wise"``,
        ``"landmask-wise"``), ``scale_by_month``, ``validation_fraction`` (the last part
        of the paired times), ``patch_size`` (random crops of the padded label domain, a
        multiple of ``2**(levels-1)``), ``block_size`` (time steps loaded at once from
        dask-backed input).
    Optimisation
        ``batch_size``, ``learning_rate``, ``weight_decay``, ``warmup_steps`` (linear
        warm-up, then cosine decay to 5 %), ``epochs`` or ``steps`` (``steps`` wins),
        ``max_minutes`` (stop early after this wall time), ``grad_clip``,
        ``ema_decay``, ``seed``, ``device`` (default: CUDA when available).
    Validation by skill (:mod:`xdeepr.training.validation`)
        Every ``validate_every`` steps (None: about 8 times per run, at least 50 steps
        apart; 0: only at the end) and at the end, ``validation_members`` members are sampled for
        ``validation_times`` evenly spaced validation times with the EMA weights and
        the model's default sampler (fixed seed), scored by fair CRPS, spread-skill and
        RMSE; ``selection="skill"`` returns the best weights by the rule of
        :func:`~xdeepr.training.validation.select`, ``"last"`` the last ones;
        ``patience`` stops after that many validations without a better pick.
    Data loading
        ``prefetch`` (prepare the next block of time steps in a background thread while
        the current one trains), ``block_cache_mib`` (host memory, MiB, in which
        prepared blocks of dask-backed input are kept, so their condition is computed
        once per run instead of once per epoch; per process under ``torchrun``).
        Neither changes a result.
    Observations (``train(..., observations=obs)``, :mod:`xdeepr.observations`)
        ``observation_dropout`` (probability that a station is hidden from a training
        sample; a tenth of the samples see none, so the model works with fewer, other
        or no stations), ``observation_tolerance`` (largest time distance at which an
        observation counts for a time step, e.g. ``"30min"``; None: exact times).
    Checkpoints
        ``checkpoint_dir`` and ``checkpoint_every`` (steps; 0: only at the end).

    Every field is checked when a config is built (and by :meth:`replace`): its type,
    its range, a known name (schedule, prediction, sampler, scaling), one
    ``is_attention`` entry per level, a ``patch_size`` that fits the levels, and a
    device this machine has. Lists become tuples and one variable name a tuple of one.
    A wrong value raises :class:`xdeepr.errors.ConfigError` (a ``ValueError`` and a
    ``TypeError``) naming the field, the value and what is allowed. Text from a
    command line becomes a field's type through :meth:`parse_value`.

    Raises
    ------
    ConfigError
        For a field of the wrong type or out of range, an unknown name, or a device
        that is not here.

    Examples
    --------
    >>> cfg = TrainConfig(n_channels=8, steps=200)
    >>> cfg.replace(batch_size=4).batch_size
    4
    >>> TrainConfig(features="t2m").features
    ('t2m',)
    >>> TrainConfig(steps=0)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: TrainConfig.steps=0 is not allowed: steps must be an integer >= 1, or None (train for `epochs`)
    """  # noqa: E501

    # network
    n_channels: int = 16
    channel_multipliers: tuple[int, ...] = (1, 2, 2, 4)
    is_attention: tuple[bool, ...] = (False, False, True, True)
    n_blocks: int = 2
    dropout: float = 0.0
    calendar: bool = True
    # diffusion
    schedule: str = "cosine"
    diffusion_steps: int = 1000
    zero_terminal_snr: bool = False
    prediction: str = "v"
    sampler: str = DEFAULT_SAMPLER
    # data
    features: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    learn_residuals: bool = True
    mean: str | None = "bicubic"
    mean_steps: int | None = None
    feature_scaling: str = "domain-wise"
    label_scaling: str = "domain-wise"
    scale_by_month: bool = False
    validation_fraction: float = 0.1
    patch_size: int | None = None
    block_size: int = 1024
    # optimisation
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    epochs: int = 10
    steps: int | None = None
    max_minutes: float | None = None
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    device: str | None = None
    # validation by skill
    validate_every: int | None = None
    validation_times: int = 12
    validation_members: int = 4
    selection: str = "skill"
    patience: int | None = None
    # data loading (prefetch.py)
    prefetch: bool = True
    block_cache_mib: float = 2048.0
    # station observations (xdeepr.observations)
    observation_dropout: float = 0.25
    observation_tolerance: str | None = None
    # checkpoints
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_field(f.name, getattr(self, f.name)))
        # learn_residuals is the old name of mean="bicubic": False turns the bicubic mean off
        if self.mean == "bicubic" and not self.learn_residuals:
            object.__setattr__(self, "mean", None)
        object.__setattr__(self, "learn_residuals", self.mean == "bicubic")
        levels = len(self.channel_multipliers)
        if len(self.is_attention) != levels:
            raise ConfigError(
                f"TrainConfig.is_attention={self.is_attention!r} is not allowed: it needs one "
                f"entry per level, and channel_multipliers={self.channel_multipliers!r} has "
                f"{levels}"
            )
        multiple = 2 ** (levels - 1)
        if self.patch_size is not None and self.patch_size % multiple:
            raise ConfigError(
                f"TrainConfig.patch_size={self.patch_size} is not allowed: "
                f"patch_size={self.patch_size} must be a multiple of {multiple} "
                f"(2**(levels-1)) with {levels} levels, e.g. "
                f"{max(multiple, self.patch_size // multiple * multiple)}"
            )
        if self.zero_terminal_snr and self.prediction != "v":
            raise ConfigError(
                f"TrainConfig.prediction={self.prediction!r} is not allowed with "
                "zero_terminal_snr=True: ε-prediction cannot recover x0 where ᾱ_T = 0; "
                "use prediction='v'"
            )
        # Only a device other than the CPU asks torch what this machine has (CUDA probing
        # is slow and needless for a CPU config); None is resolved when training starts.
        if self.device is not None and self.device != "cpu":
            try:
                choose_device(self.device)
            except ConfigError as err:
                raise ConfigError(f"TrainConfig.device: {err}") from None

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with `overrides` applied and checked; unknown names are an error.

        Examples
        --------
        >>> TrainConfig().replace(steps=5, features=["t2m", "msl"]).features
        ('t2m', 'msl')
        """
        unknown = sorted(set(overrides) - set(_RULES))
        if unknown:
            raise _unknown_fields(unknown)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-value mapping (tuples become lists).

        Examples
        --------
        >>> TrainConfig(features="t2m").to_dict()["features"]
        ['t2m']
        """
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def small(cls, **overrides: Any) -> TrainConfig:
        """A small network that trains in about a minute on a laptop CPU.

        16 channels, three levels (attention on the last), 600 steps of 16 samples,
        learning rate 2e-3 after 50 warm-up steps, EMA decay 0.995. ``xdeepr demo`` and the
        benchmarks use it; on the embedded sample it beats bicubic interpolation by a
        factor of about three in RMSE (BENCHMARKS.md).

        Examples
        --------
        >>> TrainConfig.small(steps=100).n_channels
        16
        """
        return cls(
            n_channels=16,
            channel_multipliers=(1, 2, 2),
            is_attention=(False, False, True),
            steps=600,
            batch_size=16,
            learning_rate=2e-3,
            warmup_steps=50,
            ema_decay=0.995,
        ).replace(**overrides)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping of typed values (a JSON, TOML or YAML file); all checked.

        Values keep the types the file gave them: a quoted ``steps: "3"`` is refused, not
        guessed. For text from a command line, convert each value with
        :meth:`parse_value` first.

        Examples
        --------
        >>> TrainConfig.from_dict({"steps": 50, "channel_multipliers": [1, 2],
        ...                        "is_attention": [False, True]}).channel_multipliers
        (1, 2)
        """
        return cls().replace(**d)

    @classmethod
    def from_deepr_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """The TrainConfig of a DeepR ``configuration_diffusion.yml`` file.

        Network (``eps_model.kwargs``), diffusion (``scheduler``), scaling
        (``standardization.method``), variables, split and ``training_parameters``
        are mapped; docs/from-deepr.md has the table. What a TrainConfig does not hold
        (coverages, auxiliary statics, split periods, ignored keys) is in
        :func:`xdeepr.training.read_deepr_config`, which this calls.

        Parameters
        ----------
        path : str or path-like
            A YAML file with the structure of DeepR's configuration_diffusion.yml.

        Returns
        -------
        TrainConfig

        Raises
        ------
        ConfigError
            For a missing section or a value of the wrong type, naming the key path.

        Warns
        -----
        DeepRConfigWarning
            Listing unknown keys and settings xdeepr reads differently.

        Examples
        --------
        A file without DeepR's sections is refused (a complete one is read in the
        example of :func:`~xdeepr.training.read_deepr_config`):

        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "configuration_diffusion.yml"
        >>> _ = p.write_text("data_configuration: {}")
        >>> TrainConfig.from_deepr_yaml(p)
        Traceback (most recent call last):
        ...
        xdeepr.errors.ConfigError: DeepR configuration: the section data_configuration.features_configuration is missing
        """  # noqa: E501
        from .deepr_config import read_deepr_config

        return read_deepr_config(path).train

    @classmethod
    def parse_value(cls, name: str, text: str) -> Any:
        """Text (a command line's ``--set name=text``) as a value of field `name`'s type.

        Integers and numbers as written (``5000``, ``2e-3``); booleans as
        ``true``/``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``); ``none``
        or ``null`` for an optional field; lists as ``a,b`` or ``[a, b]``, one item
        being a list of one; ``extra`` as a JSON or Python mapping. The result still
        goes through the checks when the config is built.

        Raises
        ------
        ConfigError
            For an unknown field (listing the valid ones) or text that is not of the
            field's type.

        Examples
        --------
        >>> TrainConfig.parse_value("steps", "5000")
        5000
        >>> TrainConfig.parse_value("features", "t2m,msl")
        ('t2m', 'msl')
        >>> TrainConfig.parse_value("is_attention", "[false, true]")
        (False, True)
        >>> TrainConfig.parse_value("patch_size", "none") is None
        True
        """
        if name not in _RULES:
            raise _unknown_fields([name])
        rule, s = _RULES[name], text.strip()
        if rule.optional and s.lower() in ("none", "null", "~", ""):
            return None
        try:
            if rule.kind == "int":
                return int(s)
            if rule.kind == "float":
                return float(s)
            if rule.kind == "bool":
                return _parse_bool(name, s)
            if rule.kind == "ints":
                return tuple(int(p) for p in _split_list(s))
            if rule.kind == "bools":
                return tuple(_parse_bool(name, p) for p in _split_list(s))
            if rule.kind == "names":
                return tuple(_split_list(s))
            if rule.kind == "mapping":
                try:
                    value = json.loads(s)
                except json.JSONDecodeError:
                    value = ast.literal_eval(s)
                if not isinstance(value, dict):
                    raise ValueError
                return value
        except (ValueError, SyntaxError):
            raise _refuse(name, text, rule.allowed) from None
        return s.strip("'\"")
