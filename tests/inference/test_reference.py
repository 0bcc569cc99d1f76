"""Ensembles of a fixed seed equal the values recorded before the architecture change.

``tests/data/model-0.1.0.xdeepr`` is a tiny model written by xdeepr 0.1.0 (torch
``weights_only`` format) and ``reference-ensembles-0.1.0.npz`` the ensembles that
0.1.0 drew from it on CPU (4 times of the embedded sample, 2 members, seed 7).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import xdeepr

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def legacy_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 0.1.0 format is deprecated
        return xdeepr.load_model(DATA / "model-0.1.0.xdeepr")


@pytest.fixture(scope="module")
def recorded():
    return dict(np.load(DATA / "reference-ensembles-0.1.0.npz"))


@pytest.mark.parametrize(
    ("sampler", "steps"),
    [("ddpm", 4), ("ddim", 3), ("dpm++2m", 3), ("dpm++2m-sde", 3), ("dpm++2m-sde", None)],
)
def test_ensembles_equal_recorded_values(legacy_model, recorded, sample_small, sampler, steps):
    f, _, _ = sample_small
    coarse = f.isel(time=slice(80, 84))
    times = coarse.time.values.astype("datetime64[ns]").astype("int64")
    np.testing.assert_array_equal(times, recorded["times"])
    out = coarse.deepr.downscale(
        legacy_model, members=2, steps=steps, sampler=sampler, seed=7, progress=False
    )
    np.testing.assert_allclose(out.t2m.values, recorded[f"{sampler}-{steps}"], rtol=0, atol=2e-4)
