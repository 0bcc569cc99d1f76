"""``xdeepr.train`` refuses a checkpoint folder it cannot write at its entry (issue 24),
before any data is prepared, naming the field, the folder and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import xdeepr
import xdeepr.training
from xdeepr.errors import ConfigError
from xdeepr.training import check_checkpoint_dir


@pytest.fixture
def no_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if train() starts preparing the data."""

    def prepared(*args: object, **kwargs: object) -> None:
        raise AssertionError("train() prepared the data before refusing checkpoint_dir")

    monkeypatch.setattr(xdeepr.training.grid, "standard_time", prepared)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_train_refuses_proc_before_preparing_the_data(no_preparation):
    f, l, s = xdeepr.datasets.load_sample(periods=8)
    with pytest.raises(ConfigError) as info:
        xdeepr.train(f, l, s, steps=1, checkpoint_dir="/proc/x", progress=False)
    message = str(info.value)
    assert message.startswith("TrainConfig.checkpoint_dir='/proc/x' cannot be created")
    assert "the folder '/proc' is not writable" in message
    assert "checkpoint_dir=None for no checkpoints" in message


def test_train_refuses_a_folder_under_a_file_or_a_file(tmp_path, no_preparation):
    f, l, _ = xdeepr.datasets.load_sample(periods=8)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    with pytest.raises(ConfigError, match=f"'{blocker}' is a file, not a folder"):
        xdeepr.train(f, l, checkpoint_dir=blocker / "ckpt", steps=1, progress=False)
    with pytest.raises(ConfigError, match=r"checkpoint_dir='.*notes.txt' cannot be written"):
        xdeepr.train(f, l, checkpoint_dir=blocker, steps=1, progress=False)


def test_a_writable_folder_passes_and_is_not_created(tmp_path):
    check_checkpoint_dir(xdeepr.TrainConfig(checkpoint_dir=str(tmp_path / "a" / "b")))
    check_checkpoint_dir(xdeepr.TrainConfig(checkpoint_dir=str(tmp_path)))
    check_checkpoint_dir(xdeepr.TrainConfig(checkpoint_dir=None))
    assert list(tmp_path.iterdir()) == []  # neither the folders nor a probe file is left
