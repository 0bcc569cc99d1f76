"""Model files that would load and be silently wrong, or fail only later, are refused at load.

Each refusal is a ModelFileError naming the file, the header entry or tensor, its value
and what to do (re-save from a good model, or re-train). Also: saving to a folder, and
model files following the umask.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import xdeepr
from xdeepr.errors import ModelFileError
from xdeepr.model import fileformat
from xdeepr.model.checks import check_depth
from xdeepr.model.header import dumps

FIX = r"re-save the model from a good copy \(model\.save\) or re-train it"


def _write(path: Path, header: dict, tensors: dict) -> Path:
    save_file(tensors, path, metadata={"xdeepr": dumps(header)})
    return path


def _refused(path: Path, *patterns: str) -> str:
    """Load `path`, expecting a ModelFileError naming it, each pattern and the fix."""
    with pytest.raises(ModelFileError) as info:
        xdeepr.load_model(path)
    msg = str(info.value)
    assert repr(str(path)) in msg, msg
    for pattern in (*patterns, FIX):
        assert re.search(pattern, msg), (pattern, msg)
    return msg


@pytest.fixture
def parts(tiny_model):
    """A fresh (header, tensors) of the tiny model for each test to damage."""
    return fileformat.encode(tiny_model)


# ------------------------------------------------------------------ header types
@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("learn_residuals", "no", r"'learn_residuals' must be True or False, got 'no' \(str\)"),
        ("prediction", "x0", r"'prediction' must be one of \['epsilon', 'v'\], got 'x0'"),
        ("prediction", 1, r"'prediction' must be one of .*, got 1 \(int\)"),
    ],
)
def test_top_level_header_values_are_type_checked(parts, tmp_path, key, value, pattern):
    header, tensors = parts
    header[key] = value
    _refused(_write(tmp_path / "typed.xdeepr", header, tensors), "header entry " + pattern)


def test_header_values_that_are_train_config_fields_use_its_rules(parts, tmp_path):
    header, tensors = parts
    header["config"]["batch_size"] = "8"
    path = _write(tmp_path / "config.xdeepr", header, tensors)
    _refused(path, r"'config/batch_size' must be an integer >= 1, got '8' \(str\)")
    header["config"]["batch_size"] = 8
    header["network"]["config"]["dropout"] = 2.0
    _refused(
        _write(tmp_path / "dropout.xdeepr", header, tensors),
        r"'network/config/dropout' must be a number in \[0, 1\), got 2\.0",
    )


def test_other_header_values_get_simple_type_rules(parts, tmp_path):
    header, tensors = parts
    header["variables"]["labels"] = "t2m"  # one name, not a list: would read as t, 2, m
    _refused(
        _write(tmp_path / "labels.xdeepr", header, tensors),
        r"'variables/labels' must be a list of distinct names, got 't2m' \(str\)",
    )
    header["variables"]["labels"] = ["t2m"]
    header["schedule"]["num_steps"] = 1000.5
    _refused(
        _write(tmp_path / "schedule.xdeepr", header, tensors),
        r"'schedule/num_steps' must be an integer >= 1, got 1000\.5 \(float\)",
    )


# ------------------------------------------------------------------ non-finite and degenerate
def test_nan_weights_are_refused(parts, tmp_path, tiny_model):
    header, tensors = parts
    name = "network/state_dict/final.weight"
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    n = tensors[name].numel()
    _refused(_write(tmp_path / "nan.xdeepr", header, tensors), rf"'{name}' holds {n} NaN")
    header, tensors = fileformat.encode(tiny_model)
    tensors["network/training_state/final.bias"][0] = float("inf")
    _refused(
        _write(tmp_path / "inf.xdeepr", header, tensors),
        r"'network/training_state/final\.bias' holds 1 NaN or infinite",
    )


def test_degenerate_scalers_are_refused(parts, tmp_path, tiny_model):
    header, tensors = parts
    tensors["scalers/labels/std/t2m"] = torch.tensor(0.0, dtype=torch.float64)
    _refused(
        _write(tmp_path / "std0.xdeepr", header, tensors),
        r"'scalers/labels/std/t2m' holds a standard deviation of 0 \(need > 0",
    )
    header, tensors = fileformat.encode(tiny_model)
    tensors["scalers/features/mean/t2m"] = torch.tensor(float("nan"), dtype=torch.float64)
    _refused(_write(tmp_path / "mean.xdeepr", header, tensors), r"'scalers/features/mean/t2m'")


def test_scaler_of_the_wrong_shape_is_refused(parts, tmp_path, tiny_model):
    header, tensors = parts
    tensors["scalers/labels/mean/t2m"] = torch.zeros(1, dtype=torch.float64)
    _refused(
        _write(tmp_path / "shape1.xdeepr", header, tensors),
        r"'scalers/labels/mean/t2m' has shape \[1\] where a domain-wise scaler has \[\]",
    )
    header, tensors = fileformat.encode(tiny_model)
    header["scalers"]["features"]["by_month"] = True
    _refused(
        _write(tmp_path / "bymonth.xdeepr", header, tensors),
        r"'scalers/features/mean/t2m' has shape \[\] where a domain-wise scaler by month "
        r"has \[12\]",
    )


def test_scaler_lacking_a_variable_is_refused(parts, tmp_path):
    header, tensors = parts
    header["variables"]["labels"] = ["tas"]
    header["label_attrs"] = {"tas": header["label_attrs"]["t2m"]}
    _refused(_write(tmp_path / "var.xdeepr", header, tensors), r"'scalers/labels'.*needs \['tas'\]")


# ------------------------------------------------------------------ consistency
def test_static_names_must_be_the_stored_static_fields(parts, tmp_path):
    header, tensors = parts
    header["static"]["names"] = header["static"]["names"][:2]  # shortened by hand
    _refused(
        _write(tmp_path / "static.xdeepr", header, tensors),
        r"'static/names' is \['orog', 'lsm'\].*stored but not named: "
        r"\['lsm_coarse', 'orog_coarse'\]",
    )


def test_network_channels_must_fit_the_variables_and_static_fields(parts, tmp_path):
    header, tensors = parts
    for name in ("orog_coarse", "lsm_coarse"):  # consistently removed: 3 condition channels
        header["static"]["names"].remove(name)
        del header["static"]["values"][name], header["static"]["stats"][name]
        del tensors[f"static/values/{name}"]
    _refused(
        _write(tmp_path / "channels.xdeepr", header, tensors),
        r"'network/config/conditioned_on_input' is 5 where the features, static fields and "
        r"observations give 3",
    )


def test_a_huge_network_in_the_header_is_refused_before_allocating(parts, tmp_path):
    header, tensors = parts
    header["network"]["config"]["n_channels"] = 1_000_000
    path = _write(tmp_path / "huge.xdeepr", header, tensors)
    start = time.perf_counter()
    msg = _refused(
        path,
        r"'network/config' \(n_channels=1000000, .*\) describes a network of [\d,]{19,} "
        r"parameters, the file stores [\d,]+",
        r"'network/state_dict/time_emb\.lin1\.weight' would have shape \[4000000, 1000000\], "
        r"the file stores \[32, 8\]",
    )
    assert "bytes" not in msg and time.perf_counter() - start < 10
    header["network"]["config"]["n_channels"] = 8
    header["network"]["config"]["n_blocks"] = 10**9  # refused before building its modules
    _refused(
        _write(tmp_path / "blocks.xdeepr", header, tensors),
        r"'network/config' \(n_blocks=1000000000, 2 levels\) needs at least",
    )


def test_a_network_with_other_tensors_is_refused(parts, tmp_path):
    header, tensors = parts
    header["network"]["config"]["calendar"] = False
    _refused(
        _write(tmp_path / "calendar.xdeepr", header, tensors),
        r"describes a network of [\d,]+ parameters, the file stores [\d,]+ .*tensors it has "
        r"no use for: \['calendar_emb\.proj\.bias', 'calendar_emb\.proj\.weight'\]",
    )


def test_a_deeply_nested_header_is_refused_by_depth(parts, tmp_path):
    header, tensors = parts
    header["config"]["extra"] = {"deep": "@@DEEP@@"}
    text = dumps(header).replace('"@@DEEP@@"', "[" * 200_000 + "]" * 200_000)
    path = tmp_path / "deep.xdeepr"
    save_file(tensors, path, metadata={"xdeepr": text})
    _refused(path, r"its xdeepr header nests lists and objects 200003 deep, more than the 64")
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ModelFileError, match=r"nested more than 64 deep .*'config/extra/0/"):
        check_depth({"config": {"extra": deep}})


def test_good_files_still_load(tiny_model, tmp_path):
    back = xdeepr.load_model(tiny_model.save(tmp_path / "m.xdeepr"))
    assert back.digest == tiny_model.digest
    d = tiny_model.to_dict()  # in memory, numpy arrays accepted as well as tensors
    d["label_grid"]["lat"] = np.asarray(d["label_grid"]["lat"])
    assert fileformat.from_dict(d).digest == tiny_model.digest


# ------------------------------------------------------------------ saving
def test_saving_to_a_folder_says_to_give_a_file_name(tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target, shown in ((".", "'.'"), (tmp_path, repr(str(tmp_path)))):
        with pytest.raises(ModelFileError) as info:
            tiny_model.save(target)
        msg = str(info.value)
        assert f"cannot save the model to {shown}: it is a folder" in msg
        assert "give a file name, e.g." in msg and "model.xdeepr" in msg


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_model_files_follow_the_umask(tiny_model, tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = tiny_model.save(tmp_path / "m.xdeepr")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
