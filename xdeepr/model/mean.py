"""The regression mean (CorrDiff): a deterministic U-Net's prediction from the condition.

With ``TrainConfig(mean="regression")`` the model holds a second U-Net, trained with
MSE before the diffusion network, that maps the condition channels to the label's
departure from bicubic interpolation (normalised by its own scaler, ``mean_scaler``).
Its prediction plus bicubic interpolation is the regression mean: a deterministic
downscaler in its own right, and the field the diffusion network corrects
(Mardani et al., "Residual corrective diffusion modeling for km-scale atmospheric
downscaling"). The network takes the condition in the slot of the noisy field a
zero field and the diffusion step 0, so it is the same U-Net class and file layout.

Examples
--------
>>> mean = regression_mean(model, era5)  # doctest: +SKIP
>>> mean.t2m.dims  # doctest: +SKIP
('time', 'latitude', 'longitude')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr

if TYPE_CHECKING:
    from ..nn import UNet
    from .container import DownscalingModel

__all__ = [
    "member_folds",
    "member_residual_means",
    "predict_normalised",
    "regression_centre",
    "regression_mean",
    "residual_mean",
]


def predict_normalised(
    net: UNet,
    condition: torch.Tensor,
    calendar: torch.Tensor | None,
    *,
    batch_size: int = 16,
    device: torch.device | None = None,
) -> torch.Tensor:
    """The regression network's output ``(B, n_labels, H, W)`` for ``(B, C, H, W)`` conditions.

    Examples
    --------
    >>> from xdeepr.nn import UNet
    >>> net = UNet(image_channels=1, n_channels=8, channel_multipliers=(1, 2),
    ...            is_attention=(False, False), conditioned_on_input=2)
    >>> predict_normalised(net, torch.zeros(3, 2, 8, 8), None).shape
    torch.Size([3, 1, 8, 8])
    """
    device = device or next(net.parameters()).device
    out = []
    net.eval()
    with torch.no_grad():
        for i in range(0, condition.shape[0], batch_size):
            c = condition[i : i + batch_size].to(device=device, dtype=torch.float32)
            k = None if calendar is None else calendar[i : i + batch_size].to(device)
            x = torch.zeros((c.shape[0], net.image_channels, *c.shape[2:]), device=device)
            t = torch.zeros((c.shape[0],), device=device)
            out.append(net(x, t, c, k).float().cpu())  # (b, V, H, W)
    return torch.cat(out)


def residual_mean(
    model: DownscalingModel,
    condition: xr.DataArray,
    calendar: np.ndarray | None,
    net: UNet | None = None,
) -> xr.Dataset:
    """The regression network's departure from bicubic, in the labels' units.

    `condition` is :meth:`DownscalingModel.condition` output ``(time, channel, lat,
    lon)``, padded; the result is unpadded, ``(time, lat, lon)`` per label. `net`:
    one of ``model.regression_folds`` (default: the kept net, ``model.regression``).
    """
    from .. import grid

    net, scaler = net or model.regression, model.mean_scaler
    if net is None or scaler is None:
        raise ValueError("this model has no regression mean (trained with mean='regression')")
    # the regression mean sees the condition it was trained on: the observation channels
    # of a model conditioned on stations come after it and are left out
    cond = torch.from_numpy(np.asarray(condition.values, dtype="float32"))
    cond = cond[:, : net.conditioned_on_input]
    cal = None if calendar is None else torch.from_numpy(np.asarray(calendar, dtype="float32"))
    if not net.config.get("calendar", True):
        cal = None
    y = predict_normalised(net, cond, cal)  # (T, V, Hp, Wp)
    lat, lon = grid.horizontal_dims(condition)
    time = condition.dims[0]
    arr = xr.DataArray(
        y.numpy(),
        dims=(time, "variable", lat, lon),
        coords={
            time: condition[time],
            "variable": model.labels,
            lat: condition[lat],
            lon: condition[lon],
        },
    )
    return scaler.denormalize(grid.unpad(arr).to_dataset("variable"))


def member_folds(members: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """The fold net each ensemble member takes its mean from: member ``j`` → ``j mod k``.

    A member's fold depends on its number only, so a member is the same field
    whichever chunk of members (a dask block) it is drawn in.

    Examples
    --------
    >>> member_folds(range(5), 3).tolist()
    [0, 1, 2, 0, 1]
    """
    return np.asarray(members, dtype=int) % max(1, int(k))


def member_residual_means(
    model: DownscalingModel,
    condition: xr.DataArray,
    calendar: np.ndarray | None,
    members: Sequence[int] | np.ndarray,
    member_dim: str = "member",
) -> xr.Dataset:
    """Each member's regression departure from bicubic, ``(member, time, lat, lon)``.

    The diffusion network of a cross-fitted model learnt the residual left by the
    fold nets (each at the times it did not see), so that is the mean its samples
    correct: member ``j`` takes fold :func:`member_folds` ``(j)``'s prediction, and the
    ensemble's spread includes the fold nets' disagreement (the mean's own
    uncertainty). A model without fold nets gives every member the kept net's mean.

    Parameters
    ----------
    model : DownscalingModel
        Trained with ``mean="regression"``.
    condition : xarray.DataArray
        :meth:`DownscalingModel.condition` output ``(time, channel, lat, lon)``, padded.
    calendar : numpy.ndarray, optional
        ``(time, 2)`` calendar features.
    members : sequence of int
        The members' numbers.
    member_dim : str
        The name of the members' dimension.

    Returns
    -------
    xarray.Dataset
        Unpadded, in the labels' units, with a ``member`` dimension first.
    """
    if model.regression is None:
        raise ValueError("this model has no regression mean (trained with mean='regression')")
    nets = model.regression_folds or [model.regression]
    per_fold = [residual_mean(model, condition, calendar, net) for net in nets]
    pick = xr.DataArray(member_folds(members, len(nets)), dims=member_dim)
    out = xr.concat(per_fold, dim="fold", coords="minimal").isel(fold=pick)
    return out.assign_coords({member_dim: np.asarray(members)})


def regression_centre(
    ds: xr.Dataset, model: DownscalingModel, target: xr.Dataset | None = None
) -> xr.Dataset:
    """The kept net's regression mean in the space the members are drawn in.

    Bicubic plus the kept net's departure (:func:`residual_mean`), in each label's
    learnt space (precipitation: log1p, as ``downscale`` samples), ``(time, lat, lon)``
    on the output grid with its coordinates: the centre the post-hoc recentring moves
    the members towards (:mod:`xdeepr.model.recentre`). `ds` is validated coarse input
    in physical units (:meth:`DownscalingModel.coarse_features`).

    Examples
    --------
    >>> centre = regression_centre(model.coarse_features(era5), model)  # doctest: +SKIP
    """
    from .. import grid, transforms
    from .conditioning import calendar_features

    if model.regression is None:
        raise ValueError("this model has no regression mean (trained with mean='regression')")
    ds = transforms.forward(ds, model.transforms)  # the features as trained (tp: log1p)
    cond_da = model.condition(ds, target, validated=True)
    with_calendar = model.network.config.get("calendar", True)
    mean = residual_mean(model, cond_da, calendar_features(ds["time"]) if with_calendar else None)
    base = model.baseline(ds, target, validated=True)
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    lat, lon = grid.horizontal_dims(tgt)
    out = xr.Dataset(
        {
            v: (base[v] + mean[v].transpose(*base[v].dims).values).transpose("time", lat, lon)
            for v in model.labels
        }
    )
    return out.assign_coords(grid.grid_coords(tgt)).astype("float32")


def regression_mean(
    model: DownscalingModel,
    features: xr.Dataset,
    target: xr.Dataset | None = None,
    variables: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """The regression mean (bicubic + the network's departure) on the label grid.

    Parameters
    ----------
    model : DownscalingModel
        Trained with ``mean="regression"``.
    features : xarray.Dataset
        Coarse input, as for ``downscale`` (numpy-backed or small: it is computed).
    target : xarray.Dataset, optional
        Another hi-res domain, as for ``downscale``.
    variables : mapping of str to str, optional
        Input name -> the model's, as for ``downscale`` (:mod:`xdeepr.model.inputs`).

    Returns
    -------
    xarray.Dataset
        ``(time, lat, lon)`` per label variable, float32, with the label's attributes.

    Raises
    ------
    xdeepr.errors.ConfigError
        When the model has no regression mean.

    Examples
    --------
    >>> mean = regression_mean(model, era5)  # doctest: +SKIP
    """
    from .. import grid, transforms
    from ..errors import ConfigError
    from .inputs import check_time_step, history_note, match_variables

    if getattr(model, "regression", None) is None:
        raise ConfigError(
            "this model has no regression mean (its mean is "
            f"{getattr(model, 'mean', None)!r}); train with TrainConfig(mean='regression'), "
            "or use .deepr.interpolate(model) for the bicubic one"
        )
    features, used = match_variables(model, features, variables)
    check_time_step(model, features)
    coarse = model.coarse_features(features, target)
    # in the learnt space (tp: log1p) as the members are drawn, then in physical units
    centre = regression_centre(coarse, model, target)
    centre = transforms.inverse(centre, model.transforms, calibrated=False)
    tgt = model.label_grid if target is None else grid.finest_grid(target)
    lat, lon = grid.horizontal_dims(tgt)
    out = {}
    for v in model.labels:
        da = centre[v].transpose("time", lat, lon).reset_coords(drop=True)
        da = da.assign_coords({lat: tgt[lat].variable, lon: tgt[lon].variable})
        da.attrs = {
            k: model.label_attrs.get(v, {})[k]
            for k in ("standard_name", "units", "long_name")
            if k in model.label_attrs.get(v, {})
        }
        out[v] = da.astype("float32")
    attrs = {"xdeepr_model": model.identity, "title": "regression mean"}
    if used:
        attrs["history"] = history_note(used)
    return xr.Dataset(out, attrs=attrs)
