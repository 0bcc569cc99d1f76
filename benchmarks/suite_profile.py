"""profile: where a sampling step's time goes in ``downscale``.

One ``downscale`` call (4 held-out times x 20 members, one block, the cached demo
model) per sampler at its default steps, with the network's forward pass timed
separately (device-synchronised). What is not the network is the sampler's
arithmetic, the noise draws, the condition (interpolation, normalisation,
padding) and the copies of the output. A hot path with nothing left to remove
spends nearly all of its time in the network.
"""

from __future__ import annotations

import time
from typing import Any

from xdeepr.diffusion import DEFAULT_STEPS

from . import harness as H

SAMPLERS = ("dpm++2m", "dpm++2m-sde", "ddim")


class _Timed:
    """Replace ``obj.name`` by a wrapper that adds its device-synchronised wall time up."""

    def __init__(self, obj: Any, name: str, device: Any) -> None:
        self.obj, self.name, self.device = obj, name, device
        self.seconds, self.calls = 0.0, 0
        self._method = getattr(obj, name)

    def __enter__(self) -> _Timed:
        def timed(*args: Any, **kwargs: Any) -> Any:
            H.sync(self.device)
            t0 = time.perf_counter()
            out = self._method(*args, **kwargs)
            H.sync(self.device)
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            return out

        setattr(self.obj, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        delattr(self.obj, self.name)  # back to the class's method


def run(ctx: H.Context) -> str:
    """Run the profile suite and return its markdown section."""
    model = ctx.model()
    ft, _ = ctx.held_out()
    n_t, members = (1, 2) if ctx.quick else (4, H.MEMBERS)
    x = ft.isel(time=slice(0, n_t))
    rows = []
    for sampler in SAMPLERS:
        steps = 2 if ctx.quick else int(DEFAULT_STEPS[sampler] or 1000)
        opts = {"members": members, "sampler": sampler, "progress": False, "device": ctx.device}
        x.deepr.downscale(model, steps=1, **opts)  # warm-up
        with (
            _Timed(model.network, "forward", ctx.device) as net,
            _Timed(model, "condition", ctx.device) as cond,
        ):
            t0 = time.perf_counter()
            x.deepr.downscale(model, steps=steps, **opts)
            H.sync(ctx.device)
            total = time.perf_counter() - t0
        calls, prep = net.calls, cond.seconds
        per_step = total / steps
        rows.append(
            [
                sampler,
                steps,
                calls,
                total,
                per_step * 1e3,
                net.seconds / steps * 1e3,
                (total - net.seconds - prep) / steps * 1e3,
                prep,
                f"{net.seconds / total:.1%}",
            ]
        )
    head = [
        "sampler",
        "steps",
        "network calls",
        "s total",
        "ms / step",
        "network ms / step",
        "sampler + noise + copies ms / step",
        "condition s (once per block)",
        "network share",
    ]
    note = (
        f"`downscale` of {n_t} held-out times x {members} members in one block (batches as "
        f"`downscale` sizes them), model {model.identity}; network time synchronised around each "
        "forward pass; 'condition' is `model.condition` (interpolation, normalisation, "
        "padding), paid once per block."
    )
    table = H.table(head, rows)
    return H.section(ctx, "profile", "where a sampling step's time goes", [note, table])
