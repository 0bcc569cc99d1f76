"""xdeepr.writer: resumable zarr, atomic netCDF, outputs that cannot pass for complete."""

from __future__ import annotations

import json
import warnings

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xdeepr.errors import OutputError
from xdeepr.writer import (
    COMPLETE_ATTR,
    EnsembleWriter,
    check_destination,
    ensure_complete,
    open_ensemble,
    progress_file,
    read_progress,
    write_ensemble,
)

TIMES = pd.date_range("2021-01-01", periods=6, freq="6h")
ATTRS = {
    "xdeepr_model": "abc123",
    "xdeepr_members": 2,
    "xdeepr_seed": 0,
    "xdeepr_sampler": "ddim",
    "xdeepr_steps": 4,
}


def _source(offset: float = 0.0) -> xr.Dataset:
    """A coarse input: 6 times on a 3x4 grid."""
    values = np.arange(6 * 3 * 4, dtype="float64").reshape(6, 3, 4) + offset
    return xr.Dataset({"t2m": (("time", "y", "x"), values)}, coords={"time": TIMES}).chunk(time=2)


def _ensemble(fail_block: int | None = None, seed: int = 0) -> xr.Dataset:
    """A lazy ensemble (member, time, lat, lon) in time blocks of 2; `fail_block` raises."""
    rng = np.random.default_rng(0)
    values = rng.normal(280.0, 5.0, size=(2, 6, 5, 4)).astype("float32")
    data = da.from_array(values, chunks=(2, 2, 5, 4))

    def maybe_fail(x: np.ndarray, block_id: tuple[int, ...] | None = None) -> np.ndarray:
        if block_id is not None and block_id[1] == fail_block:
            raise RuntimeError("killed while computing")
        return x

    data = data.map_blocks(maybe_fail, dtype=data.dtype)
    return xr.Dataset(
        {"t2m": (("member", "time", "lat", "lon"), data, {"units": "K"})},
        coords={
            "member": np.arange(2),
            "time": TIMES,
            "lat": ("lat", np.linspace(47.0, 48.0, 5), {"units": "degrees_north"}),
            "lon": ("lon", np.linspace(9.0, 10.0, 4), {"units": "degrees_east"}),
        },
        attrs={**ATTRS, "xdeepr_seed": seed},
    )


def _interrupted(path, fail_block: int = 2) -> None:
    with pytest.raises(RuntimeError, match="killed while computing"):
        write_ensemble(_ensemble(fail_block), path, source=_source(), progress=False)


# ------------------------------------------------------------------------------ zarr


def test_zarr_round_trip(tmp_path):
    path = tmp_path / "ens.zarr"
    assert write_ensemble(_ensemble(), path, source=_source(), progress=False) == path
    got = open_ensemble(path)
    xr.testing.assert_identical(got.t2m.load(), _ensemble().t2m.load())
    assert got.attrs[COMPLETE_ATTR] == 1 and got.attrs["xdeepr_seed"] == 0
    record = read_progress(path)
    assert record is not None and record["complete"] and record["done"] == [0, 1, 2]
    assert len(record["fingerprints"]) == 3


def test_interrupted_store_says_it_is_incomplete(tmp_path):
    """Issue 14.2: a store whose writing stopped must not pass for a complete one."""
    path = tmp_path / "ens.zarr"
    _interrupted(path)
    raw = xr.open_zarr(path)
    assert raw.attrs[COMPLETE_ATTR] == 0  # the store itself says so, not only the record
    assert bool(raw.t2m.isel(time=slice(4, 6)).isnull().all())
    progress_file(path).unlink()  # even without its record
    with pytest.raises(OutputError, match="is incomplete"):
        open_ensemble(path)
    with pytest.raises(OutputError, match="is incomplete"):
        ensure_complete(raw)
    assert open_ensemble(path, allow_incomplete=True).sizes["time"] == 6


def test_resume_finishes_an_interrupted_store(tmp_path):
    path = tmp_path / "ens.zarr"
    _interrupted(path)
    with pytest.raises(OutputError, match=r"incomplete \(.*2 of 3 blocks written"):
        open_ensemble(path)
    plan = EnsembleWriter(_ensemble(), path, source=_source(), resume=True)
    assert plan.done == [0, 1] and plan.todo == [2]
    plan.write(progress=False)
    got = open_ensemble(path)
    xr.testing.assert_identical(got.t2m.load(), _ensemble().t2m.load())
    assert read_progress(path)["complete"]  # type: ignore[index]
    # resuming a complete store computes nothing (the failing block is not touched)
    write_ensemble(_ensemble(fail_block=2), path, source=_source(), resume=True, progress=False)


def test_resume_after_a_kill_between_last_block_and_mark(tmp_path):
    """All blocks written but the run killed before marking the store: resume marks it."""
    path = tmp_path / "ens.zarr"
    write_ensemble(_ensemble(), path, source=_source(), progress=False)
    import zarr

    with warnings.catch_warnings():  # zarr 3: consolidated metadata is an extension
        warnings.simplefilter("ignore")
        zarr.open_group(str(path), mode="r+").attrs[COMPLETE_ATTR] = 0
        zarr.consolidate_metadata(str(path))
    record = json.loads(progress_file(path).read_text())
    progress_file(path).write_text(json.dumps({**record, "complete": False}))
    with pytest.raises(OutputError, match="incomplete"):
        open_ensemble(path)
    plan = EnsembleWriter(_ensemble(), path, source=_source(), resume=True)
    assert plan.todo == []
    plan.write(progress=False)
    assert open_ensemble(path).attrs[COMPLETE_ATTR] == 1


def test_resume_refuses_another_input(tmp_path):
    """Issue 14.3: the same times with other values are refused, naming the first block."""
    path = tmp_path / "ens.zarr"
    _interrupted(path)
    with pytest.raises(OutputError, match=r"input differs.*block 0 \(times 2021-01-01T00"):
        write_ensemble(_ensemble(), path, source=_source(5.0), resume=True, progress=False)
    changed = _source().load()
    changed["t2m"][3, 0, 0] += 1.0  # one value in the second block
    with pytest.raises(OutputError, match=r"block 1 \(times 2021-01-01T12.* to 2021-01-01T18"):
        write_ensemble(_ensemble(), path, source=changed, resume=True, progress=False)
    with pytest.raises(OutputError, match="without its input"):
        write_ensemble(_ensemble(), path, resume=True, progress=False)
    assert read_progress(path)["done"] == [0, 1]  # type: ignore[index]  # nothing was touched


def test_resume_refuses_other_options(tmp_path):
    path = tmp_path / "ens.zarr"
    _interrupted(path)
    with pytest.raises(OutputError, match=r"written with seed=0 but this run asks for seed=1"):
        write_ensemble(_ensemble(seed=1), path, source=_source(), resume=True, progress=False)
    with pytest.raises(OutputError, match="holds 6 time steps but the input has 4"):
        write_ensemble(
            _ensemble().isel(time=slice(0, 4)),
            path,
            source=_source().isel(time=slice(0, 4)),
            resume=True,
            progress=False,
        )


def test_overwrite_replaces_a_store(tmp_path):
    path = tmp_path / "ens.zarr"
    _interrupted(path)
    write_ensemble(_ensemble(), path, source=_source(), overwrite=True, progress=False)
    assert open_ensemble(path).attrs[COMPLETE_ATTR] == 1


# ------------------------------------------------------------------------------ netCDF


def test_netcdf_appears_only_when_complete(tmp_path):
    """Issue 14.2: a failed netCDF write leaves no file (or the old one), never half a new one."""
    path = tmp_path / "ens.nc"
    with pytest.raises(RuntimeError, match="killed"):
        write_ensemble(_ensemble(fail_block=1), path, progress=False)
    assert list(tmp_path.iterdir()) == []
    write_ensemble(_ensemble(), path, progress=False)
    with open_ensemble(path) as got:
        assert got.attrs[COMPLETE_ATTR] == 1
        xr.testing.assert_allclose(got.t2m.load(), _ensemble().t2m.load())
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="killed"):
        write_ensemble(_ensemble(fail_block=2), path, overwrite=True, progress=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.nc"]


def test_in_memory_ensemble_is_one_block(tmp_path):
    ens = _ensemble().load()
    plan = EnsembleWriter(ens, tmp_path / "ens.zarr")
    assert plan.blocks == [(0, 6)]
    plan.write(progress=False)
    xr.testing.assert_identical(open_ensemble(plan.path).t2m.load(), ens.t2m)


# ------------------------------------------------------------------------------ destination


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("out.csv", {}, "unknown output type '.csv'"),
        ("out", {}, r"unknown output type '\(none\)'"),
        ("missing/out.zarr", {}, "its folder .*missing' does not exist"),
        ("a_file/out.nc", {}, "its folder .*a_file' is not a directory"),
        ("exists.zarr", {}, "exists; pass resume .* or overwrite"),
        ("out.nc", {"resume": True}, "resume needs a zarr output"),
        ("out.zarr", {"resume": True, "overwrite": True}, "cannot both resume and overwrite"),
    ],
)
def test_destination_is_checked_before_computing(tmp_path, name, kwargs, message):
    """Issue 14.4: a bad destination fails at once, before any block is computed."""
    (tmp_path / "a_file").write_text("")
    (tmp_path / "exists.zarr").mkdir()
    with pytest.raises(OutputError, match=message):
        check_destination(tmp_path / name, **kwargs)
    with pytest.raises(OutputError, match=message):  # not the RuntimeError of block 0
        write_ensemble(_ensemble(fail_block=0), tmp_path / name, progress=False, **kwargs)


def test_data_from_other_tools_pass(tmp_path):
    plain = _ensemble().load()
    plain.attrs = {}
    plain.to_netcdf(tmp_path / "plain.nc")
    with open_ensemble(tmp_path / "plain.nc") as got:
        assert got.sizes["member"] == 2
    with pytest.raises(FileNotFoundError, match="no ensemble at"):
        open_ensemble(tmp_path / "none.zarr")
