"""Tests of noise schedules, the training loss and the samplers (xdeepr.diffusion)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xdeepr.diffusion import (
    DEFAULT_STEPS,
    SAMPLERS,
    NoiseSchedule,
    ddim,
    ddpm,
    diffusion_loss,
    dpm_solver_pp_2m,
    dpm_solver_pp_2m_sde,
    make_schedule,
    sample,
)
from xdeepr.diffusion.losses import predict_x0_eps
from xdeepr.diffusion.samplers import num_model_evals, timesteps

# Gaussian data x0 ~ N(MU, S²) iid per pixel: the exact denoiser is known in closed form.
MU, S = 1.5, 0.5
N_SAMPLES = 20_000
MEAN_TOL = 0.02  # ≈ 5.7 Monte Carlo standard errors (S / sqrt(N) = 0.0035)
STD_TOL = 0.03  # ≈ 12 standard errors (S / sqrt(2N) = 0.0025) + discretisation (DDIM-50: 0.028)

LINEAR = make_schedule("linear", 1000)
LINEAR_ZT = make_schedule("linear", 1000, zero_terminal_snr=True)
COSINE = make_schedule("cosine", 1000)


def gaussian_oracle(schedule: NoiseSchedule, prediction: str = "epsilon") -> Callable:
    """Exact E[ε | x_t] (or E[v | x_t]) for x0 ~ N(MU, S²)."""
    abar_all = schedule.alphas_cumprod

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.float32 and t.shape == (x.shape[0],)
        ab = abar_all[t.round().long()].to(x.dtype).view(-1, 1, 1, 1)  # ᾱ_t, (B, 1, 1, 1)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        denom = ab * S**2 + 1 - ab  # Var[x_t]
        eps = s * (x - a * MU) / denom  # E[ε | x_t]
        if prediction == "epsilon":
            return eps
        x0 = MU + a * S**2 * (x - a * MU) / denom  # E[x0 | x_t]
        return a * eps - s * x0  # E[v | x_t]

    return model_fn


def seeded_noise(shape: tuple[int, ...], seed: int) -> Callable[[int, torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return lambda i, like: torch.randn(shape, generator=gen)


def monte_carlo(schedule: NoiseSchedule, prediction: str, sampler: str, **kwargs) -> torch.Tensor:
    shape = (N_SAMPLES // 100, 1, 10, 10)  # (B, C, H, W): 20 000 iid pixels
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    return sample(
        gaussian_oracle(schedule, prediction),
        x_T,
        schedule,
        sampler=sampler,
        prediction=prediction,
        noise=seeded_noise(shape, 2),
        **kwargs,
    )


def exact_moments(
    schedule: NoiseSchedule, prediction: str, sampler: str, steps: int | None = None, eta=0.0
) -> tuple[float, float]:
    """Exact mean and std of a sampler's output on Gaussian data, without sampling.

    With the affine oracle every sampler is affine in x_T and in each step's noise,
    so item 0 (all zeros) gives the mean, item 1 (x_T = 1) the x_T coefficient and
    item 2 + i (noise only at step i) each noise coefficient.
    """
    n = num_model_evals(sampler, steps, schedule)
    x_T = torch.zeros(n + 2, 1, 1, 1, dtype=torch.float64)
    x_T[1] = 1.0

    def noise(i: int, like: torch.Tensor) -> torch.Tensor:
        z = torch.zeros_like(x_T)
        z[2 + i] = 1.0
        return z

    out = sample(
        gaussian_oracle(schedule, prediction),
        x_T,
        schedule,
        sampler=sampler,
        steps=steps,
        prediction=prediction,
        eta=eta,
        noise=noise,
    ).flatten()
    coefficients = out[1:] - out[0]
    return float(out[0]), float(coefficients.pow(2).sum().sqrt())


# --------------------------------------------------------------------------- schedules


def test_linear_schedule_matches_seed():
    assert LINEAR.num_steps == 1000
    assert LINEAR.betas.dtype == torch.float64
    assert float(LINEAR.betas[0]) == pytest.approx(1e-4)
    assert float(LINEAR.betas[-1]) == pytest.approx(0.02)
    assert float(LINEAR.alphas_cumprod[0]) == pytest.approx(1 - 1e-4)
    torch.testing.assert_close(LINEAR.sqrt_alphas_cumprod**2, LINEAR.alphas_cumprod)
    torch.testing.assert_close(
        LINEAR.sqrt_one_minus_alphas_cumprod**2 + LINEAR.alphas_cumprod,
        torch.ones(1000, dtype=torch.float64),
    )


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["linear", "cosine"]),
    num_steps=st.integers(2, 2000),
    zero_terminal_snr=st.booleans(),
)
def test_alpha_bar_strictly_decreasing_in_unit_interval(name, num_steps, zero_terminal_snr):
    s = make_schedule(name, num_steps, zero_terminal_snr=zero_terminal_snr)
    ab = s.alphas_cumprod
    assert s.num_steps == num_steps
    assert bool((ab[1:] < ab[:-1]).all())
    assert 0 < float(ab[0]) < 1
    assert float(ab[-1]) >= 0
    assert bool(((s.betas > 0) & (s.betas <= 1)).all())


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_zero_terminal_snr(name):
    base = make_schedule(name, 1000)
    zt = make_schedule(name, 1000, zero_terminal_snr=True)
    assert float(zt.alphas_cumprod[-1]) == 0.0
    assert float(zt.betas[-1]) == pytest.approx(1.0)
    assert float(zt.log_snr[-1]) == -math.inf
    # Lin et al. 2024, Alg. 1 keeps sqrt(ᾱ_0) unchanged
    assert float(zt.alphas_cumprod[0]) == pytest.approx(float(base.alphas_cumprod[0]))
    assert float(base.alphas_cumprod[-1]) > 0


def test_cosine_schedule_follows_nichol_dhariwal():
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    f0 = math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    unclipped = COSINE.betas < 0.999
    torch.testing.assert_close(COSINE.alphas_cumprod[unclipped], (f / f0)[unclipped])
    assert float(COSINE.betas.max()) == pytest.approx(0.999)


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(ValueError, match=r"'quadratic'.*\['linear', 'cosine'\]"):
        make_schedule("quadratic")
    with pytest.raises(ValueError, match="num_steps"):
        make_schedule("linear", 0)


@pytest.mark.parametrize(
    "schedule",
    [LINEAR, COSINE, LINEAR_ZT, NoiseSchedule(torch.tensor([0.1, 0.2, 0.5]))],
    ids=["linear", "cosine", "linear-zt", "custom"],
)
def test_schedule_dict_round_trip(schedule, tmp_path):
    d = schedule.to_dict()
    assert all(type(v) in (str, int, float, bool, list) for v in d.values())
    torch.save(d, tmp_path / "s.pt")
    back = NoiseSchedule.from_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    torch.testing.assert_close(back.betas, schedule.betas, rtol=0, atol=0)
    assert back.to_dict() == d


def test_schedule_validation():
    with pytest.raises(ValueError, match="1-D"):
        NoiseSchedule(torch.zeros(2, 2) + 0.1)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        NoiseSchedule(torch.tensor([0.0, 0.1]))


# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_loss_is_zero_for_an_oracle(prediction):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 2, 8, 8, generator=gen)
    eps = torch.randn(8, 2, 8, 8, generator=gen)
    abar = LINEAR.alphas_cumprod

    def oracle(x_t, t):
        ab = abar[t.long()].float().view(-1, 1, 1, 1)
        return eps if prediction == "epsilon" else ab.sqrt() * eps - (1 - ab).sqrt() * x0

    loss, info = diffusion_loss(oracle, x0, LINEAR, prediction=prediction, noise=eps, generator=gen)
    assert float(loss) < 1e-10
    assert info["t"].shape == (8,) and info["t"].dtype == torch.long
    assert info["loss_per_sample"].shape == (8,)


def test_loss_samples_t_uniformly_and_reproducibly():
    x0 = torch.zeros(4000, 1, 2, 2)
    loss_a, info_a = diffusion_loss(
        lambda x, t: torch.zeros_like(x), x0, LINEAR, generator=torch.Generator().manual_seed(3)
    )
    loss_b, info_b = diffusion_loss(
        lambda x, t: torch.zeros_like(x), x0, LINEAR, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(info_a["t"], info_b["t"])
    assert float(loss_a) == float(loss_b)
    t = info_a["t"]
    assert int(t.min()) >= 0 and int(t.max()) <= 999
    assert t.float().mean().item() == pytest.approx(499.5, abs=20)
    assert float(loss_a) == pytest.approx(1.0, abs=0.05)  # E[ε²] = 1 for a zero predictor


def test_loss_forms_x_t_from_the_schedule():
    x0, eps = torch.full((2, 1, 4, 4), 2.0), torch.full((2, 1, 4, 4), -1.0)
    t = torch.tensor([0, 999])
    seen = {}

    def model_fn(x_t, t_in):
        seen["x_t"], seen["t"] = x_t, t_in
        return torch.zeros_like(x_t)

    diffusion_loss(model_fn, x0, LINEAR, t=t, noise=eps)
    ab = LINEAR.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(seen["x_t"], ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    assert seen["t"].dtype == torch.float32


def test_loss_trains_a_unet():
    from xdeepr.nn import UNet

    torch.manual_seed(0)
    net = UNet(n_channels=8, channel_multipliers=(1, 2), is_attention=(False, True), n_blocks=1)
    calendar = torch.rand(2, 2)
    model_fn = lambda x, t: net(x, t, calendar=calendar)  # noqa: E731
    loss, _ = diffusion_loss(model_fn, torch.randn(2, 1, 8, 8), LINEAR, prediction="v")
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_loss_errors():
    x0 = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"'x0'.*\['epsilon', 'v'\]"):
        diffusion_loss(lambda x, t: x, x0, LINEAR, prediction="x0")
    with pytest.raises(ValueError, match="one step per batch item"):
        diffusion_loss(lambda x, t: x, x0, LINEAR, t=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1000\)"):
        diffusion_loss(lambda x, t: x, x0, LINEAR, t=torch.tensor([1, 1000]))


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_predict_x0_eps_inverts_the_forward_process(prediction):
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 1, 4, 4, generator=gen), torch.randn(3, 1, 4, 4, generator=gen)
    ab = torch.tensor([0.999, 0.5, 0.001]).view(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    out = eps if prediction == "epsilon" else ab.sqrt() * eps - (1 - ab).sqrt() * x0
    x0_hat, eps_hat = predict_x0_eps(out, x_t, ab.flatten(), prediction)
    torch.testing.assert_close(x0_hat, x0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(eps_hat, eps, atol=1e-4, rtol=1e-4)


def test_epsilon_prediction_refuses_zero_snr():
    with pytest.raises(ValueError, match="prediction='v'"):
        predict_x0_eps(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), 0.0, "epsilon")
    with pytest.raises(ValueError, match="prediction='v'"):
        sample(gaussian_oracle(LINEAR_ZT), torch.zeros(1, 1, 2, 2), LINEAR_ZT, sampler="ddim")


# --------------------------------------------------------------------------- samplers


@pytest.mark.parametrize(
    ("sampler", "schedule", "prediction"),
    [
        ("ddpm", LINEAR, "epsilon"),  # all 1000 steps
        ("ddim", LINEAR, "epsilon"),
        ("dpm++2m", LINEAR, "epsilon"),
        # the default sampler's 10 steps were chosen for the default cosine + v setting
        ("dpm++2m-sde", COSINE, "v"),
    ],
)
def test_gaussian_closed_form_default_steps(sampler, schedule, prediction):
    out = monte_carlo(schedule, prediction, sampler)
    assert out.dtype == torch.float32
    assert abs(out.mean().item() - MU) < MEAN_TOL
    assert abs(out.std().item() - S) < STD_TOL


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++2m", "dpm++2m-sde"])
def test_gaussian_closed_form_v_prediction_zero_terminal_snr(sampler):
    steps = 20 if sampler == "dpm++2m-sde" else None  # its default 10 suits cosine, not linear
    out = monte_carlo(LINEAR_ZT, "v", sampler, steps=steps)
    assert abs(out.mean().item() - MU) < MEAN_TOL
    assert abs(out.std().item() - S) < STD_TOL


def test_gaussian_closed_form_ddim_eta_one():
    # η = 1 is ancestral sampling with the posterior variance β̃, too narrow on few
    # steps (std 0.444 at 50 steps, see the exact test below); 250 steps is within STD_TOL
    out = monte_carlo(COSINE, "v", "ddim", steps=250, eta=1.0)
    assert abs(out.mean().item() - MU) < MEAN_TOL
    assert abs(out.std().item() - S) < STD_TOL


@pytest.mark.parametrize(
    ("schedule", "prediction", "sampler", "steps", "eta", "mean_tol", "std_tol"),
    [
        # linear schedule: x_T ~ N(0, 1) ignores sqrt(ᾱ_T) MU ≈ 0.0095, mean bias ≈ 0.005
        (LINEAR, "epsilon", "ddpm", None, 0.0, 1e-4, 0.002),
        (LINEAR, "epsilon", "ddim", 1000, 0.0, 0.006, 0.002),
        (LINEAR, "epsilon", "dpm++2m", 50, 0.0, 0.006, 0.001),
        (LINEAR_ZT, "v", "ddpm", None, 0.0, 1e-6, 0.002),
        (LINEAR_ZT, "v", "dpm++2m", 50, 0.0, 1e-6, 0.001),
        (COSINE, "v", "dpm++2m", 20, 0.0, 1e-4, 0.002),
        (COSINE, "epsilon", "ddim", 1000, 1.0, 1e-4, 0.005),
        (LINEAR, "epsilon", "dpm++2m-sde", 1000, 0.0, 1e-4, 0.001),
        (LINEAR_ZT, "v", "dpm++2m-sde", 500, 0.0, 1e-6, 0.001),
        (COSINE, "v", "dpm++2m-sde", 200, 0.0, 1e-4, 0.002),
    ],
)
def test_gaussian_exact_moments_converge(
    schedule, prediction, sampler, steps, eta, mean_tol, std_tol
):
    mean, std = exact_moments(schedule, prediction, sampler, steps, eta)
    assert abs(mean - MU) < mean_tol
    assert abs(std - S) < std_tol


def test_sde_solver_forgets_the_initial_mismatch():
    """x_T ~ N(0, 1) ignores the signal left at T on the linear schedule: the ODE solvers
    carry that error to the end (mean bias ≈ 0.005), the SDE solver's noise washes it out."""
    ode_mean, _ = exact_moments(LINEAR, "epsilon", "dpm++2m", 20)
    sde_mean, sde_std = exact_moments(LINEAR, "epsilon", "dpm++2m-sde", 20)
    assert abs(ode_mean - MU) > 0.004
    assert abs(sde_mean - MU) < 1e-4
    assert abs(sde_std - S) < 0.02  # 20 steps: within 3 % of the target spread


@pytest.mark.parametrize(("sampler", "ratio"), [("ddim", 0.6), ("dpm++2m", 0.3)])
def test_ode_samplers_converge_with_steps(sampler, ratio):
    # doubling the steps: DDIM is first order (error ≈ halves), DPM-Solver++(2M) second order
    errors = [abs(exact_moments(LINEAR, "epsilon", sampler, n)[1] - S) for n in (5, 10, 20, 40)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < ratio * errors[-2]


@pytest.mark.parametrize(
    ("sampler", "eta"), [("ddpm", 0.0), ("ddim", 1.0), ("dpm++2m", 0.0), ("dpm++2m-sde", 0.0)]
)
def test_same_noise_gives_same_output(sampler, eta):
    shape = (3, 1, 8, 8)
    model_fn = gaussian_oracle(LINEAR)
    steps = 30

    def run(seed):
        x_T = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        return sample(
            model_fn,
            x_T,
            LINEAR,
            sampler=sampler,
            steps=steps,
            eta=eta,
            noise=seeded_noise(shape, seed + 100),
        )

    torch.testing.assert_close(run(0), run(0), rtol=0, atol=0)
    assert not torch.allclose(run(0), run(1))


def test_model_sees_float_timesteps_and_progress_counts_steps():
    seen: list[torch.Tensor] = []

    def model_fn(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    calls: list[int] = []
    for sampler, steps in [
        ("ddpm", None),
        ("ddim", 7),
        ("dpm++2m", 20),
        ("ddpm", 10),
        ("dpm++2m-sde", 9),
    ]:
        seen.clear()
        calls.clear()
        sample(
            model_fn,
            torch.zeros(2, 1, 4, 4),
            LINEAR,
            sampler=sampler,
            steps=steps,
            progress=calls.append,
        )
        expected = num_model_evals(sampler, steps, LINEAR)
        assert len(seen) == expected == sum(calls)
        assert all(t.shape == (2,) and t.dtype == torch.float32 for t in seen)
        assert float(seen[0][0]) == 999.0
        values = [float(t[0]) for t in seen]
        assert values == sorted(values, reverse=True) and values[-1] >= 0


def test_timesteps_grid():
    assert timesteps(1000, 20)[:3] == [999, 949, 899]
    assert timesteps(10, None) == list(range(9, -1, -1))
    assert len(set(timesteps(1000, 333))) == 333
    with pytest.raises(ValueError, match="between 1 and the schedule's 1000 steps"):
        timesteps(1000, 1001)


def test_samplers_run_without_grad_and_keep_dtype():
    weight = torch.nn.Parameter(torch.tensor(0.1))

    def model_fn(x, t):
        return weight * x

    x_T = torch.randn(2, 1, 4, 4)
    for fn, kwargs in [
        (ddpm, 5),
        (ddim, 5),
        (dpm_solver_pp_2m, 20),
        (dpm_solver_pp_2m_sde, 4),
    ]:
        out = fn(model_fn, x_T, LINEAR, timesteps(1000, kwargs))
        assert out.dtype == torch.float32 and not out.requires_grad
        assert out.shape == x_T.shape


def test_registry_and_dispatch_errors():
    names = {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde", "onepass"}
    assert set(SAMPLERS) == set(DEFAULT_STEPS) == names
    want = {"ddpm": None, "ddim": 50, "dpm++2m": 20, "dpm++2m-sde": 10, "onepass": 1}
    assert want == DEFAULT_STEPS
    assert num_model_evals("ddpm", None, LINEAR) == 1000
    x_T = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"'heun'.*\['ddpm', 'ddim', 'dpm\+\+2m', "):
        sample(lambda x, t: x, x_T, LINEAR, sampler="heun")
    with pytest.raises(ValueError, match="eta applies only"):
        sample(lambda x, t: x, x_T, LINEAR, sampler="dpm++2m", eta=0.5)
    with pytest.raises(ValueError, match=r"noise\(0\) has shape"):
        sample(
            lambda x, t: x,
            x_T,
            LINEAR,
            sampler="ddpm",
            steps=3,
            noise=lambda i, like: torch.zeros(2, 1, 4, 4),
        )
