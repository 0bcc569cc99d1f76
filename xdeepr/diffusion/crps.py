"""Proper-score training loss: the (almost) fair CRPS of a few members per example.

For an ensemble x_1..x_M of one example and its truth y, at every pixel::

    CRPS_fair = 1/M Σ_j |x_j − y| − 1/(2 M (M−1)) Σ_j Σ_k |x_j − x_k|      (Ferro 2014)
    CRPS      = 1/M Σ_j |x_j − y| − 1/(2 M²)      Σ_j Σ_k |x_j − x_k|

The fair form is an unbiased estimate of the CRPS of the distribution the members
are drawn from, so minimising it over a generator's parameters makes the generator's
distribution match the truth's (the CRPS is strictly proper), whatever M. Its one
weakness as a loss (Lang et al. 2024, "AIFS-CRPS") is that with members that are
exactly equal the second term's gradient vanishes and nothing pushes them apart; the
*almost fair* CRPS mixes in a little of the standard one::

    afCRPS_α = α CRPS_fair + (1 − α) CRPS,      α = 0.95 by default,

which keeps the score proper as M grows and its gradient useful for every ensemble.
:func:`xdeepr.distill` trains one-pass students with it (:mod:`xdeepr.diffusion.onepass`).

Examples
--------
>>> import torch
>>> members = torch.tensor([[[0.0]], [[2.0]]]).reshape(1, 2, 1, 1, 1)  # (B, M, C, H, W)
>>> truth = torch.tensor([1.0]).reshape(1, 1, 1, 1)
>>> float(almost_fair_crps(members, truth, alpha=1.0))  # 1 − 2·2/(2·2·1)
0.0
"""

from __future__ import annotations

import torch

__all__ = ["DEFAULT_ALPHA", "almost_fair_crps"]

#: Weight of the fair CRPS in the almost fair CRPS (Lang et al. 2024 use 0.95).
DEFAULT_ALPHA = 0.95


def almost_fair_crps(
    members: torch.Tensor,
    truth: torch.Tensor,
    *,
    alpha: float = DEFAULT_ALPHA,
    reduce: bool = True,
) -> torch.Tensor:
    """The almost fair CRPS of ensembles ``(B, M, ...)`` against truths ``(B, ...)``.

    Parameters
    ----------
    members : torch.Tensor
        ``(B, M, C, H, W)`` (any trailing shape): M >= 2 members of each of B examples.
    truth : torch.Tensor
        ``(B, C, H, W)``: the truth of each example, shaped like one member.
    alpha : float
        In [0, 1]: 1 is the fair CRPS (Ferro 2014), 0 the standard estimator; default
        :data:`DEFAULT_ALPHA` (Lang et al. 2024).
    reduce : bool
        Return the mean over examples and pixels (default), else the ``(B, C, H, W)``
        score at every pixel.

    Returns
    -------
    torch.Tensor
        A scalar (or per-pixel scores), differentiable in `members`.

    Raises
    ------
    ValueError
        For fewer than two members, shapes that do not match, or `alpha` outside [0, 1].

    Examples
    --------
    A two-member ensemble {0, 2} against 1: mean error 1, mean pairwise distance 2
    over the 2 ordered pairs (fair) or 4 (standard).

    >>> x = torch.tensor([0.0, 2.0]).reshape(1, 2, 1)
    >>> y = torch.tensor([1.0]).reshape(1, 1)
    >>> float(almost_fair_crps(x, y, alpha=1.0)), float(almost_fair_crps(x, y, alpha=0.0))
    (0.0, 0.5)
    """
    if members.ndim < 2 or members.shape[1] < 2:
        raise ValueError(
            f"members must be (B, M, ...) with M >= 2 members, got shape {tuple(members.shape)}"
        )
    if tuple(truth.shape) != (members.shape[0], *members.shape[2:]):
        raise ValueError(
            f"truth has shape {tuple(truth.shape)}; members {tuple(members.shape)} need "
            f"{(members.shape[0], *members.shape[2:])}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    m = members.shape[1]
    skill = (members - truth.unsqueeze(1)).abs().mean(dim=1)  # 1/M Σ|x_j − y|
    pairs = torch.zeros_like(skill)  # Σ_{j<k} |x_j − x_k|: M is small (a few members)
    for j in range(m - 1):
        pairs = pairs + (members[:, j : j + 1] - members[:, j + 1 :]).abs().sum(dim=1)
    # Σ_j Σ_k = 2 Σ_{j<k}; weights of the fair (M(M−1)) and standard (M²) estimators
    weight = alpha / (m * (m - 1)) + (1.0 - alpha) / (m * m)
    score = skill - weight * pairs
    return score.mean() if reduce else score
