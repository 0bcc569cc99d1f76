"""The ``xdeepr`` command line: help, train, downscale (with kill and resume), evaluate, demo,
and errors that are one line (issue 14: incomplete outputs, resume with another input,
the destination checked first, damaged model files)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr.cli import load_config, main, parse_overrides, progress_file

TINY_NET = {"n_channels": 8, "channel_multipliers": (1, 2), "is_attention": (False, True)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks run fastest on one thread (and two contend badly on a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A tiny model and the sample as netCDF files: features, labels, static, 12-step input."""
    d = tmp_path_factory.mktemp("cli")
    features, labels, static = xdeepr.datasets.load_sample(periods=64)
    model = xdeepr.train(
        features, labels, static, steps=20, batch_size=8, progress=False, **TINY_NET
    )
    model.save(d / "model.xdeepr")
    features.to_netcdf(d / "features.nc")
    features.isel(time=slice(0, 30)).to_netcdf(d / "split_a.nc")  # one dataset in two files
    features.isel(time=slice(30, None)).to_netcdf(d / "split_b.nc")
    labels.to_netcdf(d / "labels.nc")
    static.to_netcdf(d / "static.nc")
    features.isel(time=slice(40, 52)).to_netcdf(d / "input.nc")
    return SimpleNamespace(dir=d, model=d / "model.xdeepr", input=d / "input.nc")


def run_cli(*args: str | os.PathLike[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python -m xdeepr ARGS`` in a subprocess."""
    cmd = [sys.executable, "-m", "xdeepr", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def _running_in_group(pgid: int) -> list[int]:
    """Processes of process group `pgid` that are not zombies (Linux /proc; else [])."""
    alive = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


# ------------------------------------------------------------------------------ help, version


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["demo", "train", "downscale", "evaluate", "examples:"]),
        (["demo"], ["--out", "--minutes", "--steps", "--members", "--device", "examples:"]),
        (["train"], ["FEATURES", "LABELS", "--static", "--config", "--set", "--output"]),
        (["downscale"], ["--model", "--members", "--output", "--chunks", "--workers", "--resume"]),
        (["evaluate"], ["PREDICTION", "TRUTH", "--features", "--figures", "--variable"]),
    ],
)
def test_help_reads_like_a_readme(capsys, command, expected):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    for word in expected:
        assert word in out
    assert "--times" not in out  # the demo's test-only option stays hidden


def test_version_and_module_entry_point(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"xdeepr {xdeepr.__version__}"
    res = run_cli("--help")
    assert res.returncode == 0 and "downscale" in res.stdout


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: xdeepr" in capsys.readouterr().err


# ------------------------------------------------------------------------------ config parsing


def test_config_files_and_overrides(tmp_path):
    (tmp_path / "c.json").write_text(
        '{"n_channels": 8, "channel_multipliers": [1, 2], "is_attention": [false, true]}'
    )
    (tmp_path / "c.toml").write_text(
        "n_channels = 8\nchannel_multipliers = [1, 2]\nis_attention = [false, true]\n"
    )
    (tmp_path / "c.yaml").write_text(
        "n_channels: 8\nchannel_multipliers: [1, 2]\nis_attention: [false, true]\n"
    )
    for name in ("c.json", "c.toml", "c.yaml"):
        if name.endswith("yaml"):
            pytest.importorskip("yaml")
        cfg = xdeepr.TrainConfig.from_dict(load_config(tmp_path / name))
        assert cfg.n_channels == 8 and cfg.channel_multipliers == (1, 2)
    assert parse_overrides(["steps=5", "device=cuda", "is_attention=[False, True]"]) == {
        "steps": 5,
        "device": "cuda",
        "is_attention": (False, True),  # read as the field's type: a tuple of bools
    }
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(Exception, match=r"unknown config file type '\.ini'"):
        load_config(tmp_path / "c.ini")


# ------------------------------------------------------------------------------ train


def test_train_from_files(files, tmp_path, capsys):
    config = tmp_path / "train.json"
    config.write_text(
        json.dumps({**TINY_NET, "batch_size": 8, "steps": 100, "validation_fraction": 0.1})
    )
    out = tmp_path / "m.xdeepr"
    rc = main(
        [
            "train",
            str(files.dir / "split_*.nc"),
            str(files.dir / "label*.nc"),
            "--static",
            str(files.dir / "static.nc"),
            "--config",
            str(config),
            "--set",
            "steps=5",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    model = xdeepr.load_model(out)
    assert model.summary["steps"] == 5
    assert model.summary["train_times"] + model.summary["validation_times"] == 64
    assert model.network.config["n_channels"] == 8
    assert model.static_names  # the static covariates became channels
    assert "<xdeepr.DownscalingModel" in captured.out
    assert (tmp_path / "m.xdeepr.checkpoints").is_dir()


def test_train_unknown_setting_is_a_clear_error(files, tmp_path, capsys):
    rc = main(
        [
            "train",
            str(files.dir / "features.nc"),
            str(files.dir / "labels.nc"),
            "--set",
            "n_chanels=8",
            "--output",
            str(tmp_path / "m.xdeepr"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("xdeepr train: error: unknown TrainConfig field(s) ['n_chanels']")
    assert "Traceback" not in err


# ------------------------------------------------------------------------------ downscale


def test_downscale_zarr_equals_in_process(files, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "out.zarr"
    rc = main(
        [
            "downscale",
            str(files.input),
            "--model",
            str(files.model),
            "--members",
            "2",
            "--steps",
            "2",
            "--output",
            str(out),
            "--workers",
            "1",
            "--chunks",
            "time=4",
            "--quiet",
        ]
    )
    assert rc == 0
    model = xdeepr.load_model(files.model)
    with xr.open_dataset(files.input) as ds:
        expected = ds.load().deepr.downscale(model, members=2, steps=2, progress=False)
    got = xr.open_zarr(out)
    xr.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    assert got.attrs["xdeepr_model"] == model.identity
    assert got.t2m.attrs["units"] == "K"
    record = json.loads(progress_file(out).read_text())
    assert record["complete"] and record["done"] == [0, 1, 2]
    # an existing output is neither overwritten nor resumed unless asked
    assert main(["downscale", str(files.input), "-m", str(files.model), "-o", str(out)]) == 2
    assert "exists; pass resume" in capsys.readouterr().err
    assert got.attrs["xdeepr_complete"] == 1
    # issue 14.3: resuming with other data for the same times is refused, naming the block
    with xr.open_dataset(files.input) as ds:
        (ds.load() + 5.0).to_netcdf(tmp_path / "warmer.nc")
    argv = [
        "downscale",
        str(tmp_path / "warmer.nc"),
        "-m",
        str(files.model),
        "--members",
        "2",
        "--steps",
        "2",
        "-o",
        str(out),
        "--chunks",
        "time=4",
        "--resume",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "the input differs" in err
    assert f"first in block 0 (times {got.time.values[0]}" in err
    # the store is ready for evaluation
    assert main(["evaluate", str(out), str(files.dir / "labels.nc")]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[1].split() == ["metric", "xdeepr"] and "crps" in table


def test_downscale_killed_then_resumed(files, tmp_path):
    """Kill a 2-worker run once a block is written; --resume finishes it, skipping that block."""
    pytest.importorskip("distributed")
    with xr.open_dataset(files.dir / "features.nc") as f:
        f.isel(time=slice(0, 32)).to_netcdf(tmp_path / "long.nc")
    same = [
        "downscale",
        tmp_path / "long.nc",
        "--model",
        files.model,
        "--members",
        "4",
        "--sampler",
        "ddim",
        "--steps",
        "20",
    ]
    args = [*same, "--batch-size", "1", "--workers", "2", "--chunks", "time=2"]
    out = tmp_path / "killed.zarr"
    record_path = progress_file(out)
    cmd = [sys.executable, "-m", "xdeepr", *map(str, args), "--output", str(out)]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    done: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if record_path.exists():
                done = json.loads(record_path.read_text())["done"]
                if done:
                    break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its cluster and its workers
        _, err = proc.communicate()
    assert done, f"no block was recorded before the run ended: {err[-2000:]}"
    record = json.loads(record_path.read_text())
    n_blocks = len(record["blocks"])
    assert n_blocks == 16
    assert 1 <= len(record["done"]) < n_blocks, "the run finished before it could be killed"
    assert not record["complete"]
    # issue 14.2: the store itself says it is incomplete, and evaluate refuses it
    assert xr.open_zarr(out).attrs["xdeepr_complete"] == 0
    refused = run_cli("evaluate", out, files.dir / "labels.nc")
    assert refused.returncode == 2 and "is incomplete" in refused.stderr
    # nothing of the killed run is left running: SIGKILL is delivered at once, but the kernel
    # takes a moment to tear down a worker that is inside a system call, so wait for it
    deadline = time.monotonic() + 30
    while (left := _running_in_group(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes {left} of the killed run still run 30 s after SIGKILL"

    resumed = run_cli(*args, "--output", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    n_done = len(record["done"])
    assert f"skipping {n_done} completed blocks" in resumed.stderr
    assert f"{n_blocks - n_done} to go" in resumed.stderr
    assert json.loads(record_path.read_text())["complete"]
    assert xr.open_zarr(out).attrs["xdeepr_complete"] == 1

    # an uninterrupted run, however split, gives the same ensemble
    straight = run_cli(*same, "--workers", "1", "--chunks", "time=8", "-o", tmp_path / "s.zarr")
    assert straight.returncode == 0, straight.stderr
    xr.testing.assert_allclose(
        xr.open_zarr(out), xr.open_zarr(tmp_path / "s.zarr"), rtol=1e-6, atol=1e-6
    )

    again = run_cli(*args, "--output", out, "--resume")
    assert again.returncode == 0 and "is complete: nothing to do" in again.stderr
    # resuming with other options is refused, naming what differs
    other = run_cli(*args, "--output", out, "--resume", "--seed", "1")
    assert other.returncode == 2
    assert "cannot resume" in other.stderr and "seed=0" in other.stderr
    assert "Traceback" not in other.stderr


def test_downscale_to_netcdf(files, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out.nc"
    rc = main(
        [
            "downscale",
            str(files.input),
            "-m",
            str(files.model),
            "--members",
            "2",
            "--steps",
            "2",
            "-o",
            str(out),
            "--chunks",
            "time=5",
            "--quiet",
        ]
    )
    assert rc == 0
    model = xdeepr.load_model(files.model)
    with xr.open_dataset(files.input) as ds:
        expected = ds.load().deepr.downscale(model, members=2, steps=2, progress=False)
    with xr.open_dataset(out) as got:
        xr.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
        assert got.attrs["xdeepr_members"] == 2


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], xdeepr.FastPath()),
        (["--no-bf16", "--channels-last"], xdeepr.FastPath(bf16=False, channels_last=True)),
        (["--bf16", "--compile"], xdeepr.FastPath(bf16=True, compile=True)),
        (["--compile-mode", "max-autotune"], xdeepr.FastPath(compile="max-autotune")),
    ],
)
def test_downscale_fast_path_flags(files, tmp_path, monkeypatch, flags, expected):
    pytest.importorskip("distributed")
    from xdeepr import inference

    seen = []
    real = inference.downscale

    def spy(ds, model, options, **kwargs):  # the accessor passes one SamplingOptions
        seen.append(options.fast_path)
        no_compile = dataclasses.replace(options, fast_path=None)  # compiling is not under test
        return real(ds, model, no_compile, **kwargs)

    monkeypatch.setattr(inference, "downscale", spy)
    argv = [
        "downscale",
        str(files.input),
        "-m",
        str(files.model),
        "--members",
        "1",
        "--steps",
        "1",
        "-o",
        str(tmp_path / "o.zarr"),
        "--chunks",
        "time=10",
        "--workers",
        "1",
        "--quiet",
    ]
    assert main([*argv, *flags]) == 0
    assert seen == [expected]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.nc", "-m", "{model}", "-o", "o.zarr"], "input 'missing.nc' does not exist"),
        (["nothing_*.nc", "-m", "{model}", "-o", "o.zarr"], "no input file matches"),
        (["{input}", "-m", "nomodel.xdeepr", "-o", "o.zarr"], "no model file at 'nomodel.xdeepr'"),
        (["{input}", "-m", "{model}", "-o", "o.nc", "--resume"], "resume needs a zarr output"),
        (["{input}", "-m", "{model}", "-o", "o.csv"], "unknown output type '.csv'"),
    ],
)
def test_downscale_errors_are_one_line(files, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(model=files.model, input=files.input) for a in argv]
    assert main(["downscale", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xdeepr downscale: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_compile_flag_takes_no_value(files, tmp_path, capsys):
    """`--compile INPUT` must not swallow the input as a mode; a bad mode is a usage error."""
    from xdeepr.cli import build_parser

    args = build_parser().parse_args(["downscale", "--compile", "in.nc", "-m", "m", "-o", "o.nc"])
    assert args.inputs == ["in.nc"] and args.compile is True and args.compile_mode is None
    rc = main(
        [
            "downscale",
            "-m",
            str(files.model),
            "-o",
            str(tmp_path / "o.zarr"),
            "--compile-mode",
            "fastest",
            str(files.input),
        ]
    )
    assert rc == 2
    assert "invalid choice: 'fastest'" in capsys.readouterr().err


def test_bad_option_value_is_a_usage_error(files, capsys):
    assert main(["downscale", str(files.input), "-m", "m", "-o", "o.zarr", "--chunks", "t"]) == 2
    assert "expected DIM=N" in capsys.readouterr().err


# ------------------------------------------------------------------------------ evaluate


def test_evaluate_prints_table_and_draws(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = xdeepr.load_model(files.model)
    with xr.open_dataset(files.input) as ds:
        ens = ds.load().deepr.downscale(model, members=3, steps=2, progress=False)
    ens.to_netcdf(tmp_path / "ens.nc")
    figures = tmp_path / "figs"
    rc = main(
        [
            "evaluate",
            str(tmp_path / "ens.nc"),
            str(files.dir / "labels.nc"),
            "--features",
            str(files.input),
            "--figures",
            str(figures),
            "--variable",
            "t2m",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "t2m [K]"
    assert lines[1].split() == ["metric", "xdeepr", "bicubic"]
    assert any(line.startswith("rmse") for line in lines)
    assert any(line.startswith("crps") for line in lines)
    for name in ("comparison.png", "spectra.png", "rank_histogram.png"):
        assert (figures / name).stat().st_size > 10_000


def test_evaluate_unknown_variable(files, capsys):
    rc = main(["evaluate", str(files.input), str(files.dir / "labels.nc"), "--variable", "tp"])
    assert rc == 2
    assert "has no variable 'tp'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ demo


def test_demo_writes_its_files(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    rc = main(["demo", "--steps", "30", "--members", "2", "--out", str(out), "--times", "3", "-q"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "bicubic" in printed and "rmse" in printed and "wall time" in printed
    for name in ("model.xdeepr", "downscaled.nc", "comparison.png", "spectra.png"):
        assert (out / name).stat().st_size > 0
    with xr.open_dataset(out / "downscaled.nc") as ens:
        assert dict(ens.sizes) == {"member": 2, "time": 3, "latitude": 20, "longitude": 32}
    assert xdeepr.load_model(out / "model.xdeepr").summary["steps"] == 30


def test_paths_in_messages_are_the_users(tmp_path, capsys):
    missing = Path(tmp_path) / "nope.nc"
    assert main(["evaluate", str(missing), str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


# ------------------------------------------------------------------------------ issue 14


def test_evaluate_refuses_an_incomplete_store(files, tmp_path, capsys):
    """Issue 14.2: an interrupted store is refused unless --allow-incomplete."""
    from xdeepr.writer import write_ensemble

    with xr.open_dataset(files.dir / "labels.nc") as labels:
        ens = labels.load().isel(time=slice(40, 52)).expand_dims(member=2).chunk(time=4)

    def fail_third(x, block_id=None):
        if block_id is not None and block_id[1] == 2:
            raise RuntimeError("killed")
        return x

    ens["t2m"] = ens.t2m.copy(data=ens.t2m.data.map_blocks(fail_third, dtype=ens.t2m.dtype))
    out = tmp_path / "half.zarr"
    with pytest.raises(RuntimeError, match="killed"):
        write_ensemble(ens, out, progress=False)
    assert main(["evaluate", str(out), str(files.dir / "labels.nc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xdeepr evaluate: error: {str(out)!r} is incomplete")
    assert "2 of 3 blocks written" in err and "--allow-incomplete" in err
    assert len(err.strip().splitlines()) == 1
    rc = main(["evaluate", str(out), str(files.dir / "labels.nc"), "--allow-incomplete"])
    assert "is incomplete" not in capsys.readouterr().err
    assert rc == 0


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("missing/o.nc", "its folder 'missing' does not exist"),
        ("a_file/o.nc", "its folder 'a_file' is not a directory"),
        ("o.csv", "unknown output type '.csv'"),
        ("exists.zarr", "'exists.zarr' exists; pass resume"),
    ],
)
def test_downscale_checks_the_output_first(files, tmp_path, monkeypatch, capsys, output, message):
    """Issue 14.4: a bad destination is refused before the model is even loaded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "exists.zarr").mkdir()
    loaded = []
    monkeypatch.setattr(xdeepr, "load_model", lambda *a, **k: loaded.append(a))
    assert main(["downscale", str(files.input), "-m", str(files.model), "-o", output]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xdeepr downscale: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert loaded == []


def _damaged_models(d: Path, good: Path) -> dict[str, Path]:
    """Model files damaged in the ways issue 14.8 lists, from the 0.1.0 file and `good`."""
    import fractions

    legacy = torch.load(
        Path(__file__).parents[1] / "data" / "model-0.1.0.xdeepr", weights_only=True
    )
    out = {name: d / f"{name}.xdeepr" for name in ("missing", "shape", "truncated", "pickled")}
    torch.save({k: v for k, v in legacy.items() if k != "schedule"}, out["missing"])
    state = dict(legacy["network"]["state_dict"])
    state["time_emb.lin1.weight"] = torch.zeros(3, 3)
    torch.save({**legacy, "network": {**legacy["network"], "state_dict": state}}, out["shape"])
    data = good.read_bytes()
    out["truncated"].write_bytes(data[: len(data) // 2])
    torch.save({"format": "xdeepr", "payload": fractions.Fraction(1, 3)}, out["pickled"])
    return out


@pytest.mark.parametrize("damage", ["missing", "shape", "truncated", "pickled"])
def test_damaged_model_file_is_one_line(files, tmp_path, capsys, damage):
    """Issue 14.8: no traceback and no advice to pass weights_only=False, exit status 2."""
    bad = _damaged_models(tmp_path, files.model)[damage]
    argv = ["downscale", str(files.input), "-m", str(bad), "-o", str(tmp_path / "o.zarr")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("xdeepr downscale: error: ")
    assert [line for line in lines if "error:" in line] == [lines[-1]]
    assert str(bad) in lines[-1]
    assert all(line.startswith("xdeepr downscale: ") for line in lines)  # warnings: one line each
    assert "weights_only" not in err and "Traceback" not in err
    assert not (tmp_path / "o.zarr").exists()


def test_failure_at_run_time_is_status_1_and_debug_shows_where(
    files, tmp_path, monkeypatch, capsys
):
    """Issue 14.8: a failure while running is one line, status 1; --debug adds the traceback."""
    from xdeepr import writer

    def boom(self, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(writer.EnsembleWriter, "write", boom)
    argv = [
        "downscale",
        str(files.input),
        "-m",
        str(files.model),
        "-o",
        str(tmp_path / "o.nc"),
        "--members",
        "1",
        "--steps",
        "1",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "xdeepr downscale: error: RuntimeError: CUDA out of memory "
        "(run with --debug for the traceback)"
    )
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert err.strip().endswith("xdeepr downscale: error: RuntimeError: CUDA out of memory")
