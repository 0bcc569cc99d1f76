"""The .deepr accessors: one base class, real methods on Dataset and DataArray."""

from __future__ import annotations

import inspect
import pydoc
import subprocess
import sys

import numpy as np
import xarray as xr

import xdeepr
from xdeepr.accessor import DeepRAccessor, DeepRDataArrayAccessor, DeepRDatasetAccessor

METHODS = [
    "crop",
    "pad",
    "unpad",
    "interpolate",
    "downscale",
    "score",
    "normalize",
    "denormalize",
    "latlon",
    "spacing",
]


def test_both_accessors_have_the_methods_for_tab_completion(sample_small):
    f, _, _ = sample_small
    for acc in (f.deepr, f.t2m.deepr):
        assert isinstance(acc, DeepRAccessor)
        listing = dir(acc)
        for name in METHODS:
            assert name in listing, name
    assert isinstance(f.deepr, DeepRDatasetAccessor)
    assert isinstance(f.t2m.deepr, DeepRDataArrayAccessor)


def test_help_on_a_dataarray_method_shows_its_signature_and_docstring(sample_small):
    f, _, _ = sample_small
    text = pydoc.render_doc(f.t2m.deepr.downscale, renderer=pydoc.plaintext)
    assert "members" in text and "SamplingOptions" in text and "Examples" in text
    sig = inspect.signature(f.t2m.deepr.downscale)
    assert list(sig.parameters)[:3] == ["model", "members", "steps"]


def test_dataarray_methods_return_named_arrays(sample_small):
    f, l, _ = sample_small
    da = f.t2m
    cropped = da.deepr.crop(longitude=(9, 11), latitude=(47, 48.5))
    assert isinstance(cropped, xr.DataArray) and cropped.name == "t2m"
    xr.testing.assert_identical(cropped, f.deepr.crop(longitude=(9, 11), latitude=(47, 48.5)).t2m)
    interp = da.deepr.interpolate(l)
    xr.testing.assert_identical(interp, f.deepr.interpolate(l).t2m)
    scaler = xdeepr.Scaler.fit(f, method="domain-wise", by_month=False)
    back = da.deepr.normalize(scaler).deepr.denormalize(scaler)
    assert isinstance(back, xr.DataArray)
    np.testing.assert_allclose(back.values, da.values, rtol=1e-5)


def test_methods_do_not_mutate_their_input(sample_small):
    f, _, _ = sample_small
    before = f.copy(deep=True)
    f.deepr.pad(levels=4)
    f.deepr.crop(longitude=(9, 11), latitude=(47, 48.5))
    xr.testing.assert_identical(f, before)


def test_import_does_not_load_torch():
    code = (
        "import sys, xdeepr, xarray as xr, numpy as np\n"
        "ds = xr.Dataset(coords={'latitude': np.arange(50., 40., -0.25),"
        " 'longitude': np.arange(0., 10., 0.25)})\n"
        "xdeepr.grid.crop(ds, longitude=(2, 5), latitude=(48, 45)); xdeepr.metrics.rmse\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code_model = "import sys, xdeepr; xdeepr.TrainConfig; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code_model], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
