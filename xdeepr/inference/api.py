"""Downscaling: per-chunk sampling, batching and seeding; xr.map_blocks over dask chunks.

One :class:`xdeepr.SamplingOptions` travels from the accessor through
:func:`downscale`, which resolves it once against the model and the inputs
(:meth:`~xdeepr.SamplingOptions.resolve`) and, for an eager run, settles it on the
device (:meth:`~xdeepr.SamplingOptions.on_device`); the per-block function of a lazy
run settles it on its worker's device, once per block. Below that,
:func:`~xdeepr.inference.sample_block` and :meth:`xdeepr.DownscalingModel.sample`
use it as it is. The noise of each (time, member) sample is
drawn from its own generator, seeded by ``seed``, the time stamp and the member
index only; so an ensemble does not depend on chunking, batch size, scheduler or
worker.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .. import grid, transforms
from .._torch import choose_device
from .._version import __version__
from ..errors import ConfigError, InputError
from ..model import DownscalingModel, calibration, drycut
from ..model.inputs import check_time_step, history_note, match_variables
from ..options import MAX_CHUNK_BYTES, SamplingOptions
from . import batching
from .batching import MEMBER
from .transport import _model_array, _model_from_bytes

_MODEL_DIM = "xdeepr_model_bytes"
_IN_LAT, _IN_LON = "xdeepr_in_lat", "xdeepr_in_lon"


def _block_fn(
    ds: xr.Dataset,
    model_bytes: xr.DataArray,
    *,
    identity: str,
    lat: str,
    lon: str,
    target: xr.Dataset | None,
    options: SamplingOptions,
    members: range,
) -> xr.Dataset:
    device = choose_device(options.device)  # None: this worker's choice
    model = _model_from_bytes(np.asarray(model_bytes.values), identity, device)
    ds = ds.rename({_IN_LAT: lat, _IN_LON: lon})
    from ..observations import unpack

    ds, obs = unpack(ds)  # this time block's observations travel with it
    opts = options.on_device(device)  # resolved at the top; settled here for the device
    return batching.sample_block(
        ds, model, opts, device=device, target=target, members=members, observations=obs
    )


def _fill(ds: xr.Dataset, fill: str | float | None) -> xr.Dataset:
    """Fill NaN (and ±Inf, treated as missing) with each field's spatial mean or a number.

    A field that is missing everywhere at a time step has no mean to fill with: that is
    an error naming the variable and the time steps, whatever `fill` is.
    """
    if fill is None:
        return ds
    lat, lon = grid.find_latlon(ds)
    ds = ds.where(~np.isinf(ds))  # ±Inf are missing values too, for filling
    if fill == "mean":
        return ds.fillna(ds.mean([lat, lon]))
    return ds.fillna(float(fill))


def _check_not_all_missing(ds: xr.Dataset, fill: str | float | None) -> None:
    """With ``fill="mean"``, refuse time steps whose field is missing everywhere."""
    if fill != "mean":
        return
    lat, lon = grid.find_latlon(ds)
    empty = {
        v: (~xr.apply_ufunc(np.isfinite, ds[v], dask="allowed")).all([lat, lon])
        for v in ds.data_vars
    }
    import dask

    (computed,) = dask.compute(empty)
    for name, flags in computed.items():
        bad = np.asarray(flags.values, dtype=bool)
        if bad.any():
            stamps = [str(t) for t in np.asarray(ds["time"].values)[bad][:10]]
            raise InputError(
                f"{name!r} is missing (NaN or Inf) everywhere at time(s) {stamps}: fill='mean' "
                "has no spatial mean to fill with there; drop those times (e.g. "
                "ds.dropna('time', how='all')) or fill them with a number (fill=<value>)"
            )


def _member_chunks(members: int, per_member_bytes: int) -> list[range]:
    """Split `members` so that one chunk of the lazy ensemble stays under MAX_CHUNK_BYTES."""
    per_chunk = max(1, MAX_CHUNK_BYTES // max(1, per_member_bytes))
    return [range(m, min(m + per_chunk, members)) for m in range(0, members, per_chunk)]


def downscale(
    ds: xr.Dataset,
    model: DownscalingModel,
    options: SamplingOptions | None = None,
    *,
    target: xr.Dataset | None = None,
    observations: xr.Dataset | None = None,
    variables: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Downscale coarse `ds` with `model` into an ensemble; see ``Dataset.deepr.downscale``.

    Parameters
    ----------
    ds : xarray.Dataset
        Coarse input (numpy or dask).
    model : DownscalingModel
    options : xdeepr.SamplingOptions or mapping, optional
        How to sample (default: 20 members with the model's default sampler);
        resolved here, once, against `model` and the inputs.
    target : xarray.Dataset, optional
        Another hi-res domain with the model's static covariates.
    observations : xarray.Dataset, optional
        Station observations (CF timeSeries), data like `ds`: condition channels of a
        model trained with them (any stations, or none), and the guidance's data
        (``options.guidance``, by default 1 when observations are given; any model). See
        :mod:`xdeepr.observations`.
    variables : mapping of str to str, optional
        Input name -> the model's, e.g. ``{"tas": "t2m"}``. Without it, a model variable
        the input lacks is taken from the one input variable of its ``standard_name``
        (:func:`xdeepr.model.inputs.match_variables`); the output's ``history`` says
        which input was used for which model variable.

    Returns
    -------
    xarray.Dataset
        (member, time, lat, lon) per label variable; lazy when `ds` is dask-backed,
        with dask chunks of one input time chunk and at most
        :data:`xdeepr.options.MAX_CHUNK_BYTES` bytes (members split as needed).

    Warns
    -----
    xdeepr.errors.TimeStepWarning
        When the input's time step or time ``cell_methods`` differ from the training
        data's (e.g. daily means to a 6-hourly model).

    Examples
    --------
    >>> hires = downscale(cmip, model, variables={"tas": "t2m"})  # doctest: +SKIP
    """
    if not isinstance(model, DownscalingModel):
        raise ConfigError(
            f"model must be a DownscalingModel (xdeepr.train or xdeepr.load_model), got "
            f"{type(model).__name__}"
        )
    # inputs named otherwise renamed once, here, before anything reads the variables
    ds, used = match_variables(model, ds, variables)
    # the one place options are resolved: sampler, steps, guidance, tile (then the device)
    opts = SamplingOptions.coerce(options).resolve(model, observations=observations is not None)
    dev = choose_device(opts.device)  # validated here; a lazy run's workers choose theirs
    digest = model.digest  # the identity of the model's current state, hashed once per call
    ds, time_name = grid.standard_time(ds)
    check_time_step(model, ds)  # daily means to a 6-hourly model: a TimeStepWarning
    if target is not None:
        # Validated and normalised once, here; blocks receive this small numpy Dataset.
        target = model.static_channels(target).compute()
    coarse = model.coarse_features(ds, target)  # validates before anything runs
    _check_not_all_missing(coarse, opts.fill)
    coarse = _fill(coarse, opts.fill)
    obs = None
    if observations is not None:  # checked and matched to the input's times, once
        from ..observations import for_downscaling, pack

        obs = for_downscaling(model, observations, coarse, target, opts)
    out_grid = model.label_grid if target is None else grid.finest_grid(target)
    olat, olon = grid.horizontal_dims(out_grid)
    attrs = _provenance(digest[:12], opts, ds.attrs, history_note(used))
    if obs is not None:
        attrs["xdeepr_stations"] = int(obs.sizes["station"])
        if "observations_used" in obs.attrs:  # station values at the input's times
            attrs["xdeepr_observations_used"] = int(obs.attrs["observations_used"])
        for key in ("xdeepr_lapse_rate", "xdeepr_altitude_adjustment"):  # what was applied
            if key in obs.attrs:
                attrs[key] = obs.attrs[key]
    if coarse.chunks and any(v.chunks for v in coarse.data_vars.values()):
        res = _lazy(
            coarse if obs is None else pack(coarse, obs), model, digest, out_grid, target, opts
        )
    else:
        from .._progress import progress_bar

        n_t = coarse.sizes["time"]
        total = n_t * opts.members * int(opts.steps or 0)
        model.to(dev)
        with progress_bar(
            total=total, disable=not opts.progress, desc="downscaling", unit="eval"
        ) as bar:
            res = batching.sample_block(
                coarse,
                model,
                opts.on_device(dev),
                device=dev,
                target=target,
                progress=bar.update,
                observations=obs,
            )
    # post-hoc spread calibration: across each time's members, after the blocks (member
    # chunks of a lazy ensemble are combined by dask), so it never depends on chunking
    cal = getattr(model, "calibration", None)
    if opts.calibrate:  # in each label's learnt space, as it was fitted
        centre = None  # the regression mean, where the members' mean is recentred on it
        if calibration.active_recentre(cal):
            lazy = res[model.labels[0]].chunks is not None
            centre = (
                _lazy_centre(coarse, model, digest, res, target, opts.device)
                if lazy
                else batching.regression_centre(coarse, model, target)
            )
        res = calibration.apply(res, cal, MEMBER, centre)
    # physical units: precipitation never < 0, dry below its threshold (or fitted cut)
    res = transforms.inverse(res, model.transforms, calibrated=opts.calibrate)
    attrs["xdeepr_calibration"] = calibration.describe(
        cal, applied=opts.calibrate, members=opts.members
    )
    cuts = drycut.describe(model.transforms, applied=opts.calibrate)
    if cuts:  # precipitation: members below the fitted cut set dry
        attrs["xdeepr_calibration"] += f"; {cuts}"
    for v in model.labels:
        res[v].attrs = _cf_attrs(model.label_attrs.get(v, {}))
    res[MEMBER].attrs = {"long_name": "ensemble member", "standard_name": "realization"}
    res["time"].attrs = dict(ds["time"].attrs)
    res[olat].attrs = dict(out_grid[olat].attrs)
    res[olon].attrs = dict(out_grid[olon].attrs)
    res = grid.attach_grid(res, out_grid)  # projected: 2-D lat/lon, grid mapping (CF)
    res.attrs = attrs
    return res if time_name == "time" else res.rename({"time": time_name})


def _lazy(
    coarse: xr.Dataset,
    model: DownscalingModel,
    digest: str,
    out_grid: xr.Dataset,
    target: xr.Dataset | None,
    opts: SamplingOptions,
) -> xr.Dataset:
    """One ``xr.map_blocks`` per member chunk over the input's time chunks, concatenated."""
    import dask.array as dsa

    lat, lon = grid.find_latlon(coarse)
    olat, olon = grid.horizontal_dims(out_grid)
    coarse = coarse.chunk({lat: -1, lon: -1}).rename({lat: _IN_LAT, lon: _IN_LON})
    tchunks = coarse.chunks["time"]
    model_arr = xr.DataArray(_model_array(model, digest), dims=_MODEL_DIM)
    ny, nx = out_grid.sizes[olat], out_grid.sizes[olon]
    per_member = max(tchunks) * ny * nx * 4 * len(model.labels)
    parts = []
    for members in _member_chunks(opts.members, per_member):
        shape = (len(members), coarse.sizes["time"], ny, nx)
        chunks = ((len(members),), tchunks, (ny,), (nx,))
        template = xr.Dataset(
            {
                v: ((MEMBER, "time", olat, olon), dsa.zeros(shape, chunks=chunks, dtype="float32"))
                for v in model.labels
            },
            coords={
                MEMBER: np.asarray(members),
                "time": coarse["time"],
                **grid.grid_coords(out_grid),  # lat/lon, or (y, x), 2-D lat/lon, mapping
            },
        )
        parts.append(
            xr.map_blocks(
                _block_fn,
                coarse,
                args=[model_arr],
                kwargs={
                    "identity": digest,
                    "lat": lat,
                    "lon": lon,
                    "target": target,
                    "options": opts,
                    "members": members,
                },
                template=template,
            )
        )
    return parts[0] if len(parts) == 1 else xr.concat(parts, dim=MEMBER)


def _centre_fn(
    ds: xr.Dataset,
    model_bytes: xr.DataArray,
    *,
    identity: str,
    lat: str,
    lon: str,
    target: Any,
    device: Any,
) -> xr.Dataset:
    model = _model_from_bytes(np.asarray(model_bytes.values), identity, choose_device(device))
    return batching.regression_centre(ds.rename({_IN_LAT: lat, _IN_LON: lon}), model, target)


def _lazy_centre(
    coarse: xr.Dataset,
    model: DownscalingModel,
    digest: str,
    like: xr.Dataset,
    target: xr.Dataset | None,
    device: Any,
) -> xr.Dataset:
    """:func:`~.batching.regression_centre` over the input's time chunks, lazily.

    On `device` (``SamplingOptions.device``; None: each worker's choice), as the blocks.
    """
    lat, lon = grid.find_latlon(coarse)
    coarse = coarse.chunk({lat: -1, lon: -1}).rename({lat: _IN_LAT, lon: _IN_LON})
    template = like.isel({MEMBER: 0}, drop=True)
    template = template.chunk({"time": coarse.chunks["time"]})
    model_arr = xr.DataArray(_model_array(model, digest), dims=_MODEL_DIM)
    kw = {"identity": digest, "lat": lat, "lon": lon, "target": target, "device": device}
    return xr.map_blocks(_centre_fn, coarse, args=[model_arr], kwargs=kw, template=template)


def _cf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    keep = ("standard_name", "units", "long_name", "cell_methods", "grid_mapping")
    return {k: attrs[k] for k in keep if k in attrs}


def _provenance(
    identity: str, opts: SamplingOptions, input_attrs: dict[str, Any], note: str = ""
) -> dict[str, Any]:
    """CF global attributes and the ``xdeepr_*`` record of how the ensemble was drawn.

    `note` (inputs taken under another name) ends the history line.
    """
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = (
        f"{now}: xdeepr {__version__} downscale(model={identity}, "
        f"members={opts.members}, sampler={opts.sampler}, steps={opts.steps}, seed={opts.seed})"
        + (f"; {note}" if note else "")
    )
    previous = str(input_attrs.get("history", "")).strip()
    return {
        "title": "xdeepr downscaled ensemble",
        "Conventions": "CF-1.8",
        "source": f"xdeepr {__version__} conditional diffusion downscaling",
        "xdeepr_version": __version__,
        "xdeepr_model": identity,
        **opts.provenance(),
        "history": f"{line}\n{previous}" if previous else line,
    }
