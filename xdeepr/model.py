"""DownscalingModel: network + EMA weights + schedule + scalers + grids + variables.

Model files are written with :func:`torch.save` and hold only tensors and plain
values (str, int, float, bool, None, lists and dicts of them), so they load with
``torch.load(weights_only=True)``: nothing in a model file can execute code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from . import __version__, tiling
from .diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, NoiseSchedule, sample
from .fastpath import FastPath
from .nn import UNet
from .scaling import Scaler

FORMAT = "xdeepr-model"
FORMAT_VERSION = 1
#: Marks a Dataset made by DownscalingModel.static_channels (a prepared target).
PREPARED = "xdeepr_static_channels"


class ModelFileError(ValueError):
    """A model file is not an xdeepr model file, or holds something other than data."""


# ------------------------------------------------------------------ plain-value conversion


def _to_plain(value: Any) -> Any:
    """Recursively turn numpy arrays into tensors and numpy scalars into Python values."""
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return [str(v) for v in value.tolist()]
        if value.dtype == bool:
            return torch.from_numpy(value.astype("uint8")).bool()
        return torch.from_numpy(value.copy(order="C"))
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, torch.Tensor)):
        return value
    return str(value)


def _from_plain(value: Any) -> Any:
    """Inverse of :func:`_to_plain` for scaler mappings: tensors back to numpy."""
    if isinstance(value, Mapping):
        return {k: _from_plain(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return value


class DownscalingModel:
    """A trained conditional diffusion downscaling model.

    Create one with :func:`xdeepr.train`; load one with :func:`xdeepr.load_model`;
    apply it with ``ds.deepr.downscale(model)``.

    Attributes
    ----------
    network : xdeepr.nn.UNet
        The U-Net, holding the EMA weights used for sampling.
    schedule : NoiseSchedule
    prediction : {"epsilon", "v"}
    feature_scaler, label_scaler : Scaler
        Normalisation of the coarse inputs and of the targets (residuals when
        ``learn_residuals``).
    features, labels : list of str
        Variable names the model reads and writes.
    label_grid : xarray.Dataset
        Coordinates (names, values, attrs) of the label grid.
    feature_grid : dict
        ``lat_step``, ``lon_step`` (signed degrees) and ``coverage``
        (``{"longitude": [w, e], "latitude": [n, s]}``) of the training features.
    static : xarray.Dataset
        Normalised static channels on the label grid (may have no variables).
    label_attrs : dict
        CF attributes of each label variable (standard_name, units, long_name).
    config : dict
        The :class:`xdeepr.TrainConfig` used, as plain values.
    summary : dict
        Training summary (steps, epochs, losses, times, wall time).
    """

    def __init__(
        self,
        network: UNet,
        schedule: NoiseSchedule,
        *,
        prediction: str,
        feature_scaler: Scaler,
        label_scaler: Scaler,
        features: list[str],
        labels: list[str],
        label_grid: xr.Dataset,
        feature_grid: dict[str, Any],
        static: xr.Dataset,
        static_stats: dict[str, tuple[float, float]],
        label_attrs: dict[str, dict[str, Any]],
        learn_residuals: bool,
        config: dict[str, Any],
        summary: dict[str, Any] | None = None,
        training_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.network = network
        self.schedule = schedule
        self.prediction = prediction
        self.feature_scaler = feature_scaler
        self.label_scaler = label_scaler
        self.features = list(features)
        self.labels = list(labels)
        self.label_grid = label_grid
        self.feature_grid = dict(feature_grid)
        self.static = static
        self.static_stats = dict(static_stats)
        self.label_attrs = {k: dict(v) for k, v in label_attrs.items()}
        self.learn_residuals = bool(learn_residuals)
        self.config = dict(config)
        self.summary = dict(summary or {})
        #: Raw (non-EMA) weights at the end of training, kept for fine-tuning.
        self.training_state = training_state

    # ----------------------------------------------------------------- properties
    @property
    def levels(self) -> int:
        """Number of U-Net levels; grids are padded to multiples of ``2**(levels-1)``."""
        return len(self.network.config["channel_multipliers"])

    @property
    def static_names(self) -> list[str]:
        """Names of the static channels, in channel order."""
        return [str(v) for v in self.static.data_vars]

    @property
    def n_parameters(self) -> int:
        """Number of network parameters."""
        return sum(p.numel() for p in self.network.parameters())

    @property
    def identity(self) -> str:
        """Short hash of the weights and configuration, for provenance."""
        h = hashlib.sha256()
        for k, v in sorted(self.network.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().float().numpy().tobytes())
        h.update(repr(sorted(self.config.items())).encode())
        return h.hexdigest()[:12]

    def __repr__(self) -> str:
        lat, lon = self.label_grid_names
        g = self.label_grid
        s = self.summary
        lines = [
            f"<xdeepr.DownscalingModel {self.identity}>",
            f"  features: {', '.join(self.features)}  ->  labels: {', '.join(self.labels)}"
            + ("  (residuals)" if self.learn_residuals else ""),
            f"  label grid: {g.sizes[lat]}x{g.sizes[lon]} ({lat} {float(g[lat][0]):g}.."
            f"{float(g[lat][-1]):g}, {lon} {float(g[lon][0]):g}..{float(g[lon][-1]):g})",
            f"  feature grid: step {abs(self.feature_grid['lat_step']):g}°, coverage "
            f"{self.feature_grid['coverage']}",
            f"  static: {', '.join(self.static_names) or 'none'}",
            f"  network: UNet levels={self.levels} n_channels={self.network.config['n_channels']}"
            f" multipliers={list(self.network.config['channel_multipliers'])}"
            f" parameters={self.n_parameters:,}",
            f"  diffusion: {self.schedule!r}, prediction={self.prediction}",
        ]
        if s:
            lines.append(
                f"  training: {s.get('steps', '?')} steps, {s.get('train_times', '?')} train / "
                f"{s.get('validation_times', '?')} validation times, final loss "
                f"{s.get('train_loss', float('nan')):.4g}, validation loss "
                f"{s.get('validation_loss', float('nan')):.4g}"
            )
        return "\n".join(lines)

    @property
    def label_grid_names(self) -> tuple[str, str]:
        """Names of the label grid's latitude and longitude coordinates."""
        from .grid import find_latlon

        return find_latlon(self.label_grid)

    # ------------------------------------------------------- xarray-side preparation
    def required_coverage(self, target: xr.Dataset | None = None) -> dict[str, list[float]]:
        """Feature coverage needed to downscale onto the label grid or onto `target`.

        On the label grid it is the training coverage (so inputs are prepared exactly
        as in training). On another domain it is that domain's extent plus the
        training halo capped at two coarse cells per side, enough for the bicubic
        interpolation the condition is made of (the network itself only sees the
        hi-res grid).
        """
        from .grid import find_latlon, finest_grid

        if target is None:
            cov = self.feature_grid["coverage"]
            return {"longitude": list(cov["longitude"]), "latitude": list(cov["latitude"])}
        for what, scaler in (("feature", self.feature_scaler), ("label", self.label_scaler)):
            if scaler.method != "domain-wise":
                raise ValueError(
                    f"target= needs a model trained with {what}_scaling='domain-wise'; this "
                    f"one uses {scaler.method!r} statistics tied to its training grid"
                )
        tgt = finest_grid(target)
        lat, lon = find_latlon(tgt)
        la = np.asarray(tgt[lat].values, dtype="float64")
        lo = np.asarray(tgt[lon].values, dtype="float64")
        cap_lat = 2 * abs(self.feature_grid["lat_step"])
        cap_lon = 2 * abs(self.feature_grid["lon_step"])
        h = {k: min(v, cap_lon if k in ("west", "east") else cap_lat)
             for k, v in self.feature_grid["halo"].items()}  # fmt: skip
        return {
            "longitude": [float(lo.min() - h["west"]), float(lo.max() + h["east"])],
            "latitude": [float(la.max() + h["north"]), float(la.min() - h["south"])],
        }

    def coarse_features(self, ds: xr.Dataset, target: xr.Dataset | None = None) -> xr.Dataset:
        """Validate `ds` against what the model needs and crop it to the required coverage.

        Raises
        ------
        ValueError
            Missing variables (all listed), a grid step different from training (both
            given), a coverage that does not contain what is needed (the edge named),
            or a time coordinate that is neither datetime64 nor cftime.
        """
        from . import grid

        missing = [v for v in self.features if v not in ds.data_vars]
        if missing:
            raise ValueError(
                f"the input lacks the variable(s) {missing} this model needs (it needs "
                f"{self.features}; the input has {list(map(str, ds.data_vars))})"
            )
        steps = grid.grid_spacing(ds)
        want = (self.feature_grid["lat_step"], self.feature_grid["lon_step"])
        if not np.allclose(np.abs(steps), np.abs(want), rtol=1e-3):
            raise grid.GridError(
                f"the input grid step ({abs(steps[0]):g}° x {abs(steps[1]):g}°) differs from the "
                f"model's feature grid ({abs(want[0]):g}° x {abs(want[1]):g}°); regrid the input"
            )
        cov = self.required_coverage(target)
        lat, lon = grid.find_latlon(ds)
        box = xr.Dataset(
            coords={
                lat: np.array(cov["latitude"]),
                lon: np.array(cov["longitude"]),
            }
        )
        grid.check_inside(box, ds, inner_name="required feature", outer_name="input")
        _check_time(ds)
        return grid.crop(ds[self.features], coverage=cov)

    def baseline(
        self,
        features: xr.Dataset,
        target: xr.Dataset | None = None,
        method: str = "bicubic",
        *,
        validated: bool = False,
    ) -> xr.Dataset:
        """Interpolate the coarse label variables onto the label (or `target`) grid.

        ``validated=True`` says `features` already is :meth:`coarse_features` output.
        """
        from . import grid

        coarse = features if validated else self.coarse_features(features, target)
        tgt = self.label_grid if target is None else grid.finest_grid(target)
        return grid.interpolate(coarse[self.labels], tgt, method=method)

    def condition(
        self, features: xr.Dataset, target: xr.Dataset | None = None, *, validated: bool = False
    ) -> xr.DataArray:
        """Condition channels ``(time, channel, lat, lon)`` on the padded label grid.

        Coarse features are validated, cropped and normalised (``validated=True``: they
        already are :meth:`coarse_features` output), interpolated onto the label grid by
        coordinate-aware bicubic interpolation, stacked with the static channels and
        padded to a multiple of ``2**(levels-1)``. Lazy on dask.
        """
        from . import grid

        coarse = features if validated else self.coarse_features(features, target)
        coarse = self.feature_scaler.normalize(coarse)
        tgt = self.label_grid if target is None else grid.finest_grid(target)
        hi = grid.interpolate(coarse, tgt, method="bicubic")
        if target is None:
            static = self.static
        elif target.attrs.get(PREPARED):
            static = target  # already the output of static_channels()
        else:
            static = self.static_channels(target)
        lat, lon = grid.find_latlon(hi)
        time = hi[self.features[0]].dims[0]
        chans = [hi[v].transpose(time, lat, lon) for v in self.features]
        chans += [static[v].broadcast_like(hi[self.features[0]]) for v in self.static_names]
        cond = xr.concat(chans, dim="channel", coords="minimal", compat="override")
        cond = cond.assign_coords(channel=self.features + self.static_names)
        cond = cond.transpose(time, "channel", lat, lon).astype("float32")
        return grid.pad(cond, levels=self.levels, mode="reflect")

    def static_channels(self, target: xr.Dataset) -> xr.Dataset:
        """Normalised static channels on `target`'s grid, read from `target`'s variables."""
        missing = [v for v in self.static_names if v not in target.data_vars]
        if missing:
            raise ValueError(
                f"target= lacks the static covariate(s) {missing} the model was trained with; "
                f"it must carry {self.static_names}"
            )
        from .grid import finest_grid

        grid_ = finest_grid(target)
        chans, _ = prepare_static(target[self.static_names], grid_, self.static_stats)
        chans.attrs[PREPARED] = 1
        return chans

    # ------------------------------------------------------------------- sampling
    def sample(
        self,
        condition: torch.Tensor,
        calendar: torch.Tensor | None = None,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float = 0.0,
        generators: list[torch.Generator] | None = None,
        progress: Callable[[int], Any] | None = None,
        tile: int | tuple[int, int] | None = None,
        overlap: int = 16,
        fast_path: FastPath | Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        """Draw normalised samples for a batch of conditions (the tensor-level API).

        Parameters
        ----------
        condition : torch.Tensor
            ``(B, n_condition_channels, H, W)``, normalised and padded.
        calendar : torch.Tensor, optional
            ``(B, 2)`` hour-of-day and day-of-year fractions.
        sampler : {"ddpm", "ddim", "dpm++2m", "dpm++2m-sde"}, optional
            Default: the model's ``default_sampler``.
        steps : int, optional
            Default: the sampler's default (all steps for DDPM).
        generators : list of torch.Generator, optional
            One per batch item: each item's initial and per-step noise is drawn
            from its own generator, so a sample does not depend on its batch.
        progress : callable, optional
            Called with 1 after each step.
        tile, overlap : int, optional
            Run the network on overlapping tiles of this size (pixels; a multiple of
            ``2**(levels-1)``) and blend them at every step, for fields that do not fit
            the device. Off by default: on the sample, tiles smaller than the training
            fields cost skill (BENCHMARKS.md).
        fast_path : xdeepr.FastPath or mapping, optional
            Mixed precision, memory format and compilation switches; default: bf16
            autocast on CUDA, nothing else.

        Returns
        -------
        torch.Tensor
            ``(B, n_labels, H, W)`` in normalised units.
        """
        sampler = sampler or self.default_sampler
        net = self.network
        device = next(net.parameters()).device
        b = condition.shape[0]
        shape = (len(self.labels), *condition.shape[2:])
        condition = condition.to(device=device, dtype=torch.float32)
        if calendar is not None:
            calendar = calendar.to(device=device, dtype=torch.float32)

        def draw() -> torch.Tensor:
            if generators is None:
                return torch.randn((b, *shape), device=device)
            if len(generators) != b:
                raise ValueError(f"got {len(generators)} generators for a batch of {b}")
            return torch.stack(
                [torch.randn(shape, generator=g, device=g.device) for g in generators]
            ).to(device)

        fast = FastPath.coerce(fast_path)
        denoise = tiling.tiled(fast.denoiser(net, device), tile, overlap, net.size_multiple)

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return denoise(x, t, condition, calendar)

        net.eval()
        x_T = draw()
        with torch.no_grad():
            return sample(
                model_fn,
                x_T,
                self.schedule,
                sampler=sampler,
                steps=steps,
                prediction=self.prediction,
                eta=eta,
                noise=lambda i: draw(),
                progress=progress,
            )

    @property
    def default_sampler(self) -> str:
        """The sampler used when none is named (chosen by measurement, see BENCHMARKS.md)."""
        return str(self.config.get("sampler", DEFAULT_SAMPLER))

    def default_steps(self, sampler: str | None = None) -> int | None:
        """Default number of steps of `sampler` (None: all of the schedule's)."""
        return DEFAULT_STEPS[sampler or self.default_sampler]

    def to(self, device: str | torch.device) -> DownscalingModel:
        """Move the network to `device` (in place) and return the model."""
        self.network.to(device)
        return self

    # -------------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """The model as a mapping of tensors and plain values (what :meth:`save` writes)."""
        lat, lon = self.label_grid_names
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "xdeepr_version": __version__,
            "network": {
                "config": _to_plain(self.network.config),
                "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
                "training_state": self.training_state,
            },
            "schedule": _to_plain(self.schedule.to_dict()),
            "prediction": self.prediction,
            "scalers": {
                "features": _to_plain(self.feature_scaler.to_dict()),
                "labels": _to_plain(self.label_scaler.to_dict()),
            },
            "variables": {"features": self.features, "labels": self.labels},
            "label_attrs": _to_plain(self.label_attrs),
            "learn_residuals": self.learn_residuals,
            "label_grid": {
                "lat_name": lat,
                "lon_name": lon,
                "lat": torch.tensor(np.asarray(self.label_grid[lat].values, "float64")),
                "lon": torch.tensor(np.asarray(self.label_grid[lon].values, "float64")),
                "lat_attrs": _to_plain(self.label_grid[lat].attrs),
                "lon_attrs": _to_plain(self.label_grid[lon].attrs),
            },
            "feature_grid": _to_plain(self.feature_grid),
            "static": {
                "names": self.static_names,
                "values": {
                    k: torch.tensor(np.asarray(v.values, "float32"))
                    for k, v in self.static.data_vars.items()
                },
                "stats": {k: [float(a), float(b)] for k, (a, b) in self.static_stats.items()},
            },
            "config": _to_plain(self.config),
            "summary": _to_plain(self.summary),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to `path` atomically (tensors and plain values only).

        Examples
        --------
        >>> model.save("t2m.xdeepr")  # doctest: +SKIP
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.to_dict(), tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DownscalingModel:
        """Rebuild a model from :meth:`to_dict` output."""
        if d.get("format") != FORMAT:
            raise ModelFileError("not an xdeepr model (its 'format' entry is missing or wrong)")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelFileError(
                f"model file format {d['format_version']} is newer than this xdeepr supports "
                f"({FORMAT_VERSION}); upgrade xdeepr"
            )
        net = UNet(**d["network"]["config"])
        net.load_state_dict(d["network"]["state_dict"])
        g = d["label_grid"]
        lat, lon = g["lat_name"], g["lon_name"]
        label_grid = xr.Dataset(
            coords={
                lat: xr.Variable(lat, g["lat"].numpy(), dict(g["lat_attrs"])),
                lon: xr.Variable(lon, g["lon"].numpy(), dict(g["lon_attrs"])),
            }
        )
        st = d["static"]
        static = xr.Dataset(
            {k: ((lat, lon), st["values"][k].numpy()) for k in st["names"]},
            coords=label_grid.coords,
        )
        return cls(
            net,
            NoiseSchedule.from_dict(d["schedule"]),
            prediction=d["prediction"],
            feature_scaler=Scaler.from_dict(_from_plain(d["scalers"]["features"])),
            label_scaler=Scaler.from_dict(_from_plain(d["scalers"]["labels"])),
            features=list(d["variables"]["features"]),
            labels=list(d["variables"]["labels"]),
            label_grid=label_grid,
            feature_grid=_from_plain(d["feature_grid"]),
            static=static,
            static_stats={k: (float(v[0]), float(v[1])) for k, v in st["stats"].items()},
            label_attrs=d["label_attrs"],
            learn_residuals=bool(d["learn_residuals"]),
            config=d["config"],
            summary=d.get("summary"),
            training_state=d["network"].get("training_state"),
        )


def calendar_features(time: xr.DataArray) -> np.ndarray:
    """``(n, 2)`` float32 ``[hour_of_day / 24, day_of_year_fraction]`` of each time stamp.

    Works for numpy datetime64 and cftime calendars (360_day, noleap, ...): the
    day-of-year fraction divides by that calendar's length of the year.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = xr.DataArray(pd.to_datetime(["2001-01-01T06", "2001-07-02T18"]), dims="time")
    >>> calendar_features(t)[:, 0].tolist()
    [0.25, 0.75]
    """
    dt = time.dt
    hour = np.asarray(dt.hour, dtype="float64") + np.asarray(dt.minute, dtype="float64") / 60
    doy = np.asarray(dt.dayofyear, dtype="float64")
    try:
        days = np.asarray(dt.days_in_year, dtype="float64")
    except (AttributeError, TypeError):  # pragma: no cover - old xarray
        days = np.full(doy.shape, 365.25)
    out = np.stack([hour / 24.0, (doy - 1 + hour / 24.0) / days], axis=-1)
    return np.mod(out, 1.0).astype("float32")


def _check_time(ds: xr.Dataset) -> None:
    if "time" not in ds.coords:
        raise ValueError("the input has no 'time' coordinate; downscaling works per time step")
    t = ds["time"]
    if np.issubdtype(t.dtype, np.datetime64):
        return
    if t.dtype == object and t.size and hasattr(t.values.flat[0], "calendar"):
        return
    raise TypeError(
        f"the input's 'time' coordinate has dtype {t.dtype}; it must be numpy datetime64 or "
        "cftime (decode times with xr.decode_cf or use_cftime=True)"
    )


def prepare_static(
    static: xr.Dataset,
    label_grid: xr.Dataset,
    stats: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[xr.Dataset, dict[str, tuple[float, float]]]:
    """Static covariates as normalised channels on `label_grid`.

    Each variable of `static` (any resolution, e.g. hi-res orography and a coarse
    land-sea mask) is interpolated onto the label grid (bicubic; the identity for a
    variable already on it) and standardised with `stats` (fitted when None).
    """
    from . import grid

    lat, lon = grid.find_latlon(label_grid)
    out = {}
    fitted: dict[str, tuple[float, float]] = {}
    for name, da in static.data_vars.items():
        da = da.squeeze(drop=True)
        if (
            set(da.dims) == {lat, lon}
            and np.array_equal(da[lat], label_grid[lat])
            and (np.array_equal(da[lon], label_grid[lon]))
        ):
            hi = da
        else:
            hi = grid.interpolate(da, label_grid, method="bicubic")
        hi = hi.transpose(lat, lon).astype("float64")
        if stats is None:
            m, s = float(hi.mean()), float(hi.std())
            fitted[str(name)] = (m, s if s > 0 else 1.0)
        else:
            fitted[str(name)] = stats[str(name)]
        m, s = fitted[str(name)]
        if not np.isfinite(hi.values).all():
            raise ValueError(f"static covariate {name!r} has NaN or Inf on the label grid")
        out[str(name)] = (
            ((hi - m) / s)
            .astype("float32")
            .drop_vars([c for c in hi.coords if c not in (lat, lon)])
        )
    return xr.Dataset(out, coords=label_grid.coords), fitted


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> DownscalingModel:
    """Load a model written by :meth:`DownscalingModel.save`.

    The file is read with ``torch.load(weights_only=True)``: a file holding anything
    but tensors and plain values (a pickled class or callable, say) is refused.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        Where to put the network (default: CPU).

    Raises
    ------
    ModelFileError
        When the file is not an xdeepr model or holds executable objects.

    Examples
    --------
    >>> model = xdeepr.load_model("t2m.xdeepr")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{str(path)!r} is not an xdeepr model file (model files are written by "
            "DownscalingModel.save or `xdeepr train`)"
        )
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(
            f"refusing to load {str(path)!r}: it holds objects other than tensors and plain "
            f"values, which could run code when loaded. Only load model files you trust and "
            f"that xdeepr wrote. ({str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError) as err:
        raise ModelFileError(f"{str(path)!r} is not a readable model file: {err}") from err
    if not isinstance(d, Mapping):
        raise ModelFileError(f"{str(path)!r} is not an xdeepr model (top level is not a mapping)")
    model = DownscalingModel.from_dict(d)
    if device is not None:
        model.to(device)
    return model
