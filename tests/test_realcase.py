"""The benchmarks' real climate-model case (HadCM3 from iris-sample-data) reads right."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import harness, realcase, suite_cmip


@pytest.fixture(scope="module")
def case():
    pytest.importorskip("iris_sample_data")
    return realcase.data()


def test_cmip_case_shapes_times_and_names(case):
    tf, tl, sf, sl, static = case
    assert static is None
    assert list(tf.data_vars) == list(tl.data_vars) == ["tas"]
    assert tf.sizes["time"] == tl.sizes["time"] == realcase.TRAIN_YEARS
    assert sf.sizes["time"] == sl.sizes["time"] == realcase.TEST_YEARS
    assert dict(tl.tas.sizes) == {"time": 180, "latitude": 32, "longitude": 40}
    assert dict(tf.tas.sizes) == {"time": 180, "latitude": 9, "longitude": 12}
    # one annual field a year, 360-day calendar; training ends before the test begins
    assert tf.time.dt.calendar == "360_day" and (tf.time.dt.month == 6).all()
    assert tf.time.dt.year[0] == 1860 and tf.time.dt.year[-1] == 2039
    assert sf.time.dt.year[0] == 2040 and sf.time.dt.year[-1] == 2099
    assert (tf.time == tl.time).all() and (sf.time == sl.time).all()
    assert tl.tas.attrs["units"] == "K" and tf.tas.attrs["cell_methods"] == "area: mean"
    assert 200 < float(tl.tas.min()) and float(tl.tas.max()) < 320


def test_cmip_features_are_block_means_and_cover_the_labels(case):
    tf, tl, *_ = case
    # coarse cell (1, 1) averages native rows and columns 4..7: label rows 2..5, cols 1..4
    block = tl.tas.isel(time=0, latitude=slice(2, 6), longitude=slice(1, 5))
    np.testing.assert_allclose(float(tf.tas[0, 1, 1]), float(block.mean()), rtol=1e-6)
    lat, lon = tf.latitude.values, tf.longitude.values
    assert lat.min() <= tl.latitude.min() and tl.latitude.max() <= lat.max()
    assert lon.min() <= tl.longitude.min() and tl.longitude.max() <= lon.max()
    # the labels are HadCM3's own grid: 1.25 x 1.875 degrees, the coarse grid 4 times that
    np.testing.assert_allclose(np.diff(tl.latitude), 1.25)
    np.testing.assert_allclose(np.diff(tl.longitude), 1.875)
    np.testing.assert_allclose(np.diff(lat), 5.0)
    np.testing.assert_allclose(np.diff(lon), 7.5)


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="'A2'.*A1B"):
        realcase.load("A2")


def test_cmip_suite_without_the_data_says_what_to_install(monkeypatch):
    import torch

    monkeypatch.setattr(realcase, "available", lambda: False)
    text = suite_cmip.run(harness.Context(device=torch.device("cpu"), quick=True))
    assert "### cmip:" in text and "pip install iris-sample-data" in text
    with pytest.raises(ModuleNotFoundError, match="pip install iris-sample-data"):
        realcase.load("E1")
