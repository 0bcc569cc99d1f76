"""Issue 24, station items through train / downscale: units, observations used, outside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xdeepr
from xdeepr.errors import InputError
from xdeepr.observations import match_times, prepare_observations
from xdeepr.training.observations import with_observations

TINY = {
    "n_channels": 8,
    "channel_multipliers": (1, 2),
    "is_attention": (False, True),
    "steps": 1,
    "batch_size": 4,
    "progress": False,
}
N = 8
KELVIN = 273.15


@pytest.fixture(scope="module")
def data():
    f, l, s = xdeepr.datasets.load_sample(periods=N + 2)
    obs = xdeepr.datasets.load_sample_stations(periods=N + 2)
    return f, l, s, obs


@pytest.fixture(scope="module")
def model(data):
    f, l, s, obs = data
    return xdeepr.train(
        f.isel(time=slice(0, N)), l.isel(time=slice(0, N)), s, observations=obs, **TINY
    )


def _celsius(obs: xr.Dataset, units: str | None = "degC") -> xr.Dataset:
    out = obs.copy()
    out["t2m"] = obs.t2m - KELVIN
    out["t2m"].attrs = {} if units is None else {"units": units}
    return out


def test_the_model_records_the_observations_used(model, data):
    _, _, _, obs = data
    expected = int(np.isfinite(obs.t2m.isel(time=slice(0, N)).values).sum())
    assert model.observations["used"] == expected > 0


def test_training_channels_from_celsius_equal_those_from_kelvin(model, data):
    f, _, _, obs = data
    ft = f.isel(time=slice(0, N))
    condition = model.condition(ft)
    clean, _ = prepare_observations(obs, model.labels)
    hot, _ = prepare_observations(_celsius(obs), model.labels)
    ref = with_observations(model, ft, condition, clean).values
    got = with_observations(model, ft, condition, hot).values
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)  # float32 channels


def test_prepare_for_model_converts_counts_and_matches(model, data):
    from xdeepr.observations.encoding import prepare_for_model

    f, _, _, obs = data
    ft = f.isel(time=slice(N, N + 2))
    got = prepare_for_model(model, _celsius(obs), ft, domain=model.label_grid)
    clean, _ = prepare_observations(obs, model.labels, domain=model.label_grid)
    ref = match_times(clean, ft.time)
    np.testing.assert_allclose(got.t2m.values, ref.t2m.values, rtol=0, atol=1e-9)
    assert got.t2m.attrs["units"] == "K"
    assert got.attrs["observations_used"] == int(np.isfinite(ref.t2m.values).sum())
    with pytest.raises(InputError, match=r"no 'units' attribute.*set its units"):
        prepare_for_model(model, _celsius(obs, None), ft, domain=model.label_grid)
    shifted = obs.assign_coords(time=obs.time + np.timedelta64(3, "h"))
    with pytest.raises(InputError, match="none of the .* observation values matches"):
        prepare_for_model(model, shifted, ft.isel(time=[0]), domain=model.label_grid)


def test_train_refuses_celsius_without_units(data):
    f, l, s, obs = data
    sl = slice(0, N)
    with pytest.raises(InputError, match=r"'t2m' has no 'units' attribute.*degC"):
        xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, observations=_celsius(obs, None), **TINY)


def test_train_refuses_observations_at_no_feature_time(data):
    f, l, s, obs = data
    sl = slice(0, N)
    shifted = obs.assign_coords(time=obs.time + np.timedelta64(3, "h"))
    with pytest.raises(InputError, match=r"input covers .*observation_tolerance"):
        xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, observations=shifted, **TINY)


def test_train_refuses_every_station_outside_the_domain(data):
    f, l, s, obs = data
    sl = slice(0, N)
    far = obs.assign_coords(latitude=obs.latitude + 10.0)
    with pytest.raises(InputError, match=r"all 40 stations lie outside the domain \(lat"):
        xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, observations=far, **TINY)
    lazy = far.chunk({"time": 2})  # dask input (main: ZeroDivisionError)
    with pytest.raises(InputError, match="stations span lat 57"):
        xdeepr.train(
            f.isel(time=sl).chunk({"time": 2}), l.isel(time=sl), s, observations=lazy, **TINY
        )


def test_cli_stations_in_celsius_are_converted_or_refused(data, tmp_path, capsys):
    from xdeepr.cli.main import main

    _, l, _, obs = data
    sl = slice(0, 4)
    noise = np.random.default_rng(0).normal(0, 0.5, (2, 4, *l.t2m.shape[1:]))
    ens = l.isel(time=sl).expand_dims(member=2).copy()
    ens["t2m"] = ens.t2m + noise
    ens.to_netcdf(tmp_path / "p.nc")
    l.isel(time=sl).to_netcdf(tmp_path / "l.nc")
    table = xdeepr.datasets.stations_to_table(_celsius(obs.isel(time=sl)))
    table.to_csv(tmp_path / "bare.csv", index=False)
    table.assign(units="degC").to_csv(tmp_path / "c.csv", index=False)
    table.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    args = ["evaluate", str(tmp_path / "p.nc"), str(tmp_path / "l.nc"), "--allow-incomplete"]
    assert main([*args, "--observations", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out.split("at 40 stations:")[1]
    rmse = float(next(ln for ln in out.splitlines() if ln.startswith("rmse")).split()[1])
    assert rmse < 2.0  # K, not 273
    assert f"({int(np.isfinite(obs.t2m.isel(time=sl)).sum())} observation values scored)" in out
    assert main([*args, "--observations", str(tmp_path / "bare.csv")]) != 0
    assert "no 'units' attribute" in capsys.readouterr().err
    assert main([*args, "--observations", str(tmp_path / "empty.csv")]) != 0
    assert "empty.csv' has no row" in capsys.readouterr().err
    (tmp_path / "fig.png").write_bytes(b"")
    assert main([*args, "--figures", str(tmp_path / "fig.png")]) == 2
    err = capsys.readouterr().err
    assert "fig.png' is a file, not a folder: pass a folder" in err and "Errno" not in err


def test_station_table_times_read_through_pandas_are_unchanged():
    table = pd.DataFrame(
        {"station": ["A"], "latitude": [47.5], "longitude": [9.5], "value": [270.0]}
    ).assign(time=pd.to_datetime(["2020-02-01T06:00"]))
    obs = xdeepr.datasets.stations_from_table(table)
    assert obs.time.values.astype("datetime64[h]").astype(str).tolist() == ["2020-02-01T06"]
