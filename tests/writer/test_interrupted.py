"""Outputs xdeepr did not write completely are refused; two runs on one store (issue 24)."""

from __future__ import annotations

import errno

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdeepr.errors import OutputError
from xdeepr.writer import EnsembleWriter, ensure_complete, open_ensemble, write_ensemble
from xdeepr.writer import _ensemble as ensemble_module

TIMES = pd.date_range("2021-01-01", periods=6, freq="6h")


def plain(lazy: bool = True) -> xr.Dataset:
    """An ensemble as plain xarray would write it: no xdeepr completeness mark."""
    values = np.random.default_rng(0).normal(280.0, 5.0, (2, 6, 5, 4)).astype("float32")
    data = da.from_array(values, chunks=(2, 2, 5, 4)) if lazy else values
    return xr.Dataset(
        {"t2m": (("member", "time", "lat", "lon"), data, {"units": "K"})},
        coords={"member": [0, 1], "time": TIMES, "lat": np.arange(5.0), "lon": np.arange(4.0)},
        attrs={"xdeepr_model": "abc123", "xdeepr_members": 2},
    )


def test_plain_to_netcdf_killed_before_its_values_is_refused(tmp_path):
    """``to_netcdf`` writes metadata first: killed then, the file reads as all fill values."""
    path = tmp_path / "killed.nc"
    plain().to_netcdf(path, compute=False)  # what a kill leaves: the header, no values
    with pytest.raises(OutputError) as err:
        open_ensemble(path)
    msg = str(err.value)
    assert str(path) in msg and "looks interrupted" in msg
    assert "t2m" in msg and "write it again" in msg and "allow_incomplete=True" in msg
    with open_ensemble(path, allow_incomplete=True) as ds:  # the escape hatch
        assert bool(ds.t2m.isnull().all())


def test_a_file_whose_end_is_missing_is_refused(tmp_path):
    """Killed part way: the first blocks written, the last time steps NaN."""
    ds = plain(lazy=False)
    ds["t2m"][:, 4:] = np.nan
    ds.to_netcdf(tmp_path / "half.nc")
    with pytest.raises(OutputError, match="looks interrupted"):
        open_ensemble(tmp_path / "half.nc")
    with xr.open_dataset(tmp_path / "half.nc") as opened, pytest.raises(OutputError):
        ensure_complete(opened, tmp_path / "half.nc")  # what xdeepr evaluate calls


def test_complete_plain_files_and_gaps_before_the_end_pass(tmp_path):
    ds = plain(lazy=False)
    ds["t2m"][:, 1] = np.nan  # a missing time in the middle is data, not a kill
    ds.to_netcdf(tmp_path / "ok.nc")
    with open_ensemble(tmp_path / "ok.nc") as got:
        assert got.sizes["time"] == 6
    write_ensemble(plain(), tmp_path / "x.nc", progress=False)  # marked complete: not read
    with open_ensemble(tmp_path / "x.nc") as got:
        assert got.attrs["xdeepr_complete"] == 1


def test_a_truncated_file_is_refused_by_name(tmp_path):
    plain(lazy=False).to_netcdf(tmp_path / "full.nc")
    data = (tmp_path / "full.nc").read_bytes()
    (tmp_path / "cut.nc").write_bytes(data[: len(data) // 3])
    with pytest.raises(OutputError) as err:
        open_ensemble(tmp_path / "cut.nc")
    msg = str(err.value)
    assert str(tmp_path / "cut.nc") in msg and "cut short" in msg and "write it again" in msg


def test_the_losing_run_of_two_fresh_zarr_runs_says_so(tmp_path):
    """Both checked the destination while it was free; the first to create it wins."""
    path = tmp_path / "out.zarr"
    loser = EnsembleWriter(plain(), path)
    write_ensemble(plain(), path, progress=False)  # the other run, faster
    with pytest.raises(OutputError) as err:
        loser.write(progress=False)
    msg = str(err.value)
    assert "Errno" not in msg and "another run is writing the same output" in msg
    assert str(path) in msg and "another --output" in msg
    with open_ensemble(path) as ds:  # the winner's store is untouched
        assert ds.attrs["xdeepr_complete"] == 1


def test_losing_the_rename_race_says_another_run(tmp_path, monkeypatch):
    """Both created their temporary store: the rename of the second one fails (errno 39)."""
    path = tmp_path / "out.zarr"
    loser = EnsembleWriter(plain(), path)
    real = ensemble_module.atomic_path

    def racing(target):  # the other run's store appears while this one is being created
        path.mkdir()
        (path / "zarr.json").write_text("{}")
        return real(target)

    monkeypatch.setattr(ensemble_module, "atomic_path", racing)
    with pytest.raises(OutputError, match="another run is writing the same output") as err:
        loser.write(progress=False)
    assert isinstance(err.value.__cause__, OSError)
    assert err.value.__cause__.errno in (errno.ENOTEMPTY, errno.EEXIST)
    assert (path / "zarr.json").read_text() == "{}"
