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
        (
            Seq(Text(), "names", unique=True),
            ["a", "a"],
            "got ['a', 'a'] (a name is repeated: 'a'; give it once)",
        ),
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


def test_messages_quote_values_bounded():
    """Issue 24.4: a message spelled out a YAML alias bomb's expanded value."""
    from xdeepr._validate import SHOWN, shown

    bomb: object = ["lol"] * 9
    for _ in range(6):  # 9**7 strings, shared: cheap to build, 35 MB to print in full
        bomb = [bomb] * 9
    for make in (
        lambda: check("learning_rate", bomb, Float(0.0, lo_open=True)),
        lambda: TrainConfig(learning_rate=bomb),
        lambda: TrainConfig(is_attention=[True] * 100_000),
        lambda: TrainConfig().replace(**{"x" * 100_000: 1}),
    ):
        message = _message(make)
        assert len(message) < 3 * SHOWN + 900, len(message)
    assert shown([1, (2,), {"a": "b"}]) == repr([1, (2,), {"a": "b"}])
    assert len(shown("x" * 1000)) < 100


def test_a_repeated_name_is_named_from_code_and_command_line():
    rule = Seq(Text(), "names", unique=True)
    for make in (lambda: check("x", ["a", "b", "a"], rule), lambda: parse("x", "a,b,b", rule)):
        assert "(a name is repeated: " in _message(make)
    assert "repeated: 'b'" in _message(lambda: parse("x", "[a, b, b]", rule))
    assert "got '[a, b, b]' (a name" in _message(lambda: parse("x", "[a, b, b]", rule))
