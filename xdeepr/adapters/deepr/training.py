"""``training_configuration`` of a DeepR file: the U-Net, the scheduler, the parameters.

:func:`read_model` maps ``model_configuration`` (a diffusers ``UNet2DModel`` or DeepR's
``UNet``, and a scheduler) and :func:`read_parameters` ``training_parameters`` to
TrainConfig fields, a file's missing parameters taking DeepR's defaults
(:data:`~.keys.DEEPR_DEFAULTS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..._validate import BOOL, DEVICE, Choice, Int, Seq, Text, shown
from ...errors import ConfigError
from .keys import (
    DEEPR_DEFAULTS,
    DOWN_BLOCKS,
    HOUR_EMBEDS,
    IGNORED,
    PREDICTIONS,
    SAMPLERS,
    SCHEDULERS,
    SCHEDULES,
    UNETS,
    UP_BLOCKS,
)
from .schema import PREFIX, Reader

__all__ = ["read_model", "read_parameters"]

_WIDTHS = Seq(Int(1), "a list of integers > 0")
_FLAGS = Seq(BOOL, "a list of True/False")
_BLOCKS = Seq(Text(), "a list of block names")


def _blocks(
    r: Reader, kw: Mapping[str, Any], kpath: str, key: str, known: Mapping[str, bool]
) -> tuple[bool, ...]:
    """Whether each level of the block list `key` has attention; unknown names refused."""
    types = kw[key]
    if not isinstance(types, list):
        raise r.fail(f"{kpath}.{key}", _BLOCKS.text, types)
    r.check(f"{kpath}.{key}", types, _BLOCKS)
    rule = Choice(tuple(known), "diffusers UNet2DModel's blocks; Attn*: with attention")
    return tuple(known[r.check(f"{kpath}.{key}[{i}]", t, rule)] for i, t in enumerate(types))


def read_model(r: Reader, training: Mapping[str, Any]) -> dict[str, Any]:
    """TrainConfig fields of ``model_configuration``: network, schedule, prediction, sampler."""
    tpath = "training_configuration"
    kind = training.get("type", "diffusion")
    if kind != "diffusion":
        raise r.fail(f"{tpath}.type", "'diffusion' (xdeepr trains diffusion models)", kind)
    mpath = f"{tpath}.model_configuration"
    model = r.section(training, "model_configuration", tpath)
    eps = r.section(model, "eps_model", mpath)
    epath = f"{mpath}.eps_model"
    r.choice(eps, "class_name", epath, UNETS)  # a U-Net
    kw = r.section(eps, "kwargs", epath)
    kpath = f"{epath}.kwargs"
    r.known(eps, epath, {"class_name", "kwargs"}, IGNORED)
    out: dict[str, Any] = {}
    used = {
        "block_out_channels",
        "layers_per_block",
        "down_block_types",
        "is_attention",
        "up_block_types",
        "time_embedding_type",
    }
    levels: list[tuple[str, int]] = []  # (key, entries) of each per-level list given
    widths = kw.get("block_out_channels")
    if widths is not None:
        if not isinstance(widths, list):
            raise r.fail(f"{kpath}.block_out_channels", _WIDTHS.text, widths)
        widths = list(r.check(f"{kpath}.block_out_channels", widths, _WIDTHS))
        levels.append(("block_out_channels", len(widths)))
        # xdeepr's widths are n_channels x integer multipliers: the largest even base
        base = math.gcd(*widths)
        base = base if base % 2 == 0 else 2 * base
        out["n_channels"] = base
        out["channel_multipliers"] = tuple(max(1, w // base) for w in widths)
        if any(w % base for w in widths):
            r.note_lossy(
                f"{kpath}.block_out_channels",
                f"widths {shown(widths)} read as n_channels="
                f"{base} x {out['channel_multipliers']} (xdeepr needs even widths)",
            )
    else:
        levels.append(("block_out_channels (not given: 4 levels by default)", 4))
    if "is_attention" in kw:  # DeepR's own UNet
        att = kw["is_attention"]
        if not isinstance(att, list):
            raise r.fail(f"{kpath}.is_attention", _FLAGS.text, att)
        out["is_attention"] = r.check(f"{kpath}.is_attention", att, _FLAGS)
        levels.append(("is_attention", len(att)))
    elif "down_block_types" in kw:
        down = _blocks(r, kw, kpath, "down_block_types", DOWN_BLOCKS)
        out["is_attention"] = down
        levels.append(("down_block_types", len(down)))
        if "up_block_types" in kw:
            up = _blocks(r, kw, kpath, "up_block_types", UP_BLOCKS)
            levels.append(("up_block_types", len(up)))
            if len(up) == len(down) and up[::-1] != down:
                r.note_lossy(
                    f"{kpath}.up_block_types",
                    "does not mirror down_block_types; xdeepr's up path mirrors the down path",
                )
    if len({n for _, n in levels}) > 1:
        given = ", ".join(f"{key} has {n}" for key, n in levels)
        raise ConfigError(
            f"{PREFIX}the lists of {kpath} give one entry per level and differ in length: "
            f"{given}; give each the same number of entries"
        )
    emb = kw.get("time_embedding_type", "positional")
    if emb != "positional":
        r.note_lossy(
            f"{kpath}.time_embedding_type",
            f"{shown(emb)}: xdeepr's timestep embedding is sinusoidal ('positional')",
        )
    r.known(kw, kpath, used, IGNORED)
    sched = r.section(model, "scheduler", mpath)
    spath = f"{mpath}.scheduler"
    name = r.text(sched, "class_name", spath).removeprefix("diffusers.")
    r.check(
        f"{spath}.class_name",
        name,
        Choice(SCHEDULERS, "diffusers schedulers; those without an xdeepr sampler are warned"),
    )
    if name in SAMPLERS:
        out["sampler"] = SAMPLERS[name]
    else:
        r.note_lossy(
            f"{spath}.class_name",
            f"{name!r} has no xdeepr sampler; the model keeps "
            "xdeepr's default sampler (dpm++2m-sde)",
        )
    skw = r.section(sched, "kwargs", spath, required=False)
    kp = f"{spath}.kwargs"
    if "num_train_timesteps" in skw:
        out["diffusion_steps"] = r.number(skw, "num_train_timesteps", kp, int, None)
    betas = r.choice(skw, "beta_schedule", kp, SCHEDULES, "linear")
    out["schedule"] = SCHEDULES[betas]
    if betas == "linear":
        for key, value in (("beta_start", 1e-4), ("beta_end", 0.02)):
            if key in skw and not math.isclose(r.number(skw, key, kp, float, None), value):
                r.note_lossy(
                    f"{kp}.{key}", f"{shown(skw[key])}: xdeepr's linear schedule uses {value}"
                )
    pred = r.choice(skw, "prediction_type", kp, PREDICTIONS, "epsilon")
    out["prediction"] = PREDICTIONS[pred]
    zero = r.flag(skw, "rescale_betas_zero_snr", kp, False)
    if zero and out["prediction"] == "epsilon":
        r.note_lossy(
            f"{kp}.rescale_betas_zero_snr",
            "read as false: with prediction_type "
            "epsilon x0 cannot be recovered where the SNR is zero (xdeepr refuses the pair); "
            "--set prediction=v --set zero_terminal_snr=true gives a zero terminal SNR",
        )
        zero = False
    out["zero_terminal_snr"] = zero
    r.known(sched, spath, {"class_name", "kwargs"}, IGNORED)
    r.known(
        skw,
        kp,
        {
            "num_train_timesteps",
            "beta_schedule",
            "beta_start",
            "beta_end",
            "prediction_type",
            "rescale_betas_zero_snr",
        },
        IGNORED,
    )
    r.known(model, mpath, {"eps_model", "scheduler"}, IGNORED)
    return out


def read_parameters(r: Reader, training: Mapping[str, Any]) -> dict[str, Any]:
    """TrainConfig fields of ``training_parameters`` (DeepR's defaults for missing ones)."""
    path = "training_configuration.training_parameters"
    tp = r.section(training, "training_parameters", "training_configuration")
    d = DEEPR_DEFAULTS
    key = "gradient_accumulation_steps"
    accumulate = r.check(f"{path}.{key}", tp.get(key, d[key]), Int(1))
    out: dict[str, Any] = {
        "epochs": r.number(tp, "num_epochs", path, int, d["num_epochs"]),
        # one optimiser step sees batch_size x accumulation samples in DeepR
        "batch_size": r.number(tp, "batch_size", path, int, d["batch_size"]) * accumulate,
        "learning_rate": r.number(tp, "learning_rate", path, float, d["learning_rate"]),
        "warmup_steps": r.number(tp, "lr_warmup_steps", path, int, d["lr_warmup_steps"]),
        "seed": r.number(tp, "seed", path, int, d["seed"]),
    }
    hour = r.choice(tp, "hour_embed_type", path, HOUR_EMBEDS, d["hour_embed_type"])
    out["calendar"] = hour != "none"
    out["mean"] = "bicubic" if r.flag(tp, "learn_residuals", path, d["learn_residuals"]) else None
    if "device" in tp:
        device = r.check(f"{path}.device", tp["device"], DEVICE)
        out["device"] = "cpu" if device == "cpu" else None
        if device != "cpu":
            r.ignored[f"{path}.device"] = f"{shown(device)} read as None (CUDA when available)"
    r.known(
        tp,
        path,
        {
            "num_epochs",
            "batch_size",
            "gradient_accumulation_steps",
            "learning_rate",
            "lr_warmup_steps",
            "seed",
            "hour_embed_type",
            "learn_residuals",
            "device",
        },
        IGNORED,
    )
    return out
