"""TrainConfig: every setting of :func:`xdeepr.train`, each field declared with its rule.

A field's rule (:mod:`xdeepr._validate`) stands in its metadata, beside its default:
the checks when a config is built and :meth:`TrainConfig.parse_value` (command-line
text) both read it, so there is no second table to keep in step. The fields, grouped
by what they configure, are described in docs/user-guide/training.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._configfile import NUMBER_TEXT
from .._torch import choose_device
from .._validate import BOOL, DEVICE, Choice, Float, Int, Map, OrNone, Rule, Seq, Text, shown
from .._validate import check as _check
from .._validate import parse as _parse
from ..diffusion import DEFAULT_SAMPLER, PREDICTIONS, SAMPLERS, SCHEDULE_NAMES
from ..errors import ConfigError
from ..scaling import METHODS as SCALING_METHODS
from ..transforms import TransformsRule

__all__ = ["AUTO_VALIDATIONS", "MEANS", "SELECTIONS", "VALIDATION_SPLITS", "TrainConfig"]

#: What the diffusion model corrects: bicubic interpolation (DeepR), bicubic + the stored
#: month x hour climatology, a regression U-Net (CorrDiff), or the best of the three on
#: validation ("auto", xdeepr.training.means); None: no mean.
MEANS = ("bicubic", "climatology", "regression", "auto")
#: Weights train() returns: best by validation skill, by calibrated skill, or the last.
SELECTIONS = ("skill", "calibrated", "last")
#: Validations per run when ``validate_every`` is None (the last step always validates).
AUTO_VALIDATIONS = 8
#: "auto": a season held out where the data lack one ("season"), else the last ("block").
VALIDATION_SPLITS = ("auto", "block", "season", "DJF", "MAM", "JJA", "SON")


def _f(default: Any, rule: Rule) -> Any:
    """A dataclass field whose rule is ``field.metadata["rule"]`` (immutable defaults)."""
    return field(default=default, metadata={"rule": rule})


def _choice(names: Sequence[str]) -> Choice:
    return Choice(tuple(sorted(names)))


def _opt_int(lo: int, meaning: str) -> OrNone:
    return OrNone(Int(lo), meaning)


_FRACTION = Float(0.0, 1.0, hi_open=True)  # a number in [0, 1)
_NAMES = OrNone(
    Seq(Text(), "a variable name or a list of names", unique=True),
    text="a variable name or a list of names, or None (every variable with dims (time, lat, lon))",
)
_MEAN = OrNone(
    Choice(MEANS),
    text="'bicubic', 'climatology', 'regression', 'auto' or None (no mean: the network "
    "models the whole field)",
)
_AUTO_EVERY = f"about {AUTO_VALIDATIONS} validations per run, at least 50 steps apart"


def _where(name: str, value: Any) -> str:
    quoted = shown(value) + (f" ({type(value).__name__})" if isinstance(value, str) else "")
    return f"TrainConfig.{name}={quoted} is not allowed: "


def _checked(name: str, value: Any, rule: Rule) -> Any:
    """`value` of field `name` checked by `rule`; the message says it is a TrainConfig's."""
    try:
        return _check(name, value, rule)
    except ConfigError as err:
        raise ConfigError(_where(name, value) + str(err)) from None


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`xdeepr.train`; every field can be overridden by keyword.

    The fields, in groups (docs/user-guide/training.md describes each):

    - network: ``n_channels``, ``channel_multipliers``, ``is_attention``, ``n_blocks``,
      ``dropout``, ``calendar`` (hour-of-day and day-of-year embeddings);
    - diffusion: ``schedule`` (``"cosine"``, or the seed's ``"linear"``),
      ``diffusion_steps``, ``zero_terminal_snr``, ``prediction`` (``"v"``, or the
      seed's ``"epsilon"``), ``sampler`` (the model's default sampler); cosine + v
      beat the seed's linear + epsilon by about 3 in RMSE (BENCHMARKS.md);
    - data: ``features`` / ``labels`` (variable names; one name is a list of one),
      ``mean`` (one of :data:`MEANS`; ``learn_residuals`` is its DeepR alias),
      ``mean_steps`` (with folds, the most: early stopping by out-of-fold error),
      ``mean_folds`` (the regression mean's folds; 0, 1: none), ``feature_scaling`` / ``label_scaling``,
      ``transforms`` (per label variable, :mod:`xdeepr.transforms`),
      ``scale_by_month``, ``validation_fraction``, ``patch_size``, ``block_size``;
    - optimisation: ``batch_size``, ``learning_rate``, ``weight_decay``,
      ``warmup_steps``, ``epochs`` or ``steps`` (``steps`` wins), ``max_minutes``,
      ``grad_clip``, ``ema_decay``, ``seed``, ``device`` (default: CUDA when available);
    - validation by skill: ``validation_split`` (a season held out where the data lack
      one, else the last times: :func:`~xdeepr.training.holdout.resolve_split`),
      ``validate_every``, ``validation_times``, ``validation_members``, ``selection``, ``patience``,
      ``calibrate`` (spread factors and precipitation dry cuts fitted on validation);
    - one-pass students (:func:`xdeepr.distill`): ``crps_members`` (members per example
      of the almost fair CRPS loss), ``crps_alpha`` (its fair share, Lang et al. 2024),
      ``crps_finetune_steps`` (> 0: :func:`xdeepr.train` ends with that many, its student);
    - data loading: ``prefetch``, ``block_cache_mib`` (neither changes a result);
    - observations: ``observation_dropout``, ``observation_tolerance``;
    - checkpoints: ``checkpoint_dir``, ``checkpoint_every``; ``progress``, ``extra``.

    A config is frozen: change one with :meth:`replace` (or ``dataclasses.replace``),
    which checks again. Every field is checked when a config is built, by the rule
    declared beside it (``dataclasses.fields(TrainConfig)[i].metadata["rule"]``): its
    type and range, a known name (schedule, prediction, sampler, scaling); then one
    ``is_attention`` entry per level, a ``patch_size`` that fits the levels and a device
    this machine has. Lists become tuples and one variable name a tuple of one. Text
    from a command line becomes a field's type through :meth:`parse_value`.

    Raises
    ------
    ConfigError
        (a ``ValueError`` and a ``TypeError``) naming the field, the value and what is
        allowed: for a field of the wrong type or out of range, an unknown name, or a
        device that is not here.

    Examples
    --------
    >>> cfg = TrainConfig(n_channels=8, steps=200)
    >>> cfg.replace(batch_size=4).batch_size
    4
    >>> TrainConfig(features="t2m").features
    ('t2m',)
    >>> cfg.steps = 5
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'steps'
    >>> TrainConfig(steps=0)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: TrainConfig.steps=0 is not allowed: steps must be an integer >= 1, or None (train for `epochs`), got 0
    """  # noqa: E501

    # network
    n_channels: int = _f(16, Int(1))
    channel_multipliers: tuple[int, ...] = _f(
        (1, 2, 2, 4), Seq(Int(1), "a non-empty list of integers >= 1 (one per level)")
    )
    is_attention: tuple[bool, ...] = _f(
        (False, False, True, True), Seq(BOOL, "a non-empty list of True/False (one per level)")
    )
    n_blocks: int = _f(2, Int(1))
    dropout: float = _f(0.0, _FRACTION)
    calendar: bool = _f(True, BOOL)
    # diffusion
    schedule: str = _f("cosine", _choice(SCHEDULE_NAMES))
    diffusion_steps: int = _f(1000, Int(1))
    zero_terminal_snr: bool = _f(False, BOOL)
    prediction: str = _f("v", _choice(PREDICTIONS))
    sampler: str = _f(DEFAULT_SAMPLER, _choice(list(SAMPLERS)))
    # data
    features: tuple[str, ...] | None = _f(None, _NAMES)
    labels: tuple[str, ...] | None = _f(None, _NAMES)
    learn_residuals: bool = _f(True, BOOL)
    mean: str | None = _f("bicubic", _MEAN)
    mean_steps: int | None = _f(None, _opt_int(1, "as many as the diffusion's steps"))
    mean_folds: int | None = _f(
        None, _opt_int(0, "3 contiguous folds, fewer when a fold would hold under 8 times")
    )
    feature_scaling: str = _f("domain-wise", _choice(SCALING_METHODS))
    label_scaling: str = _f("domain-wise", _choice(SCALING_METHODS))
    transforms: dict[str, Any] = field(default_factory=dict, metadata={"rule": TransformsRule()})
    scale_by_month: bool = _f(False, BOOL)
    validation_fraction: float = _f(0.1, _FRACTION)
    patch_size: int | None = _f(None, _opt_int(1, "the whole padded domain"))
    block_size: int = _f(1024, Int(1))
    # optimisation
    batch_size: int = _f(8, Int(1))
    learning_rate: float = _f(1e-3, Float(0.0, lo_open=True))
    weight_decay: float = _f(1e-2, Float(0.0))
    warmup_steps: int = _f(100, Int(0))
    epochs: int = _f(10, Int(1))
    steps: int | None = _f(None, _opt_int(1, "train for `epochs`"))
    max_minutes: float | None = _f(None, OrNone(Float(0.0, lo_open=True), "no time limit"))
    grad_clip: float = _f(1.0, Float(0.0, note="0: no clipping"))
    ema_decay: float = _f(0.999, _FRACTION)
    seed: int = _f(0, Int(0, 2**32))
    device: str | None = _f(None, OrNone(DEVICE, "CUDA when available"))
    # validation by skill (validation.py)
    validation_split: str = _f("auto", Choice(VALIDATION_SPLITS))
    validate_every: int | None = _f(None, _opt_int(0, _AUTO_EVERY))
    validation_times: int = _f(12, Int(1))
    validation_members: int = _f(4, Int(2))
    selection: str = _f("skill", _choice(SELECTIONS))
    patience: int | None = _f(None, _opt_int(1, "no early stopping"))
    calibrate: bool = _f(True, BOOL)
    # proper-score training of one-pass students (xdeepr.distill, diffusion/crps.py)
    crps_members: int = _f(4, Int(2))
    crps_alpha: float = _f(0.95, Float(0.0, 1.0))
    crps_finetune_steps: int = _f(0, Int(0))
    # data loading (prefetch.py)
    prefetch: bool = _f(True, BOOL)
    block_cache_mib: float = _f(2048.0, Float(0.0, note="0: no cache"))
    # station observations (xdeepr.observations)
    observation_dropout: float = _f(0.25, _FRACTION)
    observation_tolerance: str | None = _f(
        None, OrNone(Text("a time span such as '30min'", paths=True), "exact times")
    )
    # checkpoints
    checkpoint_dir: str | None = _f(
        None, OrNone(Text("a directory path", paths=True), "no checkpoints")
    )
    checkpoint_every: int = _f(500, Int(0))
    progress: bool = _f(True, BOOL)
    extra: dict[str, Any] = field(default_factory=dict, metadata={"rule": Map()})

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: only here are fields normalised
        for f in dataclasses.fields(self):
            put(self, f.name, _checked(f.name, getattr(self, f.name), f.metadata["rule"]))
        # learn_residuals is the old name of mean="bicubic": False turns the bicubic mean off
        if self.mean == "bicubic" and not self.learn_residuals:
            put(self, "mean", None)
        put(self, "learn_residuals", self.mean == "bicubic")
        levels = len(self.channel_multipliers)
        if len(self.is_attention) != levels:
            raise ConfigError(
                f"TrainConfig.is_attention={shown(self.is_attention)} is not allowed: it needs "
                f"one entry per level, and channel_multipliers={shown(self.channel_multipliers)} "
                f"has {levels}"
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
        # only a non-CPU device asks torch (CUDA probing is slow); None is resolved at start
        if self.device is not None and self.device != "cpu":
            try:
                choose_device(self.device)
            except ConfigError as err:
                raise ConfigError(f"TrainConfig.device: {err}") from None

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with `overrides` applied and checked; unknown names are an error.

        ``mean`` given alone is not turned off by the ``learn_residuals`` of this config,
        and ``learn_residuals=True`` given alone turns a None mean into ``"bicubic"``.

        Examples
        --------
        >>> TrainConfig().replace(steps=5, features=["t2m", "msl"]).features
        ('t2m', 'msl')
        >>> TrainConfig(mean=None).replace(mean="bicubic").mean
        'bicubic'
        """
        unknown = sorted(set(overrides) - set(_FIELDS))
        if unknown:
            raise _unknown_fields(unknown)
        if "mean" in overrides and "learn_residuals" not in overrides:
            overrides["learn_residuals"] = True  # the alias follows the mean asked for
        elif overrides.get("learn_residuals") is True and "mean" not in overrides:
            overrides["mean"] = self.mean or "bicubic"
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
        guessed; only a number field's ``"1e-3"`` (PyYAML, reading YAML 1.1, leaves
        ``learning_rate: 1e-3`` as text) is read as the number. For text from a command
        line, convert each value with :meth:`parse_value` first.

        Examples
        --------
        >>> TrainConfig.from_dict({"steps": 50, "channel_multipliers": [1, 2],
        ...                        "is_attention": [False, True]}).channel_multipliers
        (1, 2)
        >>> TrainConfig.from_dict({"learning_rate": "1e-3"}).learning_rate
        0.001
        """
        return cls().replace(**{k: _yaml_number(k, v) for k, v in d.items()})

    @classmethod
    def from_deepr_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """The TrainConfig of a DeepR ``configuration_diffusion.yml`` file.

        Network (``eps_model.kwargs``), diffusion (``scheduler``), scaling
        (``standardization.method``), variables, split and ``training_parameters``
        are mapped; docs/from-deepr.md has the table. What a TrainConfig does not hold
        (coverages, auxiliary statics, split periods, ignored keys) is in
        :func:`xdeepr.adapters.deepr.read_deepr_config`.

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
        example of :func:`~xdeepr.adapters.deepr.read_deepr_config`):

        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "configuration_diffusion.yml"
        >>> _ = p.write_text("data_configuration: {}")
        >>> TrainConfig.from_deepr_yaml(p)
        Traceback (most recent call last):
        ...
        xdeepr.errors.ConfigError: DeepR configuration: the section data_configuration.features_configuration is missing
        """  # noqa: E501
        # the adapter's reading part does not import this module: no import circle
        from ..adapters.deepr.fields import read_fields, train_config

        return train_config(cls, read_fields(path))

    @classmethod
    def check_value(cls, name: str, value: Any) -> Any:
        """`value` for field `name`, normalised by the field's rule, or a ConfigError.

        Examples
        --------
        >>> TrainConfig.check_value("channel_multipliers", [1, 2])
        (1, 2)
        """
        return _checked(name, value, _rule(name))

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
        return _parse(name, text, _rule(name), prefix=_where(name, text))


#: The fields by name; each one's rule is ``_FIELDS[name].metadata["rule"]``.
_FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _yaml_number(name: str, value: Any) -> Any:
    """A number field's text that YAML 1.1 leaves unread (``"1e-3"``) as the number."""
    rule = _FIELDS[name].metadata["rule"] if name in _FIELDS else None
    rule = rule.rule if isinstance(rule, OrNone) else rule
    if isinstance(rule, Float) and isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        return float(value)
    return value


def _rule(name: str) -> Rule:
    if name not in _FIELDS:
        raise _unknown_fields([name])
    rule: Rule = _FIELDS[name].metadata["rule"]
    return rule


def _unknown_fields(names: Sequence[str]) -> ConfigError:
    valid = list(_FIELDS)
    hints = [
        f"{shown(n)} (did you mean {m[0]!r}?)"
        if (m := difflib.get_close_matches(n, valid, 1))
        else shown(n)
        for n in names
    ]
    return ConfigError(
        f"unknown TrainConfig field(s) {shown(sorted(names))}: {', '.join(hints)}; valid "
        f"fields are {sorted(valid)}"
    )
