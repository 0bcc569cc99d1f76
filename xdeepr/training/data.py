"""Training data: variables, pairing by time, checks, and blocks of tensors.

The NaN/Inf check and the pairing run before any optimisation, so bad input is named
(variable, time stamps, time types) instead of surfacing as a non-finite loss.
:class:`_Blocks` is where training crosses the tensor boundary: it loads blocks of time
steps (streaming dask-backed inputs chunk by chunk) into tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .. import grid
from .._util import time_kind
from ..errors import InputError
from .meancheck import StaticCorrection


def _time_index(ds: xr.Dataset, what: str) -> pd.Index:
    if "time" not in ds.indexes:
        raise InputError(f"the {what} have no 'time' index; both inputs need one")
    return ds.indexes["time"]


def _pair(features: xr.Dataset, labels: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    fi, li = _time_index(features, "features"), _time_index(labels, "labels")
    fkind, lkind = time_kind(features["time"]), time_kind(labels["time"])
    if fkind != lkind:  # datetime64 never equals cftime: no time could ever be shared
        raise InputError(
            f"the features' times are {fkind} and the labels' times are {lkind}, so no time "
            f"step can be paired (features {fi[0]} .. {fi[-1]}, labels {li[0]} .. {li[-1]}); "
            "decode both the same way: open both with the same use_cftime=, or convert one "
            "with .convert_calendar(...) (e.g. labels.convert_calendar('standard', "
            "use_cftime=False))"
        )
    try:
        common = fi.intersection(li)
    except TypeError as err:
        raise InputError(
            f"feature times ({type(fi[0]).__name__}) and label times ({type(li[0]).__name__}) "
            "use different calendars or types; decode both the same way"
        ) from err
    if len(common) == 0:
        raise InputError(
            f"no time step is shared by the features ({fi[0]} .. {fi[-1]}, {len(fi)} steps) and "
            f"the labels ({li[0]} .. {li[-1]}, {len(li)} steps)"
        )
    common = common.sort_values()
    return features.sel(time=common), labels.sel(time=common)


def _variables(ds: xr.Dataset, wanted: tuple[str, ...] | None, what: str) -> list[str]:
    lat, lon = grid.horizontal_dims(ds)
    if wanted:
        missing = [v for v in wanted if v not in ds.data_vars]
        if missing:
            raise InputError(
                f"the {what} lack the variable(s) {missing} (they have "
                f"{list(map(str, ds.data_vars))})"
            )
        return list(wanted)
    names = [str(v) for v, da in ds.data_vars.items() if {"time", lat, lon} <= set(da.dims)]
    if not names:
        raise InputError(f"the {what} have no variable with dims (time, {lat}, {lon})")
    return names


def _stamp(t: Any) -> str:
    """A time stamp as text: ISO to the second for datetime64, cftime's own for cftime."""
    if isinstance(t, np.datetime64):
        return str(np.datetime_as_string(t, unit="s"))
    return str(t)


def _check_finite(inputs: Sequence[tuple[str, xr.Dataset]], shown: int = 3) -> None:
    """Refuse NaN or Inf in the training data, naming the variable and the first bad times.

    One pass over the data: the per-time NaN and Inf flags of every variable of every
    input are computed together (one ``dask.compute``; numpy-backed inputs pass through).

    Raises
    ------
    InputError
        Listing, per input and variable, NaN or Inf, how many time steps hold them and the
        first `shown` of those time stamps.
    """
    import dask

    keys: list[tuple[str, str, str]] = []
    flags: list[xr.DataArray] = []
    masks: list[tuple[xr.DataArray, xr.DataArray]] = []  # NaN ever / NaN always, per point
    for what, ds in inputs:
        for name, da in ds.data_vars.items():
            space = [d for d in da.dims if d != "time"]
            keys.append((what, str(name), "NaN"))
            null = da.isnull()
            flags.append(null.any(space))
            masks.append((null.any("time").sum(), null.all("time").sum()))
            if da.dtype.kind in "fc":
                keys.append((what, str(name), "Inf"))
                flags.append((abs(da) == np.inf).any(space))
                masks.append((flags[-1].sum(), flags[-1].sum()))
    computed, counts = dask.compute(flags, masks)
    problems, fixed = [], []
    for (what, name, kind), flag, (ever, always) in zip(keys, computed, counts):
        bad = np.flatnonzero(np.asarray(flag.values).reshape(-1))
        if bad.size:
            times = flag["time"].values
            if kind == "NaN" and bad.size == times.size and int(ever) == int(always):
                fixed.append(name)
                problems.append(
                    f"the {what}' {name!r} is NaN at the same {int(always)} grid point(s) "
                    "at every time step (a fixed mask, e.g. the sea in a land-only product)"
                )
                continue
            first = ", ".join(_stamp(t) for t in times[bad[:shown]])
            more = ", ..." if bad.size > shown else ""
            problems.append(
                f"the {what}' {name!r} holds {kind} at {bad.size} of {times.size} time "
                f"step(s) ({first}{more})"
            )
    if fixed:
        raise InputError(
            "training needs finite data: " + "; ".join(problems) + ". Dropping time steps "
            "would drop them all. Fill the masked points instead, e.g. with the "
            "interpolated features: labels.fillna(features.deepr.interpolate(labels)) "
            "(with learn_residuals, the default, the model then learns a zero residual "
            "there and returns the interpolation), and mask the downscaled output again "
            "with .where(mask); or crop to a box without masked points."
        )
    if problems:
        raise InputError(
            "training needs finite data: " + "; ".join(problems) + ". Drop those time steps "
            "(e.g. ds.where(np.isfinite(ds)).dropna('time', how='any')) or fill the values "
            "before training."
        )


def _feature_grid(features: xr.Dataset, labels: xr.Dataset) -> dict[str, Any]:
    regular = grid.find_grid(labels).is_regular  # else projected/curvilinear: no ratio
    if regular:
        grid.scale_factor(features, labels)  # raises unless an integer ratio
    grid.check_inside(labels, features)
    flat, flon = grid.find_latlon(features)
    fa, fo = features[flat].values.astype("f8"), features[flon].values
    (lsouth, lnorth), (lwest, lspan), lstep = grid.latlon_hull(labels)
    west, span = grid._lon_extent(features, flon)
    start = float(grid._lon_offsets(np.array([lwest]), west)[0]) % 360.0
    if start > 360.0 - 1e-6:
        start -= 360.0
    dlat, dlon = grid.grid_spacing(features)
    return {
        "lat_step": dlat,
        "lon_step": dlon,
        "coverage": {
            "longitude": [float(west), float(west + span)],
            "latitude": [float(fa.max()), float(fa.min())],
        },
        "halo": {
            "north": float(fa.max() - lnorth),
            "south": float(lsouth - fa.min()),
            "west": float(start),
            "east": float(span - start - lspan),
        },
        "shape": [int(fa.size), int(fo.size)],
        "scale_factor": (
            grid.scale_factor(features, labels)
            if regular
            else max(1, round(abs(dlat) / lstep))  # about: the grids are not aligned
        ),
    }


def _stack(ds: xr.Dataset, names: list[str]) -> xr.DataArray:
    lat, lon = grid.horizontal_dims(ds)
    arr = xr.concat([ds[v].transpose("time", lat, lon) for v in names], dim="variable")
    return arr.assign_coords(variable=names).transpose("time", "variable", lat, lon)


@dataclass
class _Data:
    condition: xr.DataArray  # (time, channel, lat, lon), padded, normalised
    target: xr.DataArray  # (time, variable, lat, lon), padded, normalised
    calendar: np.ndarray  # (time, 2)
    times: np.ndarray  # time stamps, for error messages
    #: The static correction (label − bicubic and its training mean) in the learnt
    #: space, for the mean check; None where there is no bicubic residual.
    static: StaticCorrection | None = None


class _Blocks:
    """Loads contiguous blocks of time steps as tensors (streams dask-backed data)."""

    def __init__(self, data: _Data, indices: np.ndarray, block_size: int) -> None:
        self.data = data
        self.indices = indices
        self.block_size = max(1, int(block_size))
        self.blocks = [
            indices[i : i + self.block_size] for i in range(0, len(indices), self.block_size)
        ]
        self._cache: tuple[int, tuple[torch.Tensor, ...]] | None = None

    def load(self, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._cache is not None and self._cache[0] == b:
            return self._cache[1]  # type: ignore[return-value]
        idx = self.blocks[b]
        sl = slice(int(idx[0]), int(idx[-1]) + 1)  # blocks are contiguous
        # One compute for both: with learn_residuals the target is label − bicubic(feature),
        # so the two share the feature reads and the interpolation; computed apart, those
        # would run twice per block.
        cond_da, tgt_da = self.data.condition.isel(time=sl), self.data.target.isel(time=sl)
        if cond_da.chunks is not None or tgt_da.chunks is not None:
            import dask

            cond_da, tgt_da = dask.compute(cond_da, tgt_da)
        cond = torch.from_numpy(np.asarray(cond_da.values, "f4"))
        tgt = torch.from_numpy(np.asarray(tgt_da.values, "f4"))
        cal = torch.from_numpy(self.data.calendar[sl])
        self._cache = (b, (cond, tgt, cal))
        return cond, tgt, cal

    def batches(self, epoch: int, seed: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
        """(block, positions-in-block) of each batch of `epoch`, deterministically shuffled."""
        rng = np.random.default_rng([seed, epoch])
        out = []
        for b in rng.permutation(len(self.blocks)):
            order = rng.permutation(len(self.blocks[b]))
            out += [(int(b), order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
        return out


def _landmask(static: xr.Dataset | None, like: xr.Dataset) -> xr.DataArray | None:
    """A land-sea mask variable of `static` on `like`'s grid, if there is one."""
    if static is None:
        return None
    lat, lon = grid.horizontal_dims(like)
    for name, da in static.data_vars.items():
        sn = str(da.attrs.get("standard_name", ""))
        if ("land" in sn or str(name) in ("lsm", "land_sea_mask")) and da.ndim == 2:
            try:
                dlat, dlon = grid.horizontal_dims(da)
            except grid.GridError:
                continue
            if np.array_equal(da[dlat].values, like[lat].values) and np.array_equal(
                da[dlon].values, like[lon].values
            ):
                return da.rename({dlat: lat, dlon: lon})
    return None
