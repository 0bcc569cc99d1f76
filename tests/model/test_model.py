"""DownscalingModel: round trips, repr, identity (what it covers, from the current state)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr.model import DownscalingModel, ModelFileError, calendar_features, parts
from xdeepr.scaling import Scaler

OPTS = {"members": 1, "steps": 2, "sampler": "ddim", "seed": 3, "progress": False}


def _shifted_scaler(scaler: Scaler, shift: float) -> Scaler:
    d = scaler.to_dict()
    d["mean"] = {k: np.asarray(v) + shift for k, v in d["mean"].items()}
    return Scaler.from_dict(d)


def test_save_load_same_results(tiny_model, sample_small, tmp_path):
    path = tiny_model.save(tmp_path / "m.xdeepr")
    loaded = xdeepr.load_model(path)
    assert loaded.identity == tiny_model.identity
    assert loaded.digest == tiny_model.digest
    assert repr(loaded) == repr(tiny_model)
    coarse = sample_small[0].isel(time=slice(80, 82))
    a = coarse.deepr.downscale(tiny_model, **OPTS)
    b = coarse.deepr.downscale(loaded, **OPTS)
    xr.testing.assert_equal(a, b)
    assert a.attrs["xdeepr_model"] == b.attrs["xdeepr_model"] == tiny_model.identity
    # Scalers, grids, static channels and the raw training weights survive too.
    np.testing.assert_array_equal(loaded.label_grid.latitude, tiny_model.label_grid.latitude)
    assert loaded.label_grid.latitude.attrs == tiny_model.label_grid.latitude.attrs
    assert loaded.static_names == tiny_model.static_names
    xr.testing.assert_equal(loaded.static, tiny_model.static)
    assert loaded.feature_scaler.mean["t2m"] == pytest.approx(tiny_model.feature_scaler.mean["t2m"])
    assert loaded.summary == tiny_model.summary
    assert loaded.training_state is not None and tiny_model.training_state is not None
    assert set(loaded.training_state) == set(tiny_model.training_state)


def test_from_dict_round_trip(tiny_model):
    again = DownscalingModel.from_dict(tiny_model.to_dict())
    assert again.digest == tiny_model.digest
    with pytest.raises(ModelFileError, match="not an xdeepr model"):
        DownscalingModel.from_dict({"a": 1})


def test_repr_is_readable(tiny_model):
    text = repr(tiny_model)
    for part in ("t2m", "label grid: 20x32", "static: orog", "parameters=", "training: 12 steps"):
        assert part in text
    assert text.startswith(f"<xdeepr.DownscalingModel {tiny_model.identity}>")


# ------------------------------------------------------------------------ identity
def _changed(model: DownscalingModel, what: str) -> DownscalingModel:
    m = copy.copy(model)
    lat = m.label_grid_names[0]
    if what == "label scaler":
        m.label_scaler = _shifted_scaler(m.label_scaler, 10.0)
    elif what == "feature scaler":
        m.feature_scaler = _shifted_scaler(m.feature_scaler, 1.0)
    elif what == "label grid values":
        m.label_grid = m.label_grid.assign_coords({lat: m.label_grid[lat] + 0.01})
    elif what == "label grid attrs":
        m.label_grid = m.label_grid.assign_coords({lat: m.label_grid[lat].assign_attrs(x=1)})
    elif what == "static field":
        m.static = m.static.copy(deep=True)
        m.static[m.static_names[0]][0, 0] += 1.0
    elif what == "static stats":
        m.static_stats = {k: (a + 1.0, b) for k, (a, b) in m.static_stats.items()}
    elif what == "schedule":
        m.schedule = xdeepr.diffusion.make_schedule("linear", m.schedule.num_steps)
    elif what == "prediction":
        m.prediction = "epsilon" if m.prediction == "v" else "v"
    elif what == "learn_residuals":
        m.learn_residuals = not m.learn_residuals
    elif what == "label attrs":
        m.label_attrs = {k: {**v, "units": "degC"} for k, v in m.label_attrs.items()}
    elif what == "default sampler":
        m.config = {**m.config, "sampler": "ddim"}
    elif what == "weights":
        m.network = copy.deepcopy(m.network)
        first = next(m.network.parameters())
        first.data[0] += 1.0
        m.network = m.network  # assigning (not mutating in place) resets the identity
    else:  # pragma: no cover
        raise AssertionError(what)
    return m


@pytest.mark.parametrize(
    "what",
    [
        "label scaler",
        "feature scaler",
        "label grid values",
        "label grid attrs",
        "static field",
        "static stats",
        "schedule",
        "prediction",
        "learn_residuals",
        "label attrs",
        "default sampler",
        "weights",
    ],
)
def test_identity_covers_what_changes_results(tiny_model, what):
    other = _changed(tiny_model, what)
    assert other.identity != tiny_model.identity
    assert other.digest != tiny_model.digest


def test_identity_ignores_bookkeeping(tiny_model):
    m = copy.copy(tiny_model)
    m.config = {**m.config, "checkpoint_dir": "/elsewhere", "progress": not m.config["progress"]}
    m.summary = {"steps": 1, "history": [{"step": 1, "train_loss": float("nan")}]}
    m.training_state = None
    assert m.identity == tiny_model.identity


def _changes_in_place(model: DownscalingModel) -> dict[str, Callable[[], None]]:
    """Ways to change `model` in place, without assigning any attribute."""
    other = copy.deepcopy(model.network.state_dict())
    for t in other.values():
        if t.is_floating_point():
            t.add_(0.01)

    def scale() -> None:
        with torch.no_grad():
            next(model.network.parameters()).mul_(1.5)

    def scaler() -> None:
        for v in model.labels:
            model.label_scaler.mean[v] += 0.5  # an in-place edit of the statistics

    return {
        "load_state_dict": lambda: model.network.load_state_dict(other),
        "weights scaled in place": scale,
        "label_scaler.mean edited in place": scaler,
    }


def test_identity_follows_in_place_changes_of_a_used_copy(tiny_model, tmp_path):
    used = tiny_model.identity  # the original has been used: its identity was asked for
    m = copy.deepcopy(tiny_model)
    assert m.identity == used
    seen = {used}
    for what, change in _changes_in_place(m).items():
        change()
        assert m.identity not in seen, what  # each in-place change is a new model
        seen.add(m.identity)
        assert tiny_model.identity == used  # the original is untouched
    # the saved file reloads with the identity the model reports now
    loaded = xdeepr.load_model(m.save(tmp_path / "changed.xdeepr"))
    assert loaded.identity == m.identity and loaded.digest == m.digest


def test_identity_is_computed_from_the_current_state_each_time(tiny_model, monkeypatch):
    calls = []
    real = parts.model_digest

    def counting(model):
        calls.append(1)
        return real(model)

    monkeypatch.setattr(parts, "model_digest", counting)
    m = copy.copy(tiny_model)
    for _ in range(3):
        assert m.identity == tiny_model.identity
    assert len(calls) == 6  # no cache: asked six times, computed six times
    m.to("cpu")  # moving changes no result
    m.summary = {}
    assert m.identity == tiny_model.identity


def test_conditioning_mixin_is_a_deprecated_alias():
    import xdeepr.model

    with pytest.warns(FutureWarning, match="DownscalingModel holds those methods"):
        assert xdeepr.model.ConditioningMixin is DownscalingModel


def test_calendar_features_cftime():
    for cal, days in (("360_day", 360), ("noleap", 365)):
        t = xr.DataArray(
            xr.date_range("2001-01-01T06", periods=3, freq="12h", calendar=cal, use_cftime=True),
            dims="time",
        )
        out = calendar_features(t)
        np.testing.assert_allclose(out[:, 0], [0.25, 0.75, 0.25])
        np.testing.assert_allclose(out[0, 1], 0.25 / days, rtol=1e-5)
