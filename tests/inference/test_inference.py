"""ds.deepr.downscale(): validation, laziness, coordinates, attrs and invariance."""

from __future__ import annotations

import warnings

import cloudpickle
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

import xdeepr
from xdeepr.inference import _model_bytes, sample_seed

OPTS = {"members": 3, "steps": 3, "progress": False}


@pytest.fixture(scope="module")
def coarse(sample_small):
    f, _, _ = sample_small
    return f.isel(time=slice(80, 90))


@pytest.fixture(scope="module")
def reference(coarse, tiny_model):
    return coarse.deepr.downscale(tiny_model, **OPTS)


def test_output_grid_coords_and_attrs(reference, tiny_model, coarse):
    out = reference
    assert out.t2m.dims == ("member", "time", "latitude", "longitude")
    assert out.sizes["member"] == 3
    np.testing.assert_array_equal(out.member, np.arange(3))
    for name in ("latitude", "longitude"):
        np.testing.assert_array_equal(out[name].values, tiny_model.label_grid[name].values)
        assert out[name].attrs == tiny_model.label_grid[name].attrs
    np.testing.assert_array_equal(out.time.values, coarse.time.values)
    assert out.latitude.values[0] > out.latitude.values[-1]  # the labels' orientation
    assert out.t2m.attrs["standard_name"] == "air_temperature"
    assert out.t2m.attrs["units"] == "K"
    assert "long_name" in out.t2m.attrs
    for key in ("xdeepr_model", "xdeepr_sampler", "xdeepr_steps", "xdeepr_seed", "xdeepr_version"):
        assert key in out.attrs
    assert out.attrs["xdeepr_model"] == tiny_model.identity
    assert "downscale(" in out.attrs["history"].splitlines()[0]
    assert np.isfinite(out.t2m.values).all()
    # Physically plausible: near the input temperatures.
    assert abs(float(out.t2m.mean()) - float(coarse.t2m.mean())) < 15


def test_members_differ_and_seed_matters(reference, coarse, tiny_model):
    assert not np.allclose(reference.t2m.isel(member=0), reference.t2m.isel(member=1))
    other = coarse.deepr.downscale(tiny_model, seed=1, **OPTS)
    assert not np.allclose(other.t2m, reference.t2m)


@pytest.mark.parametrize("chunks", [1, 4, 10])
def test_chunk_and_batch_invariance(reference, coarse, tiny_model, chunks):
    lazy = coarse.chunk(time=chunks).deepr.downscale(tiny_model, batch_size=chunks + 1, **OPTS)
    assert lazy.t2m.chunks is not None
    with xr.set_options(keep_attrs=True):
        xr.testing.assert_allclose(lazy.compute(), reference, rtol=1e-5, atol=1e-4)


def test_subset_of_times_gives_the_same_members(reference, coarse, tiny_model):
    part = coarse.isel(time=[3, 7])
    part["t2m"].attrs["cell_methods"] = "area: mean time: point"  # instantaneous: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", xdeepr.errors.TimeStepWarning)
        part = part.deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(part, reference.isel(time=[3, 7]), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_scheduler_invariance(reference, coarse, tiny_model, scheduler):
    lazy = coarse.chunk(time=3).deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(lazy.compute(scheduler=scheduler), reference, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_distributed_invariance(reference, coarse, tiny_model):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            lazy = coarse.chunk(time=2).deepr.downscale(tiny_model, **OPTS)
            # With a client, the model is scattered once: no task carries its bytes.
            size = len(_model_bytes(tiny_model))
            graph = dict(lazy.__dask_graph__())
            assert all(len(cloudpickle.dumps(t)) < size // 2 for t in graph.values())
            out = client.compute(lazy).result()
            part = client.compute(lazy.isel(time=slice(0, 2))).result()
            xr.testing.assert_allclose(part, out.isel(time=slice(0, 2)))
            # Each worker process decoded the model once, however many blocks it ran.
            loaded = client.run(lambda: len(__import__("xdeepr.inference").inference._MODELS))
            assert set(loaded.values()) <= {0, 1} and sum(loaded.values()) >= 1
    xr.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-4)


class _Count(Callback):
    def __init__(self):
        super().__init__()
        self.tasks = 0

    def _pretask(self, key, dsk, state):
        self.tasks += 1


def test_lazy_on_dask_computes_nothing(coarse, tiny_model):
    with _Count() as counter:
        lazy = coarse.chunk(time=5).deepr.downscale(tiny_model, **OPTS)
    assert counter.tasks == 0
    assert lazy.t2m.chunks == ((3,), (5, 5), (20,), (32,))


def test_model_enters_graph_once(coarse, tiny_model):
    lazy = coarse.chunk(time=2).deepr.downscale(tiny_model, **OPTS)
    graph = dict(lazy.__dask_graph__())
    size = len(_model_bytes(tiny_model))
    heavy = [k for k, task in graph.items() if len(cloudpickle.dumps(task)) > size // 2]
    assert len(heavy) == 1  # one task holds the model; the 5 block tasks only refer to it
    assert sum("_block_fn" in str(k) for k in graph) >= 5


def test_sample_seed_depends_on_time_and_member_only():
    t = np.datetime64("2020-01-01T06")
    assert sample_seed(0, t, 1) == sample_seed(0, t.astype("datetime64[ns]"), 1)
    assert len({sample_seed(0, t, m) for m in range(50)}) == 50
    assert sample_seed(0, t, 1) != sample_seed(1, t, 1)


# --------------------------------------------------------------------------- bad input


def test_missing_variable(coarse, tiny_model):
    tas = coarse.rename(t2m="tas")
    tas["tas"].attrs = {"units": "K"}  # no standard_name: nothing to match by
    with pytest.raises(ValueError, match=r"lacks the variable\(s\) \['t2m'\].*variables="):
        tas.deepr.downscale(tiny_model, **OPTS)


def test_wrong_grid_step(coarse, tiny_model):
    fine = coarse.interp(
        longitude=np.arange(6.0, 13.8, 0.125), latitude=np.arange(50, 45.2, -0.125)
    )
    with pytest.raises(xdeepr.grid.GridError, match="0.125° x 0.125°.*0.25° x 0.25°"):
        fine.deepr.downscale(tiny_model, **OPTS)


def test_coverage_too_small(coarse, tiny_model):
    small = coarse.deepr.crop(longitude=(8, 13.75), latitude=(50, 45.25))
    with pytest.raises(xdeepr.grid.GridError, match="west edge 6°E lies 2° west"):
        small.deepr.downscale(tiny_model, **OPTS)


def test_time_must_be_datetime(coarse, tiny_model):
    bad = coarse.assign_coords(time=np.arange(coarse.sizes["time"]))
    with pytest.raises(TypeError, match="datetime64 or cftime"):
        bad.deepr.downscale(tiny_model, **OPTS)


def test_nan_named_by_time_unless_filled(coarse, tiny_model):
    bad = coarse.copy(deep=True)
    bad["t2m"][2, 5, 5] = np.nan
    with pytest.raises(xdeepr.InputError, match=r"'t2m' has NaN at time\(s\) \['2020-01-21T12"):
        bad.deepr.downscale(tiny_model, **OPTS)
    with pytest.raises(ValueError, match="has NaN"):
        bad.chunk(time=2).deepr.downscale(tiny_model, **OPTS).compute()
    filled = bad.deepr.downscale(tiny_model, fill="mean", **OPTS)
    assert np.isfinite(filled.t2m.values).all()
    with pytest.raises(ValueError, match="fill must be"):
        bad.deepr.downscale(tiny_model, fill="median", **OPTS)


def test_bad_sampler_and_members(coarse, tiny_model):
    with pytest.raises(ValueError, match="sampler must be one of.*got 'euler'"):
        coarse.deepr.downscale(tiny_model, sampler="euler", members=1, progress=False)
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        coarse.deepr.downscale(tiny_model, members=0)
    with pytest.raises(TypeError, match="must be a DownscalingModel"):
        coarse.deepr.downscale("model.xdeepr")  # type: ignore[arg-type]


def test_other_orientation_and_names_of_input(reference, coarse, tiny_model):
    flipped = coarse.isel(latitude=slice(None, None, -1)).rename(latitude="lat", longitude="lon")
    out = flipped.deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-3)


def test_target_domain(sample_small, tiny_model, coarse):
    _, labels, static = sample_small
    # Another hi-res domain 0.5° further west, inside the feature coverage.
    lon = labels.longitude.values - 0.5
    target = xr.Dataset(
        coords={
            "latitude": labels.latitude,
            "longitude": ("longitude", lon, labels.longitude.attrs),
        }
    )
    target["orog"] = (("latitude", "longitude"), static.orog.values[:, ::-1])
    target["lsm"] = (("latitude", "longitude"), static.lsm.values)
    target["orog_coarse"] = static.orog_coarse
    target["lsm_coarse"] = static.lsm_coarse
    out = coarse.deepr.downscale(tiny_model, target=target, **OPTS)
    np.testing.assert_array_equal(out.longitude.values, lon)
    assert np.isfinite(out.t2m.values).all()
    with pytest.raises(ValueError, match=r"lacks the static covariate\(s\) \['orog'\]"):
        coarse.deepr.downscale(tiny_model, target=target.drop_vars("orog"), **OPTS)


def test_score_accessor(reference, sample_small, coarse):
    _, labels, _ = sample_small
    truth = labels.sel(time=reference.time)
    scores = reference.deepr.score(truth, features=coarse)
    assert list(scores.model.values) == ["xdeepr", "bicubic"]
    assert "crps" in scores.metric.values
    bic = coarse.deepr.interpolate(truth)
    expected = float(xdeepr.metrics.rmse(truth.t2m, bic.t2m))
    assert float(scores.t2m.sel(metric="rmse", model="bicubic")) == pytest.approx(expected)
    alone = reference.deepr.score(truth)  # issue 19: the default baseline skipped, and said
    assert list(alone.model.values) == ["xdeepr"]
    assert "needs the coarse input" in alone.attrs["xdeepr_skipped_baselines"]


@pytest.mark.gpu
def test_cuda_downscale_matches_shapes(coarse, tiny_model):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    out = coarse.deepr.downscale(tiny_model, device="cuda", **OPTS)
    assert out.t2m.shape == (3, 10, 20, 32)
    assert np.isfinite(out.t2m.values).all()
    tiny_model.to("cpu")


def test_single_time_step_and_other_time_names(reference, coarse, tiny_model):
    one = coarse.isel(time=4).deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(one, reference.isel(time=[4]), rtol=1e-5, atol=1e-4)
    renamed = coarse.rename(time="valid_time")
    renamed.valid_time.attrs["standard_name"] = "time"
    out = renamed.deepr.downscale(tiny_model, **OPTS)
    assert "valid_time" in out.dims
    np.testing.assert_allclose(out.t2m.values, reference.t2m.values, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="no time dimension found"):
        coarse.rename(time="step").assign_coords(step=np.arange(10)).deepr.downscale(
            tiny_model, **OPTS
        )


def test_dataarray_downscale_keeps_provenance(coarse, tiny_model):
    out = coarse.t2m.deepr.downscale(tiny_model, **OPTS)
    assert isinstance(out, xr.DataArray)
    assert out.attrs["xdeepr_model"] == tiny_model.identity
    assert out.attrs["units"] == "K"


def test_dask_target_and_validation_up_front(sample_small, tiny_model, coarse):
    _, _, static = sample_small
    target = static.copy()
    lazy_target = target.chunk()
    out = coarse.chunk(time=5).deepr.downscale(tiny_model, target=lazy_target, **OPTS)
    # Same grid as the labels, but the bicubic condition is built from a smaller coarse
    # window (the target plus two cells), so values differ slightly at the edges.
    diff = abs(out.compute().t2m - coarse.deepr.downscale(tiny_model, **OPTS).t2m)
    print(f"max |target - default| = {float(diff.max()):.4f} K")
    assert float(diff.max()) < 0.5 and float(diff.mean()) < 0.05
    with pytest.raises(ValueError, match="lacks the static covariate"):  # before returning
        coarse.chunk(time=5).deepr.downscale(tiny_model, target=target.drop_vars("lsm"), **OPTS)


def test_target_needs_domain_wise_label_scaling(sample_small, coarse):
    f, l, s = sample_small
    from ..conftest import TINY

    m = xdeepr.train(
        f.isel(time=slice(0, 40)),
        l.isel(time=slice(0, 40)),
        s,
        steps=1,
        label_scaling="pixel-wise",
        **TINY,
    )
    with pytest.raises(ValueError, match="label_scaling='domain-wise'"):
        coarse.deepr.downscale(m, target=s, **OPTS)


def test_tiled_downscale(reference, coarse, tiny_model):
    whole = coarse.deepr.downscale(tiny_model, tile=(24, 32), overlap=4, **OPTS)
    xr.testing.assert_allclose(whole, reference, rtol=1e-5, atol=1e-4)  # one tile = untiled
    tiled = coarse.deepr.downscale(tiny_model, tile=16, overlap=4, **OPTS)
    assert tiled.attrs["xdeepr_tile"] == "16"
    assert np.isfinite(tiled.t2m.values).all()
    lazy = coarse.chunk(time=3).deepr.downscale(tiny_model, tile=16, overlap=4, **OPTS)
    xr.testing.assert_allclose(lazy.compute(), tiled, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="tile"):
        coarse.deepr.downscale(tiny_model, tile=10, **OPTS)


# ----------------------------------------------------- options, members, fill (issue 14)


def test_non_integer_members_and_seed_are_refused(coarse, tiny_model):
    with pytest.raises(xdeepr.ConfigError, match=r"members must be an integer >= 1, got 2.7"):
        coarse.deepr.downscale(tiny_model, members=2.7, progress=False)
    with pytest.raises(xdeepr.ConfigError, match=r"seed must be an integer, got 1.9"):
        coarse.deepr.downscale(tiny_model, members=2, seed=1.9, progress=False)


def test_member_coordinate_is_a_cf_realization(reference):
    assert reference.member.attrs["standard_name"] == "realization"


def test_members_are_chunked_to_bounded_size_and_give_the_same_ensemble(
    monkeypatch, reference, coarse, tiny_model
):
    from xdeepr import inference, options

    per_member = 2 * 20 * 32 * 4  # one member of a 2-time chunk, bytes
    monkeypatch.setattr(inference.api, "MAX_CHUNK_BYTES", per_member * 2)
    lazy = coarse.chunk(time=2).deepr.downscale(tiny_model, **OPTS)
    assert lazy.t2m.chunks[0] == (2, 1)
    xr.testing.assert_allclose(lazy.compute(), reference, rtol=1e-5, atol=1e-4)
    monkeypatch.setattr(inference.api, "MAX_CHUNK_BYTES", options.MAX_CHUNK_BYTES)
    huge = coarse.chunk(time=10).deepr.downscale(tiny_model, members=200_000, progress=False)
    largest = max(huge.t2m.chunks[0]) * 10 * 20 * 32 * 4
    assert huge.sizes["member"] == 200_000
    assert largest <= options.MAX_CHUNK_BYTES


def test_fill_handles_inf_and_refuses_fields_missing_everywhere(coarse, tiny_model):
    bad = coarse.copy(deep=True)
    bad["t2m"][1, 3, 3] = np.inf
    with pytest.raises(xdeepr.InputError, match=r"'t2m' has Inf at time\(s\) \['2020-01-21T06"):
        bad.deepr.downscale(tiny_model, **OPTS)
    filled = bad.deepr.downscale(tiny_model, fill="mean", **OPTS)
    assert np.isfinite(filled.t2m.values).all()
    bad["t2m"][4] = np.nan
    with pytest.raises(xdeepr.InputError, match=r"missing \(NaN or Inf\) everywhere at time"):
        bad.deepr.downscale(tiny_model, fill="mean", **OPTS)
    with pytest.raises(xdeepr.InputError, match="everywhere"):
        bad.chunk(time=2).deepr.downscale(tiny_model, fill="mean", **OPTS)
    assert np.isfinite(bad.deepr.downscale(tiny_model, fill=280.0, **OPTS).t2m.values).all()


# ------------------------------------------------------ units, packing, extra dims (issue 14)


def test_input_in_celsius_is_converted_to_the_training_units(reference, coarse, tiny_model):
    celsius = coarse.copy()
    celsius["t2m"] = (coarse.t2m - 273.15).assign_attrs({**coarse.t2m.attrs, "units": "degC"})
    out = celsius.deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(out, reference, rtol=1e-4, atol=2e-3)
    assert out.t2m.attrs["units"] == "K"


def test_celsius_labelled_kelvin_and_unconvertible_units_are_refused(coarse, tiny_model):
    wrong = coarse.copy()
    wrong["t2m"] = coarse.t2m - 273.15  # attrs say K
    with pytest.raises(xdeepr.InputError, match=r"'t2m' ranges over \[.*\] K, more than 10"):
        wrong.deepr.downscale(tiny_model, **OPTS)
    with pytest.raises(xdeepr.InputError, match="more than 10"):  # lazily, at compute time
        wrong.chunk(time=5).deepr.downscale(tiny_model, **OPTS).compute()
    other = coarse.copy()
    other.t2m.attrs["units"] = "m s-1"
    with pytest.raises(xdeepr.InputError, match=r"'t2m' is in 'm s-1', but the model was trained"):
        other.deepr.downscale(tiny_model, **OPTS)


def test_undecoded_packed_input_is_refused(coarse, tiny_model, tmp_path):
    enc = {"t2m": {"dtype": "int16", "scale_factor": 0.002, "add_offset": 275.0}}
    coarse.to_netcdf(tmp_path / "packed.nc", encoding=enc)
    raw = xr.open_dataset(tmp_path / "packed.nc", mask_and_scale=False)
    with pytest.raises(xdeepr.InputError, match=r"'t2m' is still packed \(int16"):
        raw.deepr.downscale(tiny_model, **OPTS)
    decoded = xr.open_dataset(tmp_path / "packed.nc")
    assert np.isfinite(decoded.deepr.downscale(tiny_model, **OPTS).t2m.values).all()


def test_size_one_extra_dims_are_squeezed_larger_ones_named(reference, coarse, tiny_model):
    with_level = coarse.expand_dims(level=[850])
    out = with_level.deepr.downscale(tiny_model, **OPTS)
    xr.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-4)
    two = coarse.expand_dims(number=[0, 1])
    with pytest.raises(xdeepr.InputError, match=r"number.*2.*isel\(number=0\)"):
        two.deepr.downscale(tiny_model, **OPTS)


def test_batch_size_one_is_bit_identical_however_chunked(coarse, tiny_model):
    """On CPU the batch size changes the network's rounding (a few 1e-5 K), not the noise;
    with one sample per network call the ensemble is bit-identical however it is split."""
    one = dict(OPTS, batch_size=1)
    eager = coarse.deepr.downscale(tiny_model, **one)
    for chunks in (1, 3):
        lazy = coarse.chunk(time=chunks).deepr.downscale(tiny_model, **one).compute()
        np.testing.assert_array_equal(lazy.t2m.values, eager.t2m.values)
    other = coarse.deepr.downscale(tiny_model, **dict(OPTS, batch_size=7))
    diff = float(abs(other.t2m - eager.t2m).max())
    print(f"max |batch 7 - batch 1| = {diff:.2e} K")
    assert diff < 1e-3
    assert "bit-identical" in xdeepr.accessor.DeepRAccessor.downscale.__doc__
