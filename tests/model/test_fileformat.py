"""Model files: safetensors + JSON with no pickle, 0.1.0 files, damaged and hostile files.

Also the lazy path's model transport: two models that differ only in their scalers
keep their own results through dask, in one process and on a 2-process cluster.
"""

from __future__ import annotations

import copy
import itertools
import json
import pickle
import struct
import warnings
import zipfile
from pathlib import Path

import dask
import numpy as np
import pytest
import torch
import xarray as xr
from safetensors.torch import save_file

import xdeepr
from xdeepr.errors import ModelFileError
from xdeepr.model import fileformat
from xdeepr.model.header import dumps
from xdeepr.scaling import Scaler

DATA = Path(__file__).parents[1] / "data"
LEGACY = DATA / "model-0.1.0.xdeepr"
OPTS = {"members": 1, "steps": 2, "sampler": "ddim", "seed": 5, "progress": False}


def _strict(name):
    raise ValueError(f"{name} is not JSON")


def _parse(path: Path) -> tuple[dict, dict]:
    """The safetensors index and the xdeepr header of `path`, parsed as strict JSON."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    index = json.loads(raw[8 : 8 + n], parse_constant=_strict)
    header = json.loads(index.pop("__metadata__")["xdeepr"], parse_constant=_strict)
    return index, header


def _write(path: Path, header: dict, tensors: dict) -> Path:
    save_file(tensors, path, metadata={"xdeepr": dumps(header)})
    return path


class _Marker:
    """Unpickling this object creates a file: proof that a payload ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "payload-ran"
    # The payload is live: unpickling it does create the marker.
    pickle.loads(pickle.dumps(_Marker(path)))
    assert path.exists()
    path.unlink()
    return path


# ------------------------------------------------------------------ the format
def test_new_file_is_safetensors_and_json(tiny_model, tmp_path):
    m = copy.copy(tiny_model)
    m.summary = {**m.summary, "validation_loss": float("nan")}
    path = m.save(tmp_path / "m.xdeepr")
    raw = path.read_bytes()
    assert not zipfile.is_zipfile(path) and b"data.pkl" not in raw
    assert raw[:1] != b"\x80"  # not a pickle stream
    index, header = _parse(path)
    assert header["format"] == "xdeepr-model" and header["format_version"] == 3
    assert header["summary"]["validation_loss"] == {"$float": "nan"}
    # Every byte after the header belongs to exactly one numeric tensor.
    (n,) = struct.unpack("<Q", raw[:8])
    spans = sorted(v["data_offsets"] for v in index.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert {v["dtype"] for v in index.values()} <= {"F32", "F64", "BOOL", "I64", "U8"}
    loaded = xdeepr.load_model(path)
    assert np.isnan(loaded.summary["validation_loss"])
    assert loaded.digest == m.digest


def test_legacy_file_loads_with_a_warning_and_resaving_converts(tmp_path, sample_small):
    with pytest.warns(FutureWarning, match="re-save"):
        old = xdeepr.load_model(LEGACY)
    path = old.save(tmp_path / "converted.xdeepr")
    assert not zipfile.is_zipfile(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = xdeepr.load_model(path)
    assert new.digest == old.digest
    coarse = sample_small[0].isel(time=slice(80, 82))
    xr.testing.assert_equal(
        coarse.deepr.downscale(old, **OPTS), coarse.deepr.downscale(new, **OPTS)
    )


def test_a_header_length_that_starts_like_a_pickle_still_loads(tiny_model, tmp_path):
    # A header of 0x?0280 bytes makes the file start with b"\x80\x02", as a pickle does.
    header, tensors = fileformat.encode(tiny_model)
    path, pad, target = tmp_path / "m.xdeepr", 0, None
    for _ in range(5):
        header["config"]["extra"] = {"pad": "x" * pad}
        _write(path, header, tensors)
        (n,) = struct.unpack("<Q", path.read_bytes()[:8])
        target = target or (n // 0x10000 + 1) * 0x10000 + 0x0280
        if n == target:
            break
        pad += target - n
    assert path.read_bytes()[:2] == b"\x80\x02"
    assert xdeepr.load_model(path).config["extra"]["pad"] == "x" * pad


# ------------------------------------------------------------------ hostile files
def test_pickle_in_a_torch_zip_is_refused_unread(tiny_model, tmp_path, marker):
    d = tiny_model.to_dict()
    d["format_version"] = 1
    d["config"]["hook"] = _Marker(marker)
    path = tmp_path / "evil.xdeepr"
    torch.save(d, path)
    with pytest.raises(ModelFileError, match=r"refusing to load .*evil.xdeepr.*open, which is not"):
        xdeepr.load_model(path)
    assert not marker.exists()


def test_a_bare_pickle_is_refused_unread(tmp_path, marker):
    path = tmp_path / "bare.xdeepr"
    path.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ModelFileError, match="refusing to load .*pickle"):
        xdeepr.load_model(path)
    assert not marker.exists()


def test_pickle_smuggled_into_a_safetensors_file_is_refused(tiny_model, tmp_path, marker):
    header, tensors = fileformat.encode(tiny_model)
    payload = pickle.dumps(_Marker(marker))
    tensors["payload"] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    path = _write(tmp_path / "smuggled.xdeepr", header, tensors)
    with pytest.raises(ModelFileError, match=r"smuggled.xdeepr.*no entry refers to.*payload"):
        xdeepr.load_model(path)
    # In the header, a pickle is only ever a string: it loads as one, and never runs.
    header["config"]["hook"] = payload.hex()
    tensors.pop("payload")
    loaded = xdeepr.load_model(_write(tmp_path / "string.xdeepr", header, tensors))
    assert loaded.config["hook"] == payload.hex()
    assert not marker.exists()


# ------------------------------------------------------------------ damaged files
def test_truncated_files(tiny_model, tmp_path):
    raw = tiny_model.save(tmp_path / "m.xdeepr").read_bytes()
    for size, problem in ((len(raw) // 2, "truncated"), (40, "truncated"), (3, "truncated")):
        path = tmp_path / f"cut{size}.xdeepr"
        path.write_bytes(raw[:size])
        with pytest.raises(ModelFileError, match=rf"cut{size}\.xdeepr.*{problem}"):
            xdeepr.load_model(path)
    legacy = LEGACY.read_bytes()
    path = tmp_path / "cut-legacy.xdeepr"
    path.write_bytes(legacy[: len(legacy) // 2])
    with pytest.raises(ModelFileError, match="cut-legacy.xdeepr"):
        xdeepr.load_model(path)


def test_missing_entry_is_named(tiny_model, tmp_path):
    header, tensors = fileformat.encode(tiny_model)
    del header["static"]["stats"]
    path = _write(tmp_path / "nostats.xdeepr", header, tensors)
    with pytest.raises(ModelFileError, match=r"nostats.xdeepr.* lacks the entry 'static/stats'"):
        xdeepr.load_model(path)
    header, tensors = fileformat.encode(tiny_model)
    del tensors["label_grid/lat"]
    path = _write(tmp_path / "nolat.xdeepr", header, tensors)
    with pytest.raises(ModelFileError, match=r"nolat.xdeepr' lacks the tensor 'label_grid/lat'"):
        xdeepr.load_model(path)


def test_wrong_tensor_shape_is_named(tiny_model, tmp_path):
    header, tensors = fileformat.encode(tiny_model)
    tensors["network/state_dict/final.weight"] = torch.zeros(2, 2)
    path = _write(tmp_path / "shape.xdeepr", header, tensors)
    with pytest.raises(ModelFileError, match=r"shape.xdeepr.*final\.weight.*shape"):
        xdeepr.load_model(path)
    header, tensors = fileformat.encode(tiny_model)
    tensors["static/values/orog"] = torch.zeros(3, 4)
    path = _write(tmp_path / "static.xdeepr", header, tensors)
    with pytest.raises(ModelFileError, match=r"static.xdeepr.*'static/values/orog'.*\[3, 4\]"):
        xdeepr.load_model(path)


def test_not_a_model(tiny_model, tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(ModelFileError, match="x.pt.* not an xdeepr model"):
        xdeepr.load_model(path)
    junk = tmp_path / "junk.xdeepr"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ModelFileError, match="junk.xdeepr' is not an xdeepr model file"):
        xdeepr.load_model(junk)
    header, tensors = fileformat.encode(tiny_model)
    header["format_version"] = 99
    with pytest.raises(ModelFileError, match="format 99.*upgrade xdeepr"):
        xdeepr.load_model(_write(tmp_path / "future.xdeepr", header, tensors))
    with pytest.raises(FileNotFoundError, match="no model file"):
        xdeepr.load_model(tmp_path / "missing.xdeepr")


def test_model_file_error_is_exported():
    assert xdeepr.model.ModelFileError is ModelFileError
    assert issubclass(ModelFileError, ValueError)


# ------------------------------------------------------------------ the lazy path
def _twin(model, shift=10.0):
    """`model` with the same weights and a label scaler whose mean is `shift` higher."""
    twin = copy.copy(model)
    d = model.label_scaler.to_dict()
    d["mean"] = {k: np.asarray(v) + shift for k, v in d["mean"].items()}
    twin.label_scaler = Scaler.from_dict(d)
    assert twin.identity != model.identity
    return twin


def test_lazy_path_keeps_models_with_equal_weights_apart(tiny_model, sample_small):
    coarse = sample_small[0].isel(time=slice(80, 84))
    twin = _twin(tiny_model)
    eager = coarse.deepr.downscale(tiny_model, **OPTS)
    lazy = coarse.chunk(time=2)
    a = lazy.deepr.downscale(tiny_model, **OPTS).compute()
    b = lazy.deepr.downscale(twin, **OPTS).compute()  # the process has a model cached now
    xr.testing.assert_allclose(a, eager, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose((b - a).t2m.values, 10.0, atol=1e-3)
    both = dask.compute(
        lazy.deepr.downscale(twin, **OPTS), lazy.deepr.downscale(tiny_model, **OPTS)
    )
    xr.testing.assert_allclose(both[0], b)
    xr.testing.assert_allclose(both[1], a)


@pytest.mark.slow  # about 15 s: starting two worker processes dominates
def test_lazy_path_keeps_models_apart_on_a_cluster(tiny_model, sample_small):
    distributed = pytest.importorskip("distributed")
    coarse = sample_small[0].isel(time=slice(80, 84))
    twin = _twin(tiny_model)
    a = coarse.deepr.downscale(tiny_model, **OPTS)
    lazy = coarse.chunk(time=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            first = client.compute(lazy.deepr.downscale(tiny_model, **OPTS)).result()
            second = client.compute(lazy.deepr.downscale(twin, **OPTS)).result()
            cached = client.run(lambda: len(__import__("xdeepr.inference").inference._MODELS))
    xr.testing.assert_allclose(first, a, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose((second - first).t2m.values, 10.0, atol=1e-3)
    assert sum(cached.values()) >= 2  # both models were decoded, each by its own key
