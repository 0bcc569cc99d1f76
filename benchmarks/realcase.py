"""A real climate-model case for the ``cmip`` suite: HadCM3 under two scenarios.

The data are the Met Office's `iris-sample-data
<https://pypi.org/project/iris-sample-data/>`_ (PyPI; UK Open Government Licence):
``A1B_north_america.nc`` and ``E1_north_america.nc``, annual means of near-surface air
temperature from the HadCM3 coupled model, 1860-2099, on its 1.25° x 1.875°
latitude-longitude grid over North America (37 x 49 cells), a 360-day calendar, under
the SRES A1B (business as usual) and the E1 (mitigation) scenarios; both share the
historical period.

Perfect-model downscaling, as DeepR's ERA5 -> CERRA but with the model as truth:
labels are the native grid inside the coarse domain (32 x 40 cells, 17.5-56.25°N,
230.625-303.75°E); features are 4 x 4 block means of the whole native grid (9 x 12
cells at 5° x 7.5°, covering the labels as ERA5 covers CERRA's domain), in kelvin,
CMIP-named ``tas``. Training: the first :data:`TRAIN_YEARS` annual fields of A1B
(1860-2039); test: the last :data:`TEST_YEARS` of E1 (2040-2099), a period and a
scenario training never saw.
"""

from __future__ import annotations

from typing import Any

#: The first year of both scenarios' files.
FIRST_YEAR = 1860
#: Annual fields of A1B used for training, from :data:`FIRST_YEAR`.
TRAIN_YEARS = 180
#: Annual fields of E1 scored, ending in 2099.
TEST_YEARS = 60
#: Native cells per coarse (feature) cell, in each direction.
FACTOR = 4
#: Native rows and columns kept as labels: inside the coarse cells' centres.
ROWS, COLS = slice(2, 34), slice(3, 43)
SCENARIOS = ("A1B", "E1")


def available() -> bool:
    """Whether ``iris-sample-data`` is installed."""
    import importlib.util

    return importlib.util.find_spec("iris_sample_data") is not None


def load(scenario: str) -> tuple[Any, Any]:
    """(features, labels) of `scenario` ("A1B" or "E1"): every year, 1860-2099.

    Raises
    ------
    ModuleNotFoundError
        Where ``iris-sample-data`` is not installed (``pip install iris-sample-data``).
    """
    import os

    import xarray as xr

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: choose from {SCENARIOS}")
    if not available():
        raise ModuleNotFoundError(
            "the cmip case reads HadCM3 fields from iris-sample-data: pip install iris-sample-data"
        )
    import iris_sample_data

    path = os.path.join(iris_sample_data.path, f"{scenario}_north_america.nc")
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    with xr.open_dataset(path, decode_times=coder) as ds:
        tas = ds["air_temperature"].load()
    keep = ("time", "latitude", "longitude")
    tas = tas.drop_vars([c for c in tas.coords if c not in keep]).rename("tas")
    attrs = {"standard_name": "air_temperature", "units": "K", "long_name": "HadCM3 tas"}
    full = tas.assign_attrs(attrs).to_dataset()
    full.attrs = {"source": f"HadCM3 {scenario}, iris-sample-data (Open Government Licence)"}
    coarse = full.coarsen(latitude=FACTOR, longitude=FACTOR, boundary="trim").mean()
    coarse["tas"].attrs = {**attrs, "cell_methods": "area: mean"}
    return coarse, full.isel(latitude=ROWS, longitude=COLS)


def data(quick: bool = False) -> tuple[Any, ...]:
    """(train features, train labels, test features, test labels, static=None)."""
    fa, la = load("A1B")
    fe, le = load("E1")
    train, test = slice(0, TRAIN_YEARS), slice(-TEST_YEARS, None)
    if quick:
        train, test = slice(0, 24), slice(-2, None)
    return fa.isel(time=train), la.isel(time=train), fe.isel(time=test), le.isel(time=test), None
