"""DeepR's data split and the xarray preparation it asks for: coverages, times, fraction.

:class:`DeepRSplit` holds the split as the file gives it (fractions or periods);
:func:`prepare` crops features and labels to their coverages, keeps the times of the
split and fits ``validation_fraction`` so that xdeepr, which validates on the last part
of the paired times, validates on DeepR's validation period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InputError

if TYPE_CHECKING:
    from ...training.config import TrainConfig

__all__ = ["DeepRSplit", "prepare", "validation_fraction"]


@dataclass(frozen=True)
class DeepRSplit:
    """DeepR's data split: fractions of the times, or periods (ISO dates).

    Attributes
    ----------
    validation, test : float or None
        Fractions of the times (``common_configuration.data_split``); xdeepr holds out
        the last ``test`` part and validates on the part before it.
    periods : dict
        ``{"train" | "validation" | "test": (start, end)}`` (``split_coverages`` or
        ``data_split`` with periods); dates as written, e.g. ``"1981-01"``.
    time_range : (start, end) or None
        ``common_configuration.temporal_coverage``: all times used.

    Examples
    --------
    >>> validation_fraction(DeepRSplit(validation=0.2, test=0.2))
    0.25
    """

    validation: float | None = None
    test: float | None = None
    periods: dict[str, tuple[str, str]] = field(default_factory=dict)
    time_range: tuple[str, str] | None = None


def as_time(text: str) -> np.datetime64:
    """The start of the date or period `text` ("2013-12"), in ns."""
    return np.datetime64(str(text)).astype("datetime64[ns]")


def end_of(text: str) -> np.datetime64:
    """The end of the period `text` names ("2013-12": the start of 2014-01), exclusive."""
    end = pd.Period(str(text)).end_time + pd.Timedelta(1, "ns")
    return np.datetime64(end.to_datetime64(), "ns")


def validation_fraction(split: DeepRSplit) -> float:
    """The share of validation times, from fractions, or estimated from period lengths.

    With fractions, validation / (1 - test): the test part is dropped first.
    """
    if split.validation is not None:
        return split.validation / (1.0 - (split.test or 0.0))
    if "validation" in split.periods and "train" in split.periods:
        days = {
            k: (end_of(b) - as_time(a)) / np.timedelta64(1, "D")
            for k, (a, b) in split.periods.items()
        }
        return float(days["validation"] / (days["train"] + days["validation"]))
    return 0.0


def prepare(
    split: DeepRSplit,
    train: TrainConfig,
    coverages: tuple[dict[str, Any], dict[str, Any]],
    features: xr.Dataset,
    labels: xr.Dataset,
) -> tuple[xr.Dataset, xr.Dataset, TrainConfig]:
    """Crop to the (features, labels) `coverages`, keep the split's times, fit the fraction.

    The body of :meth:`xdeepr.adapters.deepr.DeepRConfig.prepare`, which documents it.

    Raises
    ------
    InputError
        When the validation period does not follow the training period, or no times
        are left.

    Examples
    --------
    >>> import xdeepr
    >>> f, l, _ = xdeepr.datasets.load_sample(periods=8)
    >>> cov = {"longitude": (8.5, 11.5), "latitude": (48.5, 46.5)}
    >>> f2, _, tc = prepare(DeepRSplit(test=0.25), xdeepr.TrainConfig(), (cov, cov), f, l)
    >>> f2.sizes["time"], tc.validation_fraction
    (6, 0.1)
    """
    f = features.deepr.crop(coverage=coverages[0])
    lab = labels.deepr.crop(coverage=coverages[1])
    times = np.intersect1d(np.asarray(f["time"].values), np.asarray(lab["time"].values))
    cfg = train
    if split.time_range is not None:
        lo, hi = as_time(split.time_range[0]), end_of(split.time_range[1])
        times = times[(times >= lo) & (times < hi)]
    if split.periods:
        chosen = {}
        for name in ("train", "validation"):
            if name in split.periods:
                a, b = split.periods[name]
                lo, hi = as_time(a), end_of(b)
                chosen[name] = times[(times >= lo) & (times < hi)]
        tr, va = chosen.get("train", times[:0]), chosen.get("validation", times[:0])
        if tr.size and va.size and va.min() <= tr.max():
            raise InputError(
                "the DeepR validation period must follow the training period: xdeepr "
                "validates on the last part of the times"
            )
        times = np.concatenate([tr, va])
        if times.size:
            cfg = cfg.replace(validation_fraction=va.size / times.size)
    elif split.test:
        times = times[: len(times) - round(split.test * len(times))]
    if not times.size:
        raise InputError("no paired time is left after the DeepR split and coverage")
    return f.sel(time=times), lab.sel(time=times), cfg
