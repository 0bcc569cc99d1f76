"""One rule for every command's output (issue 24.8-10): checked first, never over an input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdeepr
from xdeepr.cli import main


class FakeModel:
    """Stands in for a trained model: training is not what these tests are about."""

    def save(self, path: str | Path) -> Path:  # as DownscalingModel.save: folders created
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("model")
        return Path(path)

    def __repr__(self) -> str:
        return "<FakeModel>"


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Small input files in tmp_path (the working folder); xdeepr.train records its calls."""
    monkeypatch.chdir(tmp_path)
    times = pd.date_range("2020-01-01", periods=4, freq="6h")
    ds = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), np.full((4, 2, 3), 280.0))},
        coords={"time": times, "latitude": [50.0, 49.75], "longitude": [6.0, 6.25, 6.5]},
    )
    paths = {name: tmp_path / f"{name}.nc" for name in ("features", "labels", "static")}
    for path in paths.values():
        ds.to_netcdf(path)
    paths["model"] = tmp_path / "model.xdeepr"
    paths["model"].write_text("not loaded: the output is refused first")
    calls: list[object] = []
    monkeypatch.setattr(xdeepr, "train", lambda *a, **k: calls.append(k) or FakeModel())
    paths["calls"] = calls  # type: ignore[assignment]
    return paths


def train_argv(p: dict[str, Path], output: str | Path, *extra: str) -> list[str]:
    return ["train", str(p["features"]), str(p["labels"]), "-o", str(output), *extra]


def one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"xdeepr {command}: error: "), err
    return err


def test_train_checks_an_unwritable_output_before_training(inputs, capsys):
    """Issue 24.8: `-o /proc/m.xdeepr` used to train first and lose the model."""
    assert main(train_argv(inputs, "/proc/m.xdeepr")) == 2
    err = one_error_line(capsys, "train")
    assert "'/proc/m.xdeepr'" in err and "not writable" in err and "another --output" in err
    assert inputs["calls"] == []


def test_train_refuses_an_existing_model_without_overwrite(inputs, capsys):
    """Issue 24.9: the rule of `downscale`: an existing output needs --overwrite."""
    out = inputs["model"]
    assert main(train_argv(inputs, out)) == 2
    err = one_error_line(capsys, "train")
    assert f"{str(out)!r} exists" in err and "--overwrite" in err
    assert main(train_argv(inputs, out, "--resume")) == 2  # resuming does not replace it
    assert "--overwrite" in one_error_line(capsys, "train")
    assert inputs["calls"] == [] and out.read_text().startswith("not loaded")
    assert main(train_argv(inputs, out, "--overwrite", "--quiet")) == 0
    assert out.read_text() == "model" and len(inputs["calls"]) == 1
    assert main(train_argv(inputs, out, "--overwrite", "--resume", "--quiet")) == 0
    assert inputs["calls"][-1]["resume"] is True


def test_train_creates_missing_folders_and_refuses_a_folder(inputs, capsys):
    assert main(train_argv(inputs, "new/sub/m.xdeepr", "--quiet")) == 0
    assert Path("new/sub/m.xdeepr").read_text() == "model"
    assert main(train_argv(inputs, "new", "--overwrite")) == 2
    assert "it is a folder" in one_error_line(capsys, "train")


@pytest.mark.parametrize("which", ["features", "labels", "static"])
def test_train_never_writes_over_an_input(inputs, capsys, which):
    extra = ["--static", str(inputs["static"])]
    assert main(train_argv(inputs, inputs[which], "--overwrite", *extra)) == 2
    err = one_error_line(capsys, "train")
    assert f"over the input {str(inputs[which])!r}" in err and "another --output" in err
    assert inputs["calls"] == []


@pytest.mark.parametrize(
    ("output", "what"),
    [
        ("features.nc", "INPUT"),  # the coarse input itself
        ("./features.nc", "INPUT"),  # by another name
        ("link.nc", "INPUT"),  # through a symbolic link
        ("model.nc", "--model"),
    ],
)
def test_downscale_never_writes_over_an_input(inputs, capsys, output, what):
    """Issue 24.10: `--overwrite -o in.nc` used to replace the input with the ensemble."""
    Path("link.nc").symlink_to(inputs["features"])
    model = Path("model.nc")
    model.write_bytes(inputs["model"].read_bytes())
    before = inputs["features"].read_bytes()
    argv = ["downscale", "features.nc", "-m", "model.nc", "-o", output, "--overwrite"]
    assert main(argv) == 2
    err = one_error_line(capsys, "downscale")
    assert f"refusing to write the output {str(Path(output))!r} over the input" in err
    assert f"({what})" in err and "another --output" in err
    assert inputs["features"].read_bytes() == before


def test_downscale_never_deletes_an_input_inside_its_store(inputs, capsys):
    store = Path("out.zarr")
    store.mkdir()
    inner = store / "features.nc"
    inner.write_bytes(inputs["features"].read_bytes())
    argv = ["downscale", str(inner), "-m", "model.xdeepr", "-o", "out.zarr", "--overwrite"]
    assert main(argv) == 2
    assert "around the input" in one_error_line(capsys, "downscale")
    assert inner.exists()


def test_downscale_stamps_a_forecast_with_its_valid_times(tiny_model, sample_small, tmp_path):
    """Issue 24.5 through the command line: the output is on the valid times."""
    features = sample_small[0].isel(time=slice(81, 84))
    h6 = np.timedelta64(6, "h")
    features.assign_coords(time=features.time - h6, step=h6).to_netcdf(tmp_path / "fc.nc")
    tiny_model.save(tmp_path / "m.xdeepr")
    argv = ["downscale", str(tmp_path / "fc.nc"), "-m", str(tmp_path / "m.xdeepr")]
    argv += ["-o", str(tmp_path / "o.nc"), "--members", "2", "--steps", "2", "--workers", "1"]
    assert main([*argv, "--quiet", "--device", "cpu"]) == 0
    with xr.open_dataset(tmp_path / "o.nc") as out:
        np.testing.assert_array_equal(out.time.values, features.time.values)
        assert "step" not in out.coords


def test_evaluate_refuses_a_plain_netcdf_killed_mid_write(inputs, capsys):
    """Issue 24: a killed `to_netcdf` printed a table of NaN and exited 0."""
    with xr.open_dataset(inputs["labels"]) as labels:
        ens = labels.load().expand_dims(member=2).chunk(time=2)
    ens.to_netcdf("killed.nc", compute=False)  # the header only, as a kill leaves it
    assert main(["evaluate", "killed.nc", str(inputs["labels"])]) == 2
    err = one_error_line(capsys, "evaluate")
    assert "'killed.nc' looks interrupted" in err and "--allow-incomplete" in err
