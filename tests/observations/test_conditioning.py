"""Conditioning on station observations (issue 11): encoding, training, downscaling, guidance."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import xdeepr
from xdeepr.errors import InputError
from xdeepr.observations import (
    for_downscaling,
    match_times,
    observation_channels,
    prepare_observations,
    station_pixels,
)
from xdeepr.training.observations import NONE_FRACTION, drop_stations

TINY = {
    "n_channels": 8,
    "channel_multipliers": (1, 2),
    "is_attention": (False, True),
    "steps": 2,
    "batch_size": 4,
    "progress": False,
}
N_TRAIN = 24
FAST = {"members": 2, "steps": 2, "seed": 3, "progress": False, "batch_size": 1}


@pytest.fixture(scope="module")
def data():
    f, l, s = xdeepr.datasets.load_sample(periods=32)
    obs = xdeepr.datasets.load_sample_stations(periods=32)
    return f, l, s, obs


@pytest.fixture(scope="module")
def obs_model(data):
    f, l, s, obs = data
    sl = slice(0, N_TRAIN)
    return xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, observations=obs, **TINY)


@pytest.fixture(scope="module")
def plain_model(data):
    f, l, s, _ = data
    sl = slice(0, N_TRAIN)
    return xdeepr.train(f.isel(time=sl), l.isel(time=sl), s, **TINY)


def _stations(lat, lon, times, values, ids=None):
    ids = ids or [f"X{i}" for i in range(len(lat))]
    return xr.Dataset(
        {"t2m": (("time", "station"), np.asarray(values, dtype="float64"))},
        coords={
            "time": pd.to_datetime(times),
            "station": ids,
            "latitude": ("station", np.asarray(lat, dtype="float64")),
            "longitude": ("station", np.asarray(lon, dtype="float64")),
        },
    )


# ------------------------------------------------------------------ encoding
def test_channels_put_departure_and_mask_at_the_station_pixels(obs_model, data):
    f, _, _, _ = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    times = ft.time.values
    # two stations near grid points (lat 47.5 = row 10, lon 9.5 = col 6; 47.05/10.75 corner),
    # the second missing at the second time; a third outside the domain
    raw = _stations(
        [47.51, 47.05, 52.0], [9.49, 10.75, 9.5], times, [[280.0, 275.0, 1.0], [281.0, np.nan, 1.0]]
    )
    with pytest.warns(UserWarning, match="1 of 3 stations lie outside the domain"):
        clean, mapping = prepare_observations(raw, ["t2m"], domain=obs_model.label_grid)
    assert mapping == {"t2m": "t2m"} and clean.sizes["station"] == 2
    rows, cols = station_pixels(clean, obs_model.label_grid)
    assert rows.tolist() == [10, 19] and cols.tolist() == [6, 31]
    ch = observation_channels(obs_model, ft, match_times(clean, ft.time), validated=False)
    assert ch.channel.values.tolist() == ["obs_departure:t2m", "obs_mask:t2m", "obs_target:t2m"]
    mask = ch.sel(channel="obs_mask:t2m").values
    assert mask.sum() == 3 and mask[0, 10, 6] == mask[0, 19, 31] == mask[1, 10, 6] == 1
    base = obs_model.baseline(ft).t2m.values  # bicubic, K
    std = float(np.asarray(obs_model.label_scaler.std["t2m"]))
    dep = ch.sel(channel="obs_departure:t2m").values
    np.testing.assert_allclose(dep[0, 10, 6], (280.0 - base[0, 10, 6]) / std, rtol=1e-5)
    np.testing.assert_allclose(dep[1, 10, 6], (281.0 - base[1, 10, 6]) / std, rtol=1e-5)
    assert dep[1, 19, 31] == 0 and np.count_nonzero(dep) == 3


def test_times_match_exactly_or_within_the_tolerance(obs_model, data):
    f, _, _, _ = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    shifted = ft.time.values + np.timedelta64(10, "m")
    raw = _stations([47.5], [9.5], shifted, [[280.0], [281.0]])
    # issue 24: no observation at the input's times is refused, not silently unused
    with pytest.raises(InputError, match="none of the 2 observation values .* exactly"):
        match_times(raw, ft.time)
    near = match_times(raw, ft.time, "15min", few=0)
    assert near.t2m.values.ravel().tolist() == [280.0, 281.0]
    with pytest.raises(InputError, match="within 5min"):
        match_times(raw, ft.time, "5min")
    with pytest.raises(InputError, match="not a time span"):
        match_times(raw, ft.time, "soon")


def test_dropout_hides_stations_and_whole_samples():
    cond = torch.ones(400, 3, 4, 4)
    out = drop_stations(cond, 2, 0.25, torch.Generator().manual_seed(0))
    assert (out[:, 0] == 1).all()  # other channels untouched
    none = (out[:, 2].sum((-1, -2)) == 0).float().mean()
    assert abs(float(none) - NONE_FRACTION) < 0.05
    assert torch.equal(out[:, 1], out[:, 2])  # departure and mask hidden together


# ------------------------------------------------------------------ models
def test_model_records_observations_and_round_trips(obs_model, data, tmp_path):
    f, _, _, obs = data
    rec = obs_model.observations
    assert rec["variables"] == {"t2m": "t2m"} and rec["dropout"] == 0.25
    assert rec["channels"] == ["obs_departure:t2m", "obs_mask:t2m"]
    assert obs_model.network.config["conditioned_on_input"] == 1 + 4 + 2
    assert "observations: t2m" in repr(obs_model)
    back = xdeepr.load_model(obs_model.save(tmp_path / "obs.xdeepr"))
    assert back.observations == rec and back.identity == obs_model.identity
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    a = ft.deepr.downscale(obs_model, observations=obs, **FAST)
    b = ft.deepr.downscale(back, observations=obs, **FAST)
    # the same weights: equal but for the order CPU kernels sum in, which may differ
    # between calls (one float32 step at 260 K is 3e-5 K)
    np.testing.assert_allclose(a.t2m.values, b.t2m.values, rtol=0, atol=1e-4)


def test_model_without_observations_writes_no_entry(plain_model):
    assert plain_model.observations is None
    assert "observations" not in plain_model.to_dict()


def test_observation_model_downscales_with_none_a_subset_or_other_stations(obs_model, data):
    f, _, _, obs = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    full = ft.deepr.downscale(obs_model, observations=obs, **FAST)
    none = ft.deepr.downscale(obs_model, **FAST)
    some = ft.deepr.downscale(obs_model, observations=obs.isel(station=slice(0, 10)), **FAST)
    for ens in (full, none, some):
        assert ens.t2m.dims == ("member", "time", "latitude", "longitude")
        assert np.isfinite(ens.t2m.values).all()
    assert not np.array_equal(full.t2m.values, none.t2m.values)
    assert not np.array_equal(full.t2m.values, some.t2m.values)
    assert full.attrs["xdeepr_stations"] == 40 and "xdeepr_stations" not in none.attrs


def test_same_seed_same_stations_same_ensemble_however_chunked(obs_model, data):
    f, _, _, obs = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 4))
    eager = ft.deepr.downscale(obs_model, observations=obs, **FAST)
    lazy = ft.chunk(time=1).deepr.downscale(obs_model, observations=obs, **FAST)
    assert lazy.t2m.chunks is not None
    # the documented guarantee: equal to float32 rounding (batch shapes differ)
    np.testing.assert_allclose(eager.t2m.values, lazy.t2m.compute().values, rtol=0, atol=1e-3)
    again = ft.chunk(time=3).deepr.downscale(obs_model, observations=obs, **FAST)
    np.testing.assert_allclose(eager.t2m.values, again.t2m.values, rtol=0, atol=1e-3)


def test_guidance_pulls_any_model_towards_the_stations(plain_model, data):
    f, _, _, obs = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    opts = xdeepr.SamplingOptions(members=2, steps=4, seed=0, progress=False, batch_size=1)
    with pytest.warns(UserWarning, match="trained without observations"):
        unguided = ft.deepr.downscale(
            plain_model, observations=obs, options=opts.replace(guidance=0.0)
        )
    guided = ft.deepr.downscale(plain_model, observations=obs, options=opts)  # default: guided
    assert guided.attrs["xdeepr_guidance"] == xdeepr.options.DEFAULT_GUIDANCE == 1.0
    assert "xdeepr_guidance" not in unguided.attrs

    moved = guided.attrs["xdeepr_altitude_adjustment"]
    assert moved.startswith("t2m moved to the grid altitude at -6.5 K/km (40 stations")
    cell = {"latitude": obs.latitude, "longitude": obs.longitude, "method": "nearest"}
    dz = obs.altitude - s_orog(data).sel(**cell)  # the stations' altitude above their cells
    at_cells = obs.t2m.sel(time=ft.time) + 0.0065 * dz  # their values at the cells' altitude

    def misfit(ens):
        return float(abs(ens.t2m.mean("member").sel(**cell) - at_cells).mean())

    assert misfit(guided) < 0.5 * misfit(unguided)


def s_orog(data):
    return data[2].orog


def _summit(data, ft, above=500.0, r=10, c=6):
    """A station `above` m over the cell (r, c), colder by 6.5 K/km than the truth there, and
    the truth at the cell's own altitude (the reference: what the cell should see)."""
    _, l, s, _ = data
    truth = l.t2m.sel(time=ft.time).isel(latitude=r, longitude=c).values.astype("float64")
    z = float(s.orog[r, c])

    def station(alt, values):
        return _stations(
            [float(l.latitude[r]) + 0.01],
            [float(l.longitude[c]) - 0.01],
            ft.time.values,
            values[:, None],
            ["top"],
        ).assign_coords(altitude=("station", [alt]))

    return station(z + above, truth - 0.0065 * above), station(z, truth), truth


def test_conditioning_sees_a_summit_station_at_its_cells_altitude(obs_model, data):
    f = data[0]
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    summit, reference, truth = _summit(data, ft)
    assert obs_model.observations["lapse_rate"] == -6.5  # trained with the default, recorded
    opts = {**FAST, "guidance": 0.0}  # conditioning alone
    adjusted = ft.deepr.downscale(obs_model, observations=summit, **opts)
    at_cell = ft.deepr.downscale(obs_model, observations=reference, **opts)
    # the network is given the cell's value, not one 3.25 K colder: the same ensemble
    np.testing.assert_allclose(adjusted.t2m.values, at_cell.t2m.values, rtol=0, atol=1e-3)
    assert adjusted.attrs["xdeepr_lapse_rate"] == -6.5
    resolved = xdeepr.SamplingOptions(guidance=0.0)
    for lapse, shift in ((-6.5, 0.0), (None, -3.25)):
        options = resolved.replace(lapse_rate=lapse).resolve(obs_model, observations=True)
        given = for_downscaling(obs_model, summit, ft, None, options)
        np.testing.assert_allclose(given.t2m.values[:, 0], truth + shift, atol=1e-6)
    raw = ft.deepr.downscale(obs_model, observations=summit, lapse_rate=None, **opts)
    assert raw.attrs["xdeepr_altitude_adjustment"] == "none (lapse_rate=None)"
    assert not np.allclose(raw.t2m.values, at_cell.t2m.values, atol=1e-3)


def test_guidance_pulls_towards_a_summit_station_at_its_cells_altitude(plain_model, data):
    f = data[0]
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    summit, reference, _ = _summit(data, ft)
    opts = {**FAST, "members": 4, "steps": 4, "guidance": 3.0, "observation_error": 0.1}
    adjusted = ft.deepr.downscale(plain_model, observations=summit, **opts)
    at_cell = ft.deepr.downscale(plain_model, observations=reference, **opts)
    raw = ft.deepr.downscale(plain_model, observations=summit, lapse_rate=None, **opts)

    def cell(ens):
        return ens.t2m.isel(latitude=10, longitude=6).mean("member").values

    # pulled towards the truth at the cell, exactly as by a station at the cell's altitude
    np.testing.assert_allclose(cell(adjusted), cell(at_cell), rtol=0, atol=1e-3)
    assert adjusted.attrs["xdeepr_altitude_adjustment"].startswith("t2m moved")
    # without the adjustment the ensemble at the cell is dragged towards the summit's cold
    assert np.all(cell(raw) < cell(adjusted) - 0.5)


# ------------------------------------------------------------------ bad input
def test_bad_observations_are_refused_at_train_and_downscale(obs_model, data):
    f, l, s, obs = data
    dup = obs.assign_coords(station=["S01"] * obs.sizes["station"])
    with pytest.raises(InputError, match="appear more than once"):
        xdeepr.train(
            f.isel(time=slice(0, 8)), l.isel(time=slice(0, 8)), s, observations=dup, **TINY
        )
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    with pytest.raises(InputError, match="appear more than once"):
        ft.deepr.downscale(obs_model, observations=dup, **FAST)
    wrong = obs.rename(t2m="tmax").assign(tmin=obs.t2m)
    with pytest.raises(InputError, match="no variable 't2m'"):
        ft.deepr.downscale(obs_model, observations=wrong, **FAST)
    with pytest.raises(InputError, match="hold none of the label variables"):
        prepare_observations(wrong, ["t2m"])
    bad_lat = obs.assign_coords(latitude=obs.latitude.where(obs.station != "S02", 123.0))
    with pytest.raises(InputError, match="S02"):
        ft.deepr.downscale(obs_model, observations=bad_lat, **FAST)
    cf = obs.convert_calendar("noleap", use_cftime=True)
    with pytest.raises(InputError, match="cftime"):
        ft.deepr.downscale(obs_model, observations=cf, **FAST)
    with pytest.raises(InputError, match="must be an xarray Dataset"):
        ft.deepr.downscale(obs_model, observations=obs.t2m.values, **FAST)


def test_stations_outside_are_dropped_with_a_counted_warning(obs_model, data):
    f, _, _, obs = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 1))
    far = _stations([60.0], [20.0], ft.time.values, [[280.0]], ids=["far"])
    both = xr.concat([obs.sel(time=ft.time).drop_vars("altitude"), far], dim="station")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ens = ft.deepr.downscale(obs_model, observations=both, **FAST)
    assert any("1 of 41 stations lie outside" in str(w.message) for w in caught)
    assert ens.attrs["xdeepr_stations"] == 40


# ------------------------------------------------------------------ command line
def test_cli_train_and_downscale_with_observations(data, tmp_path, capsys):
    pytest.importorskip("distributed")
    from xdeepr.cli.main import main

    f, l, s, obs = data
    sl = slice(0, 16)
    f.isel(time=sl).to_netcdf(tmp_path / "f.nc")
    l.isel(time=sl).to_netcdf(tmp_path / "l.nc")
    s.to_netcdf(tmp_path / "s.nc")
    xdeepr.datasets.stations_to_table(obs.isel(time=slice(0, 20))).to_csv(
        tmp_path / "stations.csv", index=False
    )
    f.isel(time=slice(16, 20)).to_netcdf(tmp_path / "in.nc")
    net = [
        "--set",
        "n_channels=8",
        "--set",
        "channel_multipliers=[1, 2]",
        "--set",
        "is_attention=[False, True]",
        "--set",
        "steps=2",
    ]
    rc = main(
        [
            "train",
            str(tmp_path / "f.nc"),
            str(tmp_path / "l.nc"),
            "--static",
            str(tmp_path / "s.nc"),
            "--observations",
            str(tmp_path / "stations.csv"),
            *net,
            "--output",
            str(tmp_path / "m.xdeepr"),
            "--quiet",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    model = xdeepr.load_model(tmp_path / "m.xdeepr")
    assert model.observations["channels"] == ["obs_departure:t2m", "obs_mask:t2m"]
    out = tmp_path / "out.nc"
    rc = main(
        [
            "downscale",
            str(tmp_path / "in.nc"),
            "-m",
            str(tmp_path / "m.xdeepr"),
            "--observations",
            str(tmp_path / "stations.csv"),
            "--members",
            "2",
            "--steps",
            "2",
            "--workers",
            "1",
            "--chunks",
            "time=2",
            "-o",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    with xr.open_dataset(out) as got:
        assert got.attrs["xdeepr_stations"] == 40 and got.t2m.sizes["member"] == 2
        assert got.attrs["xdeepr_guidance"] == 1.0  # guided by default
    base = [
        "downscale",
        str(tmp_path / "in.nc"),
        "-m",
        str(tmp_path / "m.xdeepr"),
        "--members",
        "2",
        "--steps",
        "2",
        "--workers",
        "1",
        "--chunks",
        "time=2",
        "--quiet",
        "--overwrite",
    ]
    stations = ["--observations", str(tmp_path / "stations.csv")]
    rc = main([*base, *stations, "--guidance", "0.5", "--observation-error", "0.2", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    with xr.open_dataset(out) as got:
        assert got.attrs["xdeepr_guidance"] == 0.5
        assert got.attrs["xdeepr_observation_error"] == 0.2
    rc = main([*base, *stations, "--guidance", "0", "-o", str(out)])  # conditioned only
    assert rc == 0, capsys.readouterr().err
    with xr.open_dataset(out) as got:
        assert "xdeepr_guidance" not in got.attrs and got.attrs["xdeepr_stations"] == 40
    assert main([*base, "--guidance", "1", "-o", str(tmp_path / "x.nc")]) == 2
    assert "--observations" in capsys.readouterr().err
    assert main([*base, *stations, "--guidance", "-1", "-o", str(tmp_path / "x.nc")]) == 2
    assert "guidance" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_cli_evaluate_scores_at_stations(data, tmp_path, capsys):
    from xdeepr.cli.main import main

    f, l, _, obs = data
    sl = slice(0, 4)
    noise = np.random.default_rng(0).normal(0, 0.5, (2, 4, *l.t2m.shape[1:]))
    ens = l.isel(time=sl).expand_dims(member=2).copy()
    ens["t2m"] = ens.t2m + noise
    ens.to_netcdf(tmp_path / "p.nc")
    l.isel(time=sl).to_netcdf(tmp_path / "l.nc")
    f.isel(time=sl).to_netcdf(tmp_path / "f.nc")
    xdeepr.datasets.stations_to_table(obs).to_csv(tmp_path / "st.csv", index=False)
    rc = main(
        [
            "evaluate",
            str(tmp_path / "p.nc"),
            str(tmp_path / "l.nc"),
            "--features",
            str(tmp_path / "f.nc"),
            "--observations",
            str(tmp_path / "st.csv"),
            "--allow-incomplete",
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 0 and "at 40 stations:" in out
    assert "skipped" not in out and "deprecated" not in captured.err
    station_part = out.split("at 40 stations:")[1]
    assert "crps" in station_part and "bicubic" in station_part
    args = [
        "evaluate",
        str(tmp_path / "p.nc"),
        str(tmp_path / "l.nc"),
        "--observations",
        str(tmp_path / "st.csv"),
        "--allow-incomplete",
        "--observation-error",
        "0.3",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    # issue 19: without --features, as the API: the bicubic baseline skipped, and said
    note = "skipped baselines: bicubic: needs the coarse input (--features)"
    assert out.count(note) == 2  # under the gridded table and under the station table
    aware = out.split("allowing for their 0.3 error):")[1]

    def ssr(text):
        return float(
            next(ln for ln in text.splitlines() if ln.startswith("spread_skill"))
            .split()[1]
            .rstrip("*")
        )

    assert ssr(aware) > ssr(station_part)
    # the old flag still works for one release, with a one-line note naming the new one
    old = [a if a != "--observations" else "--stations" for a in args]
    assert main(old) == 0
    captured = capsys.readouterr()
    assert captured.out.split("allowing for their 0.3 error):")[1] == aware
    assert captured.err.strip() == (
        "xdeepr evaluate: --stations is deprecated, use --observations (the same file)"
    )
    assert main([*args, "--stations", str(tmp_path / "st.csv")]) == 2  # both: refused
    assert "--observations only" in capsys.readouterr().err
    assert main([*args[:3], "--observation-error", "0.3"]) == 2  # no stations: refused
    assert "--observation-error" in capsys.readouterr().err
    assert main([*args[:-1], "-1"]) == 2  # a negative error: refused by name
    assert "observation_error" in capsys.readouterr().err


def test_time_tolerance_is_recorded_and_used_at_downscale(obs_model, data):
    f, l, s, obs = data
    late = obs.assign_coords(time=obs.time.values + np.timedelta64(10, "m"))
    sl = slice(0, 8)
    tolerant = xdeepr.train(
        f.isel(time=sl),
        l.isel(time=sl),
        s,
        observations=late,
        observation_tolerance="15min",
        **TINY,
    )
    assert tolerant.observations["tolerance"] == "15min"
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 2))
    unguided = {**FAST, "progress": False}
    opts = xdeepr.SamplingOptions(**unguided, guidance=0.0)
    none = ft.deepr.downscale(tolerant, options=opts)
    matched = ft.deepr.downscale(tolerant, options=opts, observations=late)
    assert not np.array_equal(none.t2m.values, matched.t2m.values)
    # the exact-time model finds no observation at the shifted times: refused (issue 24;
    # main returned the unguided result as if none were given)
    with pytest.raises(InputError, match=r"input covers .*observation_tolerance"):
        ft.deepr.downscale(obs_model, options=opts, observations=late)


# ------------------------------------------------------------------ on a GPU
@pytest.mark.gpu
@pytest.mark.slow  # 193 s on an H200 (2026-12-04), nearly all of it compiling
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_guidance_with_compile_and_the_automatic_batch_on_cuda(obs_model, data):
    """Guidance (a backward pass per step), torch.compile and the batch from free memory."""
    f, l, _, obs = data
    ft = f.isel(time=slice(N_TRAIN, N_TRAIN + 4))
    fast = xdeepr.FastPath(channels_last=True, compile=True)
    opts = xdeepr.SamplingOptions(
        members=4, steps=4, seed=0, progress=False, device="cuda", fast_path=fast
    )
    try:
        guided = ft.deepr.downscale(obs_model, observations=obs, options=opts)
        chunked = ft.chunk(time=1).deepr.downscale(obs_model, observations=obs, options=opts)
        plain = ft.deepr.downscale(obs_model, observations=obs, options=opts.replace(guidance=0.0))
    finally:
        obs_model.to("cpu").network.to(memory_format=torch.contiguous_format)
    assert guided.t2m.dims == ("member", "time", "latitude", "longitude")
    assert guided.t2m.shape == (4, 4, *l.t2m.shape[1:])
    assert np.isfinite(guided.t2m.values).all()
    np.testing.assert_array_equal(guided.time.values, ft.time.values)
    # other batch sizes may round differently on a GPU, and no more than that
    np.testing.assert_allclose(guided.t2m.values, chunked.t2m.compute().values, atol=0.1)

    def misfit(ens):
        at = ens.t2m.mean("member").sel(latitude=obs.latitude, longitude=obs.longitude)
        return float(abs(at - obs.t2m.sel(time=ft.time)).mean())

    assert misfit(guided) < misfit(plain)
