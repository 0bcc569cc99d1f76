"""The one warning a DeepR file can give: unknown keys and settings read differently."""

from __future__ import annotations

import warnings

from .schema import Reader

__all__ = ["DeepRConfigWarning", "warn_notes"]


class DeepRConfigWarning(UserWarning):
    """Keys of a DeepR file that xdeepr does not know, or settings it cannot reproduce."""


def warn_notes(r: Reader, source: str, stacklevel: int = 2) -> None:
    """One :class:`DeepRConfigWarning` listing what `r` found unknown or lossy, if anything.

    Examples
    --------
    >>> import warnings
    >>> r = Reader()
    >>> r.note_unknown("training_configuration.colour")
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     warn_notes(r, "deepr.yml")
    >>> str(seen[0].message)
    "DeepR configuration 'deepr.yml': unknown keys ['training_configuration.colour'] ignored"
    """
    unknown = sorted(u.lstrip(".") for u in r.unknown)
    if not unknown and not r.lossy:
        return
    parts = ([f"unknown keys {unknown} ignored"] if unknown else []) + r.lossy
    warnings.warn(
        f"DeepR configuration {source!r}: " + "; ".join(parts),
        DeepRConfigWarning,
        stacklevel=stacklevel + 1,
    )
