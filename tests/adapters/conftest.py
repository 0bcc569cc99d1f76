"""Fixtures of the DeepR import tests: one tiny DeepR model folder, imported once."""

from __future__ import annotations

import pytest

from . import _deepr_model as dm


@pytest.fixture(scope="session")
def deepr_folder(tmp_path_factory):
    """(root, DeepR model folder, DeepR YAML) of the tiny model in :mod:`._deepr_model`."""
    pytest.importorskip("diffusers")
    root = tmp_path_factory.mktemp("deepr")
    return root, dm.model_dir(root), dm.write_yaml(root)


@pytest.fixture(scope="session")
def deepr_imported(deepr_folder):
    """(model, features, labels): the folder imported with ``xdeepr.from_deepr``."""
    import xdeepr

    _, model_dir, yml = deepr_folder
    features, labels = dm.data()
    return xdeepr.from_deepr(model_dir, yml, features, labels), features, labels
