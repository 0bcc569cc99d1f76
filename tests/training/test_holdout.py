"""Which times validate: the last block, or a season held out (TrainConfig.validation_split)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xdeepr
from xdeepr import TrainConfig
from xdeepr.errors import ConfigError, InputError
from xdeepr.training.holdout import SEASONS, resolve_split, split_order, validation_count

from ..conftest import TINY


def _times(start: str, n: int, hours: int, calendar: str | None) -> xr.DataArray:
    if calendar is None:
        return xr.DataArray(pd.date_range(start, periods=n, freq=f"{hours}h"), dims="time")
    idx = xr.date_range(start, periods=n, freq=f"{hours}h", calendar=calendar, use_cftime=True)
    return xr.DataArray(idx, dims="time")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 400),
    hours=st.sampled_from([6, 24, 24 * 5]),
    start=st.sampled_from(["2019-11-20", "2020-02-25", "2020-06-01"]),
    calendar=st.sampled_from([None, "noleap", "360_day"]),
    split=st.sampled_from(["season", "DJF", "MAM", "JJA", "SON"]),
)
def test_a_season_held_out_is_every_time_of_it_and_nothing_else(n, hours, start, calendar, split):
    t = _times(start, n, hours, calendar)
    months = t.dt.month.values
    cfg = TrainConfig(validation_split=split)
    season = split if split != "season" else next(k for k, v in SEASONS.items() if months[-1] in v)
    held = np.isin(months, SEASONS[season])
    if held.all() or not held.any():
        with pytest.raises(InputError, match=f"holds out {season}"):
            split_order(t, cfg)
        return
    order, n_val = split_order(t, cfg)
    assert sorted(order.tolist()) == list(range(n))  # a permutation: no time lost or doubled
    train, val = order[: n - n_val], order[n - n_val :]
    assert n_val == held.sum() and held[val].all() and not held[train].any()
    assert (np.diff(train) > 0).all() and (np.diff(val) > 0).all()  # each keeps its order


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), fraction=st.sampled_from([0.0, 0.05, 0.1, 0.5]))
def test_the_block_is_the_last_fraction_in_order(n, fraction):
    t = _times("2020-01-01", n, 6, None)
    cfg = TrainConfig(validation_fraction=fraction, validation_split="block")
    order, n_val = split_order(t, cfg)
    assert order.tolist() == list(range(n)) and n_val == validation_count(n, cfg)
    # a season split validates nothing when validation_fraction is 0
    if fraction == 0:
        assert split_order(t, TrainConfig(validation_fraction=0.0, validation_split="DJF"))[1] == 0


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 500),
    hours=st.sampled_from([6, 24, 24 * 5, 24 * 30]),
    start=st.sampled_from(["2019-11-20", "2020-02-25", "2020-06-01"]),
    calendar=st.sampled_from([None, "noleap", "360_day"]),
)
def test_auto_holds_a_season_out_only_where_the_data_lack_one(n, hours, start, calendar):
    t = _times(start, n, hours, calendar)
    months = t.dt.month.values
    split, why = resolve_split(t, TrainConfig())  # "auto", the default
    last = next(k for k, v in SEASONS.items() if months[-1] in v)
    every_season = all(np.isin(months, v).any() for v in SEASONS.values())
    share = np.isin(months, SEASONS[last]).mean()
    if every_season or share > 0.5:
        assert split == "block"  # never a season out when training would lose one it has
    else:
        assert split == "season" and last in why and "no time in" in why
        n_val = split_order(t, TrainConfig())[1]
        assert n_val == np.isin(months, SEASONS[last]).sum() and 0 < n_val <= n / 2
    # "auto" is the split it resolves to, time for time
    auto, same = split_order(t, TrainConfig()), split_order(t, TrainConfig(validation_split=split))
    assert auto[1] == same[1] and (auto[0] == same[0]).all()


def test_auto_keeps_the_block_for_a_year_a_season_or_annual_data():
    year = _times("2020-01-01", 365, 24, None)
    assert resolve_split(year, TrainConfig())[0] == "block"  # every season seen
    winter = _times("2020-01-01", 50, 24, None)  # one season only: nothing else to hold out
    assert resolve_split(winter, TrainConfig())[0] == "block"
    annual = xr.DataArray(pd.date_range("1950-07-01", periods=60, freq="12MS"), dims="time")
    assert resolve_split(annual, TrainConfig())[0] == "block"
    half = _times("2020-01-01", 182, 24, None)  # January to June: June held out
    split, why = resolve_split(half, TrainConfig())
    assert split == "season" and "no time in SON: JJA" in why
    assert resolve_split(half, TrainConfig(validation_split="block")) == ("block", "as configured")
    assert resolve_split(half, TrainConfig(validation_fraction=0))[0] == "block"


def test_bad_splits_are_named():
    with pytest.raises(ConfigError, match="validation_split"):
        TrainConfig(validation_split="winter")
    t = _times("2020-01-01", 40, 24, None)  # January and February: all winter
    with pytest.raises(InputError, match="every training time is in it.*validation_split='block'"):
        split_order(t, TrainConfig(validation_split="DJF"))
    with pytest.raises(InputError, match=r"no training time is in it: the times span \['DJF'\]"):
        split_order(t, TrainConfig(validation_split="JJA"))


def test_train_validates_on_the_season_held_out():
    f, l, s = xdeepr.datasets.load_sample()
    pick = {"time": slice(0, 4 * 7 * 26, 4 * 7)}  # one time a week, 26 weeks (Jan-Jun)
    f, l = f.isel(pick), l.isel(pick)
    kw = {**TINY, "steps": 2, "validation_times": 3, "validation_members": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 2-step model is not calibrated: not the point here
        model = xdeepr.train(f, l, s, validation_split="season", **kw)
    assert model.summary["validation"]["split"] == "season"
    assert model.summary["validation"]["times"] == 3
    assert model.config["validation_split"] == "season"
    # the held-out June times are the validation split: no June time was trained on
    june = int((f.time.dt.month == 6).sum())
    assert june > 0 and model.summary["train_times"] == f.sizes["time"] - june
    first, last = (pd.Timestamp(x) for x in model.summary["validation_period"])
    assert first.month == last.month == 6
    assert pd.Timestamp(model.summary["train_period"][1]).month == 5
    # the default ("auto") holds June out of these Jan-Jun times too, and says why
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = xdeepr.train(f, l, s, **kw)
    assert auto.config["validation_split"] == auto.summary["validation"]["split"] == "season"
    choice = auto.summary["split_choice"]
    assert choice["requested"] == "auto" and "no time in SON" in choice["why"]
    assert auto.summary["validation_period"] == model.summary["validation_period"]
    # the repr says which times validated
    assert "validation: the last time's season held out, chosen by validation_split='auto'" in (
        repr(auto)
    )
    assert "validation_split='auto' (2020-06-" in repr(auto)
    assert "chosen by" not in repr(model) and "season held out (2020-06-" in repr(model)
