"""A DeepR model directory read safely: the network's weights and the training schedule.

DeepR's trainer writes ``model.save_pretrained(output_dir)`` (``config.json`` and
``diffusion_pytorch_model.safetensors``, or ``.bin`` in older runs) and
``noise_scheduler.save_pretrained(output_dir)`` (``scheduler_config.json``) into one
directory, which it pushes to a model hub. :func:`read_network` builds the
``UNet2DModel`` from ``config.json`` and loads its weights without running any code
from the directory: safetensors directly, a ``.bin`` only through
``torch.load(weights_only=True)`` (a file that needs more than tensors is refused).
:func:`read_schedule` turns ``scheduler_config.json`` into xdeepr's
:class:`~xdeepr.diffusion.NoiseSchedule` with the very betas diffusers computes, so
every xdeepr sampler runs on the schedule the network was trained with.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...diffusion import NoiseSchedule
from ...errors import ModelFileError
from .network import import_diffusers

__all__ = ["locate", "read_network", "read_schedule"]

_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
#: diffusers' smallest ᾱ for ε-prediction on a zero-terminal-SNR schedule (its Euler and
#: LMS schedulers set ᾱ_T = 2**-24, the smallest fp16 subnormal, so that σ_T is finite).
ZERO_SNR_ALPHA_BAR = 2.0**-24


def locate(model_dir: str | os.PathLike[str], revision: str | None = None) -> Path:
    """The local directory of `model_dir`: a folder, or a hub repository id downloaded.

    A string that is not an existing folder and looks like ``owner/name`` is fetched
    with ``huggingface_hub.snapshot_download`` (only ``*.json``, ``*.safetensors`` and
    ``*.bin`` files), when ``huggingface_hub`` is installed.

    Raises
    ------
    FileNotFoundError
        When `model_dir` is neither a folder nor a repository id that can be fetched.

    Examples
    --------
    >>> locate("predictia/europe_reanalysis_downscaler_diffuser")  # doctest: +SKIP
    PosixPath('/home/me/.cache/huggingface/hub/models--predictia--.../snapshots/...')
    """
    path = Path(model_dir)
    if path.is_dir():
        return path
    text = os.fspath(model_dir)
    if text.count("/") == 1 and not path.exists() and not text.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise FileNotFoundError(
                f"no folder {text!r}; to download it as a hub repository id, install "
                "huggingface_hub (pip install huggingface_hub), or download the repository "
                "yourself and pass its folder"
            ) from None
        patterns = ["*.json", "*.safetensors", "*.bin"]
        return Path(snapshot_download(text, revision=revision, allow_patterns=patterns))
    raise FileNotFoundError(f"no DeepR model folder at {text!r}")


def _find(root: Path, names: tuple[str, ...], sub: str) -> Path | None:
    for folder in (root, root / sub):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"DeepR file {str(path)!r} is not readable JSON: {err}") from None
    if not isinstance(value, dict):
        raise ModelFileError(f"DeepR file {str(path)!r} must hold a JSON object")
    return value


def _weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path`, read without running code from it."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as err:
            raise ModelFileError(f"DeepR weights {str(path)!r} are unreadable: {err}") from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as err:
        raise ModelFileError(
            f"refusing DeepR weights {str(path)!r}: the .bin file holds more than tensors, "
            f"and loading it could run code (torch.load(weights_only=True) said: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}); convert it to "
            "safetensors where you trust it (UNet2DModel.from_pretrained(folder)."
            "save_pretrained(folder, safe_serialization=True)) and import that"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ModelFileError(f"DeepR weights {str(path)!r} are not a mapping of tensors")
    return {str(k): v for k, v in state.items()}


def read_network(root: Path) -> tuple[Any, Path]:
    """The ``UNet2DModel`` of DeepR folder `root` with its weights, and the weights' file.

    Raises
    ------
    ImportError
        Without ``diffusers`` (naming the extra to install).
    FileNotFoundError
        When `root` (or its ``unet/`` folder) lacks ``config.json`` or the weights.
    ModelFileError
        For unreadable files, a ``.bin`` that needs unpickling, or weights that do
        not fit the configuration (the mismatching tensors named).
    """
    diffusers = import_diffusers("from_deepr")
    config_path = _find(root, ("config.json",), "unet")
    weights_path = _find(root, _WEIGHTS, "unet")
    if config_path is None or weights_path is None:
        raise FileNotFoundError(
            f"{str(root)!r} is not a DeepR model folder: it needs config.json and "
            f"{' or '.join(_WEIGHTS)} (as UNet2DModel.save_pretrained writes them)"
        )
    config = _read_json(config_path)
    kind = config.get("_class_name", "UNet2DModel")
    if kind != "UNet2DModel":
        raise ModelFileError(
            f"{str(config_path)!r} describes a {kind!r}; DeepR's diffusion networks are "
            "diffusers UNet2DModels"
        )
    unet = diffusers.UNet2DModel.from_config(config)
    state = _weights(weights_path)
    missing, extra = unet.load_state_dict(state, strict=False)
    if missing or extra:
        raise ModelFileError(
            f"the weights {str(weights_path)!r} do not fit {str(config_path)!r}: missing "
            f"{sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}"
        )
    return unet.float().eval(), weights_path


def _betas(cfg: Mapping[str, Any], source: str) -> torch.Tensor:
    """Betas as diffusers computes them (float32), from a scheduler configuration."""
    n = int(cfg.get("num_train_timesteps", 1000))
    start, end = float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02))
    kind = str(cfg.get("beta_schedule", "linear"))
    if cfg.get("trained_betas") is not None:
        return torch.tensor(cfg["trained_betas"], dtype=torch.float32)
    if kind == "linear":  # diffusers: torch.linspace(start, end, T, dtype=float32)
        return torch.linspace(start, end, n, dtype=torch.float32)
    if kind == "scaled_linear":
        return torch.linspace(start**0.5, end**0.5, n, dtype=torch.float32) ** 2
    if kind == "squaredcos_cap_v2":  # Nichol & Dhariwal 2021, β clipped at 0.999

        def abar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor(
            [min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)],
            dtype=torch.float32,
        )
    raise ModelFileError(
        f"{source}: beta_schedule {kind!r} is not one xdeepr reads ('linear', 'scaled_linear', "
        "'squaredcos_cap_v2' or trained_betas)"
    )


def _rescale_zero_snr(betas: torch.Tensor) -> torch.Tensor:
    # Lin et al. 2024, Alg. 1, in float32 as diffusers' rescale_zero_terminal_snr
    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_abar[0].clone(), sqrt_abar[-1].clone()
    sqrt_abar = (sqrt_abar - last) * first / (first - last)
    abar = sqrt_abar**2
    return 1.0 - torch.cat([abar[:1], abar[1:] / abar[:-1]])


def read_schedule(root: Path) -> tuple[NoiseSchedule, str, dict[str, Any]]:
    """xdeepr's schedule, prediction and a record of ``scheduler_config.json`` in `root`.

    The betas are computed as diffusers computes them (float32 ``linspace`` for
    ``beta_schedule: linear``), then held in float64 by a ``"custom"``
    :class:`~xdeepr.diffusion.NoiseSchedule`. A zero-terminal-SNR schedule
    (``rescale_betas_zero_snr``) with ε-prediction ends at ᾱ_T = 2**-24, as diffusers'
    Euler scheduler does (x̂_0 cannot be recovered from ε at ᾱ = 0), or lower where
    ᾱ_{T-1} already is (diffusers then lets ᾱ rise at the last step; xdeepr's schedules
    are betas, so ᾱ_T continues the last ratio, ᾱ_{T-1}² / ᾱ_{T-2}). A folder
    without ``scheduler_config.json`` gets DeepR's training default (DDPM, linear
    1e-4 → 0.02 over 1000 steps, ε).

    Raises
    ------
    ModelFileError
        For an unreadable file, an unknown ``beta_schedule`` or ``prediction_type``
        ``"sample"`` (xdeepr's samplers read ε or v).

    Examples
    --------
    >>> schedule, prediction, record = read_schedule(Path("deepr_model"))  # doctest: +SKIP
    >>> schedule.num_steps, prediction, record["class_name"]  # doctest: +SKIP
    (1000, 'epsilon', 'LMSDiscreteScheduler')
    """
    path = _find(root, ("scheduler_config.json",), "scheduler")
    cfg: dict[str, Any] = {} if path is None else _read_json(path)
    source = "DeepR defaults" if path is None else f"scheduler configuration {str(path)!r}"
    prediction = {"epsilon": "epsilon", "v_prediction": "v"}.get(
        str(cfg.get("prediction_type", "epsilon"))
    )
    if prediction is None:
        raise ModelFileError(
            f"{source}: prediction_type {cfg.get('prediction_type')!r} is not read by xdeepr's "
            "samplers (they take 'epsilon' or 'v_prediction')"
        )
    betas = _betas(cfg, source)
    zero = bool(cfg.get("rescale_betas_zero_snr", False))
    if zero:
        betas = _rescale_zero_snr(betas)
    betas = betas.double()
    if zero and prediction == "epsilon":  # ᾱ_T = 2**-24 (diffusers), kept below ᾱ_{T-1}
        abar = torch.cumprod(1.0 - betas, dim=0)
        last = min(ZERO_SNR_ALPHA_BAR, float(abar[-2]) ** 2 / float(abar[-3]))
        betas[-1] = 1.0 - last / float(abar[-2])
    schedule = NoiseSchedule(
        betas=betas,
        name="custom",
        beta_start=float(cfg.get("beta_start", 1e-4)),
        beta_end=float(cfg.get("beta_end", 0.02)),
        zero_terminal_snr=zero and prediction == "v",
    )
    record = {
        "class_name": str(cfg.get("_class_name", "DDPMScheduler")),
        "num_train_timesteps": schedule.num_steps,
        "beta_schedule": str(cfg.get("beta_schedule", "linear")),
        "beta_start": float(cfg.get("beta_start", 1e-4)),
        "beta_end": float(cfg.get("beta_end", 0.02)),
        "prediction_type": str(cfg.get("prediction_type", "epsilon")),
        "rescale_betas_zero_snr": zero,
        "timestep_spacing": str(cfg.get("timestep_spacing", "leading")),
        "alpha_bar_last": float(schedule.alphas_cumprod[-1]),
    }
    return schedule, prediction, record
