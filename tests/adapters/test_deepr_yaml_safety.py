"""A DeepR YAML file that is not what it seems (issue 24): alias bombs refused before they
expand, data files named as such, YAML 1.1 numbers read, unknown block and scheduler names
refused listing the known ones, per-level lists of unequal length named by their keys."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

import xdeepr
from xdeepr._configfile import MAX_EXPANDED, load_yaml
from xdeepr.adapters.deepr import read_deepr_config
from xdeepr.errors import ConfigError

DATA = Path(__file__).parents[1] / "data" / "deepr_configuration_diffusion.yml"
KW = "training_configuration.model_configuration.eps_model.kwargs"
SCHED = "training_configuration.model_configuration.scheduler"


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": `width` ** `levels` strings from a few hundred bytes."""
    rows = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    rows += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "laughs:\n" + "\n".join(rows) + "\n"


def _with_bomb(tmp_path: Path, key: str = "learning_rate: 0.0005") -> Path:
    """The test file with a bomb on top and `key`'s value replaced by its last alias."""
    name = key.split(":")[0]
    text = _bomb() + DATA.read_text().replace(key, f"{name}: *l8")
    p = tmp_path / "bomb.yml"
    p.write_text(text)
    assert len(_bomb()) < 600  # a few hundred bytes
    return p


def _doc() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text())


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    p = tmp_path / "deepr.yml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        xdeepr.TrainConfig.from_deepr_yaml(path)
    return str(info.value)


# ------------------------------------------------------------------------------ alias bombs


def test_a_billion_laughs_is_refused_before_it_expands_under_a_memory_limit(tmp_path):
    """On main the refusal of learning_rate spelled out 9**9 strings: gigabytes, minutes."""
    path = _with_bomb(tmp_path)
    code = textwrap.dedent(
        """
        import resource, sys, time
        limit = 3 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        import xdeepr
        from xdeepr.errors import ConfigError
        config = xdeepr.TrainConfig  # imports torch: not part of the time taken
        start = time.perf_counter()
        try:
            config.from_deepr_yaml(sys.argv[1])
        except ConfigError as err:
            print("REFUSED", round(time.perf_counter() - start, 3), len(str(err)))
            print(err)
        """
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the alias bomb was expanded (no refusal within 120 s)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    head, message = proc.stdout.split("\n", 1)
    _, seconds, length = head.split()
    assert float(seconds) < 5 and int(length) < 1000, proc.stdout
    assert "bomb.yml" in message and f"expand to more than {MAX_EXPANDED} values" in message
    assert "*l0 (line 3)" in message and "write the values out" in message


def test_the_bomb_is_refused_wherever_it_stands(tmp_path):
    for key in ("learning_rate: 0.0005", "variable: t2m", "num_epochs: 12"):
        start = time.perf_counter()
        message = _refusal(_with_bomb(tmp_path, key))
        assert time.perf_counter() - start < 5
        assert "is refused: its aliases" in message and len(message) < 1000


def test_merge_key_bombs_and_self_references_are_refused(tmp_path):
    # each level merges the one before twice: flattened, 2**30 key pairs
    rows = ["m0: &m0 {a: 1, b: 2}"] + [
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 31)
    ]
    p = tmp_path / "merge.yml"
    p.write_text("\n".join(rows))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expand to more than"):
        load_yaml(p, "config file")
    assert time.perf_counter() - start < 5
    p.write_text("a: 1\nloop: &s [1, *s]\n")
    with pytest.raises(ConfigError, match=r"an alias refers to the value that holds it \(\*s"):
        load_yaml(p, "config file")
    p.write_text("a: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml(p, "config file")


def test_a_few_aliases_still_work(tmp_path):
    doc_text = DATA.read_text().replace(
        "      longitude: [9.2, 10.75]\n      latitude: [48.0, 47.05]",
        "      longitude: &lon [9.2, 10.75]\n      latitude: &lat [48.0, 47.05]",
    )
    doc_text += "extra_boxes: [*lon, *lat, *lon]\n"
    p = tmp_path / "aliases.yml"
    p.write_text(doc_text)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        rec = read_deepr_config(p)
    assert rec.labels_coverage == {"longitude": (9.2, 10.75), "latitude": (48.0, 47.05)}


# ------------------------------------------------------------------------------ not YAML text


@pytest.mark.parametrize(
    ("data", "looks"),
    [
        (b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5 / netCDF-4"),
        (b"CDF\x01" + bytes(64), "netCDF-3"),
        (bytes(range(256)), ""),
    ],
)
def test_a_data_file_given_as_yaml_is_named(tmp_path, data, looks):
    p = tmp_path / "era5.nc"
    p.write_bytes(data)
    message = _refusal(p)
    assert "era5.nc" in message and "is not a YAML text file" in message
    assert looks in message and "not a data file" in message
    assert "codec can't decode" not in message


# ------------------------------------------------------------------------------ numbers


def test_yaml_1_1_exponent_numbers_are_numbers(tmp_path):
    text = DATA.read_text().replace("learning_rate: 0.0005", "learning_rate: 1e-3")
    text = text.replace("beta_end: 0.02", "beta_end: 2E-2")
    p = tmp_path / "lr.yml"
    p.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # beta_end 2E-2 is 0.02: nothing lossy to say
        assert xdeepr.TrainConfig.from_deepr_yaml(p).learning_rate == 1e-3
    p.write_text(text.replace("learning_rate: 1e-3", "learning_rate: '1e-3'"))
    # quoted, it is text on purpose: refused as before, naming the key
    assert "learning_rate must be a number, got '1e-3' (str)" in _refusal(p)


# ------------------------------------------------------------------------------ names


def test_an_unknown_down_block_is_refused_listing_the_known_ones(tmp_path):
    doc = _doc()
    kw = doc["training_configuration"]["model_configuration"]["eps_model"]["kwargs"]
    kw["down_block_types"] = ["FooBlock", "AttnDownBlock2D", "AttnDownBlock2D"]
    message = _refusal(_write(tmp_path, doc))
    assert f"{KW}.down_block_types[0] must be one of ['DownBlock2D'" in message
    assert "'AttnDownBlock2D'" in message and "got 'FooBlock'" in message
    kw["down_block_types"] = ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
    kw["up_block_types"] = ["AttnUpBlock2D", "AttnUpBlock", "UpBlock2D"]
    message = _refusal(_write(tmp_path, doc))
    assert f"{KW}.up_block_types[1] must be one of ['UpBlock2D'" in message
    assert "got 'AttnUpBlock'" in message
    kw["up_block_types"] = ["AttnUpBlock2D", 3, "UpBlock2D"]
    assert f"{KW}.up_block_types must be a list of block names" in _refusal(_write(tmp_path, doc))


def test_known_blocks_give_their_attention(tmp_path):
    doc = _doc()
    kw = doc["training_configuration"]["model_configuration"]["eps_model"]["kwargs"]
    kw["down_block_types"] = ["ResnetDownsampleBlock2D", "AttnSkipDownBlock2D", "DownBlock2D"]
    kw["up_block_types"] = ["UpBlock2D", "AttnSkipUpBlock2D", "ResnetUpsampleBlock2D"]
    cfg = xdeepr.TrainConfig.from_deepr_yaml(_write(tmp_path, doc))
    assert cfg.is_attention == (False, True, False)


def test_an_unknown_scheduler_is_refused_a_known_one_warned(tmp_path):
    doc = _doc()
    sched = doc["training_configuration"]["model_configuration"]["scheduler"]
    sched["class_name"] = "FooScheduler"
    message = _refusal(_write(tmp_path, doc))
    assert f"{SCHED}.class_name must be one of ['DDPMScheduler'" in message
    assert "'LMSDiscreteScheduler'" in message and "got 'FooScheduler'" in message
    sched["class_name"] = "diffusers.DDIMScheduler"
    assert xdeepr.TrainConfig.from_deepr_yaml(_write(tmp_path, doc)).sampler == "ddim"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"down_block_types": ["DownBlock2D", "AttnDownBlock2D"]},
            "block_out_channels has 3, down_block_types has 2, up_block_types has 3",
        ),
        (
            {"block_out_channels": [16, 32], "up_block_types": ["UpBlock2D"] * 2},
            "block_out_channels has 2, down_block_types has 3, up_block_types has 2",
        ),
        (
            {"block_out_channels": None},
            "block_out_channels (not given: 4 levels by default) has 4, down_block_types has 3",
        ),
    ],
)
def test_unequal_block_lists_are_named_by_their_keys(tmp_path, changes, expected):
    doc = _doc()
    kw = doc["training_configuration"]["model_configuration"]["eps_model"]["kwargs"]
    for key, value in changes.items():
        if value is None:
            del kw[key]
        else:
            kw[key] = value
    message = _refusal(_write(tmp_path, doc))
    assert message.startswith(f"DeepR configuration: the lists of {KW} give one entry per level")
    assert expected in message and "TrainConfig.is_attention" not in message
