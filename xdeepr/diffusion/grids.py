"""Step grids: which training steps t_0 > t_1 > ... > t_{n−1} a sampler visits.

A grid is built by its own function and passed to a sampler, which only applies
its update rule along it; a new grid (Karras σ, uniform log-SNR) is one new
function registered in :data:`STEP_GRIDS`.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DEFAULT_GRID", "STEP_GRIDS", "make_grid", "timesteps"]


def timesteps(num_train_steps: int, steps: int | None) -> list[int]:
    """Trailing grid of ``steps`` training indices from T−1 down, evenly spaced.

    Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed",
    table 2 ("trailing"): the first step is always the last training step T−1.

    Parameters
    ----------
    num_train_steps : int
        T, the schedule's number of steps.
    steps : int or None
        Number of sampling steps, 1 ≤ steps ≤ T; None means T.

    Returns
    -------
    list of int
        Strictly decreasing indices, the first is T−1.

    Examples
    --------
    >>> timesteps(1000, 4)
    [999, 749, 499, 249]
    """
    T = int(num_train_steps)
    n = T if steps is None else int(steps)
    if not 1 <= n <= T:
        raise ValueError(f"steps must be between 1 and the schedule's {T} steps, got {steps}")
    return [T - 1 - (i * T) // n for i in range(n)]


#: Step grid builders by name: ``builder(num_train_steps, steps) -> list[int]``.
STEP_GRIDS: dict[str, Callable[[int, int | None], list[int]]] = {"trailing": timesteps}
DEFAULT_GRID = "trailing"


def make_grid(num_train_steps: int, steps: int | None, kind: str = DEFAULT_GRID) -> list[int]:
    """The step grid `kind` of `steps` steps over a schedule of `num_train_steps`.

    Examples
    --------
    >>> make_grid(10, 2)
    [9, 4]
    """
    if kind not in STEP_GRIDS:
        raise ValueError(f"unknown step grid {kind!r}; valid grids are {list(STEP_GRIDS)}")
    return STEP_GRIDS[kind](num_train_steps, steps)
