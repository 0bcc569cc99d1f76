"""``xdeepr train``'s settings (issue 24): config files that are not what they seem, ``--set``
values, and a checkpoint folder that cannot be written, each refused before any data is read,
naming the file, key or value and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import xdeepr
from xdeepr.cli import main
from xdeepr.cli.train import load_config, parse_overrides
from xdeepr.errors import ConfigError

DEEPR = Path(__file__).parents[1] / "data" / "deepr_configuration_diffusion.yml"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """xdeepr.train records its config instead of training."""
    seen: list[dict[str, Any]] = []

    def fake_train(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(xdeepr, "train", fake_train)
    return seen


def _train(tmp_path: Path, *extra: str, features: str | None = None) -> list[str]:
    """Arguments of ``xdeepr train``; FEATURES and LABELS do not exist unless given."""
    f = features or str(tmp_path / "missing_features.nc")
    return [
        "train",
        f,
        str(tmp_path / "missing_labels.nc"),
        "-o",
        str(tmp_path / "m.xdeepr"),
        *extra,
    ]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("xdeepr train: error: ") and len(err.splitlines()) == 1, err
    return err


# ------------------------------------------------------------------------------ files


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_a_data_file_given_as_config_is_named(tmp_path, suffix):
    p = tmp_path / f"era5{suffix}"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    message = str(info.value)
    kind = {".json": "JSON", ".yaml": "YAML", ".toml": "TOML"}[suffix]
    assert f"config file '{p}' is not a {kind} text file" in message
    assert "HDF5 / netCDF-4" in message and "codec" not in message


def test_a_data_file_as_config_on_the_command_line(tmp_path, capsys, calls):
    p = tmp_path / "cerra.json"
    p.write_bytes(bytes(range(128, 256)))
    assert main(_train(tmp_path, "--config", str(p))) == 2
    err = _error(capsys)
    assert "cerra.json' is not a JSON text file: byte 0x80 at offset 0 is not UTF-8" in err
    assert not calls


def test_a_deepr_file_given_to_config_points_to_deepr_config(tmp_path, capsys, calls):
    with pytest.raises(Exception, match="pass it with --deepr-config") as info:
        load_config(DEEPR)
    assert "data_configuration, training_configuration" in str(info.value)
    assert main(_train(tmp_path, "--config", str(DEEPR))) == 2
    err = _error(capsys)
    assert f"--deepr-config '{DEEPR}' instead of --config" in err
    assert "unknown TrainConfig field" not in err and not calls


def test_a_yaml_bomb_given_to_config_is_refused_quickly(tmp_path, capsys, calls):
    rows = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)
    ]
    p = tmp_path / "train.yaml"
    p.write_text("\n".join(rows) + "\nlearning_rate: *l8\n")
    assert main(_train(tmp_path, "--config", str(p))) == 2
    err = _error(capsys)
    assert "train.yaml' is refused: its aliases (*l0 (line 2)" in err and len(err) < 1000
    assert not calls


def test_yaml_numbers_with_exponents_are_numbers(tmp_path):
    p = tmp_path / "train.yml"
    p.write_text("learning_rate: 1e-3\nweight_decay: 5E-4\nmax_minutes: 1.5e1\nsteps: 10\n")
    cfg = xdeepr.TrainConfig.from_dict(load_config(p))
    assert (cfg.learning_rate, cfg.weight_decay, cfg.max_minutes) == (1e-3, 5e-4, 15.0)
    # a mapping read by PyYAML itself keeps "1e-3" as text: from_dict reads it for number
    # fields only; other fields keep refusing text
    cfg = xdeepr.TrainConfig.from_dict({"learning_rate": "1e-3", "grad_clip": "2e0"})
    assert (cfg.learning_rate, cfg.grad_clip) == (1e-3, 2.0)
    with pytest.raises(ConfigError, match=r"TrainConfig.steps='1e3' \(str\)"):
        xdeepr.TrainConfig.from_dict({"steps": "1e3"})
    with pytest.raises(ConfigError, match="learning_rate='fast'"):
        xdeepr.TrainConfig.from_dict({"learning_rate": "fast"})


def test_json_still_reads_and_bad_json_names_the_file(tmp_path):
    p = tmp_path / "train.json"
    p.write_text(json.dumps({"steps": 5}))
    assert load_config(p) == {"steps": 5}
    p.write_text("{steps: 5")
    with pytest.raises(Exception, match=f"cannot parse the config file '{p}'"):
        load_config(p)


# ------------------------------------------------------------------------------ --set


@pytest.mark.parametrize("text", ["false", "False", "FALSE", "no", "Off", "0", "'false'"])
def test_set_calendar_false_in_any_case(text):
    assert parse_overrides([f"calendar={text}"]) == {"calendar": False}
    assert xdeepr.TrainConfig.from_dict(parse_overrides([f"calendar={text}"])).calendar is False


def test_set_features_is_a_list_and_a_repeated_name_is_named(tmp_path, capsys, calls):
    assert parse_overrides(["features=[t2m,msl]"]) == {"features": ("t2m", "msl")}
    assert parse_overrides(["features=['t2m', 'msl']"]) == {"features": ("t2m", "msl")}
    with pytest.raises(ConfigError) as info:
        parse_overrides(["features=[t2m,t2m]"])
    message = str(info.value)
    assert message.startswith("TrainConfig.features='[t2m,t2m]'")
    assert "a name is repeated: 't2m'; give it once" in message
    assert main(_train(tmp_path, "--set", "features=[t2m,msl,t2m]")) == 2
    assert "a name is repeated: 't2m'" in _error(capsys)
    assert not calls


# ------------------------------------------------------------------------------ checkpoints


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_an_unwritable_checkpoint_dir_is_refused_before_the_data_are_read(tmp_path, capsys, calls):
    """FEATURES does not exist: the checkpoint folder is refused before it is looked for."""
    assert main(_train(tmp_path, "--set", "checkpoint_dir=/proc/x")) == 2
    err = _error(capsys)
    assert "TrainConfig.checkpoint_dir='/proc/x' cannot be created: the folder '/proc'" in err
    assert "--set checkpoint_dir=DIR" in err and "missing_features" not in err
    assert not calls


def test_a_checkpoint_dir_under_a_file_is_refused(tmp_path, capsys, calls):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    assert main(_train(tmp_path, "--set", f"checkpoint_dir={blocker}/ckpt")) == 2
    err = _error(capsys)
    assert f"checkpoint_dir='{blocker}/ckpt' cannot be created: '{blocker}' is a file" in err
    assert not calls


def test_a_writable_checkpoint_dir_is_not_created_by_the_check(tmp_path, calls):
    f, l, _ = xdeepr.datasets.load_sample(periods=8)
    f.to_netcdf(tmp_path / "f.nc")
    l.to_netcdf(tmp_path / "l.nc")
    argv = _train(
        tmp_path, "--set", f"checkpoint_dir={tmp_path}/a/b", features=str(tmp_path / "f.nc")
    )
    argv[2] = str(tmp_path / "l.nc")
    with pytest.raises(SystemExit):
        main(argv)
    assert calls and calls[0]["config"].checkpoint_dir == f"{tmp_path}/a/b"
    assert not (tmp_path / "a").exists()
    assert not list(tmp_path.glob(".xdeepr-*"))  # the probe file is gone


def test_a_store_given_as_config_is_named(tmp_path, capsys, calls):
    store = tmp_path / "era5.yml"  # a folder: a zarr store given by mistake
    store.mkdir()
    with pytest.raises(ConfigError, match=r"era5.yml' is a folder \(a zarr store\?\)"):
        load_config(store)
    with pytest.raises(ConfigError, match=r"DeepR configuration '.*era5.yml' is a folder"):
        xdeepr.TrainConfig.from_deepr_yaml(store)
    assert main(_train(tmp_path, "--deepr-config", str(store))) == 2
    assert "is a folder (a zarr store?), not a YAML text file" in _error(capsys)
