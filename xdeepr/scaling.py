"""Normalisation statistics that travel inside a model file.

A :class:`Scaler` holds a mean and a standard deviation per variable, computed
the three ways DeepR does:

``domain-wise``
    one mean/std over time and space;
``pixel-wise``
    a mean/std per grid point, over time;
``landmask-wise``
    one mean/std over land points and one over sea points.

Each may be grouped by calendar month (``by_month=True``). Normalising is lazy
on dask-backed input; fitting computes the statistics once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .grid import find_time as _time_dim
from .grid import horizontal_dims

METHODS = ("domain-wise", "pixel-wise", "landmask-wise")
MONTH = "month"
_CLASS = "surface"  # 0 = sea, 1 = land


def _months(obj: xr.Dataset | xr.DataArray, time: str) -> xr.DataArray:
    """Calendar month of each time stamp (datetime64 or cftime)."""
    return obj[time].dt.month


@dataclass
class Scaler:
    """Per-variable normalisation statistics.

    Create one with :meth:`Scaler.fit`; apply it with ``ds.deepr.normalize(scaler)``
    and ``ds.deepr.denormalize(scaler)`` (or :meth:`normalize`/:meth:`denormalize`).

    Attributes
    ----------
    method : str
        One of ``"domain-wise"``, ``"pixel-wise"``, ``"landmask-wise"``.
    by_month : bool
        Whether the statistics are grouped by calendar month (leading axis of 12).
    mean, std : dict of str to numpy.ndarray
        Statistics per variable; shape ``([12,] )`` domain-wise, ``([12,] ny, nx)``
        pixel-wise, ``([12,] 2)`` landmask-wise (sea, land).
    grid : dict
        Latitude/longitude names and values the statistics belong to (pixel-wise and
        landmask-wise), and the land mask (landmask-wise).
    units : dict of str to str
        Units of each variable, restored by :meth:`denormalize`.
    """

    method: str
    by_month: bool
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    grid: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        ds: xr.Dataset | xr.DataArray,
        method: str = "domain-wise",
        by_month: bool = False,
        landmask: xr.DataArray | None = None,
        variables: Iterable[Hashable] | None = None,
    ) -> Scaler:
        """Compute normalisation statistics from `ds`.

        Parameters
        ----------
        ds : xarray.Dataset or xarray.DataArray
            Training data with a time dimension and a lat/lon grid.
        method : {"domain-wise", "pixel-wise", "landmask-wise"}
        by_month : bool
            Group the statistics by calendar month. Months absent from `ds` get the
            statistics of all months.
        landmask : xarray.DataArray, optional
            Land fraction or binary mask on the grid of `ds` (land where > 0.5);
            required for ``"landmask-wise"``.
        variables : iterable of str, optional
            Variables to fit (default: all data variables with a time dimension).

        Returns
        -------
        Scaler

        Examples
        --------
        >>> import numpy as np, pandas as pd, xarray as xr
        >>> time = pd.date_range("2000-01-01", periods=4, freq="6h")
        >>> ds = xr.Dataset({"t2m": (("time", "lat", "lon"), np.arange(16.0).reshape(4, 2, 2))},
        ...                 coords={"time": time, "lat": [1.0, 0.0], "lon": [0.0, 1.0]})
        >>> s = Scaler.fit(ds)
        >>> float(s.mean["t2m"])
        7.5
        >>> float(ds.deepr.normalize(s).t2m.mean())
        0.0
        """
        if isinstance(ds, xr.DataArray):
            ds = ds.to_dataset(name=ds.name if ds.name is not None else "variable")
        if method not in METHODS:
            raise ValueError(f"unknown scaling method {method!r}; choose one of {METHODS}")
        time = _time_dim(ds)
        names = [str(v) for v in (variables or [k for k in ds.data_vars if time in ds[k].dims])]
        missing = [v for v in names if v not in ds.data_vars]
        if missing or not names:
            raise ValueError(
                f"variables {missing or names} not found with a {time!r} dimension in the "
                f"dataset (it has {list(map(str, ds.data_vars))})"
            )
        grid: dict[str, Any] = {}
        lat, lon = horizontal_dims(ds)
        if method != "domain-wise":
            grid = {
                "lat_name": lat,
                "lon_name": lon,
                "lat": np.asarray(ds[lat].values, dtype="float64"),
                "lon": np.asarray(ds[lon].values, dtype="float64"),
            }
        land_da: xr.DataArray | None = None
        if method == "landmask-wise":
            if landmask is None:
                raise ValueError("method='landmask-wise' needs landmask= (land where > 0.5)")
            _check_same_grid(landmask, grid, "landmask")
            land = np.asarray(landmask.transpose(*horizontal_dims(landmask)).values) > 0.5
            if land.all() or not land.any():
                raise ValueError(
                    "landmask has only land or only sea points; use method='domain-wise'"
                )
            grid["land"] = land
            land_da = xr.DataArray(land, dims=(lat, lon))
        mean: dict[str, np.ndarray] = {}
        std: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        lazy: dict[str, list[Any]] = {}
        for name in names:
            da = ds[name]
            reduce_dims: list[Hashable] = [time] if method == "pixel-wise" else list(da.dims)
            # All statistics stay lazy here and are computed together below: one pass
            # over dask-backed data however many variables and months.
            lazy[name] = [_moments(da, reduce_dims, land_da)]
            if by_month:
                months = _months(ds, time).values
                for month in range(1, 13):
                    idx = np.nonzero(months == month)[0]
                    part = da.isel({time: idx})
                    lazy[name].append(_moments(part, reduce_dims, land_da) if idx.size else None)
            units[name] = str(ds[name].attrs.get("units", ""))
        import dask

        (computed,) = dask.compute(lazy)
        for name, parts in computed.items():
            m_all, s_all = _stack_classes(parts[0], land_da is not None)
            if by_month:
                per_month = [
                    _stack_classes(p, land_da is not None) if p is not None else (m_all, s_all)
                    for p in parts[1:]
                ]
                m_arr = np.stack([m for m, _ in per_month])
                s_arr = np.stack([sd for _, sd in per_month])
            else:
                m_arr, s_arr = m_all, s_all
            bad = ~(np.isfinite(m_arr) & (s_arr > 0))
            if bad.any():
                where = ""
                if by_month:
                    months_bad = sorted({int(i) + 1 for i in np.nonzero(bad)[0]})
                    where = f" in calendar month(s) {months_bad}"
                raise ValueError(
                    f"variable {name!r} has a zero or undefined standard deviation{where} "
                    "(constant, too few time steps, or all-NaN data); it cannot be normalised. "
                    "Use more data, by_month=False or method='domain-wise'."
                )
            mean[name], std[name] = m_arr, s_arr
        return cls(method=method, by_month=by_month, mean=mean, std=std, grid=grid, units=units)

    # ---------------------------------------------------------------- applying
    @property
    def variables(self) -> list[str]:
        """Names of the variables this scaler knows."""
        return list(self.mean)

    def _stat(self, name: str, which: str, ds: xr.Dataset) -> xr.DataArray:
        arr = (self.mean if which == "mean" else self.std)[name]
        lead = [MONTH] if self.by_month else []
        if self.method == "domain-wise":
            da = xr.DataArray(arr, dims=lead)
        else:
            _check_same_grid(ds, self.grid, "data")
            lat, lon = horizontal_dims(ds)
            if self.method == "pixel-wise":
                da = xr.DataArray(arr, dims=[*lead, lat, lon])
            else:
                land = xr.DataArray(self.grid["land"], dims=(lat, lon))
                per_class = xr.DataArray(arr, dims=[*lead, _CLASS])
                da = per_class.isel({_CLASS: land.astype("int64")})
        if self.by_month:
            time = _time_dim(ds)
            da = da.isel({MONTH: (_months(ds, time) - 1).variable})
        return da.astype(ds[name].dtype) if np.issubdtype(ds[name].dtype, np.floating) else da

    def _apply(self, ds: xr.Dataset | xr.DataArray, forward: bool) -> Any:
        if isinstance(ds, xr.DataArray):
            name = ds.name if ds.name is not None else self.variables[0]
            out = self._apply(ds.to_dataset(name=name), forward)[name]
            return out.rename(ds.name)
        present = [v for v in self.variables if v in ds.data_vars]
        if not present:
            raise ValueError(
                f"none of the scaler's variables {self.variables} is in the dataset "
                f"(it has {list(map(str, ds.data_vars))})"
            )
        out = ds.copy()
        for name in present:
            m, s = self._stat(name, "mean", ds), self._stat(name, "std", ds)
            da = ds[name]
            res = (da - m) / s if forward else da * s + m
            res = res.transpose(*da.dims)
            res.attrs = dict(da.attrs)
            if forward:
                res.attrs["units"] = "1"
                res.attrs["xdeepr_normalized"] = self.method
            else:
                res.attrs.pop("xdeepr_normalized", None)
                if self.units.get(name):
                    res.attrs["units"] = self.units[name]
            res.encoding = dict(da.encoding)
            out[name] = res
        return out

    def normalize(self, ds: xr.Dataset | xr.DataArray) -> Any:
        """Return ``(ds - mean) / std`` for the variables this scaler knows (lazy on dask)."""
        return self._apply(ds, True)

    def denormalize(self, ds: xr.Dataset | xr.DataArray) -> Any:
        """Return ``ds * std + mean``, the inverse of :meth:`normalize`, with units restored."""
        return self._apply(ds, False)

    # ----------------------------------------------------------- serialising
    def to_dict(self) -> dict[str, Any]:
        """Plain mapping of numpy arrays, strings and bools (see :meth:`from_dict`).

        Examples
        --------
        >>> s = Scaler("domain-wise", False, {"t2m": np.array(280.0)}, {"t2m": np.array(5.0)})
        >>> Scaler.from_dict(s.to_dict()).mean["t2m"]
        array(280.)
        """
        return {
            "method": self.method,
            "by_month": bool(self.by_month),
            "mean": {k: np.asarray(v) for k, v in self.mean.items()},
            "std": {k: np.asarray(v) for k, v in self.std.items()},
            "grid": {
                k: (np.asarray(v) if not isinstance(v, str) else v) for k, v in self.grid.items()
            },
            "units": dict(self.units),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scaler:
        """Rebuild a scaler from :meth:`to_dict` output (arrays may be torch tensors)."""

        def arr(v: Any) -> Any:
            if isinstance(v, str):
                return v
            return v.numpy() if hasattr(v, "numpy") else np.asarray(v)

        try:
            return cls(
                method=str(d["method"]),
                by_month=bool(d["by_month"]),
                mean={str(k): arr(v) for k, v in d["mean"].items()},
                std={str(k): arr(v) for k, v in d["std"].items()},
                grid={str(k): arr(v) for k, v in d.get("grid", {}).items()},
                units={str(k): str(v) for k, v in d.get("units", {}).items()},
            )
        except KeyError as err:
            raise ValueError(f"scaler mapping lacks the key {err.args[0]!r}") from err

    def __repr__(self) -> str:
        month = ", by month" if self.by_month else ""
        return f"Scaler({self.method}{month}: {', '.join(self.variables)})"


def _check_same_grid(obj: xr.Dataset | xr.DataArray, grid: Mapping[str, Any], what: str) -> None:
    lat, lon = horizontal_dims(obj)
    for key, name in (("lat", lat), ("lon", lon)):
        have = np.asarray(obj[name].values, dtype="float64")
        want = np.asarray(grid[key], dtype="float64")
        if have.shape != want.shape or not np.allclose(have, want, atol=1e-6):
            raise ValueError(
                f"the {what} coordinate {name!r} ({have.size} points, {have[:1]}..{have[-1:]}) "
                f"differs from the grid the scaler was fitted on ({want.size} points, "
                f"{want[:1]}..{want[-1:]}); normalise before padding and on the fitted grid"
            )


def _moments(da: xr.DataArray, dims: list[Hashable], land: xr.DataArray | None) -> list[Any]:
    """Lazy (mean, std) over `dims`, per surface class (sea, land) when `land` is given."""
    parts = [da] if land is None else [da.where(~land), da.where(land)]
    return [(p.mean(dims).data, p.std(dims).data) for p in parts]


def _stack_classes(parts: list[Any], by_class: bool) -> tuple[np.ndarray, np.ndarray]:
    """Computed (mean, std) pairs as arrays; surface classes on the last axis."""
    m = np.stack([np.asarray(p[0], dtype="float64") for p in parts], axis=-1)
    s = np.stack([np.asarray(p[1], dtype="float64") for p in parts], axis=-1)
    return (m, s) if by_class else (m[..., 0], s[..., 0])
