"""Folds of contiguous time blocks, for the cross-fitted regression mean.

A regression mean evaluated on the times it was trained on is better than it will
ever be on new times, so a diffusion model trained on its *in-sample* residual learns
too small an error and its ensembles collapse (BENCHMARKS.md, "calibration" and
"shift"). Cross-fitting removes that: the training times are cut into ``K`` folds,
the regression net of fold ``k`` is trained on the other folds only and predicts
fold ``k``, so every training residual the diffusion model sees is an out-of-fold
one. A fold is made of contiguous blocks of times, because neighbouring 6-hourly
fields are nearly the same field: a fold interleaved time by time with its training
times would still be an in-sample prediction. And each fold takes up to
:data:`BLOCKS_PER_FOLD` blocks spread over the period (blocks dealt to the folds in
turn), so that no fold net misses a whole season: with one block per fold, the net
that did not see a summer predicts the summer with an extrapolation error the other
nets do not make, and the diffusion network, which cannot tell which net's residual
it is learning, adds that error to every member.

Examples
--------
>>> [f.tolist() for f in time_folds(7, 3)]
[[0, 1, 2], [3, 4], [5, 6]]
>>> fold_of(7, 3).tolist()
[0, 0, 0, 1, 1, 2, 2]
>>> [f.tolist() for f in time_folds(48, 2)][0][:3], fold_of(48, 2)[::8].tolist()
([0, 1, 2], [0, 1, 0, 1, 0, 1])
>>> resolve_folds(None, 180)
3
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AUTO_FOLDS",
    "BLOCKS_PER_FOLD",
    "CHECKPOINT_FRACTIONS",
    "MIN_FOLD_TIMES",
    "best_checkpoint",
    "checkpoints",
    "contiguous_runs",
    "fold_blocks",
    "fold_of",
    "resolve_folds",
    "time_folds",
]

#: Folds of ``TrainConfig(mean_folds=None)``: each fold net sees two thirds of the times.
AUTO_FOLDS = 3
#: Fewest training times per fold; with fewer times the mean is not cross-fitted.
MIN_FOLD_TIMES = 8
#: Most contiguous blocks a fold is made of (each of at least MIN_FOLD_TIMES times).
BLOCKS_PER_FOLD = 4
#: Where, as fractions of ``mean_steps``, the fold nets' out-of-fold error is measured
#: to choose the regression nets' steps (early stopping by cross-validation).
CHECKPOINT_FRACTIONS = (1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1)


def resolve_folds(mean_folds: int | None, n_train: int) -> int:
    """The number of folds used for `n_train` training times (1: no cross-fitting).

    The rule: ``mean_folds`` when given (0 and 1 both mean no cross-fitting), else
    :data:`AUTO_FOLDS`; never more folds than leave :data:`MIN_FOLD_TIMES` times in
    each (with fewer training times than ``2 x MIN_FOLD_TIMES``, 1).

    Examples
    --------
    >>> resolve_folds(5, 180), resolve_folds(None, 20), resolve_folds(None, 10)
    (5, 2, 1)
    >>> resolve_folds(0, 99)
    1
    """
    k = AUTO_FOLDS if mean_folds is None else max(1, int(mean_folds))
    return max(1, min(k, n_train // MIN_FOLD_TIMES))


def time_folds(n_train: int, k: int) -> list[np.ndarray]:
    """The indices ``0..n_train-1`` cut into `k` folds of contiguous blocks, each sorted.

    The times are cut into ``k x b`` contiguous, near-equal blocks, ``b`` the most
    (up to :data:`BLOCKS_PER_FOLD`) that leaves :data:`MIN_FOLD_TIMES` times in each,
    and block ``i`` goes to fold ``i mod k``: every fold spans the period.

    Examples
    --------
    >>> [f.tolist() for f in time_folds(4, 2)]
    [[0, 1], [2, 3]]
    >>> [f.tolist() for f in time_folds(32, 2)][1]
    [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]
    """
    if not 1 <= k <= max(1, n_train):
        raise ValueError(f"cannot cut {n_train} training times into {k} folds")
    b = max(1, min(BLOCKS_PER_FOLD, n_train // (k * MIN_FOLD_TIMES)))
    blocks = np.array_split(np.arange(n_train), k * b)
    return [np.concatenate(blocks[f::k]).astype(int) for f in range(k)]


def fold_blocks(fold: np.ndarray) -> list[list[int]]:
    """The ``[start, stop)`` bounds of the contiguous blocks of a fold's indices.

    Examples
    --------
    >>> fold_blocks(np.array([0, 1, 2, 6, 7]))
    [[0, 3], [6, 8]]
    """
    return [[int(r[0]), int(r[-1]) + 1] for r in contiguous_runs(fold, max(1, fold.size))]


def fold_of(n_train: int, k: int) -> np.ndarray:
    """The fold number of each training time ``0..n_train-1`` (see :func:`time_folds`).

    Examples
    --------
    >>> fold_of(4, 2).tolist()
    [0, 0, 1, 1]
    """
    out = np.empty(n_train, dtype=int)
    for i, f in enumerate(time_folds(n_train, k)):
        out[f] = i
    return out


def contiguous_runs(indices: np.ndarray, block_size: int) -> list[np.ndarray]:
    """`indices` (sorted) cut at every gap and every `block_size`: contiguous blocks.

    Training blocks are loaded as slices from their first to their last index, so
    the training times of a fold (all folds but one) must be cut where the held-out
    fold was, or the block would load it.

    Examples
    --------
    >>> [r.tolist() for r in contiguous_runs(np.array([0, 1, 2, 5, 6]), 2)]
    [[0, 1], [2], [5, 6]]
    """
    indices = np.asarray(indices, dtype=int)
    if indices.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(indices) != 1) + 1
    out = []
    for run in np.split(indices, cuts):
        out += [run[i : i + block_size] for i in range(0, len(run), max(1, block_size))]
    return out


def checkpoints(total: int) -> list[int]:
    """The step counts, up to `total`, at which the fold nets' out-of-fold error is measured.

    :data:`CHECKPOINT_FRACTIONS` of `total`, rounded, at least 1, without repeats; the
    last is always `total`.

    Examples
    --------
    >>> checkpoints(600)
    [38, 75, 112, 150, 225, 300, 450, 600]
    >>> checkpoints(3)
    [1, 2, 3]
    """
    steps = {max(1, round(f * total)) for f in CHECKPOINT_FRACTIONS}
    return sorted(steps | {int(total)})


def best_checkpoint(steps: list[int], errors: list[float]) -> int:
    """The step count of `steps` with the smallest out-of-fold error (the fewest on ties).

    Non-finite errors never win; with none finite, the last (most) steps.

    Examples
    --------
    >>> best_checkpoint([10, 20, 40], [0.5, 0.3, 0.4])
    20
    >>> best_checkpoint([10, 20], [float("nan"), float("nan")])
    20
    """
    err = np.asarray(errors, dtype=float)
    if not np.isfinite(err).any():
        return int(steps[-1])
    return int(steps[int(np.nanargmin(np.where(np.isfinite(err), err, np.inf)))])
