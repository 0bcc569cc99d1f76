"""The errors xdeepr raises: one root, :class:`XdeeprError`, and one class per kind.

Each specific error also derives from the builtin that code caught before these
classes existed (``ValueError``, ``TypeError``, ``RuntimeError``, ``OSError``), so
``except ValueError`` keeps working, while ``except xdeepr.XdeeprError`` catches
everything xdeepr itself refuses.

Examples
--------
>>> import xdeepr
>>> try:
...     xdeepr.SamplingOptions(members=0)
... except xdeepr.XdeeprError as err:
...     print(type(err).__name__, "|", err)
ConfigError | members must be an integer >= 1, got 0
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataFetchError",
    "GridError",
    "InputError",
    "ModelFileError",
    "OutputError",
    "TimeStepWarning",
    "TrainingError",
    "XdeeprError",
]


class XdeeprError(Exception):
    """Root of every error xdeepr raises on purpose."""


class ConfigError(XdeeprError, ValueError, TypeError):
    """A setting (TrainConfig field, sampling option, CLI value) has a wrong type or value.

    The message names the setting, the value given and what is allowed.
    """


class InputError(XdeeprError, ValueError):
    """Input data cannot be used as given: missing variables, units, NaN, time types, dims."""


class GridError(InputError):
    """A grid is missing, irregular or incompatible with another grid."""


class ModelFileError(XdeeprError, ValueError):
    """A model file is not an xdeepr model file, is damaged, or holds more than data."""


class TrainingError(XdeeprError, RuntimeError):
    """Training cannot go on (a loss that is no longer finite, a checkpoint that does not fit)."""


class OutputError(XdeeprError, ValueError):
    """An output store cannot be written, resumed or read as complete."""


class DataFetchError(XdeeprError, OSError):
    """A data file could not be downloaded, verified or read from the cache."""


class TimeStepWarning(UserWarning):
    """Input of another time step or ``cell_methods`` than the model was trained on.

    E.g. daily means given to a model trained on 6-hourly instantaneous fields: each
    time step is downscaled as a field of the training kind. The message says what
    was trained on and what was given; silence it with
    ``warnings.simplefilter("ignore", xdeepr.errors.TimeStepWarning)``.
    """
