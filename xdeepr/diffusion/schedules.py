"""Noise schedules of the discrete-time variance-preserving diffusion.

The forward process is q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I), with
ᾱ_t = prod_{s<=t} (1 - β_s) for integer t in [0, T).  A schedule is just the
vector of β_t; everything else is derived from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SCHEDULE_NAMES", "NoiseSchedule", "make_schedule"]

SCHEDULE_NAMES = ("linear", "cosine")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete noise schedule β_1..β_T (stored 0-based, float64).

    Parameters
    ----------
    betas : torch.Tensor
        Variances β_t of the forward steps, shape ``(T,)``, each in (0, 1].
        Stored as float64 on the CPU.
    name : str
        How the schedule was made (``"linear"``, ``"cosine"`` or ``"custom"``).
    beta_start, beta_end : float
        The linear schedule's end points (kept for :meth:`to_dict`).
    zero_terminal_snr : bool
        Whether the schedule was rescaled so that ᾱ at the last step is 0.

    Examples
    --------
    >>> s = make_schedule("linear", 1000)
    >>> s.num_steps
    1000
    >>> float(s.alphas_cumprod[0])
    0.9999
    """

    betas: torch.Tensor
    name: str = "custom"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    zero_terminal_snr: bool = False

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(
                f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}"
            )
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("every beta must lie in (0, 1]")
        object.__setattr__(self, "betas", betas)

    @property
    def num_steps(self) -> int:
        """Number of diffusion steps T."""
        return int(self.betas.shape[0])

    @property
    def alphas(self) -> torch.Tensor:
        """α_t = 1 - β_t, shape ``(T,)``."""
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = prod_{s<=t} α_s, shape ``(T,)``, decreasing."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def sqrt_alphas_cumprod(self) -> torch.Tensor:
        """sqrt(ᾱ_t): the signal scale α_t of the VP process, shape ``(T,)``."""
        return self.alphas_cumprod.sqrt()

    @property
    def sqrt_one_minus_alphas_cumprod(self) -> torch.Tensor:
        """sqrt(1 - ᾱ_t): the noise scale σ_t of the VP process, shape ``(T,)``."""
        return (1.0 - self.alphas_cumprod).clamp(min=0.0).sqrt()

    @property
    def log_snr(self) -> torch.Tensor:
        """log SNR = log(ᾱ_t / (1 - ᾱ_t)) = 2 λ_t, shape ``(T,)`` (−inf where ᾱ_t = 0)."""
        ab = self.alphas_cumprod
        return torch.log(ab) - torch.log1p(-ab)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python description, loadable with ``torch.load(weights_only=True)``.

        Returns
        -------
        dict
            ``name``, ``num_steps``, ``zero_terminal_snr``, ``beta_start``,
            ``beta_end``; a ``"custom"`` schedule adds ``betas`` as a list.

        Examples
        --------
        >>> s = make_schedule("cosine", 50)
        >>> NoiseSchedule.from_dict(s.to_dict()).num_steps
        50
        """
        out: dict[str, Any] = {
            "name": self.name,
            "num_steps": self.num_steps,
            "zero_terminal_snr": bool(self.zero_terminal_snr),
            "beta_start": float(self.beta_start),
            "beta_end": float(self.beta_end),
        }
        if self.name not in SCHEDULE_NAMES:
            out["betas"] = [float(b) for b in self.betas]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseSchedule:
        """Rebuild a schedule from :meth:`to_dict` output.

        Examples
        --------
        >>> NoiseSchedule.from_dict({"name": "linear", "num_steps": 10}).num_steps
        10
        """
        d = dict(d)
        if "betas" in d:
            return cls(
                betas=torch.tensor(d["betas"], dtype=torch.float64),
                name=str(d.get("name", "custom")),
                beta_start=float(d.get("beta_start", 1e-4)),
                beta_end=float(d.get("beta_end", 0.02)),
                zero_terminal_snr=bool(d.get("zero_terminal_snr", False)),
            )
        return make_schedule(
            str(d.get("name", "linear")),
            int(d.get("num_steps", 1000)),
            beta_start=float(d.get("beta_start", 1e-4)),
            beta_end=float(d.get("beta_end", 0.02)),
            zero_terminal_snr=bool(d.get("zero_terminal_snr", False)),
        )

    def __repr__(self) -> str:
        ab = self.alphas_cumprod
        return (
            f"NoiseSchedule(name={self.name!r}, num_steps={self.num_steps}, "
            f"zero_terminal_snr={self.zero_terminal_snr}, "
            f"alpha_bar=[{float(ab[0]):.4g} .. {float(ab[-1]):.4g}])"
        )


def _cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    # Nichol & Dhariwal 2021, eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2)
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    # β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped at 0.999 to avoid the singularity at t = T
    return (1.0 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def _rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    # Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Alg. 1
    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_abar[0].clone(), sqrt_abar[-1].clone()
    sqrt_abar = (sqrt_abar - last) * first / (first - last)  # shift to 0 at T, keep value at 1
    abar = sqrt_abar**2
    alphas = torch.cat([abar[:1], abar[1:] / abar[:-1]])
    return 1.0 - alphas


def make_schedule(
    name: str = "linear",
    num_steps: int = 1000,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    zero_terminal_snr: bool = False,
) -> NoiseSchedule:
    """Build a named noise schedule.

    Parameters
    ----------
    name : {"linear", "cosine"}
        ``"linear"``: β linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020,
        the DeepR seed's 1e-4 → 0.02 over 1000 steps). ``"cosine"``: Nichol &
        Dhariwal 2021, with β clipped at 0.999.
    num_steps : int
        Number of diffusion steps T.
    beta_start, beta_end : float
        End points of the linear schedule (ignored by ``"cosine"``).
    zero_terminal_snr : bool
        Rescale so that ᾱ_T = 0 exactly (Lin et al. 2024, Alg. 1). Sampling
        from such a schedule needs ``prediction="v"``.

    Returns
    -------
    NoiseSchedule

    Raises
    ------
    ValueError
        For an unknown name or a non-positive ``num_steps``.

    Examples
    --------
    >>> s = make_schedule("linear", 1000)
    >>> round(float(s.betas[0]), 6), round(float(s.betas[-1]), 6)
    (0.0001, 0.02)
    >>> float(make_schedule("cosine", 100, zero_terminal_snr=True).alphas_cumprod[-1])
    0.0
    """
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"unknown noise schedule {name!r}; valid names are {list(SCHEDULE_NAMES)}")
    num_steps = int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps}")
    if name == "linear":
        if not 0 < beta_start <= beta_end <= 1:
            raise ValueError(
                f"need 0 < beta_start <= beta_end <= 1, got beta_start={beta_start}, "
                f"beta_end={beta_end}"
            )
        betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    else:
        betas = _cosine_betas(num_steps)
    if zero_terminal_snr:
        betas = _rescale_zero_terminal_snr(betas)
    return NoiseSchedule(
        betas=betas,
        name=name,
        beta_start=float(beta_start),
        beta_end=float(beta_end),
        zero_terminal_snr=bool(zero_terminal_snr),
    )
