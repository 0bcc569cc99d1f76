"""DownscalingModel: files that hold only data, round trips, repr, tensor-level sampling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import xdeepr
from xdeepr.model import ModelFileError, calendar_features


def _gens(seed, n):
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def test_save_load_same_samples(tiny_model, tmp_path):
    path = tiny_model.save(tmp_path / "m.xdeepr")
    # The file is plain data: torch's safe loader reads it.
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "xdeepr-model"
    loaded = xdeepr.load_model(path)
    assert loaded.identity == tiny_model.identity
    assert repr(loaded) == repr(tiny_model)
    c = torch.randn(3, tiny_model.network.conditioned_on_input, 24, 32)
    cal = torch.rand(3, 2)
    a = tiny_model.sample(c, cal, steps=4, generators=_gens(0, 3))
    b = loaded.sample(c, cal, steps=4, generators=_gens(0, 3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c2 = loaded.sample(c, cal, steps=4, generators=_gens(1, 3))
    assert not torch.equal(a, c2)
    # Scalers, grids and static channels survive too.
    np.testing.assert_array_equal(loaded.label_grid.latitude, tiny_model.label_grid.latitude)
    assert loaded.label_grid.latitude.attrs == tiny_model.label_grid.latitude.attrs
    assert loaded.static_names == tiny_model.static_names
    assert loaded.feature_scaler.mean["t2m"] == pytest.approx(tiny_model.feature_scaler.mean["t2m"])


class _Evil:
    def __reduce__(self):
        return (print, ("this ran code",))


def test_pickled_callable_is_refused(tiny_model, tmp_path):
    d = tiny_model.to_dict()
    d["config"]["hook"] = _Evil()
    path = tmp_path / "evil.xdeepr"
    torch.save(d, path)
    with pytest.raises(ModelFileError, match="refusing to load .*objects other than tensors"):
        xdeepr.load_model(path)
    junk = tmp_path / "junk.xdeepr"
    junk.write_bytes(pickle.dumps(print))
    with pytest.raises(ModelFileError):
        xdeepr.load_model(junk)
    with pytest.raises(FileNotFoundError, match="no model file"):
        xdeepr.load_model(tmp_path / "missing.xdeepr")


def test_not_a_model(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(ModelFileError, match="not an xdeepr model"):
        xdeepr.load_model(path)


def test_repr_is_readable(tiny_model):
    text = repr(tiny_model)
    for part in ("t2m", "label grid: 20x32", "static: orog", "parameters=", "training: 12 steps"):
        assert part in text


def test_calendar_features_cftime():
    import xarray as xr

    for cal, days in (("360_day", 360), ("noleap", 365)):
        t = xr.DataArray(
            xr.date_range("2001-01-01T06", periods=3, freq="12h", calendar=cal, use_cftime=True),
            dims="time",
        )
        out = calendar_features(t)
        np.testing.assert_allclose(out[:, 0], [0.25, 0.75, 0.25])
        np.testing.assert_allclose(out[0, 1], 0.25 / days, rtol=1e-5)
