"""A DeepR file read into TrainConfig fields and the rest, without importing TrainConfig.

:func:`read_fields` parses the YAML, walks its sections (:mod:`.data`, :mod:`.training`)
and warns once (:mod:`.warning`); :func:`train_config` builds the TrainConfig from the
fields, naming the DeepR key of a refused value. ``TrainConfig.from_deepr_yaml`` calls
both, passing its class in, so this module never imports :mod:`xdeepr.training.config`
(which imports it): no import circle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ...errors import ConfigError
from .data import read_data
from .keys import IGNORED, SOURCES
from .schema import PREFIX, Reader
from .split import DeepRSplit, validation_fraction
from .training import read_model, read_parameters
from .warning import warn_notes

__all__ = ["DeepRFields", "read_fields", "train_config"]


class _Config(Protocol):
    """What :func:`train_config` needs of TrainConfig: its per-field check, its init."""

    def __init__(self, **fields: Any) -> None: ...

    @classmethod
    def check_value(cls, name: str, value: Any) -> Any: ...


C = TypeVar("C", bound=_Config)


@dataclass(frozen=True)
class DeepRFields:
    """A DeepR file in xdeepr's terms, before a TrainConfig is built.

    ``fields`` are TrainConfig fields (each checked when it is built); the rest is what
    :class:`~xdeepr.adapters.deepr.DeepRConfig` holds beside the TrainConfig.
    """

    fields: dict[str, Any]
    features_coverage: dict[str, tuple[float, float]]
    labels_coverage: dict[str, tuple[float, float]]
    feature_variables: tuple[str, ...]
    label_variables: tuple[str, ...]
    auxiliary: tuple[str, ...]
    feature_scaling: str
    label_scaling: str
    split: DeepRSplit
    ignored: dict[str, str]
    source: str


def read_fields(path: str | os.PathLike[str]) -> DeepRFields:
    """Read the DeepR file at `path`: TrainConfig fields, coverages, split, ignored keys.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ConfigError
        For a file that is not YAML text (naming it), whose aliases expand beyond a
        configuration's size, or not a mapping; a missing section or key, or a value of
        the wrong type, naming the key path.

    Warns
    -----
    DeepRConfigWarning
        Listing the keys the reader does not know and the settings read differently.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "deepr.yml"
    >>> _ = p.write_text("- not a mapping")
    >>> read_fields(p)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: DeepR configuration '...deepr.yml' must hold a mapping with data_configuration and training_configuration
    """  # noqa: E501
    from ..._configfile import load_yaml  # PyYAML, imported when a file is read

    p = os.fspath(path)
    # text only, no alias bombs, 1e-3 a number (YAML 1.2); refusals name the file
    doc = load_yaml(p, "DeepR configuration")
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"DeepR configuration {p!r} must hold a mapping with "
            "data_configuration and training_configuration"
        )
    r = Reader()
    data = read_data(r, doc)
    training = r.section(doc, "training_configuration", "")
    fields: dict[str, Any] = {**read_model(r, training), **read_parameters(r, training)}
    used = {"type", "model_configuration", "training_parameters"}
    r.known(training, "training_configuration", used, IGNORED)
    r.known(doc, "", {"data_configuration", "training_configuration"}, IGNORED)
    split: DeepRSplit = data["split"]
    fields.update(
        features=data["fvars"],
        labels=data["lvars"],
        feature_scaling=data["fscale"],
        label_scaling=data["lscale"],
        validation_fraction=validation_fraction(split),
    )
    warn_notes(r, p, stacklevel=3)  # at the caller of read_deepr_config / from_deepr_yaml
    return DeepRFields(
        fields=fields,
        features_coverage=data["fcov"],
        labels_coverage=data["lcov"],
        feature_variables=data["fvars"],
        label_variables=data["lvars"],
        auxiliary=data["aux"],
        feature_scaling=data["fscale"],
        label_scaling=data["lscale"],
        split=split,
        ignored={k.lstrip("."): v for k, v in r.ignored.items()},
        source=p,
    )


def train_config(cls: type[C], read: DeepRFields) -> C:
    """``cls(**read.fields)`` (a TrainConfig), each value refused under its DeepR key.

    Raises
    ------
    ConfigError
        ``DeepR configuration: {key} gives TrainConfig.{field}=...`` for a value that
        TrainConfig refuses, or naming the file for a refused combination of values.

    Examples
    --------
    >>> import xdeepr
    >>> read = DeepRFields({"batch_size": 0}, {}, {}, (), (), (), "domain-wise",
    ...                    "domain-wise", DeepRSplit(), {}, "deepr.yml")
    >>> train_config(xdeepr.TrainConfig, read)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: DeepR configuration: training_configuration.training_parameters.batch_size (x gradient_accumulation_steps) gives TrainConfig.batch_size=0 is not allowed: batch_size must be an integer >= 1, got 0
    """  # noqa: E501
    for name, value in read.fields.items():  # each value checked as TrainConfig would
        try:
            cls.check_value(name, value)
        except ConfigError as err:
            key = SOURCES.get(name, name)
            raise ConfigError(f"{PREFIX}{key} gives {err}") from None
    try:
        return cls(**read.fields)
    except ConfigError as err:
        raise ConfigError(f"DeepR configuration {read.source!r}: {err}") from None
