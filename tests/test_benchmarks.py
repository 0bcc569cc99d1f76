"""The benchmark harness works (on CPU, in --quick mode); it measures nothing here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import xdeepr
from benchmarks import __main__ as cli
from benchmarks import harness
from benchmarks.suite_sampling import denoiser
from xdeepr import FastPath
from xdeepr.nn import UNet

ROOT = Path(__file__).resolve().parents[1]


def test_write_section_replaces_between_markers_and_appends_new(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "# Benchmarks\n\nintro\n\n<!-- bench:unet:start -->\nold\n<!-- bench:unet:end -->\n\ntail\n"
    )
    harness.write_section(path, "unet", "new $1 \\1 table")
    harness.write_section(path, "skill", "skill table")
    text = path.read_text()
    assert "old" not in text and "new $1 \\1 table" in text
    assert text.startswith("# Benchmarks\n\nintro\n\n<!-- bench:unet:start -->\nnew")
    assert "\n\ntail\n" in text
    assert text.rstrip().endswith(
        "<!-- bench:skill:start -->\nskill table\n<!-- bench:skill:end -->"
    )
    harness.write_section(tmp_path / "fresh.md", "dask", "x")
    assert (
        tmp_path / "fresh.md"
    ).read_text() == "<!-- bench:dask:start -->\nx\n<!-- bench:dask:end -->\n"


def test_table_is_markdown():
    text = harness.table(["a", "b"], [[1, 0.123456], ["x", ""]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.1235 |", "| x |  |"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """All suites once in --quick mode, written into a file that already has content."""
    path = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    argv = ["--quick", "--threads", "1", "--device", "cpu", "--write", str(path)]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(argv)
    torch.set_num_threads(1)
    return status, out.getvalue(), path


def test_quick_run_prints_and_writes_every_suite(quick_run):
    status, printed, path = quick_run
    assert status == 0
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    for suite in cli.SUITES:
        start, end = harness.markers(suite)
        assert text.count(start) == 1 and text.count(end) == 1, suite
        section = text[text.index(start) : text.index(end)]
        assert f"### {suite}:" in section and "|---|" in section
        assert "torch " in section and "xdeepr " in section and "python -m benchmarks" in section
        assert f"### {suite}:" in printed
    assert "DeepR parity" in text and "extrapolated" in text
    assert "not measured: no GPU" in text or torch.cuda.is_available()
    assert "speed-up vs 1" in text and "samples / s" in text
    assert "CRPS (K)" in text and "bicubic" in text
    assert "Complete domain end to end" in text and "network share" in text
    assert "dpm++2m-sde" in text and "seed-to-seed" in text


def test_real_training_paths_run_from_a_clean_cache(tmp_path, monkeypatch):
    """Every suite's real (not --quick) training, on a 1-step budget, from an empty cache.

    sampling, skill, dask, tiling and profile share ``Context.model()`` (the demo model,
    trained once and cached); training trains twice in a child process. With the demo
    config holding ``features``/``labels`` fields, this once failed on a fresh clone with
    ``train() got multiple values for argument 'features'``.
    """
    import xdeepr
    from benchmarks import suite_training

    cache = tmp_path / "cache"
    monkeypatch.setenv(harness.CACHE_ENV, str(cache))
    monkeypatch.setenv(harness.STEPS_ENV, "1")
    ctx = harness.Context(device=torch.device("cpu"))
    assert not ctx.quick
    model = ctx.model()
    assert (cache / "demo-1.xdeepr").is_file() and model.summary["steps"] == 1
    assert model.levels == 3  # the demo network, not --quick's

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(xdeepr, "train", no_training)
    again = harness.Context(device=torch.device("cpu")).model()
    assert again.summary["steps"] == 1
    monkeypatch.undo()  # the child process trains with the real xdeepr.train

    monkeypatch.setenv(harness.STEPS_ENV, "1")
    # the throughput table: the real demo config, trained twice in a child process (the
    # scaling tables' code paths are run by the --quick fixture)
    text = suite_training.throughput(harness.Context(device=torch.device("cpu")))
    assert "demo U-Net" in text and "difference of 2- and 1-step runs" in text
    monkeypatch.delenv(harness.STEPS_ENV)
    monkeypatch.delenv(harness.CACHE_ENV, raising=False)
    assert harness.demo_model_path() == harness.DEMO_MODEL  # the real budget's own file


def test_large_domain_fits_the_model(tiny_model):
    coarse, target = harness.large_domain(tiny_model, (40, 56), n_times=2)
    assert target.sizes["latitude"] == 40 and target.sizes["longitude"] == 56
    out = coarse.deepr.downscale(tiny_model, members=2, steps=1, target=target, progress=False)
    assert out.t2m.shape == (2, 2, 40, 56)
    assert (out.latitude.values == target.latitude.values).all()
    assert bool(out.t2m.notnull().all())


def test_rerun_replaces_only_its_section(quick_run, capsys):
    _, _, path = quick_run
    before = path.read_text()
    assert cli.main(["unet", "--quick", "--threads", "1", "--write", str(path)]) == 0
    torch.set_num_threads(1)
    after = path.read_text()
    start, end = harness.markers("unet")
    assert after.count(start) == 1
    assert after[: after.index(start)] == before[: before.index(start)]
    assert after[after.index(end) :] == before[before.index(end) :]
    assert "### unet:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["nosuch", "--quick"], "unknown suite"), (["--parity-steps", "0"], "parity-steps")],
)
def test_cli_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_refuses_cuda_without_gpu(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--device", "cuda", "--quick"])
    assert "no CUDA device" in capsys.readouterr().err


def test_module_runs_from_the_command_line():
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0 and "--quick" in res.stdout and "sampling" in res.stdout


@torch.no_grad()
@pytest.mark.parametrize(
    "fast",
    [FastPath(bf16=True), FastPath(channels_last=True), FastPath(bf16=True, channels_last=True)],
)
def test_fast_path_switches_are_harmless_on_cpu(fast):
    torch.manual_seed(0)
    net = UNet(
        n_channels=8, channel_multipliers=(1, 2), is_attention=(False, True), conditioned_on_input=2
    ).eval()
    x, c = torch.randn(2, 1, 16, 8), torch.randn(2, 2, 16, 8)
    t, cal = torch.tensor([10.0, 900.0]), torch.rand(2, 2)
    ref = net(x, t, c, cal)
    out = denoiser(net, fast, torch.device("cpu"))(x, t, c, cal)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    tol = 0.1 if fast.bf16 else 1e-5
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    assert next(net.parameters()).is_contiguous()  # the caller's network is untouched


def test_bench_unet_script_still_runs(capsys):
    from benchmarks import bench_unet

    bench_unet.main(["--height", "16", "--width", "8", "--threads", "1"])
    assert "forward time" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_quick_run_on_gpu(tmp_path):
    assert (
        cli.main(
            [
                "sampling",
                "--quick",
                "--device",
                "cuda",
                "--compile",
                "--write",
                str(tmp_path / "B.md"),
            ]
        )
        == 0
    )
    assert "model FLOP utilisation" in (tmp_path / "B.md").read_text()


def test_ablation_quick_scores_every_input(quick_run):
    """`python -m benchmarks ablation`: one row per input variant, stations included."""
    from benchmarks import suite_ablation

    _, _, path = quick_run
    text = path.read_text()
    start, end = harness.markers("ablation")
    section = text[text.index(start) : text.index(end)]
    labels = [label for label, _ in suite_ablation.VARIANTS]
    assert "with 40 stations" in labels and "without calendar" in labels
    for label in labels:
        row = next(ln for ln in section.splitlines() if ln.startswith(f"| 180 | {label} |"))
        crps = float(row.split("|")[3].split("±")[0])
        assert 0 < crps < 10, row  # a finite score in kelvin, not nan


def test_ablation_stations_variant_trains_and_samples_with_them():
    """The stations row really conditions training and sampling on the stations."""
    from benchmarks import suite_ablation, trainruns

    settings = dict(suite_ablation.VARIANTS)
    extra = {k: v for k, v in harness.QUICK_TRAIN.items() if k not in ("steps", "progress")}
    job = {
        "label": "stations",
        "size": "180",
        "quick": True,
        "every": 16,
        "config": {"steps": 2, "seed": 0, **extra},
    }
    with_obs = trainruns.run_one({**job, **settings["with 40 stations"]})
    plain = trainruns.run_one(job)
    assert with_obs["observation_channels"] == 2 and with_obs["stations"] == 40
    assert plain["observation_channels"] == 0 and plain["stations"] == 0


def test_gpu_suite_quick_runs_every_part_without_cuda(quick_run):
    """`python -m benchmarks gpu`: on CPU --quick exercises all it can without CUDA."""
    _, _, path = quick_run
    text = path.read_text()
    start, end = harness.markers("gpu")
    section = text[text.index(start) : text.index(end)]
    for part in (
        "**CUDA tests.**",
        "pytest -m gpu",
        "**GPU fast path**",
        "channels_last",
        "bf16",
        "Complete domain end to end",
        "Training steps on the complete domain",
        "seed U-Net",
        "One process against `torchrun` ranks",
        "2 ranks (gloo)",
        "Whole check",
    ):
        assert part in section, part
    assert "**failed" not in section


def test_training_suite_compares_one_process_with_ranks(quick_run):
    _, _, path = quick_run
    text = path.read_text()
    section = text[text.index(harness.markers("training")[0]) :]
    assert "1 process" in section and "2 ranks (gloo)" in section
    assert "before: no prefetch, no cache" in section and "prefetch + cache" in section
    assert "4 = 2 x 2" in section  # the global batch, split over the ranks


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU section")
def test_gpu_suite_without_cuda_measures_nothing():
    from benchmarks import suite_gpu

    text = suite_gpu.run(harness.Context(device=torch.device("cpu")))
    assert "Not measured: no GPU" in text and "python -m benchmarks gpu" in text


def test_deepr_suite_scores_deepr_loop_and_few_step_samplers(quick_run):
    """`python -m benchmarks deepr`: DeepR's LMS loop, DDPM and the few-step rows, scored."""
    pytest.importorskip("diffusers")
    from benchmarks import suite_deepr

    _, _, path = quick_run
    text = path.read_text()
    start, end = harness.markers("deepr")
    section = text[text.index(start) : text.index(end)]
    assert "DeepR's objective" in section and "from_deepr" in section
    names = ["DeepR's loop: LMS (diffusers)", "DeepR's loop, condition unscaled", "xdeepr ddpm"]
    names += [f"xdeepr {s}" for s, _ in suite_deepr.FEW]
    for name in names:
        rows = [ln for ln in section.splitlines() if ln.startswith(f"| {name} |")]
        assert rows, name
        for row in rows:
            crps, ssr = (float(row.split("|")[i].split("±")[0]) for i in (3, 4))
            assert 0 < crps and ssr > 0, row  # finite scores, not nan
    bic = next(ln for ln in section.splitlines() if ln.startswith("| bicubic"))
    assert 0 < float(bic.split("|")[3]) < 10, bic


def test_onestep_suite_scores_teacher_student_and_times_deepr(quick_run):
    """`python -m benchmarks onestep`: skill at both sizes, the DeepR LMS loop timed."""
    pytest.importorskip("diffusers")
    _, _, path = quick_run
    text = path.read_text()
    start, end = harness.markers("onestep")
    section = text[text.index(start) : text.index(end)]
    for size in ("full", "180"):
        for who in ("teacher, 10 steps", "student, 1 evaluation"):
            row = next(ln for ln in section.splitlines() if ln.startswith(f"| {size} | {who} |"))
            crps, ssr, spectral = (float(row.split("|")[i]) for i in (3, 6, 7))
            assert crps > 0 and ssr > 0 and spectral > 0, row  # finite, not nan
    deepr = next(ln for ln in section.splitlines() if ln.startswith("| DeepR default"))
    assert "LMS 10 steps" in deepr and float(deepr.split("|")[2]) > 0
    student = next(ln for ln in section.splitlines() if ln.startswith("| student 1 evaluation"))
    assert student.rstrip(" |").endswith("x")  # the ratio against DeepR's default


def test_shift_runs_name_their_selection_and_config(monkeypatch):
    from benchmarks import suite_shift as S

    ctx = harness.Context(device=torch.device("cpu"))
    monkeypatch.delenv(harness.STEPS_ENV, raising=False)
    spec = "cmip/bicubic/1/calibrated,a/regression/0/m300/last,cmip/bicubic/0/default"
    monkeypatch.setenv(S.RUNS_ENV, spec)
    cal, last, default = S.jobs(ctx, {**S.CASES, "cmip": ("", None)})
    assert (cal["selection"], cal["seed"], cal.get("config")) == ("calibrated", 1, None)
    assert (last["selection"], last["mean_steps"]) == ("last", 300)
    assert (default["config"], default["steps"], default["selection"]) == ("default", None, None)
    names = {S._path(j).name for j in (cal, last, default)}
    assert names == {
        "cmip-bicubic-s1-1500-selcalibrated.json",
        "a-regression-s0-1500-m300-sellast.json",
        "cmip-bicubic-s0-epochs-default.json",
    }
    for bad in ("a/bicubic/0/calibrated/last", "a/bicubic/0/best", "a/bicubic/0/default/default"):
        monkeypatch.setenv(S.RUNS_ENV, bad)
        with pytest.raises(ValueError, match="unknown run"):
            S.jobs(ctx)


def test_shift_full_case_trains_on_every_time_before_the_test():
    from benchmarks import suite_shift as S

    f, _, _ = xdeepr.datasets.load_sample()
    before = f.sel(time=slice(None, harness.TRAIN_END)).sizes["time"]
    full, small = S._data("full", False), S._data("in", False)
    assert full[0].sizes["time"] == before > small[0].sizes["time"] == S.TIMES
    assert (full[2].time.values == small[2].time.values).all()  # the same test times
    assert full[0].time.values.max() < full[2].time.values.min()
