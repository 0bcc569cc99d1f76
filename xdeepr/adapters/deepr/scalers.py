"""DeepR's standardisation, fitted from data the user passes (never from DeepR's pickles).

DeepR (``deepr/data/scaler.py``, ``XarrayStandardScaler``) computes, per calendar
month, each pixel's mean and standard deviation over time (``groupby("time.month")``,
``std`` with ddof 0); ``domain-wise`` then averages both over the domain (the mean of
the pixels' standard deviations, not the pooled one), ``pixel-wise`` and
``landmask-wise`` keep them per pixel (DeepR's code treats the two alike). A month
absent from the data takes the statistics of the nearest month present, as DeepR's
``sel(month=..., method="nearest")``. DeepR caches these statistics as pickles;
xdeepr never reads them: :func:`deepr_scaler` refits them from the training data, into
an ordinary :class:`~xdeepr.Scaler` (by month) that the model file stores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ...grid import find_latlon
from ...scaling import Scaler

__all__ = ["deepr_scaler", "identity_scaler", "renamed"]


def _twelve(values: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``(12, ...)`` statistics from those of the `months` present (nearest month fills)."""
    pick = pd.Index(months).get_indexer(np.arange(1, 13), method="nearest")  # ties: later
    return np.asarray(values, dtype="float64")[pick]


def deepr_scaler(ds: xr.Dataset, names: Sequence[str], method: str) -> Scaler:
    """DeepR's monthly statistics of `names` in `ds` as a by-month :class:`~xdeepr.Scaler`.

    Parameters
    ----------
    ds : xarray.Dataset
        The training data on its grid (north up, as the model sees it).
    names : sequence of str
        Variables to fit.
    method : {"domain-wise", "pixel-wise", "landmask-wise"}
        DeepR's ``standardization.method``; ``landmask-wise`` is fitted per pixel, as
        DeepR's code does.

    Returns
    -------
    Scaler
        ``by_month=True``; ``"domain-wise"`` or ``"pixel-wise"``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2001-01-01", periods=4, freq="12h")
    >>> ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"),
    ...                          np.arange(16.0).reshape(4, 2, 2))},
    ...                 coords={"time": t, "latitude": [1.0, 0.0], "longitude": [0.0, 1.0]})
    >>> s = deepr_scaler(ds, ["t2m"], "domain-wise")
    >>> float(s.mean["t2m"][0]), round(float(s.std["t2m"][6]), 4)  # July: January's
    (7.5, 4.4721)
    """
    lat, lon = find_latlon(ds)
    grouped = ds[list(names)].groupby("time.month")
    mean, std = grouped.mean("time"), grouped.std("time")  # (month, lat, lon), ddof 0
    if method == "domain-wise":
        mean, std = mean.mean([lat, lon]), std.mean([lat, lon])
    months = np.asarray(mean["month"].values)
    grid = {}
    if method != "domain-wise":
        grid = {
            "lat_name": lat,
            "lon_name": lon,
            "lat": np.asarray(ds[lat].values, dtype="float64"),
            "lon": np.asarray(ds[lon].values, dtype="float64"),
        }
    dims = ["month"] if method == "domain-wise" else ["month", lat, lon]
    return Scaler(
        method="domain-wise" if method == "domain-wise" else "pixel-wise",
        by_month=True,
        mean={v: _twelve(mean[v].transpose(*dims).values, months) for v in names},
        std={v: _twelve(std[v].transpose(*dims).values, months) for v in names},
        grid=grid,
        units={v: str(ds[v].attrs.get("units", "")) for v in names},
    )


def identity_scaler(ds: xr.Dataset, names: Sequence[str]) -> Scaler:
    """No standardisation (DeepR's ``to_do: false``): mean 0, standard deviation 1.

    Examples
    --------
    >>> import xarray as xr
    >>> identity_scaler(xr.Dataset({"t2m": ((), 1.0)}), ["t2m"]).std["t2m"]
    array(1.)
    """
    return Scaler(
        method="domain-wise",
        by_month=False,
        mean={v: np.array(0.0) for v in names},
        std={v: np.array(1.0) for v in names},
        units={v: str(ds[v].attrs.get("units", "")) for v in names},
    )


def renamed(scaler: Scaler, names: Sequence[str], units: dict[str, str]) -> Scaler:
    """`scaler`'s statistics given, in order, to `names` (DeepR's labels scaled as features).

    Examples
    --------
    >>> s = Scaler("domain-wise", False, {"t2m": np.array(280.0)}, {"t2m": np.array(5.0)})
    >>> renamed(s, ["tas"], {"tas": "K"}).mean
    {'tas': array(280.)}
    """
    old = scaler.variables
    return Scaler(
        method=scaler.method,
        by_month=scaler.by_month,
        mean={n: scaler.mean[old[min(i, len(old) - 1)]] for i, n in enumerate(names)},
        std={n: scaler.std[old[min(i, len(old) - 1)]] for i, n in enumerate(names)},
        grid=dict(scaler.grid),
        units=dict(units),
    )
