"""The version is written in one place, xdeepr/_version.py, and everything reads it."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import xdeepr

ROOT = Path(__file__).resolve().parents[1]


def test_installed_metadata_reads_the_one_source():
    try:
        installed = importlib.metadata.version("xdeepr")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("xdeepr is not installed, only importable")
    assert installed == xdeepr.__version__


def test_pyproject_writes_no_version_of_its_own():
    text = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=\s*\"", text, flags=re.M)
    assert 'attr = "xdeepr._version.__version__"' in text
    written = re.findall(
        r'__version__\s*=\s*"([^"]+)"', (ROOT / "xdeepr" / "__init__.py").read_text()
    )
    assert written == []  # imported from _version, not written again


def test_model_files_record_the_version_that_wrote_them(tiny_model, tmp_path):
    """Issue 19: a saved model records xdeepr.__version__, not a fixed 0.1.0."""
    import json
    import struct

    raw = tiny_model.save(tmp_path / "m.xdeepr").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(json.loads(raw[8 : 8 + n])["__metadata__"]["xdeepr"])
    assert header["xdeepr_version"] == xdeepr.__version__
    assert header["format_version"] >= 3
