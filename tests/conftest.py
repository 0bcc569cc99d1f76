"""Shared fixtures: the embedded sample and a tiny trained model."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

import xdeepr

# Tiny networks gain nothing from intra-op threads, and on a busy 2-core machine
# oversubscribed threads make them up to 100x slower.
torch.set_num_threads(1)

TINY = {
    "n_channels": 8,
    "channel_multipliers": (1, 2),
    "is_attention": (False, True),
    "batch_size": 8,
    "progress": False,
}


@pytest.fixture(scope="session")
def sample_small():
    """96 six-hourly steps of the embedded sample (features, labels, static)."""
    return xdeepr.datasets.load_sample(periods=96)


@pytest.fixture(scope="session")
def tiny_model(sample_small):
    """A tiny model trained for a few steps: for plumbing, not for skill."""
    f, l, s = sample_small
    return xdeepr.train(f.isel(time=slice(0, 80)), l.isel(time=slice(0, 80)), s, steps=12, **TINY)


class Killed(Exception):
    """Raised by :func:`die_after_checkpoint`'s patched save, right after it wrote."""


@pytest.fixture
def die_after_checkpoint(monkeypatch):
    """Training raises :class:`Killed` after each checkpoint it writes; call the result to undo."""
    from xdeepr import training

    original = training.loop._save_checkpoint

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(training.loop, "_save_checkpoint", save_then_die)
    return lambda: monkeypatch.setattr(training.loop, "_save_checkpoint", original)
