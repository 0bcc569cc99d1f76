"""xdeepr.distill: one-pass students, their sampler, the almost fair CRPS loss.

Tiny networks (4 channels, 2 levels, the 20x32 sample grid padded to 20x32), a few
steps: plumbing and contracts, not skill (the skill is measured by
``python -m benchmarks distill``; the slow test below checks it beats bicubic).
Tolerances: eager against dask-chunked sampling agree to 1e-4 K (float32 network
arithmetic in batches of other sizes); save/load round trips are exact.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr.diffusion import SAMPLERS, make_schedule, timesteps
from xdeepr.diffusion.crps import almost_fair_crps
from xdeepr.diffusion.onepass import generate
from xdeepr.errors import ConfigError, InputError

TINY = {
    "n_channels": 4,
    "channel_multipliers": (1, 2),
    "is_attention": (False, False),
    "batch_size": 4,
    "progress": False,
    "validation_times": 2,
    "validation_members": 2,
}
FAST = {"steps": 3, "batch_size": 2, "crps_members": 2, "progress": False}
FAST_VAL = {"validation_times": 2, "validation_members": 2}


@pytest.fixture(scope="module")
def data():
    return xdeepr.datasets.load_sample(periods=40)


@pytest.fixture(scope="module")
def teacher(data):
    f, l, s = data
    return xdeepr.train(f, l, s, steps=3, **TINY)


@pytest.fixture(scope="module")
def student(teacher, data):
    f, l, _ = data
    return xdeepr.distill(teacher, f, l, evaluations=2, **FAST, **FAST_VAL)


# ------------------------------------------------------------------ the loss
def test_fair_crps_matches_hand_computation_and_metrics():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 1, 2, 2, generator=gen)  # (B, M, C, H, W)
    y = torch.randn(3, 1, 2, 2, generator=gen)
    # by hand at one pixel: mean |x - y| - sum_{j,k} |x_j - x_k| / (2 M (M - 1))
    xs, ys = x[1, :, 0, 1, 0].tolist(), float(y[1, 0, 1, 0])
    m = len(xs)
    skill = sum(abs(a - ys) for a in xs) / m
    pairs = sum(abs(a - b) for a in xs for b in xs)
    fair_point = skill - pairs / (2 * m * (m - 1))
    std_point = skill - pairs / (2 * m * m)
    per_pixel = almost_fair_crps(x, y, alpha=1.0, reduce=False)
    assert float(per_pixel[1, 0, 1, 0]) == pytest.approx(fair_point, rel=1e-5)
    standard = almost_fair_crps(x, y, alpha=0.0, reduce=False)
    assert float(standard[1, 0, 1, 0]) == pytest.approx(std_point, rel=1e-5)
    mix = almost_fair_crps(x, y, alpha=0.95, reduce=False)[1, 0, 1, 0]
    assert float(mix) == pytest.approx(0.95 * fair_point + 0.05 * std_point, rel=1e-5)
    # the metrics module's fair CRPS (sorting estimator) agrees over all pixels
    obs = xr.DataArray(y[:, 0].numpy(), dims=("time", "y", "x"))
    ens = xr.DataArray(x[:, :, 0].numpy(), dims=("time", "member", "y", "x"))
    fair = float(xdeepr.metrics.crps_ensemble(obs, ens, fair=True))
    assert float(almost_fair_crps(x, y, alpha=1.0)) == pytest.approx(fair, rel=1e-5)


def test_fair_crps_rewards_the_right_spread_and_refuses_bad_input():
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(4000, 1)  # truth ~ N(0, 1); members from N(0, s^2)

    def score(s: float) -> float:
        return float(almost_fair_crps(s * torch.randn(4000, 4, 1, generator=gen), y))

    assert score(1.0) < score(0.3) and score(1.0) < score(2.0)
    with pytest.raises(ValueError, match="M >= 2"):
        almost_fair_crps(torch.zeros(2, 1, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="truth has shape"):
        almost_fair_crps(torch.zeros(2, 2, 3), torch.zeros(2, 4))


# ------------------------------------------------------------------ the sampler
@pytest.mark.parametrize("n", [1, 2])
def test_onepass_calls_the_network_n_times_and_is_differentiable(n):
    s = make_schedule("cosine", 1000)
    w = torch.tensor(0.5, requires_grad=True)
    calls = []

    def fn(x, t):
        calls.append(float(t[0]))
        return w * x

    x = generate(fn, torch.randn(2, 1, 4, 4), s, timesteps(1000, n), prediction="v")
    assert calls == [float(t) for t in timesteps(1000, n)]
    x.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad)
    assert "onepass" in SAMPLERS


# ------------------------------------------------------------------ the student
class _Counting(torch.nn.Module):
    """Wraps a network and counts its forward calls (per batch item)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.items = net, 0

    def forward(self, x, t, *args, **kwargs):
        self.items += x.shape[0]
        return self.net(x, t, *args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.net, name)


def test_student_costs_its_evaluations_per_member(student, data):
    f = data[0].isel(time=slice(0, 2))
    assert student.default_sampler == "onepass" and student.default_steps() == 2
    counting = _Counting(student.network)
    view = copy.copy(student)
    view.network = counting
    out = f.deepr.downscale(view, members=3, seed=0, progress=False, batch_size=6)
    assert out.attrs["xdeepr_sampler"] == "onepass" and out.attrs["xdeepr_steps"] == 2
    assert counting.items == 2 * 3 * 2  # evaluations x members x times


def test_student_members_differ_and_reproduce(student, data):
    f = data[0].isel(time=slice(0, 2))
    a = f.deepr.downscale(student, members=3, seed=5, progress=False)
    b = f.deepr.downscale(student, members=3, seed=5, progress=False)
    c = f.deepr.downscale(student, members=3, seed=6, progress=False)
    assert np.array_equal(a.t2m.values, b.t2m.values)
    assert not np.allclose(a.t2m.values, c.t2m.values)
    spread = float(a.t2m.std("member").mean())
    assert spread > 1e-3  # members differ: the noise is the generator's input


def test_student_eager_equals_dask_chunks(student, data):
    f = data[0].isel(time=slice(0, 4))
    eager = f.deepr.downscale(student, members=3, seed=2, progress=False)
    lazy = f.chunk(time=1).deepr.downscale(student, members=3, seed=2, progress=False)
    np.testing.assert_allclose(lazy.t2m.values, eager.t2m.values, atol=1e-4)
    one = f.isel(time=[2]).deepr.downscale(student, members=3, seed=2, progress=False)
    np.testing.assert_allclose(one.t2m.values[:, 0], eager.t2m.values[:, 2], atol=1e-4)


def test_student_round_trips_through_save_and_load(student, data, tmp_path):
    path = student.save(tmp_path / "student.xdeepr")
    back = xdeepr.load_model(path)
    assert back.identity == student.identity
    assert back.config["distillation"]["evaluations"] == 2
    assert back.default_sampler == "onepass" and back.default_steps() == 2
    f = data[0].isel(time=slice(0, 2))
    a = f.deepr.downscale(student, members=2, seed=1, progress=False)
    b = f.deepr.downscale(back, members=2, seed=1, progress=False)
    np.testing.assert_array_equal(a.t2m.values, b.t2m.values)
    assert student.summary["teacher_validation"]["val_crps"] > 0
    assert student.summary["validation"]["records"][0]["step"] == 0.0


def test_distill_refuses_what_it_cannot_distil(teacher, data):
    f, l, _ = data
    eps = copy.copy(teacher)  # a teacher that predicts epsilon
    eps.prediction = "epsilon"
    with pytest.raises(InputError, match="prediction='v'"):
        xdeepr.distill(eps, f, l, **FAST)
    regression = copy.copy(teacher)
    regression.regression = teacher.network  # stands for a regression-mean network
    with pytest.raises(InputError, match="mean is 'regression'"):
        xdeepr.distill(regression, f, l, **FAST)
    with pytest.raises(ConfigError, match="1 or 2"):
        xdeepr.distill(teacher, f, l, evaluations=3, **FAST)
    with pytest.raises(ConfigError, match="belong to the teacher"):
        xdeepr.distill(teacher, f, l, n_channels=8, **FAST)
    with pytest.raises(InputError, match="lack the teacher's variables"):
        xdeepr.distill(teacher, f.rename(t2m="tas"), l, **FAST)
    with pytest.raises(TypeError, match="DownscalingModel"):
        xdeepr.distill("model.xdeepr", f, l, **FAST)


def test_distill_refuses_a_student_and_guidance(student, data):
    f, l, _ = data
    with pytest.raises(InputError, match="already a distilled student"):
        xdeepr.distill(student, f, l, **FAST)
    opts = xdeepr.SamplingOptions(guidance=1.0)
    with pytest.raises(InputError, match="'onepass' sampler"):
        opts.resolve(student, observations=True)
    assert xdeepr.SamplingOptions().resolve(student, observations=True).guidance == 0.0


@pytest.mark.slow
def test_student_beats_bicubic_in_crps():
    """A small teacher and its one-pass student on the sample: CRPS below bicubic's MAE."""
    f, l, s = xdeepr.datasets.load_sample(periods=400)
    tr, te = slice(0, 360), slice(360, 400)
    small = {**TINY, "n_channels": 8, "batch_size": 8, "validation_times": 4}
    teacher = xdeepr.train(f.isel(time=tr), l.isel(time=tr), s, steps=150, **small)
    student = xdeepr.distill(
        teacher, f.isel(time=tr), l.isel(time=tr), steps=100, learning_rate=1e-3, **FAST_VAL
    )
    ens = f.isel(time=te).deepr.downscale(student, members=8, seed=0, progress=False)
    truth = l.isel(time=te)
    crps = float(xdeepr.metrics.crps_ensemble(truth.t2m, ens.t2m, fair=True))
    bicubic = f.isel(time=te).deepr.interpolate(truth)
    mae = float(abs(bicubic.t2m - truth.t2m).mean())
    assert crps < mae


def test_cli_distill_writes_a_student_and_refuses_one_as_teacher(teacher, data, tmp_path, capsys):
    from xdeepr.cli import main

    f, l, _ = data
    teacher.save(tmp_path / "teacher.xdeepr")
    f.to_netcdf(tmp_path / "f.nc")
    l.to_netcdf(tmp_path / "l.nc")
    sets = ["steps=1", "batch_size=2", "crps_members=2", "validation_times=2"]
    args = [str(tmp_path / n) for n in ("teacher.xdeepr", "f.nc", "l.nc")]
    out = tmp_path / "student.xdeepr"
    opts = [a for s in sets for a in ("--set", s)]
    assert (
        main(["distill", *args, "-o", str(out), "-q", *opts, "--set", "validation_members=2"]) == 0
    )
    student = xdeepr.load_model(out)
    assert student.default_sampler == "onepass" and student.default_steps() == 1
    again = ["distill", str(out), *args[1:], "-o", str(tmp_path / "s2.xdeepr"), "-q", *opts]
    assert main(again) == 2  # bad input: one line naming the problem
    assert "already a distilled student" in capsys.readouterr().err


# ------------------------------------------------- train's crps_finetune_steps stage
def test_train_crps_finetune_stage_returns_the_distilled_student(teacher, data):
    """``train(..., crps_finetune_steps=n)`` is ``distill(train(...), steps=n)``."""
    f, l, s = data
    student = xdeepr.train(f, l, s, steps=3, crps_finetune_steps=2, crps_members=2, **TINY)
    assert student.config["distillation"]["method"] == "crps"
    # the stage's teacher is this run's trained model (its config records the stage)
    assert student.config["distillation"]["teacher"] != teacher.identity
    assert student.default_sampler == "onepass" and student.default_steps() == 1
    assert student.config["steps"] == 2 and student.config["crps_members"] == 2
    alone = xdeepr.distill(teacher, f, l, s, steps=2, crps_members=2, progress=False, **FAST_VAL)
    for (name, a), b in zip(
        student.network.state_dict().items(), alone.network.state_dict().values()
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    ens = f.isel(time=[0]).deepr.downscale(student, members=2, progress=False)
    assert np.isfinite(ens.t2m.values).all()


def test_train_refuses_a_crps_finetune_stage_it_cannot_run(data):
    f, l, s = data
    with pytest.raises(ConfigError, match="crps_finetune_steps=2 needs prediction='v'"):
        xdeepr.train(f, l, s, crps_finetune_steps=2, prediction="epsilon", **TINY)
    with pytest.raises(ConfigError, match="mean='regression'"):
        xdeepr.train(f, l, s, crps_finetune_steps=2, mean="regression", **TINY)
    with pytest.raises(ConfigError, match="crps_finetune_steps"):
        xdeepr.TrainConfig(crps_finetune_steps=-1)
