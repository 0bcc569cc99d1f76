"""SamplingOptions: every sampling setting, validated once, resolved once, carried to the sampler.

``Dataset.deepr.downscale(model, members=20, ...)`` builds one frozen
:class:`SamplingOptions` from its keywords (one keyword per option);
:func:`xdeepr.inference.downscale` resolves it once against the model and the inputs
(:meth:`SamplingOptions.resolve`: sampler, steps, guidance) and settles it for the
sampling device (:meth:`SamplingOptions.on_device`: device, fast path). The per-block
function of the dask path, :func:`xdeepr.inference.sample_block` and
:meth:`xdeepr.DownscalingModel.sample` receive that resolved object and never fill a
default again. Provenance attributes of the output come from it too.
"""

from __future__ import annotations

import copy
import dataclasses
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._validate import BOOL, DEVICE, AnyOf, Choice, Float, Int, OrNone, Rule, check
from .errors import ConfigError, InputError

if TYPE_CHECKING:
    from .fastpath import FastPath
    from .model import DownscalingModel

__all__ = ["SamplingOptions"]

#: Largest dask chunk (bytes) of a lazy ensemble; members are split to stay below it.
MAX_CHUNK_BYTES = 256 * 2**20
#: Guidance by observations when they are given and ``guidance`` is None: chosen by the
#: leave-stations-out benchmark (BENCHMARKS.md, ``python -m benchmarks observations``).
DEFAULT_GUIDANCE = 1.0


#: NaN in the input: an error (None), the spatial mean of each field, or a number.
_FILL = OrNone(
    AnyOf((Choice(("mean",)), Float(finite=False)), "'mean' or a number"),
    text="None, 'mean' or a number",
)
_TILE = Int(1)


def _rules() -> tuple[tuple[str, Rule], ...]:
    """Each option's rule (:mod:`xdeepr._validate`), the samplers' names read when needed."""
    from .diffusion.samplers import SAMPLERS  # not at import: it loads torch

    return (
        ("members", Int(1)),
        ("steps", OrNone(Int(1), "the sampler's default")),
        ("seed", Int()),
        ("batch_size", OrNone(Int(1), "from the device's memory or the field size")),
        ("overlap", Int(0)),
        ("sampler", OrNone(Choice(tuple(SAMPLERS)), "the model's default")),
        ("eta", Float(0.0, finite=False)),
        ("device", OrNone(DEVICE, "CUDA when available")),
        ("progress", BOOL),
        ("guidance", OrNone(Float(0.0, finite=False), "by observations when given")),
        ("observation_error", Float(0.0, lo_open=True, finite=False)),
        ("calibrate", BOOL),
    )


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How to draw an ensemble: one typed, validated object.

    Parameters
    ----------
    members : int
        Ensemble size (an integer >= 1).
    steps : int, optional
        Sampling steps (network evaluations), >= 1. Default: the sampler's
        (:data:`xdeepr.diffusion.DEFAULT_STEPS`; all of the schedule's, 1000, for DDPM).
    sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde", "onepass"}, optional
        Default: the model's default sampler.
    eta : float
        DDIM stochasticity η >= 0 (``sampler="ddim"`` only).
    seed : int
        The noise of each (time, member) depends only on `seed`, the time stamp and
        the member index: the same ensemble however the work is split (chunks,
        schedulers, workers). The batch size changes the last bits of the network's
        floating-point arithmetic (on CPU a few 1e-5 K, on a GPU more under bf16): fix
        `batch_size` for bit-identical reruns; with ``batch_size=1`` the ensemble is
        bit-identical however it is chunked.
    batch_size : int, optional
        Samples per network call (default: on CUDA, what fits in the free device
        memory, measured, halved on an out-of-memory error; elsewhere from the field
        size).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (default: CUDA when available, on the
        machine that samples: each dask worker chooses its own).
    fill : {None, "mean"} or float
        NaN in the input are an error naming the time stamps unless filled with the
        spatial mean of each field (``"mean"``) or a number.
    progress : bool
        Show a tqdm bar (numpy-backed input, computed at once).
    tile, overlap : int or (int, int), int
        Run the network on overlapping tiles of `tile` pixels, blended at every step,
        for domains that do not fit the device (None, the default: whole fields).
    fast_path : xdeepr.FastPath or mapping, optional
        GPU fast-path switches: ``bf16`` autocast (default on CUDA),
        ``channels_last``, ``compile`` (``torch.compile``), ``pin_memory``.
    guidance : float, optional
        Guidance by station observations at sampling time (diffusion posterior
        sampling, :mod:`xdeepr.diffusion.guidance`), >= 0: 0 off, 1 the linearised
        posterior. Used only when observations are given; works with any model whose
        mean is bicubic or none. None (default): :data:`DEFAULT_GUIDANCE` when
        observations are given (0 for a regression-mean model), settled by
        :meth:`resolve`; chosen by measurement: a model trained with stations *and*
        guided by them scores best at withheld stations and honours the given ones
        (BENCHMARKS.md); it costs about 3x the sampling time of unguided sampling
        (one backward pass per step).
    observation_error : float
        Standard deviation of the observations' error, in the label units (K), > 0;
        the guidance's likelihood width.
    lapse_rate : float, 12 floats, "model" or None
        Temperature change with altitude (K/km) by which station values of
        temperature-like variables are moved from the station's altitude to the grid's
        orography before they condition or guide (:mod:`xdeepr.observations.altitude`):
        a number, 12 numbers (one per month, January first) or None (no adjustment).
        ``"model"`` (default): the one the model was trained with, or -6.5 K/km for a
        model trained without observations. Reported in the output's
        ``xdeepr_lapse_rate`` and ``xdeepr_altitude_adjustment`` attributes.
    calibrate : bool
        Apply the model's post-hoc spread calibration (default True): each variable's
        members' deviations from their ensemble mean are scaled by the factor fitted
        on the validation times, where it improved their fair CRPS
        (:mod:`xdeepr.model.calibration`; the model's repr and the output's
        ``xdeepr_calibration`` attribute say which). The ensemble mean is unchanged;
        a member then depends on the whole ensemble of its time (same seed, time and
        number of members: same values, however chunked). Precipitation: scaled in its
        learnt space, dry below its cut (:mod:`xdeepr.model.drycut`). False: the raw one.

    Attributes
    ----------
    resolved : bool
        True for options settled against a model by :meth:`resolve` (sampler, steps
        and guidance filled in, tile checked); code below the entry points takes only
        these, and never fills a default again.

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
    lapse_rate: float | tuple[float, ...] | str | None = "model"
    calibrate: bool = True
    resolved: bool = dataclasses.field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: only here are options normalised
        for name, rule in _rules():  # Python ints and floats, a device as text
            put(self, name, check(name, getattr(self, name), rule))
        check("fill", self.fill, _FILL)  # kept as given
        if self.lapse_rate != "model":
            from .observations.altitude import check_lapse_rate

            put(self, "lapse_rate", check_lapse_rate(self.lapse_rate))
        if self.eta != 0 and self.sampler != "ddim":
            raise ConfigError(f"eta applies only to sampler='ddim', not {self.sampler!r}")
        if self.tile is not None:
            tile = self.tile if isinstance(self.tile, tuple) else (self.tile, self.tile)
            if len(tile) != 2:
                raise ConfigError(f"tile must be an int or a pair of ints, got {self.tile!r}")
            tile = (check("tile", tile[0], _TILE), check("tile", tile[1], _TILE))
            if self.overlap >= min(tile):
                raise ConfigError(
                    f"overlap must be smaller than the tile so that tiles advance; got "
                    f"overlap={self.overlap} for tile {self.tile!r}"
                )
            put(self, "tile", self.tile if isinstance(self.tile, tuple) else tile[0])
        if self.fast_path is not None:
            from .fastpath import FastPath

            try:
                put(self, "fast_path", FastPath.coerce(self.fast_path))
            except (TypeError, ValueError) as err:
                raise ConfigError(str(err)) from err

    def replace(self, **changes: Any) -> SamplingOptions:
        """A copy with `changes` applied (and validated); unresolved again.

        Examples
        --------
        >>> SamplingOptions(members=4).replace(seed=1).seed
        1
        """
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The options' names (the fields given to the constructor), in order.

        Examples
        --------
        >>> SamplingOptions.names()[:3]
        ('members', 'steps', 'sampler')
        """
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)

    @classmethod
    def coerce(cls, value: SamplingOptions | Mapping[str, Any] | None) -> SamplingOptions:
        """A SamplingOptions from itself, a mapping of its fields, or None (the defaults).

        Examples
        --------
        >>> SamplingOptions.coerce({"members": 4}).members
        4
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            names = set(cls.names())
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

    @classmethod
    def from_keywords(cls, options: SamplingOptions | None, **given: Any) -> SamplingOptions:
        """The options of ``Dataset.deepr.downscale``: its keywords, or `options` alone.

        Raises
        ------
        xdeepr.errors.ConfigError
            When `options` is given together with a keyword that differs from its default.

        Examples
        --------
        >>> SamplingOptions.from_keywords(None, members=3).members
        3
        >>> SamplingOptions.from_keywords(SamplingOptions(seed=2), seed=0).seed
        2
        """
        if options is None:
            return cls(**given)
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.init}
        changed = [k for k, v in given.items() if v != defaults[k]]
        if changed:
            raise ConfigError(
                f"pass sampling settings either as keywords or as options=, not both "
                f"(also given: {changed})"
            )
        return cls.coerce(options)

    def resolve(self, model: DownscalingModel, *, observations: bool = False) -> SamplingOptions:
        """The options settled against `model` and the inputs: the one place defaults are filled.

        The sampler becomes the model's default when None, `steps` the sampler's
        number of network evaluations, `guidance` :data:`DEFAULT_GUIDANCE` when
        `observations` are given and None was asked (0 for a model whose mean is a
        regression network or sampled ``"onepass"``, and 0 without observations), and a
        tile is checked
        against the network's size multiple. The result has ``resolved=True``;
        resolving it again gives the same options.

        Raises
        ------
        xdeepr.errors.ConfigError
            Steps beyond the model's schedule, or a tile the network cannot run on.
        xdeepr.errors.InputError
            Guidance by observations asked of a model whose mean is a regression network,
            or of the ``"onepass"`` sampler (distilled students).

        Examples
        --------
        >>> opts = SamplingOptions(members=3).resolve(model)  # doctest: +SKIP
        >>> opts.resolved, opts.sampler, opts.guidance  # doctest: +SKIP
        (True, 'dpm++2m-sde', 0.0)
        """
        from .diffusion import num_model_evals

        sampler = self.sampler or model.default_sampler
        try:
            asked = self.steps if self.steps is not None else model.default_steps(sampler)
            steps = num_model_evals(sampler, asked, model.schedule)
        except ValueError as err:
            raise ConfigError(f"steps={self.steps}: {err}") from err
        if self.tile is not None:
            from .tiling import check_tile

            try:
                check_tile(self.tile, self.overlap, model.network.size_multiple)
            except ValueError as err:
                raise ConfigError(str(err)) from err
        regression = getattr(model, "mean", None) in ("regression", "climatology")
        guidance = self.guidance
        if guidance is None:  # observations given: guided by them unless told otherwise
            guidance = DEFAULT_GUIDANCE if observations and not regression else 0.0
        elif guidance > 0 and observations and regression:
            raise InputError(
                "guidance by observations needs a model whose mean is bicubic or none; this "
                f"one corrects a {getattr(model, 'mean', None)} mean"
            )
        if sampler == "onepass" and observations:  # a distilled student: no steps to guide
            if self.guidance:
                raise InputError(
                    "guidance by observations is not available with the 'onepass' sampler of "
                    "a distilled model (xdeepr.distill); its station channels still condition "
                    "it. Pass guidance=0, or sample the teacher with guidance"
                )
            guidance = 0.0
        lapse_rate = self.lapse_rate
        if lapse_rate == "model":  # what the model was trained with, else the standard one
            from .observations.altitude import DEFAULT_LAPSE_RATE, check_lapse_rate

            record = getattr(model, "observations", None) or {}
            lapse_rate = check_lapse_rate(record.get("lapse_rate", DEFAULT_LAPSE_RATE))
        return self._settled(
            sampler=sampler, steps=steps, guidance=float(guidance), lapse_rate=lapse_rate
        )

    def on_device(self, device: Any) -> SamplingOptions:
        """Resolved options settled for the device that samples: `device` and the fast path.

        Called once where that device is known: at the top for an eager run, once per
        block on the worker for a lazy one (``device=None`` lets each worker choose).

        Examples
        --------
        >>> import xdeepr
        >>> opts = SamplingOptions(steps=2).resolve(model).on_device("cpu")  # doctest: +SKIP
        >>> opts.fast_path  # doctest: +SKIP
        FastPath(bf16=False, channels_last=False, compile=False, pin_memory=False)
        """
        self.check_resolved("SamplingOptions.on_device")
        from .fastpath import FastPath

        fast = (self.fast_path or FastPath()).resolve(device)
        return self._settled(device=str(device), fast_path=fast)

    @property
    def on_a_device(self) -> bool:
        """Whether the device and every fast-path switch are settled (:meth:`on_device`)."""
        fp = self.fast_path
        return (
            self.device is not None
            and fp is not None
            and fp.bf16 is not None
            and fp.pin_memory is not None
        )

    def check_resolved(self, where: str, *, device: bool = False) -> None:
        """Raise unless the options are resolved (and, with `device`, settled on a device).

        Raises
        ------
        ValueError
            Naming `where` and the step that was skipped.

        Examples
        --------
        >>> SamplingOptions().check_resolved("here")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: here takes SamplingOptions resolved against the model (...); these are not
        """
        if not self.resolved:
            raise ValueError(
                f"{where} takes SamplingOptions resolved against the model "
                "(SamplingOptions.resolve(model)); these are not"
            )
        if device and not self.on_a_device:
            raise ValueError(
                f"{where} takes SamplingOptions settled on a device "
                "(SamplingOptions.on_device(device)); these are not"
            )

    def _settled(self, **values: Any) -> SamplingOptions:
        """A resolved copy with `values` (computed here, so not validated again)."""
        new = copy.copy(self)
        for name, value in {**values, "resolved": True}.items():
            object.__setattr__(new, name, value)
        return new

    def provenance(self) -> dict[str, Any]:
        """The ``xdeepr_*`` attributes an output records about how it was sampled.

        Examples
        --------
        >>> SamplingOptions(members=2, sampler="ddim", steps=4).provenance()["xdeepr_steps"]
        4
        """
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

    @classmethod
    def parameters_doc(cls, indent: int = 8) -> str:
        """The options' entries of this class's *Parameters* section, indented by `indent`.

        Their one home: ``Dataset.deepr.downscale``'s documentation includes them.

        Examples
        --------
        >>> SamplingOptions.parameters_doc(0).splitlines()[0]
        'members : int'
        """
        doc = cls.__doc__ or ""
        start = doc.find("----------\n", doc.find("Parameters")) + len("----------\n")
        block = doc[start : doc.find("\n\n    Attributes")]
        return textwrap.indent(textwrap.dedent(block), " " * indent) + "\n"
