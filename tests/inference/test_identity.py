"""The lazy path's model cache keys on the model's current state, not on a stale identity."""

from __future__ import annotations

import copy

import pytest
import torch
import xarray as xr

OPTS = {"members": 2, "steps": 2, "sampler": "ddim", "seed": 5, "progress": False}


@pytest.fixture(scope="module")
def coarse(sample_small):
    f, _, _ = sample_small
    return f.isel(time=slice(80, 84))


def _in_place(model, what):
    if what == "load_state_dict":
        other = copy.deepcopy(model.network.state_dict())
        for t in other.values():
            if t.is_floating_point():
                t.mul_(1.05)
        model.network.load_state_dict(other)
    elif what == "weights scaled in place":
        with torch.no_grad():
            for p in model.network.parameters():
                p.mul_(0.9)
    elif what == "label_scaler.mean edited in place":
        for v in model.labels:
            model.label_scaler.mean[v] += 2.0  # K: the ensemble shifts by 2 K
    else:  # pragma: no cover
        raise AssertionError(what)


@pytest.mark.parametrize(
    "what", ["load_state_dict", "weights scaled in place", "label_scaler.mean edited in place"]
)
def test_a_used_model_copied_and_changed_in_place_samples_the_same_eager_and_lazy(
    coarse, tiny_model, what
):
    original = coarse.chunk(time=1).deepr.downscale(tiny_model, **OPTS).compute()  # used
    m = copy.deepcopy(tiny_model)
    _in_place(m, what)
    assert m.identity != tiny_model.identity
    eager = coarse.deepr.downscale(m, **OPTS)
    lazy = coarse.chunk(time=1).deepr.downscale(m, **OPTS)
    assert lazy.attrs["xdeepr_model"] == eager.attrs["xdeepr_model"] == m.identity
    assert f"model={m.identity}" in lazy.attrs["history"]
    # the copy's own weights and scalers, not the original's (float tolerance: the
    # batch shapes of the two paths differ)
    xr.testing.assert_allclose(lazy.compute(scheduler="synchronous"), eager, atol=1e-4)
    assert float(abs(lazy.t2m - original.t2m).max()) > 1e-3
