"""Spectral diagnostics: radially integrated power spectra and their small-scale ratio.

:func:`power_spectrum` is a numpy kernel (detrend, taper, FFT, ring sums)
over the latitude/longitude axes, wrapped once with :func:`xarray.apply_ufunc`;
:func:`spectral_ratio` compares the forecasts' small-scale power with the
observations', in xskillscore's argument order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from ..errors import ConfigError, GridError, InputError
from ..grid import find_latlon, grid_step
from ._core import Dims, XrObj, align, as_list, set_attrs, single_chunk

__all__ = ["DEFAULT_MAX_WAVELENGTH_KM", "KM_PER_DEGREE", "power_spectrum", "spectral_ratio"]

#: Mean Earth radius (km).
EARTH_RADIUS_KM = 6371.0
#: Kilometres per degree of latitude (mean Earth radius 6371 km).
KM_PER_DEGREE = 111.2
#: Default small-scale threshold of :func:`spectral_ratio`: wavelengths up to
#: two 0.25° cells (the shortest wave an ERA5-like grid can carry), in km.
DEFAULT_MAX_WAVELENGTH_KM = 2 * 0.25 * KM_PER_DEGREE


def _spatial_dims(
    field: xr.Dataset | xr.DataArray, dims: Sequence[Hashable] | None
) -> tuple[Hashable, Hashable]:
    """The ``(latitude, longitude)`` (or projected ``(y, x)``) dimensions: checked, or found."""
    if dims is None:
        try:
            return find_latlon(field)
        except GridError:  # a projected or curvilinear grid: its (y, x) dimensions
            from ..grid import find_grid

            return find_grid(field).dims
    names = list(dims)
    if len(names) != 2:
        raise ConfigError(f"dims must name the (latitude, longitude) dimensions, got {dims!r}")
    for name in names:
        if name not in field.dims:
            raise InputError(f"dimension {name!r} not found among {list(field.dims)}")
    return names[0], names[1]


def _steps_km(
    field: xr.Dataset | xr.DataArray, ydim: Hashable, xdim: Hashable
) -> tuple[float, float]:
    """Grid spacing ``(dy, dx)`` in km along the two dimensions.

    On a regular latitude/longitude grid from the coordinate steps; on a projected or
    curvilinear grid the mean great-circle distance between neighbouring points (from
    the grid's latitudes and longitudes, :func:`xdeepr.grid.grid_latlon`).
    """
    try:
        lat, lon = find_latlon(field)
    except GridError:
        lat, lon = "", ""
    if (lat, lon) == (ydim, xdim):
        mean_lat = float(np.mean(np.asarray(field[lat].values, dtype="float64")))
        dy = KM_PER_DEGREE * abs(grid_step(field, lat))
        return dy, KM_PER_DEGREE * abs(grid_step(field, lon)) * math.cos(math.radians(mean_lat))
    from ..grid import find_grid, grid_latlon

    spec = find_grid(field)
    if set(spec.dims) != {ydim, xdim}:
        raise InputError(
            f"dims {[ydim, xdim]} are not the grid's horizontal dimensions {list(spec.dims)}"
        )
    la, lo = grid_latlon(field, spec)
    if spec.dims != (ydim, xdim):
        la, lo = la.T, lo.T
    p, q = np.radians(la), np.radians(lo)

    def km(a: tuple[slice, ...], b: tuple[slice, ...]) -> float:  # haversine, mean
        h = np.sin((p[b] - p[a]) / 2) ** 2
        h = h + np.cos(p[a]) * np.cos(p[b]) * np.sin((q[b] - q[a]) / 2) ** 2
        return float(np.nanmean(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))))

    every = slice(None)
    dy = km((slice(None, -1), every), (slice(1, None), every))
    return dy, km((every, slice(None, -1)), (every, slice(1, None)))


def _radial_bins(ny: int, nx: int, dy: float, dx: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Radial wavenumber (cycles/km) of each FFT cell, the bin centres and their width."""
    ky = np.fft.fftfreq(ny, d=dy)
    kx = np.fft.rfftfreq(nx, d=dx)
    k = np.hypot(ky[:, None], kx[None, :])  # (ny, nx//2+1)
    dk = max(1.0 / (ny * dy), 1.0 / (nx * dx))  # coarser fundamental frequency
    kmax = min(0.5 / dy, 0.5 / dx)  # Nyquist of the coarser direction
    nbins = int(np.floor(kmax / dk + 1e-9))
    centres = dk * np.arange(1, nbins + 1)
    return k, centres, dk


def _spectrum_numpy(
    data: np.ndarray,
    *,
    dy: float,
    dx: float,
    window: np.ndarray | None,
    detrend: str | None,
) -> np.ndarray:
    """Radially integrated power spectral density over the last two axes."""
    f = np.asarray(data, dtype="float64")
    ny, nx = f.shape[-2:]
    if detrend == "linear":
        # Least-squares plane a + b*y + c*x removed from each field.
        yy, xx = np.meshgrid(
            np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij"
        )
        design = np.stack([np.ones(ny * nx), yy.ravel(), xx.ravel()], axis=1)  # (ny*nx, 3)
        flat = f.reshape(-1, ny * nx).T  # (ny*nx, N)
        coef, *_ = np.linalg.lstsq(design, np.nan_to_num(flat), rcond=None)
        f = (flat - design @ coef).T.reshape(f.shape)
    elif detrend == "constant":
        f = f - f.mean(axis=(-2, -1), keepdims=True)
    weight = 1.0
    if window is not None:
        f = f * window
        weight = float(np.mean(window**2))  # restores the field's variance on average
    spec = np.fft.rfft2(f, axes=(-2, -1))  # (..., ny, nx//2+1)
    power = np.abs(spec) ** 2 / (ny * nx) ** 2 / weight
    # rfft2 keeps half the plane: count the mirrored columns twice (not k_x = 0 / Nyquist).
    mult = np.full(power.shape[-1], 2.0)
    mult[0] = 1.0
    if nx % 2 == 0:
        mult[-1] = 1.0
    power = power * mult
    k, centres, dk = _radial_bins(ny, nx, dy, dx)
    index = np.rint(k / dk).astype(int)  # bin n holds (n - ½) dk <= |k| < (n + ½) dk
    out = np.empty((*power.shape[:-2], centres.size))
    for n in range(1, centres.size + 1):
        out[..., n - 1] = power[..., index == n].sum(axis=-1) / dk
    nan = np.isnan(np.asarray(data, dtype="float64")).any(axis=(-2, -1))
    out[nan] = np.nan
    return out


def power_spectrum(
    field: XrObj,
    *,
    dims: Sequence[Hashable] | None = None,
    window: str | tuple[str, float] | None = "hann",
    detrend: str | None = "linear",
    mean_dims: Dims = None,
    keep_attrs: bool = False,
) -> XrObj:
    """Radially integrated power spectrum of fields on a regular or projected grid.

    Each 2-D field is detrended (a least-squares plane is removed, or its
    mean), tapered by a window, Fourier transformed, and its power summed over
    rings of radial wavenumber ``|k| = sqrt(kx² + ky²)``. Distances use
    ``dy = 111.2 km · |Δlat|`` and ``dx = 111.2 km · |Δlon| · cos(mean latitude)`` on
    a regular latitude/longitude grid; on a projected (CF ``grid_mapping``) or
    curvilinear grid, the FFT runs along its ``(y, x)`` dimensions with the mean
    great-circle distance between neighbouring points as ``dy`` and ``dx``.
    The rings are ``dk`` wide, ``dk`` the fundamental frequency of the shorter
    side of the domain, up to the Nyquist wavenumber of the coarser direction.

    The result is a power spectral density ``E(k)`` in ``units² · km``,
    normalised so that ``Σ E(k) dk`` is about the field's (detrended) variance.
    ``E(k)`` is the ring *sum*, the convention of atmospheric energy spectra: a
    field with ``E(k) ∝ k^-3`` (synoptic scales) or ``k^-5/3`` (mesoscale) shows
    that slope here.

    Parameters
    ----------
    field : xarray.DataArray or xarray.Dataset
        Field(s) on a regular grid; every other dimension (time, member, ...)
        is kept, one spectrum each, unless listed in `mean_dims`.
    dims : pair of str, optional
        The ``(latitude, longitude)`` dimensions, or ``(y, x)`` of a projected grid;
        found with :func:`xdeepr.grid.find_latlon` (then
        :func:`xdeepr.grid.find_grid`) by default.
    window : str or tuple, default "hann"
        Taper applied separably along both axes before the transform, any
        :func:`scipy.signal.get_window` specification: ``"hann"`` (default, a
        raised cosine, strongest leakage suppression) or ``("tukey", 0.25)``
        (flat in the middle, tapering the outer 12.5 % on each side, keeps more
        of the domain). ``None`` for no window (the field is then treated as
        periodic). The power is divided by the window's mean square.
    detrend : {"linear", "constant", None}, default "linear"
        Remove a least-squares plane (a large-scale gradient, as in
        temperature, would otherwise leak power to every wavenumber), only the
        mean, or nothing.
    mean_dims : str or sequence of str, optional
        Dimensions to average the spectra over (e.g. ``"time"``).
    keep_attrs : bool, default False
        Copy the field's attributes to the result (``long_name`` and
        ``units`` are the spectrum's either way).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Spectra (``units² km``) over a new dimension ``wavelength`` (km),
        from the largest scale to the smallest (decreasing wavelength, increasing
        ``wavenumber``, a second coordinate in cycles/km). Fields with missing
        values give NaN.

    Raises
    ------
    GridError
        When no latitude/longitude is found or the grid is under 4×4 points.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> da = xr.DataArray(
    ...     rng.normal(size=(3, 32, 32)),
    ...     dims=("time", "latitude", "longitude"),
    ...     coords={"latitude": 48 - 0.05 * np.arange(32),
    ...             "longitude": 9 + 0.05 * np.arange(32)},
    ... )
    >>> spec = power_spectrum(da, mean_dims="time")
    >>> spec.dims, spec.sizes["wavelength"]
    (('wavelength',), 10)
    """
    lat, lon = _spatial_dims(field, dims)
    ny, nx = int(field.sizes[lat]), int(field.sizes[lon])
    if ny < 4 or nx < 4:
        raise GridError(f"the grid is too small for a spectrum: {ny}×{nx} points, need 4×4")
    if detrend not in ("linear", "constant", None):
        raise ConfigError(f"detrend must be 'linear', 'constant' or None, got {detrend!r}")
    dy, dx = _steps_km(field, lat, lon)
    taper: np.ndarray | None = None
    if window is not None:
        from scipy.signal import get_window

        taper = np.outer(
            get_window(window, ny, fftbins=False), get_window(window, nx, fftbins=False)
        )
    _, centres, _ = _radial_bins(ny, nx, dy, dx)
    if centres.size == 0:
        raise GridError(f"the grid ({ny}×{nx}) is too small for a spectrum")
    field = single_chunk(field, [lat, lon])
    spec = xr.apply_ufunc(
        _spectrum_numpy,
        field,
        kwargs={"dy": dy, "dx": dx, "window": taper, "detrend": detrend},
        input_core_dims=[[lat, lon]],
        output_core_dims=[["wavelength"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"wavelength": centres.size}},
        keep_attrs=False,
    )
    spec = spec.assign_coords(
        wavelength=("wavelength", 1.0 / centres, {"units": "km", "long_name": "wavelength"}),
        wavenumber=("wavelength", centres, {"units": "km-1", "long_name": "wavenumber"}),
    )
    if mean_dims is not None:
        spec = spec.mean(as_list(mean_dims))
    return set_attrs(spec, field, "power_spectrum", keep_attrs)


def spectral_ratio(
    observations: XrObj,
    forecasts: XrObj,
    member_dim: Hashable = "member",
    dim: Dims = None,
    keep_attrs: bool = False,
    *,
    max_wavelength_km: float | None = None,
    dims: Sequence[Hashable] | None = None,
) -> XrObj:
    """Small-scale power of the forecasts relative to the observations.

    Power spectra (:func:`power_spectrum`) of both are averaged over `dim`
    (and over `member_dim`, so an ensemble is judged by its members' mean
    spectrum, not by the smooth spectrum of its mean); the ratio
    ``P_forecasts(k) / P_observations(k)`` is then averaged over the
    wavelengths ``<= max_wavelength_km``. 1 means the right amount of
    small-scale variability; below 1 too smooth (as bicubic interpolation);
    above 1 too noisy.

    There is no ``weights`` argument: the latitude/longitude axes go into the
    Fourier transform, not into a mean.

    Parameters
    ----------
    observations, forecasts : xarray.DataArray or xarray.Dataset
        Fields on the same regular latitude/longitude grid; `forecasts` may
        have `member_dim`.
    member_dim : str, default "member"
    dim : str or sequence of str, optional
        Non-spatial dimensions to average the spectra over; default all of them.
    keep_attrs : bool, default False
        Copy the observations' attributes to the result.
    max_wavelength_km : float, optional
        Largest wavelength counted as small scale. Default
        :data:`DEFAULT_MAX_WAVELENGTH_KM`, about 55.6 km: two 0.25° grid
        cells, the shortest wave an ERA5-like input resolves, so the score
        covers the scales downscaling has to create.
    dims : pair of str, optional
        The ``(latitude, longitude)`` dimensions; found automatically by default.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Dimensionless ratio (dimensions not in `dim` are kept).

    Raises
    ------
    GridError
        When the grid has no wavelength below `max_wavelength_km`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> da = xr.DataArray(
    ...     rng.normal(size=(32, 32)),
    ...     dims=("latitude", "longitude"),
    ...     coords={"latitude": 48 - 0.05 * np.arange(32),
    ...             "longitude": 9 + 0.05 * np.arange(32)},
    ... )
    >>> float(spectral_ratio(da, da))
    1.0
    """
    observations, forecasts = align(observations, forecasts, member_dim)
    lat, lon = _spatial_dims(observations, dims)
    limit = DEFAULT_MAX_WAVELENGTH_KM if max_wavelength_km is None else float(max_wavelength_km)
    avg: list[Hashable]
    if dim is None:
        avg = [d for d in set(forecasts.dims) | set(observations.dims) if d not in (lat, lon)]
    else:
        avg = as_list(dim)
        if lat in avg or lon in avg:
            raise InputError("dim lists the non-spatial dimensions to average the spectra over")
        if member_dim in forecasts.dims:
            avg = [*avg, member_dim]
    sf = power_spectrum(forecasts, dims=(lat, lon))
    so = power_spectrum(observations, dims=(lat, lon))
    sf = sf.mean([d for d in avg if d in sf.dims])
    so = so.mean([d for d in avg if d in so.dims])
    small = so["wavelength"] <= limit
    if not bool(small.any()):
        raise GridError(
            f"no wavelength <= {limit:g} km on this grid (shortest "
            f"{float(so['wavelength'].min()):.4g} km); pass a larger max_wavelength_km"
        )
    ratio = (sf / so).where(small, drop=True).mean("wavelength")
    ratio = ratio.drop_vars(["wavelength", "wavenumber"], errors="ignore")
    return set_attrs(ratio, observations, "spectral_ratio", keep_attrs)
