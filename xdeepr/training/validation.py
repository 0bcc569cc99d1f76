"""Validation by skill inside training: sample, score, select the weights, stop, warn.

The diffusion loss does not see calibration: trained long on little data, an
ensemble collapses towards one field while its loss keeps falling (BENCHMARKS.md,
"calibration"). So :func:`xdeepr.train` validates the way its users judge a model:
every ``validate_every`` steps and at the end it samples a fixed, bounded subset of
the validation times (``validation_times`` evenly spaced, ``validation_members``
members, the model's default sampler, noise seeded as ``downscale(seed=cfg.seed)``
seeds it) with the EMA weights, and scores the ensembles by fair CRPS,
spread-skill ratio and ensemble-mean RMSE in the label's units. :func:`select`
keeps the best weights by a stated rule; ``patience`` stops early; the selected
weights are what :func:`xdeepr.train` returns, with a :class:`CalibrationWarning`
when their spread-skill lies outside :data:`~xdeepr.metrics.CALIBRATED_SPREAD_SKILL`
(0.9 to 1.1, the one calibration band of xdeepr: the selection uses it too).

Cost: one validation draws ``validation_times x validation_members`` samples of
``steps`` network evaluations, without gradients; at the defaults (12 x 4 x 10) that
is about 10 training steps of ``TrainConfig.small`` and with about 8 validations a
run about 13 % of a 600-step run's time. The measured share is in
``model.summary["validation"]["share_of_time"]``.

The selection rules (``TrainConfig.selection``) are in :mod:`xdeepr.training.selection`.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     _warn_if_uncalibrated({"step": 300.0, "val_crps": 0.3, "val_spread_skill": 0.6})
>>> caught[0].category.__name__, "under-dispersive" in str(caught[0].message)
('CalibrationWarning', True)
"""

from __future__ import annotations

import copy
import math
import time as _time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from .. import grid
from ..errors import ConfigError
from ..metrics.probabilistic import CALIBRATED_SPREAD_SKILL
from ..options import SamplingOptions
from . import holdout
from .distributed import gather_shares
from .selection import CALIBRATED_RULE, RULE, calibrated_crps, rule_used, select

if TYPE_CHECKING:
    from ..model import DownscalingModel
    from ..nn import UNet
    from .config import TrainConfig
    from .data import _Data

__all__ = [
    "CALIBRATED_RULE",
    "CALIBRATED_SPREAD_SKILL",
    "RULE",
    "CalibrationWarning",
    "SkillValidation",
    "calibrated_crps",
    "select",
]

#: Fewest steps between two automatic validations (short runs validate at the end only).
AUTO_MIN_EVERY = 50
#: Former names of :data:`~xdeepr.metrics.CALIBRATED_SPREAD_SKILL` (selection and warning
#: bands, now one): deprecated, read through the module's ``__getattr__``.
_DEPRECATED_BANDS = ("SELECTION_BAND", "WARN_BAND")


def __getattr__(name: str) -> Any:
    """``SELECTION_BAND`` / ``WARN_BAND``: deprecated names of the one calibration band."""
    if name in _DEPRECATED_BANDS:
        warnings.warn(
            f"xdeepr.training.validation.{name} is deprecated: use "
            "xdeepr.metrics.CALIBRATED_SPREAD_SKILL (one band for selection and warning)",
            FutureWarning,
            stacklevel=2,
        )
        return CALIBRATED_SPREAD_SKILL
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CalibrationWarning(UserWarning):
    """The returned model's validation spread-skill ratio is outside the calibrated band.

    The band is :data:`xdeepr.metrics.CALIBRATED_SPREAD_SKILL` (0.9 to 1.1).
    """


def _mean_over_variables(ds: xr.Dataset) -> float:
    return float(np.mean([float(v) for v in ds.data_vars.values()]))


class SkillValidation:
    """Validation by skill of one training run, its selected weights and its state.

    The training loop calls :meth:`due` after each step, :meth:`validate` when due,
    reads :attr:`stop`, and calls :meth:`finish` once at the end;
    :meth:`state_dict` / :meth:`load_state_dict` go into and out of checkpoints, so
    a resumed run selects what an uninterrupted one selects.
    """

    def __init__(
        self,
        model: DownscalingModel,
        data: _Data,
        cfg: TrainConfig,
        n_train: int,
        total: int,
        device: torch.device,
    ) -> None:
        self.model, self.data, self.cfg, self.device = model, data, cfg, device
        self.indices = holdout.validation_indices(n_train, data.condition.sizes["time"], cfg)
        every = cfg.validate_every
        if every is None:
            from .config import AUTO_VALIDATIONS

            every = max(AUTO_MIN_EVERY, math.ceil(total / AUTO_VALIDATIONS))
        self.every, self.total = int(every), int(total)
        self.records: list[dict[str, float]] = []
        self.best: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.since_best = 0
        self.seconds = 0.0
        self._tensors: tuple[torch.Tensor, torch.Tensor, xr.Dataset] | None = None
        #: The validation ensembles (by step) of the latest and of the best record: the
        #: spread calibration is fitted on the returned weights' without sampling again.
        self._ensembles: dict[float, xr.Dataset] = {}
        #: Each validation member's fold mean less the kept net's (cross-fitted models).
        self._fold_offsets: xr.Dataset | None = None

    @property
    def enabled(self) -> bool:
        """Whether there are validation times to sample."""
        return self.indices.size > 0

    def due(self, step: int) -> bool:
        """Whether step `step` (counted after the update) validates."""
        if not self.enabled or (self.records and self.records[-1]["step"] == step):
            return False
        return step >= self.total or (self.every > 0 and step % self.every == 0)

    @property
    def stop(self) -> bool:
        """Whether ``patience`` validations passed without a better pick."""
        return self.cfg.patience is not None and self.since_best >= self.cfg.patience

    # ----------------------------------------------------------------- sampling
    def _inputs(self) -> tuple[torch.Tensor, torch.Tensor, xr.Dataset]:
        """Conditions, calendars and the physical truth of the subset, loaded once."""
        if self._tensors is None:
            idx = self.indices
            cond_da = self.data.condition.isel(time=idx)
            tgt_da = self.data.target.isel(time=idx)
            if cond_da.chunks is not None or tgt_da.chunks is not None:
                import dask

                cond_da, tgt_da = dask.compute(cond_da, tgt_da)
            cond = torch.from_numpy(np.asarray(cond_da.values, "f4"))
            cal = torch.from_numpy(self.data.calendar[idx])
            truth = self._physical(tgt_da.load())
            self._tensors = (cond, cal, truth)
        return self._tensors

    def _physical(self, normalised: xr.DataArray) -> xr.Dataset:
        """A (..., variable, lat, lon) padded, normalised target in the label's units.

        Everything is scored as the residual the network models: the mean it
        corrects is the same for truth and ensemble, so errors and spreads are
        those of the full field.
        """
        arr = grid.unpad(normalised)
        return self.model.label_scaler.denormalize(arr.to_dataset("variable"))

    def _sample(self, ema: UNet, members: int | None = None) -> xr.Dataset:
        from ..diffusion import StackedRandomGenerator
        from ..inference import MEMBER, sample_seed

        cond, cal, _ = self._inputs()
        m = members or self.cfg.validation_members
        view = copy.copy(self.model)
        view.network = ema
        opts = SamplingOptions(members=m, seed=self.cfg.seed, progress=False)
        opts = opts.resolve(view).on_device(self.device)  # once, not per batch
        times = self.data.times[self.indices]
        pairs = [(i, j) for i in range(len(times)) for j in range(m)]
        batch = max(self.cfg.batch_size, m)

        def draw(share: np.ndarray) -> torch.Tensor:  # these pairs, in batches
            out = []
            for start in range(0, len(share), batch):
                chunk = [pairs[p] for p in share[start : start + batch]]
                rows = torch.tensor([i for i, _ in chunk])
                noise = StackedRandomGenerator.from_seeds(
                    [sample_seed(self.cfg.seed, times[i], j) for i, j in chunk],
                    device=self.device,
                )
                c = cond[rows].to(self.device)
                k = cal[rows].to(self.device) if self.cfg.calendar else None
                out.append(view.sample(c, k, opts, noise=noise).float().cpu())
            return torch.cat(out)

        # under torchrun each rank draws its share of the pairs, and every rank gets all
        x = gather_shares(len(pairs), draw)
        x = x.reshape(len(times), m, *x.shape[1:])  # (T, M, V, Hp, Wp)
        like = self.data.target.isel(time=self.indices)
        arr = xr.DataArray(
            x.numpy(),
            dims=("time", MEMBER, *like.dims[1:]),
            coords={**{k: v for k, v in like.coords.items()}, MEMBER: np.arange(m)},
        )
        return self._with_fold_means(self._physical(arr))

    def _with_fold_means(self, ens: xr.Dataset) -> xr.Dataset:
        """`ens` with each member's fold mean in place of the kept net's, as ``downscale``.

        The validation residual is the truth less the kept regression net's mean; a
        member of a cross-fitted model is added to its fold net's (see
        :func:`xdeepr.model.mean.member_residual_means`), so the member differs from
        the kept net's by that fold net's departure from it.
        """
        from ..inference import MEMBER
        from ..model.mean import member_residual_means, residual_mean

        if not self.model.regression_folds:
            return ens
        members = ens[MEMBER].values
        if self._fold_offsets is None or self._fold_offsets[MEMBER].size != members.size:
            cond = self.data.condition.isel(time=self.indices).compute()
            cal = self.data.calendar[self.indices]
            kept = residual_mean(self.model, cond, cal)
            each = member_residual_means(self.model, cond, cal, members, MEMBER)
            self._fold_offsets = each - kept.transpose(*each[self.model.labels[0]].dims[1:])
        off = self._fold_offsets
        return xr.Dataset(
            {v: ens[v] + off[v].transpose(*ens[v].dims).values for v in ens.data_vars},
            attrs=ens.attrs,
        )

    def validate(self, ema: UNet, step: int) -> dict[str, float]:
        """Sample and score the subset with `ema`; update the selection; the record."""
        from .. import metrics

        start = _time.monotonic()
        ens = self._sample(ema)
        best = None if self.best is None else self.records[self.best]["step"]
        self._ensembles = {k: v for k, v in self._ensembles.items() if k == best}
        self._ensembles[float(step)] = ens  # the latest and the best so far
        truth = self._inputs()[2]
        rec = {
            "step": float(step),
            "val_crps": _mean_over_variables(metrics.crps_ensemble(truth, ens, fair=True)),
            "val_spread_skill": _mean_over_variables(metrics.spread_skill_ratio(truth, ens)),
            "val_rmse": _mean_over_variables(metrics.rmse(truth, ens.mean("member"))),
        }
        if self.cfg.selection == "calibrated" and ens.sizes["time"] >= 2:
            rec["val_crps_calibrated"] = calibrated_crps(truth, ens, self._centre(truth))
        self.records.append(rec)
        best = select(
            self.records, by="calibrated" if self.cfg.selection == "calibrated" else "skill"
        )
        if best == len(self.records) - 1:
            self.best, self.since_best = best, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
        else:
            self.since_best += 1
        self.seconds += _time.monotonic() - start
        return rec

    @staticmethod
    def postfix(rec: dict[str, float]) -> dict[str, str]:
        """Progress-bar fields of a record."""
        return {
            "crps": f"{rec['val_crps']:.3f}",
            "ssr": f"{rec['val_spread_skill']:.2f}",
            "rmse": f"{rec['val_rmse']:.3f}",
        }

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: records, the pick, its weights, the patience count."""
        return {
            "records": [dict(r) for r in self.records],
            "best": -1 if self.best is None else self.best,
            "best_state": self.best_state,
            "since_best": self.since_best,
            "selection": self.cfg.selection,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` output (None: a checkpoint from before selection)."""
        if not state:
            return
        saved = state.get("selection", "skill")  # checkpoints before the choice: skill
        if "calibrated" in (saved, self.cfg.selection) and saved != self.cfg.selection:
            raise ConfigError(
                f"the checkpoint was written with selection={saved!r} and this run asks "
                f"for selection={self.cfg.selection!r}: their validation records are not "
                "scored alike; resume with the same selection, or start afresh"
            )
        self.records = [dict(r) for r in state["records"]]
        self.best = None if int(state["best"]) < 0 else int(state["best"])
        self.best_state = state["best_state"]
        self.since_best = int(state["since_best"])

    # ------------------------------------------------------------------ the end
    def finish(self, model: DownscalingModel, ema: UNet, step: int, wall: float) -> None:
        """Put the selected weights in `model` (CPU) and say which, how good, how costly."""
        if self.enabled and (not self.records or self.records[-1]["step"] != step):
            self.validate(ema, step)  # a run stopped by max_minutes still ends validated
        ema = ema.cpu()
        chosen = step
        if self.cfg.selection != "last" and self.best is not None and self.best_state:
            chosen = int(self.records[self.best]["step"])
            if chosen != step:
                model.final_ema_state = {k: v.clone() for k, v in ema.state_dict().items()}
                ema.load_state_dict(self.best_state)
        model.network = ema
        if self.cfg.calibrate and self.indices.size >= 2:
            self.calibrate(model, ema, float(chosen))
        rec = next((r for r in self.records if r["step"] == chosen), None)
        model.summary["selected_step"] = chosen
        model.summary["validation"] = {
            "rule": rule_used(self.records, self.cfg.selection),
            "split": self.cfg.validation_split,  # the last times, or a season held out
            "selected": rec,
            "records": self.records,
            "times": int(self.indices.size),
            "members": self.cfg.validation_members,
            "every": self.every,
            "seconds": self.seconds,
            "share_of_time": self.seconds / wall if wall > 0 else float("nan"),
            "early_stopped": self.stop,
        }
        if rec is not None:
            _warn_if_uncalibrated(rec, self._setup(model), model.calibration)
            self._check_mean(model, net=ema, step=float(chosen))

    def _check_mean(self, model: DownscalingModel, net: UNet, step: float) -> None:
        """Record, and warn, where `step`'s ensemble mean is behind the static correction."""
        from .meancheck import record_check

        if self.data.static is not None and self.enabled:  # a bicubic residual
            static = self.data.static.errors(self.indices)
            ens = self._kept_ensemble(net, step)
            record_check(model, self._inputs()[2], ens, static, self._setup(model))

    def _kept_ensemble(self, net: UNet, step: float) -> xr.Dataset:
        """The validation ensemble of `step`, sampled again only where it was not kept."""
        ens = self._ensembles.get(step)
        if ens is None:  # a resumed run: its ensembles were not kept
            ens = self._ensembles[step] = self._sample(net.to(self.device))
            net.cpu()
        return ens

    def _setup(self, model: DownscalingModel) -> dict[str, Any]:
        """What the model does, for the warning's advice (:func:`.advice.advice`)."""
        folds = model.summary.get("regression_mean", {}).get("folds", 1)
        return {
            "mean": model.mean,
            "dropout": self.cfg.dropout,
            "calibrate": self.cfg.calibrate,
            "mean_folds": folds,
            "selection": self.cfg.selection,
        }

    def _centre(self, truth: xr.Dataset) -> xr.Dataset | None:
        """The recentring's centre for the validation members: None without a regression mean.

        A regression-mean model's members (and truth) are scored as departures from the
        kept net's mean, so the centre is zero there.
        """
        return xr.zeros_like(truth) if self.model.regression is not None else None

    def calibrate(self, model: DownscalingModel, net: UNet, step: float) -> None:
        """Fit the post-hoc spread calibration on the validation subset (returned weights).

        On the ensemble the validation of `step` drew with those weights (the
        validation times, ``validation_members`` members, seeded as every validation),
        sampled again only when it was not kept (a resumed run); the fit, the on/off
        decision and the scores are in ``model.calibration`` and
        ``model.summary["calibration"]`` (:func:`xdeepr.model.calibration.fit_calibration`);
        with a regression mean, the recentring towards it (:mod:`xdeepr.model.recentre`).
        """
        from ..model.calibration import fit_calibration

        start = _time.monotonic()
        ens = self._kept_ensemble(net, step)
        truth = self._inputs()[2]
        fit = fit_calibration(truth, ens, centre=self._centre(truth))
        fit["seconds"] = _time.monotonic() - start
        model.calibration = fit
        model.summary["calibration"] = fit


def _warn_if_uncalibrated(
    rec: dict[str, float],
    setup: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
) -> None:
    """A CalibrationWarning when the returned weights' validation spread-skill is off.

    The advice depends on what the model already does (:func:`.advice.advice`),
    and says so when the post-hoc spread calibration is on (with the validation
    spread-skill it gives). With ``selection="calibrated"`` the spread is left to the
    calibration: no warning when it is on and brings every variable into the band.
    """
    from .advice import advice

    ssr = rec["val_spread_skill"]
    low, high = CALIBRATED_SPREAD_SKILL
    if low <= ssr <= high or not math.isfinite(ssr):
        return
    if (setup or {}).get("selection") == "calibrated" and _mended(calibration):
        return
    what, tips = advice(ssr, setup, calibration)
    warnings.warn(
        f"the returned weights (step {int(rec['step'])}) have a validation spread-skill "
        f"ratio of {ssr:.2f}, outside [{low}, {high}] (fair CRPS "
        f"{rec['val_crps']:.3g}): {what}. Try: {tips}.",
        CalibrationWarning,
        stacklevel=5,  # _warn_if_uncalibrated < finish < _optimise < train < the caller
    )


def _mended(calibration: dict[str, Any] | None) -> bool:
    """Whether every variable's validation spread-skill, as downscale() returns it, is in the band.

    A variable counts with its calibrated ratio where the spread factor is on for it,
    else its ratio as recentred (the raw one where the recentring is off too).
    """
    if not calibration or not calibration.get("factors"):
        return False
    low, high = CALIBRATED_SPREAD_SKILL
    on, per_var = calibration.get("enabled", {}), calibration.get("validation", {})
    ratios = []
    for v in calibration["factors"]:
        rec = per_var.get(v, {})
        off = rec.get("spread_skill_recentred", rec.get("spread_skill_raw"))
        ratios.append(rec.get("spread_skill_calibrated") if on.get(v) else off)
    return all(r is not None and low <= r <= high for r in ratios)
