"""The embedded synthetic sample: ERA5-like features, CERRA-like labels, static fields.

Everything is generated on the fly from a fixed seed with numpy only, so the sample
needs no download and is identical on every machine. The parts live beside this
module, one concept each: :mod:`._geometry` (grids, seed, block means),
:mod:`._terrain` (orography and lakes), :mod:`._weather` (the truth and its block
means), :mod:`._package` (CF datasets), :mod:`._covariables` (``t850``) and
:mod:`._stations` (the synthetic station network). Here: the per-process cache and
:func:`load_sample`. How the fields are built is written up in ``docs/sample.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import xarray as xr

from xdeepr.errors import ConfigError

from ._covariables import _t850
from ._package import _select_variables, _to_datasets
from ._surface import SURFACE_VARIABLES, _surface_fields
from ._weather import _generate

VARIABLES = ("t2m", *SURFACE_VARIABLES)

__all__ = ["load_sample"]


def _build(start: str, periods: int | None, freq: str) -> tuple[xr.Dataset, ...]:
    return _to_datasets(*_generate(start, periods, freq), start, periods, freq)


@functools.lru_cache(maxsize=4)
def _cached(start: str, periods: int | None, freq: str) -> tuple[xr.Dataset, ...]:
    return _build(start, periods, freq)


def load_sample(
    *,
    start: str = "2020-01-01",
    periods: int | None = None,
    freq: str = "6h",
    covariables: bool = False,
    variables: str | Sequence[str] = ("t2m",),
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Load the embedded synthetic sample: coarse features, hi-res labels, static fields.

    The sample mimics DeepR's reduced development domain: ERA5-like 2 m temperature
    at 0.25° over lon 6.0–13.75, lat 50.0–45.25 (32×20) and CERRA-like 2 m
    temperature at 0.05° over lon 9.2–10.75, lat 48.0–47.05 (32×20). It is made
    on the fly from a fixed seed (no download) as one hi-res "truth" over the
    whole feature coverage: a climatology, seasonal and diurnal cycles with a
    land–lake contrast, a lapse rate on synthetic orography, travelling synoptic
    waves and small-scale spatially correlated noise. Features are 5×5 block means
    of the truth, labels are the truth on the label domain. The orography, lake
    and lapse-rate structure is predictable from the static fields; the noise is
    not. See ``docs/sample.md`` for the formulas.

    Parameters
    ----------
    start : str, default "2020-01-01"
        First time step (anything :class:`pandas.Timestamp` parses).
    periods : int, optional
        Number of time steps. By default, two calendar years from `start`
        (2924 six-hourly steps from 2020-01-01: 2020 is a leap year).
    freq : str, default "6h"
        Time step, as a pandas frequency string.
    covariables : bool, default False
        Add the coarse meteorological covariable ``t850`` (air temperature at
        850 hPa, K) to the features: the same synoptic weather and seasonal cycle as
        ``t2m``, lifted 1.5 km along the day's lapse rate, without the surface's diurnal
        cycle, lakes and orography, plus its own small noise (``docs/sample.md``,
        "Covariable"). Everything else is unchanged, bit for bit.
    variables : str or sequence of str, default ("t2m",)
        The variables of the features and labels, in this order, among ``"t2m"``,
        ``"u10"``, ``"v10"`` (10 m wind components, m s-1, ``eastward_wind`` /
        ``northward_wind``) and ``"tp"`` (precipitation amount over the time step
        ending at the time stamp, kg m-2 = mm, ``precipitation_amount``, never
        negative). The wind blows from the same synoptic weather as ``t2m``, shaped
        by the terrain; precipitation is zero-inflated, intermittent and heavier on
        windward slopes (``docs/sample.md``, "Wind and precipitation"). As for
        ``t2m``, the features are 5x5 block means of the hi-res truth. ``t2m`` is
        the same whatever else is asked for, and the default leaves the sample
        unchanged, bit for bit.

    Returns
    -------
    features : xarray.Dataset
        ``t2m`` (K) or the `variables`, float32, dims ``(time, latitude,
        longitude)``, 20×32 at 0.25°, latitude descending.
    labels : xarray.Dataset
        ``t2m`` (K) or the `variables`, float32, dims ``(time, latitude,
        longitude)``, 20×32 at 0.05°, latitude descending.
    static : xarray.Dataset
        ``orog`` (m) and ``lsm`` (0 water, 1 land) on the label grid
        (``latitude``, ``longitude``, equal to the labels' coordinates), and
        ``orog_coarse`` (m) and ``lsm_coarse`` (land fraction) on the feature grid
        (``latitude_coarse``, ``longitude_coarse``, equal to the features'
        coordinates and carrying CF latitude/longitude attributes).

    Raises
    ------
    xdeepr.errors.ConfigError
        If `variables` is empty, repeats a name or names an unknown variable.

    Notes
    -----
    Results are cached per process for each ``(start, periods, freq)``, ``t2m``
    and the other variables separately (so ``t2m`` costs nothing more); every
    call returns fresh deep copies, so modifying them does not affect later
    calls. Time steps are generated in order, so a shorter sample is the prefix
    of a longer one with the same `start` and `freq` (to float32 rounding).

    Examples
    --------
    >>> from xdeepr.datasets import load_sample
    >>> features, labels, static = load_sample(periods=8)
    >>> features.t2m.shape, labels.t2m.shape
    ((8, 20, 32), (8, 20, 32))
    >>> float(labels.latitude[0]), float(labels.longitude[0])
    (48.0, 9.2)
    >>> sorted(static.data_vars)
    ['lsm', 'lsm_coarse', 'orog', 'orog_coarse']

    Wind and precipitation, at both resolutions:

    >>> features, labels, _ = load_sample(periods=8, variables=("t2m", "u10", "v10", "tp"))
    >>> list(labels.data_vars), labels.tp.attrs["units"], labels.tp.attrs["cell_methods"]
    (['t2m', 'u10', 'v10', 'tp'], 'kg m-2', 'time: sum')
    >>> bool((features.tp >= 0).all() and (labels.tp >= 0).all())
    True
    """
    key = str(start) if not isinstance(start, str) else start
    if periods is not None:
        periods = int(periods)
    names = _check_variables(variables)
    feats, labels, static = (ds.copy(deep=True) for ds in _cached(key, periods, freq))
    if names != ("t2m",):
        fields = _surface_fields(key, periods, freq) if set(names) - {"t2m"} else {}
        call = (
            f"xdeepr.datasets.load_sample(start={start!r}, periods={periods!r}, freq={freq!r},"
            f" variables={names!r})"
        )
        feats, labels = _select_variables(feats, labels, names, fields, call)
    if covariables:
        feats["t850"] = (
            ("time", "latitude", "longitude"),
            _t850(key, periods, freq).copy(),
            {
                "standard_name": "air_temperature",
                "long_name": "temperature at 850 hPa",
                "units": "K",
                "cell_methods": "area: mean",
            },
        )
    return feats, labels, static


def _check_variables(variables: str | Sequence[str]) -> tuple[str, ...]:
    """`variables` as a tuple of known, distinct names; :class:`ConfigError` otherwise.

    Examples
    --------
    >>> _check_variables("tp"), _check_variables(["t2m", "u10"])
    (('tp',), ('t2m', 'u10'))
    """
    names: tuple[object, ...]
    if isinstance(variables, str):
        names = (variables,)
    else:
        try:
            names = tuple(variables)
        except TypeError:
            names = (variables,)
    bad = [v for v in names if not isinstance(v, str) or v not in VARIABLES]
    if bad or not names or len(set(names)) != len(names):
        raise ConfigError(
            f"variables must be distinct names among {VARIABLES}, at least one, got"
            f" {variables!r}" + (f" ({', '.join(map(repr, bad))} unknown)" if bad else "")
        )
    return tuple(str(v) for v in names)
