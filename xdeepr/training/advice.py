"""What the calibration warning of :func:`xdeepr.train` suggests, given what the model does.

A suggestion the model already follows is noise, and worse, it hides the ones that
could help: a regression-mean model is not told to use the regression mean, a run
with dropout is not told to add it, and a model whose post-hoc spread calibration
is on is told so. :func:`advice` returns the diagnosis and the suggestions in
words; :func:`xdeepr.training.validation.SkillValidation.finish` puts them in the
:class:`~xdeepr.training.validation.CalibrationWarning`.

Examples
--------
>>> what, tips = advice(0.6, {"mean": "regression", "mean_folds": 1, "dropout": 0.0})
>>> "mean='regression'" in tips, "mean_folds" in tips
(False, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .folds import AUTO_FOLDS

__all__ = ["advice"]


def advice(
    spread_skill: float,
    setup: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """(diagnosis, suggestions) for a validation spread-skill ratio outside the band.

    Parameters
    ----------
    spread_skill : float
        The returned weights' validation spread-skill ratio (below the band:
        under-dispersive; above: over-dispersive).
    setup : mapping, optional
        What the model does: the :class:`~xdeepr.training.TrainConfig` fields
        ``mean``, ``dropout``, ``calibrate``, ``selection`` and ``mean_folds`` as
        resolved (the number of folds used; 1: not cross-fitted). Missing keys: not known, so the
        corresponding suggestion is made.
    calibration : mapping, optional
        The fitted spread calibration (:func:`xdeepr.model.calibration.fit_calibration`).

    Returns
    -------
    (str, str)

    Examples
    --------
    >>> advice(1.4)[0]
    'over-dispersive: members spread wider than their error'
    >>> "mean='regression'" in advice(0.5, {"mean": "bicubic"})[1]
    True
    """
    from ..model.calibration import active_factors, active_recentre

    s = dict(setup or {})
    factors = active_factors(calibration)
    moved = sorted(active_recentre(calibration))
    fitted = bool(calibration and calibration.get("factors"))
    tips: list[str] = []
    if spread_skill < 1:
        what = (
            "under-dispersive: members too alike for their error, so the ensemble is over-confident"
        )
        if s.get("selection") == "calibrated":
            tips.append("train on more times; selection='skill' keeps calibrated raw weights")
        else:
            tips.append(
                "train on more times, or fewer steps (model.summary['validation']['records'] "
                "shows where it was calibrated); validate more often (validate_every) so the "
                "selection can catch that point"
            )
        if not s.get("dropout"):
            tips.append("dropout=0.1")
        if s.get("mean", "bicubic") != "regression":
            tips.append("mean='regression' (with enough data: see docs/methodology)")
        elif int(s.get("mean_folds", AUTO_FOLDS)) <= 1:
            tips.append(
                f"mean_folds={AUTO_FOLDS}: cross-fit the regression mean, so the diffusion "
                "model learns its error on times it did not see"
            )
    else:
        what = "over-dispersive: members spread wider than their error"
        tips.append("train longer (more steps) or with more data; check the validation split")
    if s.get("calibrate") is False:
        tips.append("calibrate=True (a spread factor per variable fitted on validation)")
        return what, "; ".join(tips)
    if moved:  # a regression mean's members: their mean without its sampling noise
        per_var = (calibration or {}).get("validation", {})
        ratios = [per_var[v]["spread_skill_recentred"] for v in moved if v in per_var]
        with_it = f" (validation spread-skill {min(ratios):.2f} recentred)" if ratios else ""
        tips.append(
            f"downscale() recentres the members of {', '.join(moved)} towards the regression "
            f"mean{with_it}"
        )
    if factors:
        shown = ", ".join(f"x{k:.3g} ({v})" for v, k in factors.items())
        per_var = (calibration or {}).get("validation", {})
        after = [per_var[v]["spread_skill_calibrated"] for v in factors if v in per_var]
        with_it = f" (validation spread-skill {min(after):.2f} with it)" if after else ""
        tips.append(
            f"the post-hoc spread calibration ({shown}) is applied by downscale(){with_it}; "
            "downscale(..., calibrate=False) returns the raw ensemble"
        )
    elif fitted:
        tips.append(
            "the post-hoc spread calibration was fitted but is off: it did not improve "
            "the fair CRPS of held-out validation times"
        )
    return what, "; ".join(tips)
