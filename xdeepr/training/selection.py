"""Which validated weights :func:`xdeepr.train` returns: the rules of ``selection``.

``TrainConfig(selection=...)``:

- ``"skill"`` (default, :data:`RULE`): the lowest validation fair CRPS among the
  validations whose spread-skill ratio lies in the calibrated band (0.9 to 1.1),
  else the one closest to it;
- ``"calibrated"`` (:data:`CALIBRATED_RULE`): the lowest validation fair CRPS *after*
  the post-hoc spread calibration fitted on that validation's ensemble
  (:func:`calibrated_crps`). Training long on little data sharpens the ensemble mean
  while the spread falls behind the error; the band-first rule then keeps early,
  worse-scoring weights, whereas the spread factor can widen the later ones. Which
  does better is measured, case by case, in BENCHMARKS.md ("shift", "cmip");
- ``"last"``: the last EMA weights.

Examples
--------
>>> records = [{"step": 100.0, "val_crps": 0.30, "val_spread_skill": 0.95},
...            {"step": 200.0, "val_crps": 0.26, "val_spread_skill": 0.70},
...            {"step": 300.0, "val_crps": 0.28, "val_spread_skill": 1.05}]
>>> select(records)  # the lowest CRPS among the calibrated ones
2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..metrics.probabilistic import CALIBRATED_SPREAD_SKILL

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = [
    "CALIBRATED_RULE",
    "FALLBACK",
    "RULE",
    "calibrated_crps",
    "check_selection",
    "rule_used",
    "select",
]

#: What :func:`select` does, in words (model.summary and the docs say it).
RULE = (
    "lowest validation fair CRPS among the validations whose spread-skill ratio lies in "
    f"[{CALIBRATED_SPREAD_SKILL[0]}, {CALIBRATED_SPREAD_SKILL[1]}]; if none does, the "
    "spread-skill ratio closest to 1 (|log ratio|), ties broken by the lower CRPS"
)
#: What :func:`select` does with ``by="calibrated"`` (``TrainConfig(selection="calibrated")``).
CALIBRATED_RULE = (
    "lowest validation fair CRPS after the post-hoc spread calibration fitted on that "
    "validation's ensemble (scored on each half of the times with the factor fitted on "
    "the other; the raw CRPS where the calibration would stay off); ties: the earlier"
)


def _key(record: dict[str, float], band: tuple[float, float]) -> tuple[int, float, float]:
    """Sort key of a validation record: calibrated ones first, then by CRPS."""
    crps, ssr = record["val_crps"], record["val_spread_skill"]
    if not (math.isfinite(crps) and math.isfinite(ssr)) or ssr <= 0:
        return (2, math.inf, math.inf)
    if band[0] <= ssr <= band[1]:
        return (0, crps, 0.0)
    return (1, abs(math.log(ssr)), crps)


#: Appended to :data:`RULE` when ``selection="calibrated"`` had no calibrated score.
FALLBACK = (
    " (selection='calibrated' fell back to it: no validation had 2 times to fit and "
    "score a calibration on)"
)


def _scored(records: Sequence[dict[str, float]]) -> bool:
    """Whether any record has a calibrated CRPS (:func:`calibrated_crps` needs 2 times)."""
    return any(math.isfinite(r.get("val_crps_calibrated", math.nan)) for r in records)


def _calibrated_key(record: dict[str, float]) -> tuple[int, float]:
    """Sort key of ``by="calibrated"``: the CRPS the spread calibration gives; NaN last."""
    crps = record.get("val_crps_calibrated", math.nan)
    return (0, crps) if math.isfinite(crps) else (1, math.inf)


def select(
    records: Sequence[dict[str, float]],
    band: tuple[float, float] = CALIBRATED_SPREAD_SKILL,
    by: str = "skill",
) -> int | None:
    """Index of the validation whose weights to keep; None if none.

    Parameters
    ----------
    records : sequence of dict
        Each with ``val_crps`` and ``val_spread_skill`` (as in ``model.summary``), and
        for ``by="calibrated"`` ``val_crps_calibrated``.
    band : (float, float)
        Spread-skill ratios counted as calibrated (default
        :data:`xdeepr.metrics.CALIBRATED_SPREAD_SKILL`, 0.9 to 1.1).
    by : {"skill", "calibrated"}
        ``"skill"``: :data:`RULE` (the band first); ``"calibrated"``:
        :data:`CALIBRATED_RULE` (the spread is the calibration's to mend, so the band
        does not come first).

    Examples
    --------
    >>> select([{"val_crps": 0.3, "val_spread_skill": 0.5},
    ...         {"val_crps": 0.4, "val_spread_skill": 0.7}])  # none calibrated: closest to 1
    1
    >>> select([{"val_crps": 0.3, "val_spread_skill": 0.95, "val_crps_calibrated": 0.3},
    ...         {"val_crps": 0.2, "val_spread_skill": 0.70, "val_crps_calibrated": 0.19}],
    ...        by="calibrated")  # under-dispersive, but the best once calibrated
    1
    >>> select([]) is None
    True
    """
    if by not in ("skill", "calibrated"):
        raise ValueError(f"select(by={by!r}): choose 'skill' or 'calibrated'")
    if not records:
        return None
    if by == "calibrated" and _scored(records):  # none (one validation time): skill rule
        return min(range(len(records)), key=lambda i: (_calibrated_key(records[i]), i))
    return min(range(len(records)), key=lambda i: (_key(records[i], band), i))


def calibrated_crps(truth: xr.Dataset, ens: xr.Dataset, centre: xr.Dataset | None = None) -> float:
    """Fair CRPS of `ens` after the post-hoc calibration fitted on it, cross-fitted by halves.

    Per variable, as :func:`~xdeepr.model.calibration.fit_calibration` decides: the
    times are cut into two halves and each is scored with the factor fitted on the
    other (:func:`~xdeepr.model.calibration.crossfit_halves`); where that beats the raw
    ensemble on the same halves (the calibration would be on) that score counts, else
    the raw one; then the mean over variables. With a `centre` (a regression-mean
    model's), the members are first recentred towards it where that helps held-out
    halves (:mod:`xdeepr.model.recentre`), as the calibration ``train`` fits would do,
    so the score is the one ``downscale`` would deliver. In the space the calibration
    works in (a label's learnt space: log1p for precipitation).

    Parameters
    ----------
    truth : xarray.Dataset
        ``(time, ...)`` per variable (at least 2 times).
    ens : xarray.Dataset
        ``(member, time, ...)`` per variable, at least 2 members.
    centre : xarray.Dataset, optional
        The regression mean the members were drawn about, on `truth`'s dims.

    Returns
    -------
    float
        NaN with fewer than 2 times or no variables.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.normal(size=(20, 30))
    >>> truth = xr.Dataset({"t2m": (("time", "x"), mu + rng.normal(size=mu.shape))})
    >>> narrow = mu + 0.3 * rng.normal(size=(6, 20, 30))  # under-dispersive members
    >>> ens = xr.Dataset({"t2m": (("member", "time", "x"), narrow)})
    >>> from xdeepr.metrics import crps_ensemble
    >>> bool(calibrated_crps(truth, ens) < float(crps_ensemble(truth, ens, fair=True).t2m))
    True
    """
    from ..model.calibration import fit_calibration

    if truth.sizes.get("time", 0) < 2 or not truth.data_vars:
        return math.nan
    fit = fit_calibration(truth, ens, centre=centre)
    scores = [
        min(s["crps_raw_halves"], s["crps_crossfitted_halves"]) for s in fit["validation"].values()
    ]
    return float(np.mean(scores))


def check_selection(cfg: TrainConfig) -> None:
    """Refuse, before any work, ``selection="calibrated"`` without the calibration it trusts.

    Examples
    --------
    >>> from xdeepr.training import TrainConfig
    >>> check_selection(TrainConfig(selection="calibrated", calibrate=False))
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: selection='calibrated' keeps the weights that score best after the post-hoc spread calibration, and calibrate=False turns it off: the returned weights would be left under-dispersive. Set calibrate=True, or selection='skill'
    """  # noqa: E501
    if cfg.selection == "calibrated" and not cfg.calibrate:
        raise ConfigError(
            "selection='calibrated' keeps the weights that score best after the post-hoc "
            "spread calibration, and calibrate=False turns it off: the returned weights "
            "would be left under-dispersive. Set calibrate=True, or selection='skill'"
        )


def rule_used(records: Sequence[dict[str, float]], selection: str) -> str:
    """The rule that chose among `records` under ``TrainConfig.selection``, in words.

    Examples
    --------
    >>> rule_used([{"val_crps": 0.3, "val_spread_skill": 1.0}], "calibrated") == RULE + (
    ...     FALLBACK)
    True
    """
    if selection == "last":
        return "the last weights"
    if selection == "calibrated":
        return CALIBRATED_RULE if _scored(records) else RULE + FALLBACK
    return RULE
