"""Tests of the denoising U-Net (xdeepr.nn)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdeepr.nn import UNet

TINY = {"n_channels": 8, "channel_multipliers": (1, 2, 2, 4), "n_blocks": 1}


@pytest.fixture(scope="module")
def tiny_net() -> UNet:
    torch.manual_seed(0)
    return UNet(image_channels=2, conditioned_on_input=3, **TINY).eval()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.integers(1, 3),
    h=st.integers(1, 5).map(lambda k: 8 * k),
    w=st.integers(1, 5).map(lambda k: 8 * k),
    t_float=st.booleans(),
)
def test_output_shape_matches_input(tiny_net: UNet, batch: int, h: int, w: int, t_float: bool):
    x = torch.randn(batch, 2, h, w)  # (B, C, H, W)
    cond = torch.randn(batch, 3, h, w)
    t = torch.rand(batch) * 999 if t_float else torch.randint(0, 1000, (batch,))
    with torch.no_grad():
        out = tiny_net(x, t, cond, torch.rand(batch, 2))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_two_levels_accept_multiples_of_two():
    net = UNet(n_channels=8, channel_multipliers=(1, 2), is_attention=(False, True), n_blocks=1)
    x = torch.randn(1, 1, 6, 10)
    assert net(x, torch.tensor([1.0])).shape == x.shape


@pytest.mark.parametrize("shape", [(20, 32), (32, 12), (30, 30)])
def test_invalid_size_error_names_size_and_fix(tiny_net: UNet, shape: tuple[int, int]):
    h, w = shape
    with pytest.raises(ValueError, match=rf"{h}x{w}.*multiple of 8.*ds\.deepr\.pad\(levels=4\)"):
        tiny_net(torch.randn(1, 2, h, w), torch.tensor([0]), torch.randn(1, 3, h, w))


def test_condition_errors(tiny_net: UNet):
    x, t = torch.randn(2, 2, 16, 16), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="expects a condition with 3 channels"):
        tiny_net(x, t)
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\).*got \(2, 4, 16, 16\)"):
        tiny_net(x, t, torch.randn(2, 4, 16, 16))
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\).*got \(2, 3, 8, 16\)"):
        tiny_net(x, t, torch.randn(2, 3, 8, 16))
    unconditional = UNet(**TINY)
    with pytest.raises(ValueError, match="unconditional"):
        unconditional(torch.randn(1, 1, 16, 16), torch.tensor([1]), torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"x must be \(B, 2, H, W\)"):
        tiny_net(torch.randn(2, 1, 16, 16), t, torch.randn(2, 3, 16, 16))


def test_t_shape_error_and_scalar_t(tiny_net: UNet):
    x, cond = torch.randn(2, 2, 8, 8), torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"t must be a scalar or have shape \(2,\)"):
        tiny_net(x, torch.tensor([1.0, 2.0, 3.0]), cond)
    with torch.no_grad():
        a = tiny_net(x, torch.tensor(5.0), cond)
        b = tiny_net(x, torch.tensor([5.0, 5.0]), cond)
    torch.testing.assert_close(a, b)


def test_timestep_changes_output(tiny_net: UNet):
    x, cond = torch.randn(1, 2, 16, 16), torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        a = tiny_net(x, torch.tensor([10.0]), cond)
        b = tiny_net(x, torch.tensor([10.5]), cond)  # non-integer t from few-step solvers
    assert not torch.allclose(a, b)


def test_calendar_embedding_changes_output(tiny_net: UNet):
    x, t, cond = torch.randn(1, 2, 16, 16), torch.tensor([10]), torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        none = tiny_net(x, t, cond)
        noon = tiny_net(x, t, cond, torch.tensor([[0.5, 0.2]]))
        midnight = tiny_net(x, t, cond, torch.tensor([[0.0, 0.2]]))
        winter = tiny_net(x, t, cond, torch.tensor([[0.5, 0.99]]))
    assert not torch.allclose(none, noon)
    assert not torch.allclose(noon, midnight)
    assert not torch.allclose(noon, winter)
    with pytest.raises(ValueError, match=r"calendar must have shape \(1, 2\)"):
        tiny_net(x, t, cond, torch.tensor([0.5, 0.2]))


def test_calendar_is_cyclic(tiny_net: UNet):
    # hour 0 and hour 24 are the same instant of the cycle
    x, t, cond = torch.randn(1, 2, 8, 8), torch.tensor([3]), torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        a = tiny_net(x, t, cond, torch.tensor([[0.0, 0.0]]))
        b = tiny_net(x, t, cond, torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_calendar_disabled():
    net = UNet(calendar=False, **TINY)
    assert net.calendar_emb is None
    with pytest.raises(ValueError, match="calendar=False"):
        net(torch.randn(1, 1, 8, 8), torch.tensor([1]), calendar=torch.rand(1, 2))


def test_config_round_trip_rebuilds_identical_network(tmp_path):
    torch.manual_seed(1)
    net = UNet(
        image_channels=1,
        n_channels=8,
        channel_multipliers=(1, 2, 2),
        is_attention=(False, True, True),
        n_blocks=2,
        conditioned_on_input=2,
        dropout=0.1,
        calendar=True,
    ).eval()
    cfg = net.config
    assert cfg["channel_multipliers"] == [1, 2, 2]
    assert all(type(v) in (int, float, bool, list) for v in cfg.values())
    path = tmp_path / "net.pt"
    torch.save({"config": cfg, "state_dict": net.state_dict()}, path)
    saved = torch.load(path, weights_only=True)
    clone = UNet(**saved["config"])
    clone.load_state_dict(saved["state_dict"])
    clone.eval()
    assert clone.config == cfg
    x, cond = torch.randn(2, 1, 16, 8), torch.randn(2, 2, 16, 8)
    t, cal = torch.tensor([3.0, 700.0]), torch.rand(2, 2)
    with torch.no_grad():
        torch.testing.assert_close(clone(x, t, cond, cal), net(x, t, cond, cal), rtol=0, atol=0)


def test_config_is_a_copy():
    net = UNet(**TINY)
    net.config["n_channels"] = 999
    net.config["channel_multipliers"].append(8)
    assert net.config["n_channels"] == 8
    assert net.config["channel_multipliers"] == [1, 2, 2, 4]


def test_invalid_architecture_errors():
    with pytest.raises(ValueError, match="equal length"):
        UNet(channel_multipliers=(1, 2), is_attention=(False,))
    with pytest.raises(ValueError, match="even"):
        UNet(n_channels=7)


def test_attention_uses_sdpa_at_64x64(monkeypatch):
    import xdeepr.nn as nn_module

    calls: list[tuple[int, ...]] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, *args, **kwargs):
        calls.append(tuple(q.shape))
        return sdpa(q, k, v, *args, **kwargs)

    monkeypatch.setattr(nn_module.F, "scaled_dot_product_attention", spy)
    net = UNet(conditioned_on_input=1, **TINY)  # attention at 16×16 and 8×8 of a 64×64 input
    with torch.no_grad():
        out = net(torch.randn(1, 1, 64, 64), torch.tensor([1]), torch.randn(1, 1, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    token_counts = {shape[2] for shape in calls}
    assert token_counts == {16 * 16, 8 * 8}  # (B, heads, H·W, C) over pixels as tokens


def test_backward_reaches_all_parameters():
    torch.manual_seed(0)
    net = UNet(conditioned_on_input=1, **TINY)
    x = torch.randn(2, 1, 16, 16)
    out = net(x, torch.tensor([1, 500]), torch.randn(2, 1, 16, 16), torch.rand(2, 2))
    out.pow(2).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
