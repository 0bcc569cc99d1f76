"""The cross-fitted regression mean: no fold's net sees the times it predicts."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xdeepr
from xdeepr.errors import ConfigError
from xdeepr.training import TrainConfig, means, regression
from xdeepr.training.folds import (
    BLOCKS_PER_FOLD,
    CHECKPOINT_FRACTIONS,
    MIN_FOLD_TIMES,
    best_checkpoint,
    checkpoints,
    contiguous_runs,
    fold_blocks,
    fold_of,
    resolve_folds,
    time_folds,
)

from ..conftest import TINY


@pytest.mark.parametrize("n", [1, 7, 16, 40, 96, 181])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_folds_partition_the_training_times_into_contiguous_blocks(n, k):
    if k > n:
        with pytest.raises(ValueError, match="folds"):
            time_folds(n, k)
        return
    folds = time_folds(n, k)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(n))  # a partition
    blocks = [fold_blocks(f) for f in folds]
    b = len(blocks[0])
    assert all(len(bl) == b for bl in blocks)  # as many blocks in every fold
    assert 1 <= b <= BLOCKS_PER_FOLD
    if n >= k * MIN_FOLD_TIMES:
        assert all(e - s_ >= MIN_FOLD_TIMES for bl in blocks for s_, e in bl)
    if k > 1 and n >= k * BLOCKS_PER_FOLD * MIN_FOLD_TIMES:  # enough: every fold spans it all
        assert b == BLOCKS_PER_FOLD
        assert all(bl[-1][1] > n - n // BLOCKS_PER_FOLD for bl in blocks)
    assert max(map(len, folds)) - min(map(len, folds)) <= b
    assert np.array_equal(np.bincount(fold_of(n, k), minlength=k), [len(f) for f in folds])


def test_the_fold_rule_and_its_config_field():
    assert resolve_folds(None, 180) == 3
    assert resolve_folds(None, 2 * MIN_FOLD_TIMES - 1) == 1  # too few times: no cross-fitting
    assert resolve_folds(7, 24) == 3  # never under MIN_FOLD_TIMES times a fold
    assert resolve_folds(0, 500) == resolve_folds(1, 500) == 1
    assert TrainConfig().mean_folds is None and TrainConfig(mean_folds=5).mean_folds == 5
    with pytest.raises(ConfigError, match="mean_folds"):
        TrainConfig(mean_folds=-1)


@given(st.integers(1, 100_000))
def test_checkpoints_rise_to_the_steps_asked_for(total):
    steps = checkpoints(total)
    assert steps[-1] == total and steps[0] >= 1
    assert steps == sorted(set(steps))
    assert len(steps) <= len(CHECKPOINT_FRACTIONS)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=8))
def test_the_best_checkpoint_has_the_least_finite_error(errors):
    steps = [10 * (i + 1) for i in range(len(errors))]
    best = best_checkpoint(steps, errors)
    finite = [(e, s_) for e, s_ in zip(errors, steps) if np.isfinite(e)]
    if not finite:
        assert best == steps[-1]
    else:
        assert best == min(finite)[1]  # the least error, the fewest steps on ties


def test_a_net_stopped_early_is_the_one_a_longer_run_passed_through():
    """``stop`` ends training on the longer run's schedule: early stopping, not a new run."""
    import torch
    import xarray as xr

    from xdeepr.training.data import _Data

    cfg = TrainConfig(**TINY)
    n, dims = 12, ("time", "channel", "y", "x")
    rng = np.random.default_rng(0)

    def field(c):
        return xr.DataArray(rng.standard_normal((n, c, 8, 8)).astype("float32"), dims=dims)

    data = _Data(
        condition=field(2),
        target=field(1),
        calendar=np.zeros((n, 2), "float32"),
        times=np.arange(n),
    )
    cpu = torch.device("cpu")
    _, _, snaps = regression._train_net(data, np.arange(n), 1, cfg, 6, 5, cpu, keep=[2, 4])
    early, _, none = regression._train_net(data, np.arange(n), 1, cfg, 6, 5, cpu, stop=4)
    assert sorted(snaps) == [2, 4] and none == {}
    four, two = snaps[4].state_dict(), snaps[2].state_dict()
    for name, w in early.state_dict().items():
        np.testing.assert_allclose(four[name].numpy(), w.numpy(), atol=1e-6, err_msg=name)
    assert any(not torch.allclose(two[k], w) for k, w in early.state_dict().items())


def test_contiguous_runs_cut_at_gaps_so_no_block_spans_a_held_out_fold():
    runs = contiguous_runs(np.r_[0:5, 9:12], 3)
    assert [r.tolist() for r in runs] == [[0, 1, 2], [3, 4], [9, 10, 11]]


def test_no_fold_net_sees_its_own_times(sample_small, monkeypatch):
    f, l, s = sample_small
    n, n_val = 56, 4  # 52 training times: folds of two blocks each
    trained: list[tuple[int, np.ndarray, set[int]]] = []  # (seed, indices, loaded times)
    predicted: list[tuple[int, np.ndarray]] = []  # (id of the net, times predicted)
    nets: dict[int, int] = {}  # id(net) -> seed

    class SpyBlocks(regression._Blocks):
        loaded: ClassVar[set[int]] = set()

        def load(self, b):
            idx = self.blocks[b]
            SpyBlocks.loaded.update(range(int(idx[0]), int(idx[-1]) + 1))
            return super().load(b)

    real_train, real_predict = regression._train_net, regression._predict

    alive = []  # every net stays alive, so no id is reused
    stops: dict[int, int | None] = {}

    def spy_train(data, indices, n_labels, cfg, total, seed, device, stop=None, keep=()):
        SpyBlocks.loaded = set()
        net, loss, snaps = real_train(
            data, indices, n_labels, cfg, total, seed, device, stop=stop, keep=keep
        )
        trained.append((seed, np.asarray(indices).copy(), set(SpyBlocks.loaded)))
        alive.append((net, snaps))
        for n_ in (net, *snaps.values()):
            nets[id(n_)] = seed
        stops[seed] = stop
        return net, loss, snaps

    predictions = {}  # first time predicted -> (times, the prediction)
    fitted = {}

    def spy_predict(model, net, data, indices, calendar, block_size):
        predicted.append((id(net), np.asarray(indices).copy()))
        out = real_predict(model, net, data, indices, calendar, block_size)
        predictions[int(indices[0])] = (np.asarray(indices).copy(), out)
        return out

    real_fit = means.fit_regression_mean

    def spy_fit(model, condition, calendar, residual, *args):
        fitted["residual"] = residual
        fitted["left"] = real_fit(model, condition, calendar, residual, *args)
        return fitted["left"]

    monkeypatch.setattr(means, "fit_regression_mean", spy_fit)

    monkeypatch.setattr(regression, "_Blocks", SpyBlocks)
    monkeypatch.setattr(regression, "_train_net", spy_train)
    monkeypatch.setattr(regression, "_predict", spy_predict)
    m = xdeepr.train(
        f.isel(time=slice(0, n)),
        l.isel(time=slice(0, n)),
        s,
        steps=1,
        mean="regression",
        mean_steps=4,
        mean_folds=3,
        validation_fraction=n_val / n,
        validate_every=0,
        validation_times=2,
        validation_members=2,
        **TINY,
    )
    n_train = n - n_val
    rec = m.summary["regression_mean"]
    assert rec["folds"] == 3 and len(rec["fold_bounds"]) == 3
    assert len(trained) == 4  # the kept net and one per fold
    seeds = {seed: (idx, loaded) for seed, idx, loaded in trained}
    final_seed = 0 + regression.FINAL_SEED
    assert np.array_equal(seeds[final_seed][0], np.arange(n_train))  # the kept net: all
    covered = []
    for net_id, times in predicted:
        seed = nets[net_id]
        fit_on, loaded = seeds[seed]
        if seed == final_seed:  # the kept net predicts only times it never trained on
            assert set(times.tolist()).isdisjoint(range(n_train))
            assert times.tolist() == list(range(n_train, n))
            continue
        assert set(times.tolist()).isdisjoint(fit_on.tolist()), "a fold net saw its own times"
        assert set(times.tolist()).isdisjoint(loaded), "a fold net loaded its own times"
        covered += times.tolist()
    # every training time is predicted out of fold, by its fold net at each checkpoint
    # and again by the chosen one
    assert np.array_equal(np.bincount(covered), np.full(n_train, len(checkpoints(4)) + 1))
    assert rec["fold_bounds"] == [fold_blocks(f_) for f_ in time_folds(n_train, 3)]
    # the steps: the checkpoint with the least out-of-fold error; the kept net stops there
    assert rec["checkpoints"] == checkpoints(4) == [1, 2, 3, 4]
    assert len(rec["oof_mse"]) == 4 and all(e > 0 for e in rec["oof_mse"])
    assert rec["steps"] == best_checkpoint(rec["checkpoints"], rec["oof_mse"])
    assert rec["max_steps"] == 4 and stops[final_seed] == rec["steps"]
    # the diffusion target at each time is its residual less the prediction of the net
    # that did not see it (folds interleave: nothing may be matched by position)
    for times, pred in predictions.values():
        want = (
            fitted["residual"].t2m.isel(time=times)
            - pred.t2m.transpose(*fitted["residual"].t2m.dims).values
        )
        np.testing.assert_allclose(fitted["left"].t2m.isel(time=times), want, atol=1e-5)


@pytest.mark.filterwarnings("ignore::xdeepr.training.CalibrationWarning")
def test_mean_folds_0_keeps_the_in_sample_mean(sample_small):
    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 24)),
        l.isel(time=slice(0, 24)),
        s,
        steps=1,
        mean="regression",
        mean_steps=1,
        mean_folds=0,
        validate_every=0,
        **TINY,
    )
    assert m.summary["regression_mean"]["folds"] == 1
    assert m.summary["regression_mean"]["fold_bounds"] == []
    assert "in-sample" in m.summary["regression_mean"]["rule"]


@pytest.mark.filterwarnings("ignore::xdeepr.training.CalibrationWarning")
def test_members_take_their_mean_from_the_fold_nets_and_files_keep_them(sample_small, tmp_path):
    """Member j = bicubic + fold net (j mod K) + its diffusion sample, before and after a file."""
    import copy

    from xdeepr.model.mean import member_folds, residual_mean

    f, l, s = sample_small
    m = xdeepr.train(
        f.isel(time=slice(0, 40)),
        l.isel(time=slice(0, 40)),
        s,
        steps=2,
        mean="regression",
        mean_steps=3,
        mean_folds=3,
        validate_every=0,
        **TINY,
    )
    assert m.regression_folds is not None and len(m.regression_folds) == 3
    assert "mod K" in m.summary["regression_mean"]["rule"]
    assert "(mean: regression, cross-fitted: member j about fold net j mod 3)" in repr(m)
    era5 = f.isel(time=slice(40, 43))
    members = list(range(5))
    kw = {"members": 5, "seed": 3, "progress": False, "calibrate": False}
    ens = era5.deepr.downscale(m, **kw)
    assert ens["member"].values.tolist() == members
    # the same noise (seeded by member), every member on the kept net's mean instead
    kept = copy.copy(m)
    kept.regression_folds = None
    same_noise = era5.deepr.downscale(kept, **kw)
    cond = m.condition(m.coarse_features(era5), validated=True).compute()
    from xdeepr.model.conditioning import calendar_features

    cal = calendar_features(era5["time"]).astype("float32")
    final = residual_mean(m, cond, cal)
    for j, fold in zip(members, member_folds(members, 3), strict=True):
        want = residual_mean(m, cond, cal, m.regression_folds[fold]) - final
        got = ens.t2m.sel(member=j) - same_noise.t2m.sel(member=j)
        # fields near 260 K: float32 steps of 3e-5 K in each of the two ensembles
        np.testing.assert_allclose(got.values, want.t2m.values, atol=2e-4)
    assert float(abs(ens.t2m.sel(member=0) - ens.t2m.sel(member=3)).max()) > 0  # noise differs
    # the fold nets travel in the file and give the same ensemble
    loaded = xdeepr.load_model(m.save(tmp_path / "m.xdeepr"))
    assert loaded.regression_folds is not None and len(loaded.regression_folds) == 3
    # equal but for float32 summation order (one step at 260 K is 3e-5 K)
    np.testing.assert_allclose(era5.deepr.downscale(loaded, **kw).t2m, ens.t2m, atol=1e-4)
    # the deterministic regression mean is the kept net's
    mean = era5.deepr.predict_mean(m)
    assert mean.t2m.dims == ("time", *ens.t2m.dims[2:])
