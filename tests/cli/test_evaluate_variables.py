"""``xdeepr evaluate`` on wind and precipitation: per-variable rows and tables."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xdeepr
from xdeepr.cli import main


def test_evaluate_scores_precipitation_and_wind_speed(tmp_path, capsys):
    f, l, _ = xdeepr.datasets.load_sample(periods=8, variables=("u10", "v10", "tp"))
    rng = np.random.default_rng(0)
    noise = xr.DataArray(rng.normal(size=(3, *l.tp.shape)), dims=("member", *l.tp.dims))
    ens = l.map(lambda da: (da + 0.5 * noise).assign_attrs(da.attrs))
    ens["tp"] = ens.tp.clip(min=0.0).assign_attrs(l.tp.attrs)
    ens.to_netcdf(tmp_path / "ens.nc")
    l.to_netcdf(tmp_path / "truth.nc")
    f.to_netcdf(tmp_path / "coarse.nc")
    rc = main(
        [
            "evaluate",
            str(tmp_path / "ens.nc"),
            str(tmp_path / "truth.nc"),
            "--features",
            str(tmp_path / "coarse.nc"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    blocks = out.split("\n\n")
    tp = next(b for b in blocks if b.startswith("tp [kg m-2]\n"))
    for row in ("dry_fraction_error", "brier_1mm", "q50_error", "q99_error"):
        assert row in tp
    u10 = next(b for b in blocks if b.startswith("u10 [m s-1]\n"))
    assert "brier_1mm" not in u10  # no precipitation rows for the wind
    pooled = next(b for b in blocks if b.startswith("tp [kg m-2] (all values pooled)"))
    assert pooled.splitlines()[1].split() == ["metric", "truth", "xdeepr", "bicubic"]
    dry = pooled.splitlines()[3].split()
    truth_dry = float(xdeepr.metrics.precip.dry_fraction(l.tp))
    assert dry[0] == "dry_fraction" and float(dry[1]) == pytest.approx(truth_dry, rel=1e-3)
    assert "(wind speed from each member's u10, v10)" in out
