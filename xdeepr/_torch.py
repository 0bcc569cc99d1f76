"""Torch helpers shared by training and inference: device choice and autocast."""

from __future__ import annotations

import contextlib

import torch

from .errors import ConfigError


def choose_device(device: str | torch.device | None) -> torch.device:
    """`device` as a :class:`torch.device`; None picks CUDA when available, else CPU.

    Raises
    ------
    ConfigError
        For a name torch does not know, or a CUDA device on a machine without one.

    Examples
    --------
    >>> choose_device("cpu")
    device(type='cpu')
    """
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"device {device!r} is not a device name torch knows; use 'cpu', 'cuda' or 'cuda:N'"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} asks for CUDA, but torch finds no CUDA device here "
                f"(torch {torch.__version__}); use device='cpu' or install a CUDA build of torch"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return dev


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[object]:
    """bfloat16 autocast on `device` when `enabled` (a no-op context otherwise)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
