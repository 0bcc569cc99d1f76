"""SamplingOptions: every sampling setting, validated once, carried from accessor to sampler.

``Dataset.deepr.downscale(model, members=20, ...)`` builds one
:class:`SamplingOptions` from its keywords; inference, the per-block function of the
dask path and :meth:`xdeepr.DownscalingModel.sample` receive that object, never copies
of the keywords. Provenance attributes of the output come from it too.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .fastpath import FastPath
    from .model import DownscalingModel

__all__ = ["SamplingOptions"]

#: Largest dask chunk (bytes) of a lazy ensemble; members are split to stay below it.
MAX_CHUNK_BYTES = 256 * 2**20
#: Guidance by observations when they are given and ``guidance`` is None: chosen by the
#: leave-stations-out benchmark (BENCHMARKS.md, ``python -m benchmarks observations``).
DEFAULT_GUIDANCE = 1.0


def _int(name: str, value: Any, minimum: int | None = None, *, optional: bool = False) -> Any:
    """`value` as a Python int (numpy integers accepted; bools, floats and strings refused)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        what = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        raise ConfigError(
            f"{name} must be {what}{' or None' if optional else ''}, got {value!r} "
            f"({type(value).__name__})"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How to draw an ensemble: one typed, validated object.

    Parameters
    ----------
    members : int
        Ensemble size, >= 1.
    steps : int, optional
        Sampling steps (network evaluations), >= 1. Default: the sampler's
        (:data:`xdeepr.diffusion.DEFAULT_STEPS`; all of the schedule's for DDPM).
    sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde"}, optional
        Default: the model's default sampler.
    eta : float
        DDIM stochasticity η >= 0; only with ``sampler="ddim"``.
    seed : int
        The noise of each (time, member) depends only on `seed`, the time stamp and
        the member index.
    batch_size : int, optional
        Samples per network call (default: from the free device memory on CUDA, from
        the field size elsewhere).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (default: CUDA when available).
    fill : {None, "mean"} or float
        How NaN in the input are filled before sampling (None: they are an error).
    progress : bool
        Show a progress bar.
    tile, overlap : int or (int, int), int
        Run the network on overlapping tiles of `tile` pixels; None: whole fields.
    fast_path : xdeepr.FastPath or mapping, optional
        GPU fast-path switches (bf16, channels_last, compile, pin_memory).
    guidance : float, optional
        Guidance by station observations at sampling time (diffusion posterior
        sampling, :mod:`xdeepr.diffusion.guidance`), >= 0: 0 off, 1 the linearised
        posterior. Used only when observations are given; works with any model whose
        mean is bicubic or none. None (default): :data:`DEFAULT_GUIDANCE` when
        observations are given (0 for a regression-mean model), chosen by measurement:
        a model trained with stations *and* guided by them scores best at withheld
        stations and honours the given ones (BENCHMARKS.md); it costs about 3x the
        sampling time of unguided sampling (one backward pass per step).
    observation_error : float
        Standard deviation of the observations' error, in the label units (K), > 0;
        the guidance's likelihood width.

    Raises
    ------
    xdeepr.errors.ConfigError
        Naming the option, the value given and what is allowed.

    Examples
    --------
    >>> import xdeepr
    >>> opts = xdeepr.SamplingOptions(members=10, sampler="ddim", steps=20, seed=3)
    >>> opts.members, opts.sampler
    (10, 'ddim')
    >>> xdeepr.SamplingOptions(members=2.7)
    Traceback (most recent call last):
    ...
    xdeepr.errors.ConfigError: members must be an integer >= 1, got 2.7 (float)
    """

    members: int = 20
    steps: int | None = None
    sampler: str | None = None
    eta: float = 0.0
    seed: int = 0
    batch_size: int | None = None
    device: str | None = None
    fill: str | float | None = None
    progress: bool = True
    tile: int | tuple[int, int] | None = None
    overlap: int = 16
    fast_path: FastPath | None = None
    guidance: float | None = None
    observation_error: float = 0.3

    def __post_init__(self) -> None:
        from .diffusion.samplers import SAMPLERS

        put = object.__setattr__
        put(self, "members", _int("members", self.members, 1))
        put(self, "steps", _int("steps", self.steps, 1, optional=True))
        put(self, "seed", _int("seed", self.seed))
        put(self, "batch_size", _int("batch_size", self.batch_size, 1, optional=True))
        put(self, "overlap", _int("overlap", self.overlap, 0))
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ConfigError(
                f"sampler must be one of {list(SAMPLERS)} (or None for the model's default), "
                f"got {self.sampler!r}"
            )
        if isinstance(self.eta, bool) or not isinstance(self.eta, numbers.Real) or self.eta < 0:
            raise ConfigError(f"eta must be a number >= 0, got {self.eta!r}")
        put(self, "eta", float(self.eta))
        if self.eta != 0 and self.sampler != "ddim":
            raise ConfigError(f"eta applies only to sampler='ddim', not {self.sampler!r}")
        if self.device is not None:
            if not isinstance(self.device, str):
                if type(self.device).__name__ != "device":  # a torch.device
                    raise ConfigError(
                        f"device must be a string such as 'cpu' or 'cuda:0', got {self.device!r}"
                    )
                put(self, "device", str(self.device))
        fill = self.fill
        if not (
            fill is None
            or fill == "mean"
            or (isinstance(fill, numbers.Real) and not isinstance(fill, bool))
        ):
            raise ConfigError(f"fill must be None, 'mean' or a number, got {fill!r}")
        if not isinstance(self.progress, bool):
            raise ConfigError(f"progress must be True or False, got {self.progress!r}")
        if self.tile is not None:
            tile = self.tile if isinstance(self.tile, tuple) else (self.tile, self.tile)
            if len(tile) != 2:
                raise ConfigError(f"tile must be an int or a pair of ints, got {self.tile!r}")
            tile = (_int("tile", tile[0], 1), _int("tile", tile[1], 1))
            if self.overlap >= min(tile):
                raise ConfigError(
                    f"overlap must be smaller than the tile so that tiles advance; got "
                    f"overlap={self.overlap} for tile {self.tile!r}"
                )
            put(self, "tile", self.tile if isinstance(self.tile, tuple) else tile[0])
        for name, low in (("guidance", None), ("observation_error", 0.0)):
            value = getattr(self, name)
            if value is None and name == "guidance":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not (value > low if low is not None else value >= 0)
            ):
                raise ConfigError(
                    f"{name} must be a number {'>= 0' if low is None else '> 0'}, got {value!r}"
                )
            put(self, name, float(value))
        if self.fast_path is not None:
            from .fastpath import FastPath

            try:
                put(self, "fast_path", FastPath.coerce(self.fast_path))
            except (TypeError, ValueError) as err:
                raise ConfigError(str(err)) from err

    def replace(self, **changes: Any) -> SamplingOptions:
        """A copy with `changes` applied (and validated).

        Examples
        --------
        >>> SamplingOptions(members=4).replace(seed=1).seed
        1
        """
        return dataclasses.replace(self, **changes)

    @classmethod
    def coerce(cls, value: SamplingOptions | Mapping[str, Any] | None) -> SamplingOptions:
        """A SamplingOptions from itself, a mapping of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(map(str, value)) - names)
            if unknown:
                raise ConfigError(
                    f"unknown sampling option(s) {unknown}; the options are {sorted(names)}"
                )
            return cls(**dict(value))
        raise ConfigError(
            f"options must be an xdeepr.SamplingOptions, a mapping or None, got "
            f"{type(value).__name__}"
        )

    def resolve(self, model: DownscalingModel) -> SamplingOptions:
        """The options with the model's defaults filled in and checked against `model`.

        The sampler becomes the model's default when None, `steps` the sampler's
        number of network evaluations, and a tile is checked against the network's
        size multiple.

        Raises
        ------
        xdeepr.errors.ConfigError
            Steps beyond the model's schedule, or a tile the network cannot run on.
        """
        from .diffusion import num_model_evals

        sampler = self.sampler or model.default_sampler
        try:
            steps = num_model_evals(sampler, self.steps, model.schedule)
        except ValueError as err:
            raise ConfigError(f"steps={self.steps}: {err}") from err
        if self.tile is not None:
            from .tiling import check_tile

            try:
                check_tile(self.tile, self.overlap, model.network.size_multiple)
            except ValueError as err:
                raise ConfigError(str(err)) from err
        return dataclasses.replace(self, sampler=sampler, steps=steps)

    def provenance(self) -> dict[str, Any]:
        """The ``xdeepr_*`` attributes an output records about how it was sampled."""
        attrs: dict[str, Any] = {
            "xdeepr_sampler": str(self.sampler),
            "xdeepr_steps": -1 if self.steps is None else int(self.steps),
            "xdeepr_seed": int(self.seed),
            "xdeepr_members": int(self.members),
        }
        if self.sampler == "ddim":
            attrs["xdeepr_eta"] = self.eta
        if self.guidance:
            attrs["xdeepr_guidance"] = self.guidance
            attrs["xdeepr_observation_error"] = self.observation_error
        if self.tile is not None:
            attrs["xdeepr_tile"] = str(self.tile)
            attrs["xdeepr_tile_overlap"] = int(self.overlap)
        return attrs
