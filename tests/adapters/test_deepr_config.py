"""Reading DeepR's configuration_diffusion.yml (issue 13, point 5): the TrainConfig and
coverages it gives, clear errors for malformed files, and ``xdeepr train --deepr-config``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import xdeepr
from xdeepr.adapters.deepr import DeepRConfig, DeepRConfigWarning, read_deepr_config
from xdeepr.cli import main
from xdeepr.errors import ConfigError, InputError

DATA = Path(__file__).parents[1] / "data" / "deepr_configuration_diffusion.yml"
TP = "training_configuration.training_parameters"
KW = "training_configuration.model_configuration.eps_model.kwargs"


def _doc() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text())


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "deepr.yml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


# ------------------------------------------------------------------------------ mapping


def test_the_file_gives_the_expected_trainconfig():
    cfg = xdeepr.TrainConfig.from_deepr_yaml(DATA)
    expected = xdeepr.TrainConfig(
        # block_out_channels [16, 24, 32]: the same widths as 8 x (2, 3, 4)
        n_channels=8,
        channel_multipliers=(2, 3, 4),
        is_attention=(False, True, True),
        n_blocks=2,
        calendar=True,
        schedule="linear",
        diffusion_steps=500,
        zero_terminal_snr=True,
        prediction="v",
        sampler="ddpm",
        features="t2m",
        labels="t2m",
        mean="bicubic",
        feature_scaling="pixel-wise",
        label_scaling="landmask-wise",
        validation_fraction=0.25,  # 0.2 of all times = 0.25 of what is left after the test 0.2
        batch_size=8,  # 4 x gradient_accumulation_steps 2: samples per optimiser step
        learning_rate=5e-4,
        warmup_steps=250,
        epochs=12,
        seed=2023,
        device="cpu",
    )
    assert cfg == expected


def test_the_full_record_holds_what_trainconfig_does_not():
    rec = read_deepr_config(DATA)
    assert isinstance(rec, DeepRConfig)
    assert rec.features_coverage == {"longitude": (5.5, 14.25), "latitude": (50.25, 44.75)}
    assert rec.labels_coverage == {"longitude": (9.2, 10.75), "latitude": (48.0, 47.05)}
    assert rec.feature_variables == rec.label_variables == ("t2m",)
    assert rec.auxiliary == ("time", "orog-low", "lsm-high", "orog-high")  # lsm-low: false
    assert rec.static_auxiliary == ("orog-low", "lsm-high", "orog-high")
    assert (rec.feature_scaling, rec.label_scaling) == ("pixel-wise", "landmask-wise")
    assert (rec.split.validation, rec.split.test) == (0.2, 0.2)
    assert rec.split.time_range == ("1991-01", "2020-12")
    # each ignored key comes with its reason
    fc = "data_configuration.features_configuration"
    assert "float32" in rec.ignored[f"{TP}.mixed_precision"]
    assert "model file" in rec.ignored[f"{TP}.output_dir"]
    assert "grid" in rec.ignored[f"{fc}.spatial_resolution"]
    assert "--static" in rec.ignored[f"{fc}.land_mask_location"]
    assert f"{KW}.norm_num_groups" in rec.ignored
    assert all(isinstance(v, str) and v for v in rec.ignored.values())


def test_the_shipped_file_reads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_deepr_config(DATA)


def test_deepr_defaults_fill_missing_training_parameters(tmp_path):
    doc = _doc()
    doc["training_configuration"]["training_parameters"] = {"num_epochs": 3}
    cfg = xdeepr.TrainConfig.from_deepr_yaml(_write(tmp_path, doc))
    # DeepR's TrainingConfig defaults: batch 2, lr 1e-4, no hour embedding, no residuals
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.warmup_steps) == (3, 2, 1e-4, 500)
    assert cfg.calendar is False and cfg.mean is None and cfg.seed == 0


def test_deeprs_own_sample_layout(tmp_path):
    """DeepR's sample: LMS scheduler, epsilon with zero-SNR rescaling, split_coverages periods."""
    doc = _doc()
    sched = doc["training_configuration"]["model_configuration"]["scheduler"]
    sched["class_name"] = "LMSDiscreteScheduler"
    sched["kwargs"]["prediction_type"] = "epsilon"
    data = doc["data_configuration"]
    del data["common_configuration"]
    data["split_coverages"] = {
        "train": {"start": "1991-01", "end": "2012-12", "frequency": "MS"},
        "validation": {"start": "2013-01", "end": "2016-12", "frequency": "MS"},
    }
    doc["training_configuration"]["training_parameters"]["device"] = "cuda"
    doc["training_configuration"]["training_parameters"]["compile_twice"] = True
    with pytest.warns(DeepRConfigWarning) as caught:
        rec = read_deepr_config(_write(tmp_path, doc))
    message = str(caught[0].message)
    assert f"unknown keys ['{TP}.compile_twice']" in message
    assert "LMSDiscreteScheduler" in message and "rescale_betas_zero_snr" in message
    cfg = rec.train
    assert cfg.sampler == xdeepr.TrainConfig().sampler  # no LMS sampler in xdeepr
    assert (cfg.prediction, cfg.zero_terminal_snr) == ("epsilon", False)
    assert cfg.device is None  # CUDA when available, as DeepR does
    assert rec.split.periods == {
        "train": ("1991-01", "2012-12"),
        "validation": ("2013-01", "2016-12"),
    }
    assert cfg.validation_fraction == pytest.approx(1461 / (8036 + 1461))  # days


def test_prepare_crops_and_splits_the_sample(tmp_path):
    f, l, _ = xdeepr.datasets.load_sample(periods=40)  # 2020-01-01 .. 2020-01-10T18
    doc = _doc()
    doc["data_configuration"]["common_configuration"] = {
        "temporal_coverage": {"start": "2020-01-01", "end": "2020-01-09"},
        "data_split": {
            "train": {"start": "2020-01-01", "end": "2020-01-06"},
            "validation": {"start": "2020-01-08", "end": "2020-01-09"},
            "test": {"start": "2020-01-10", "end": "2020-01-10"},
        },
    }
    doc["data_configuration"]["features_configuration"]["spatial_coverage"] = {
        "longitude": [8.5, 11.5],
        "latitude": [48.5, 46.5],
    }
    rec = read_deepr_config(_write(tmp_path, doc))
    f2, l2, cfg = rec.prepare(f, l)
    assert dict(f2.sizes) == {"time": 32, "latitude": 9, "longitude": 13}
    assert dict(l2.sizes) == {"time": 32, "latitude": 20, "longitude": 32}
    assert str(f2.time.values[-1])[:13] == "2020-01-09T18"  # the 7th is a gap, the 10th test
    assert cfg.validation_fraction == 8 / 32  # exactly the validation period


# ------------------------------------------------------------------------------ refusals


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("training_configuration", _DELETE, "the section training_configuration is missing"),
        (
            "training_configuration.model_configuration",
            _DELETE,
            "the section training_configuration.model_configuration is missing",
        ),
        (
            "data_configuration.label_configuration.spatial_coverage",
            _DELETE,
            "data_configuration.label_configuration.spatial_coverage is missing",
        ),
        (f"{TP}.batch_size", "4", f"{TP}.batch_size must be an integer, got '4' (str)"),
        (
            f"{TP}.batch_size",
            0,
            f"{TP}.batch_size (x gradient_accumulation_steps) gives "
            "TrainConfig.batch_size=0 is not allowed",
        ),
        (f"{TP}.learning_rate", True, f"{TP}.learning_rate must be a number"),
        (f"{TP}.hour_embed_type", "sinusoid", f"{TP}.hour_embed_type must be one of"),
        (TP, [1, 2], f"{TP} must be a mapping"),
        (
            "data_configuration.features_configuration.standardization.method",
            "global",
            "features_configuration.standardization.method must be one of ['domain-wise', "
            "'pixel-wise', 'landmask-wise'], got 'global'",
        ),
        (
            "data_configuration.features_configuration.spatial_coverage.latitude",
            [46.45],
            "spatial_coverage.latitude must be a list of two numbers",
        ),
        (
            "data_configuration.features_configuration.variables",
            [],
            "features_configuration.variables must be a variable name or a list of names",
        ),
        (
            "training_configuration.type",
            "end2end",
            "training_configuration.type must be 'diffusion'",
        ),
        (
            "training_configuration.model_configuration.eps_model.class_name",
            "ConvSwin2SR",
            "eps_model.class_name must be one of",
        ),
        (
            f"{KW}.down_block_types",
            ["DownBlock2D"],
            "block_out_channels has 3, down_block_types has 1, up_block_types has 3",
        ),
        (
            "training_configuration.model_configuration.scheduler.kwargs.prediction_type",
            "sample",
            "prediction_type must be one of",
        ),
        (
            "data_configuration.common_configuration.data_split.validation",
            1.5,
            "data_split.validation must be a fraction in [0, 1)",
        ),
        (
            "data_configuration.common_configuration.temporal_coverage.start",
            "soon",
            "temporal_coverage.start must be a date",
        ),
    ],
)
def test_malformed_files_name_the_key(tmp_path, path, value, message):
    doc = _doc()
    _set(doc, path, value)
    with pytest.raises(ConfigError, match="DeepR configuration") as err:
        xdeepr.TrainConfig.from_deepr_yaml(_write(tmp_path, doc))
    assert message in str(err.value)


def test_not_a_mapping_and_not_yaml(tmp_path):
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        read_deepr_config(tmp_path / "list.yml")
    (tmp_path / "bad.yml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_deepr_config(tmp_path / "bad.yml")
    with pytest.raises(FileNotFoundError):
        read_deepr_config(tmp_path / "missing.yml")


def test_validation_before_training_is_refused(tmp_path):
    f, l, _ = xdeepr.datasets.load_sample(periods=8)
    doc = _doc()
    doc["data_configuration"]["common_configuration"] = {
        "data_split": {
            "train": {"start": "2020-01-02", "end": "2020-01-02"},
            "validation": {"start": "2020-01-01", "end": "2020-01-01"},
        }
    }
    doc["data_configuration"]["features_configuration"]["spatial_coverage"] = {
        "longitude": [6, 13.75],
        "latitude": [50, 45.25],
    }
    with pytest.raises(InputError, match="must follow the training period"):
        read_deepr_config(_write(tmp_path, doc)).prepare(f, l)


# ------------------------------------------------------------------------------ command line


def _cli_doc() -> dict[str, Any]:
    doc = _doc()
    doc["data_configuration"]["features_configuration"]["spatial_coverage"] = {
        "longitude": [8.0, 12.0],
        "latitude": [49.0, 46.0],
    }
    doc["data_configuration"]["common_configuration"] = {"data_split": {"validation": 0.25}}
    return doc


def test_cli_flag_reaches_train(tmp_path, monkeypatch):
    f, l, _ = xdeepr.datasets.load_sample(periods=40)
    f.to_netcdf(tmp_path / "f.nc")
    l.to_netcdf(tmp_path / "l.nc")
    seen: dict[str, Any] = {}

    def fake_train(features, labels, static, *, config, resume, observations):
        seen.update(features=features, labels=labels, static=static, config=config)
        raise SystemExit(0)

    monkeypatch.setattr(xdeepr, "train", fake_train)
    cfg_file = _write(tmp_path, _cli_doc())
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                str(tmp_path / "f.nc"),
                str(tmp_path / "l.nc"),
                "--deepr-config",
                str(cfg_file),
                "--set",
                "epochs=2",
                "--output",
                str(tmp_path / "m.xdeepr"),
                "--quiet",
            ]
        )
    cfg = seen["config"]
    assert cfg.epochs == 2  # --set on top of the file
    assert (cfg.batch_size, cfg.feature_scaling, cfg.channel_multipliers) == (
        8,
        "pixel-wise",
        (2, 3, 4),
    )
    assert cfg.validation_fraction == 0.25
    assert cfg.checkpoint_dir == str(tmp_path / "m.xdeepr.checkpoints")
    assert dict(seen["features"].sizes) == {"time": 40, "latitude": 13, "longitude": 17}
    assert float(seen["features"].longitude.min()) == 8.0


def test_cli_tiny_run_and_help(tmp_path, capsys):
    f, l, s = xdeepr.datasets.load_sample(periods=40)
    f.to_netcdf(tmp_path / "f.nc")
    l.to_netcdf(tmp_path / "l.nc")
    s.to_netcdf(tmp_path / "s.nc")
    doc = _cli_doc()
    kw = doc["training_configuration"]["model_configuration"]["eps_model"]["kwargs"]
    kw.update(
        block_out_channels=[8, 16],
        layers_per_block=1,
        down_block_types=["DownBlock2D", "AttnDownBlock2D"],
        up_block_types=["AttnUpBlock2D", "UpBlock2D"],
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(
            [
                "train",
                str(tmp_path / "f.nc"),
                str(tmp_path / "l.nc"),
                "--static",
                str(tmp_path / "s.nc"),
                "--deepr-config",
                str(_write(tmp_path, doc)),
                "--set",
                "steps=1",
                "--set",
                "validate_every=0",
                "--output",
                str(tmp_path / "m.xdeepr"),
                "--quiet",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert rc == 0, capsys.readouterr().err
    model = xdeepr.load_model(tmp_path / "m.xdeepr")
    assert model.summary["steps"] == 1
    assert model.network.config["n_channels"] == 8
    assert model.summary["validation_times"] == 10  # a quarter of the 40 paired times
    assert model.feature_grid["coverage"]
    capsys.readouterr()
    with pytest.raises(SystemExit):  # argparse exits after --help
        if main(["train", "--help"]) == 0:
            raise SystemExit(0)
    out = capsys.readouterr().out
    assert "--deepr-config FILE reads a DeepR configuration_diffusion.yml" in out


def test_cli_refuses_both_config_kinds(tmp_path, capsys):
    cfg_file = _write(tmp_path, _cli_doc())
    rc = main(
        [
            "train",
            "f.nc",
            "l.nc",
            "--deepr-config",
            str(cfg_file),
            "--config",
            str(cfg_file),
            "--output",
            str(tmp_path / "m.xdeepr"),
        ]
    )
    assert rc == 2
    assert "not both" in capsys.readouterr().err


# ------------------------------------------------------------------------------ issue 19


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("xdeepr.training", "read_deepr_config"),
        ("xdeepr.training", "DeepRConfig"),
        ("xdeepr.training.deepr_config", "read_deepr_config"),
        ("xdeepr.training.deepr_config", "DeepRConfigWarning"),
        ("xdeepr.training.deepr_config", "DeepRSplit"),
        ("xdeepr.training.deepr_config", "IGNORED"),
    ],
)
def test_the_old_import_paths_warn_and_work(module, name):
    import importlib

    import xdeepr.adapters.deepr as new

    old = importlib.import_module(module)
    with pytest.warns(FutureWarning, match=rf"use xdeepr\.adapters\.deepr\.{name}"):
        got = getattr(old, name)
    assert got is getattr(new, name)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018


def test_the_adapter_and_trainconfig_import_no_circle():
    """TrainConfig.from_deepr_yaml reads through a module that never imports TrainConfig."""
    from benchmarks.structure import PACKAGE, scan

    found = scan(PACKAGE)
    edges = {(e.source, e.target) for e in found.edges}
    assert ("xdeepr.training.config", "xdeepr.adapters.deepr.fields") in edges
    assert ("xdeepr.adapters.deepr.reader", "xdeepr.training.config") in edges
    for cycle in found.cycles:
        assert not {"xdeepr.training.config", "xdeepr._validate"} & set(cycle.component)
        assert not any(m.startswith("xdeepr.adapters") for m in cycle.component)
    sizes = {m: found.modules[m].lines for m in found.modules if m.startswith("xdeepr.adapters")}
    assert max(sizes.values()) <= 450, sizes
    assert found.modules["xdeepr.training.config"].lines <= 450


def test_cli_set_mean_over_a_file_without_residuals(tmp_path, monkeypatch):
    """--set mean=bicubic on a file with learn_residuals: false is not undone by it."""
    seen: dict[str, Any] = {}

    def fake_train(features, labels, static, *, config, resume, observations):
        seen["config"] = config
        raise SystemExit(0)

    f, l, _ = xdeepr.datasets.load_sample(periods=8)
    f.to_netcdf(tmp_path / "f.nc")
    l.to_netcdf(tmp_path / "l.nc")
    monkeypatch.setattr(xdeepr, "train", fake_train)
    doc = _cli_doc()
    doc["training_configuration"]["training_parameters"]["learn_residuals"] = False
    assert read_deepr_config(_write(tmp_path, doc)).train.mean is None
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                str(tmp_path / "f.nc"),
                str(tmp_path / "l.nc"),
                "--deepr-config",
                str(_write(tmp_path, doc)),
                "--set",
                "mean=bicubic",
                "--output",
                str(tmp_path / "m.xdeepr"),
                "--quiet",
            ]
        )
    assert seen["config"].mean == "bicubic" and seen["config"].learn_residuals
