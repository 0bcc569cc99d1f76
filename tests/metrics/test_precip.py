"""Precipitation scores on constructed cases with known answers, and in score()."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xdeepr.metrics import format_table, score
from xdeepr.metrics import precip as P

TP = {"standard_name": "precipitation_amount", "units": "kg m-2"}


def _grid(values, attrs=TP):
    values = np.asarray(values, dtype="float64")
    coords = {"time": np.arange(values.shape[-3]) if values.ndim >= 3 else None}
    dims = ("member", "time", "latitude", "longitude")[-values.ndim :]
    coords = {
        "time": np.array(["2020-01-01T00", "2020-01-01T06"], dtype="M8[ns]")[: values.shape[-3]],
        "latitude": [48.0, 47.95][: values.shape[-2]],
        "longitude": [9.0, 9.05, 9.1, 9.15][: values.shape[-1]],
    }
    return xr.DataArray(values, dims=dims, coords=coords, attrs=dict(attrs))


#: truth: 2 times x 2 x 4 points, 10 of 16 dry (< 0.1 mm), 4 above 1 mm
TRUTH = _grid(
    [
        [[0.0, 0.0, 0.05, 2.0], [0.0, 0.0, 0.5, 3.0]],
        [[0.0, 0.0, 0.0, 8.0], [0.0, 0.09, 0.2, 1.5]],
    ]
)


def test_dry_fraction_counts_values_below_the_threshold():
    assert float(P.dry_fraction(TRUTH)) == pytest.approx(10 / 16)
    assert float(P.dry_fraction(TRUTH, threshold=1.0)) == pytest.approx(12 / 16)
    in_m = TRUTH / 1000.0
    in_m.attrs = {**TP, "units": "m"}
    assert float(P.dry_fraction(in_m)) == pytest.approx(10 / 16)  # 0.1 mm = 1e-4 m
    per_time = P.dry_fraction(TRUTH, dim=("latitude", "longitude"))
    np.testing.assert_allclose(per_time.values, [5 / 8, 5 / 8])
    gappy = TRUTH.where(TRUTH.longitude < 9.12)  # NaN column left out: 10 of 12 dry
    assert float(P.dry_fraction(gappy)) == pytest.approx(10 / 12)


def test_dry_fraction_pools_members():
    ens = xr.concat([TRUTH, TRUTH * 0.0], dim="member")
    assert float(P.dry_fraction(ens)) == pytest.approx((10 + 16) / 32)


def test_brier_score_and_hit_rate_known_answers():
    perfect = TRUTH.expand_dims(member=3)
    assert float(P.brier_score(TRUTH, perfect)) == 0.0
    assert float(P.hit_rate(TRUTH, perfect)) == 1.0
    never = xr.zeros_like(TRUTH).expand_dims(member=2)
    # p = 0 everywhere; 4 of 16 observed events: (0 - 1)^2 on 4 points
    assert float(P.brier_score(TRUTH, never)) == pytest.approx(4 / 16)
    assert float(P.hit_rate(TRUTH, never)) == 0.0
    half = xr.concat([TRUTH, xr.zeros_like(TRUTH)], dim="member")  # p = 0.5 on the events
    assert float(P.brier_score(TRUTH, half)) == pytest.approx(4 * 0.25 / 16)
    assert float(P.hit_rate(TRUTH, half)) == pytest.approx(0.5)
    # a deterministic forecast is a 0/1 probability
    # (0.05, 0.09, 0.2, 0.5 mm + 1 mm: four false alarms)
    assert float(P.brier_score(TRUTH, TRUTH + 1.0)) == pytest.approx(4 / 16)


def test_quantiles_and_scores_of_a_shifted_forecast():
    q = P.quantiles(TRUTH, [0.5, 1.0])
    assert q.values.tolist() == [pytest.approx(0.025), 8.0]
    s = P.precipitation_scores(TRUTH, (TRUTH + 1.0).expand_dims(member=1))
    assert s.sel(metric="dry_fraction_error").item() == pytest.approx(-10 / 16)
    for m in ("q50_error", "q90_error", "q99_error"):
        assert s.sel(metric=m).item() == pytest.approx(1.0)


def test_summary_sides_truth_and_forecasts():
    bic = TRUTH - 0.3
    s = P.precipitation_summary(TRUTH, {"bicubic": bic})
    assert s["model"].values.tolist() == ["truth", "bicubic"]
    assert s.sel(metric="min").values.tolist() == [0.0, pytest.approx(-0.3)]
    assert s.sel(metric="dry_fraction", model="truth").item() == pytest.approx(10 / 16)
    assert s.sel(metric="wet_fraction_1mm", model="truth").item() == pytest.approx(4 / 16)
    assert "q99" in format_table(s.to_dataset(name="tp"))


@pytest.mark.filterwarnings("ignore:spectral_ratio left NaN")
def test_score_adds_precipitation_rows_only_for_precipitation():
    t2m = _grid(np.full((2, 2, 4), 280.0), {"standard_name": "air_temperature", "units": "K"})
    truth = xr.Dataset({"tp": TRUTH, "t2m": t2m})
    ens = xr.concat([truth, truth.map(lambda d: d * 0 + d.mean())], dim="member")
    out = score(truth, ens, baselines={"zero": truth * 0.0})
    metrics = out["metric"].values.tolist()
    assert metrics[-5:] == list(P.PRECIP_METRICS)
    assert np.isnan(out["t2m"].sel(metric="brier_1mm")).all()
    assert out["tp"].sel(metric="dry_fraction_error", model="zero").item() == pytest.approx(6 / 16)
    assert out["tp"].sel(metric="brier_1mm", model="zero").item() == pytest.approx(4 / 16)
    assert "brier_1mm" in out["metric"].attrs["description"]
    table = format_table(out)
    assert "dry_fraction_error" in table and "q99_error" in table
    t2m_block = next(b for b in table.split("\n\n") if b.startswith("t2m"))
    assert "brier_1mm" not in t2m_block  # all-NaN precipitation rows are left out
    kept = score(truth, ens, dim=("latitude", "longitude"))  # kept dims: one row per time
    assert kept["tp"].sel(metric="brier_1mm").dims == ("model", "time")
    plain = score(truth[["t2m"]], ens[["t2m"]])
    assert "brier_1mm" not in plain["metric"].values.tolist()  # unchanged without precipitation
