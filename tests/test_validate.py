"""The one validator (issue 19): rule types, one message form, shared by every setting."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import xdeepr
from xdeepr import ConfigError, SamplingOptions, TrainConfig
from xdeepr._validate import (
    BOOL,
    DEVICE,
    AnyOf,
    Choice,
    Float,
    Int,
    Map,
    OrNone,
    Seq,
    Text,
    check,
    parse,
)

DATA = Path(__file__).parent / "data" / "deepr_configuration_diffusion.yml"


def _message(make) -> str:
    with pytest.raises(ConfigError) as info:
        make()
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [("progress", "yes", BOOL), ("device", 3, OrNone(DEVICE, "CUDA when available"))],
)
def test_the_same_bad_value_gets_the_same_message_everywhere(name, value, rule):
    """TrainConfig and SamplingOptions refuse with check()'s message, named as theirs."""
    core = _message(lambda: check(name, value, rule))
    assert _message(lambda: SamplingOptions(**{name: value})) == core
    shown = f"{value!r}" + (" (str)" if isinstance(value, str) else "")
    expected = f"TrainConfig.{name}={shown} is not allowed: {core}"
    assert _message(lambda: TrainConfig(**{name: value})) == expected


def test_the_deepr_reader_refuses_with_the_same_rules_and_message(tmp_path):
    doc = yaml.safe_load(DATA.read_text())
    doc["training_configuration"]["training_parameters"]["device"] = 3
    p = tmp_path / "deepr.yml"
    p.write_text(yaml.safe_dump(doc))
    key = "training_configuration.training_parameters.device"
    msg = _message(lambda: TrainConfig.from_deepr_yaml(p))
    assert msg == "DeepR configuration: " + _message(lambda: check(key, 3, DEVICE))
    # a value mapped to a TrainConfig field: the TrainConfig message, under the DeepR key
    doc["training_configuration"]["training_parameters"].update(seed=-1, device="cpu")
    p.write_text(yaml.safe_dump(doc))
    msg = _message(lambda: TrainConfig.from_deepr_yaml(p))
    assert msg == (
        "DeepR configuration: training_configuration.training_parameters.seed gives "
        + _message(lambda: TrainConfig(seed=-1))
    )


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (Int(1), 0, "x must be an integer >= 1, got 0"),
        (Int(1), 2.0, "x must be an integer >= 1, got 2.0 (float)"),
        (Int(1), True, "x must be an integer >= 1, got True (bool)"),
        (Int(0, 4), 4, "x must be an integer >= 0 and < 4, got 4"),
        (Float(0.0, 1.0, hi_open=True), 1.0, "x must be a number in [0, 1), got 1.0"),
        (Float(0.0, lo_open=True), math.nan, "x must be a number > 0, got nan"),
        (Float(0.0, finite=False), math.nan, "x must be a number >= 0, got nan"),
        (Float(), math.inf, "x must be a number, got inf"),
        (Choice(("a", "b")), "c", "x must be one of ['a', 'b'], got 'c'"),
        (OrNone(Int(1), "off"), -1, "x must be an integer >= 1, or None (off), got -1"),
        (Seq(Text(), "names", unique=True), ["a", "a"], "got ['a', 'a'] (a name is repeated)"),
        (Seq(Int(1), "levels"), [], "x must be levels, got [] (list)"),
        (Map(), [1], "x must be a mapping of names to values, got [1] (list)"),
        (
            OrNone(AnyOf((Choice(("mean",)), Float()), "'mean' or a number"), text="fill"),
            "median",
            "x must be fill, got 'median'",
        ),
    ],
)
def test_rules_refuse_in_one_form(rule, value, message):
    with pytest.raises(ConfigError) as info:
        check("x", value, rule)
    assert message in str(info.value)
    assert str(info.value).startswith("x must be ")


def test_rules_normalise_and_parse():
    assert type(check("x", np.int64(3), Int())) is int
    assert check("x", np.float32(0.5), Float()) == 0.5
    assert check("x", "t2m", Seq(Text(), "names")) == ("t2m",)
    assert check("x", np.array([1, 2]), Seq(Int(1), "levels")) == (1, 2)
    assert check("x", Path("d"), Text(paths=True)) == "d"
    assert check("x", np.bool_(True), BOOL) is True
    assert parse("x", "[1, 2]", Seq(Int(1), "levels")) == (1, 2)
    assert parse("x", "null", OrNone(Int())) is None
    assert parse("x", "{'a': 1}", Map()) == {"a": 1}
    assert parse("x", "'ddim'", Choice(("ddim",))) == "ddim"
    with pytest.raises(ConfigError, match="x must be True or False, got 'maybe' .*yes/no"):
        parse("x", "maybe", BOOL)
    assert xdeepr.errors.ConfigError is ConfigError
