"""Read a DeepR training configuration (``resources/configuration_diffusion.yml``).

DeepR (ECMWFCode4Earth/DeepR) describes an experiment in one YAML file with two
parts: ``data_configuration`` (features, label, split) and ``training_configuration``
(``model_configuration``: a diffusers ``UNet2DModel`` and a scheduler, and
``training_parameters``). :func:`read_deepr_config` turns such a file into a
:class:`DeepRConfig`: the :class:`~xdeepr.TrainConfig` it implies plus what a
TrainConfig does not hold (coverages, variables, auxiliary statics, scaling methods,
the split), and, key by key, what was ignored and why. docs/from-deepr.md holds the
full table; :data:`~.keys.IGNORED` the reasons.

The reader refuses what it does not understand: a missing section or a value of the
wrong type raises :class:`~xdeepr.errors.ConfigError` naming the key path (e.g.
``training_configuration.training_parameters.batch_size``). Keys it does not know
inside known sections are listed in one :class:`~.warning.DeepRConfigWarning`;
settings that xdeepr cannot reproduce exactly (an LMS sampler, zero terminal SNR with
ε-prediction, ...) are said in the same warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import xarray as xr

from ...training.config import TrainConfig
from .fields import read_fields, train_config
from .split import DeepRSplit, prepare

__all__ = ["DeepRConfig", "read_deepr_config"]


@dataclass(frozen=True)
class DeepRConfig:
    """What a DeepR configuration file says, in xdeepr's terms.

    Attributes
    ----------
    train : TrainConfig
        Network, diffusion, scaling, optimisation and validation fraction.
    features_coverage, labels_coverage : dict
        DeepR's ``spatial_coverage`` blocks, ``{"longitude": (w, e), "latitude":
        (n, s)}``, for ``ds.deepr.crop(coverage=...)``.
    feature_variables, label_variables : tuple of str
        The variables (also in ``train.features`` / ``train.labels``).
    auxiliary : tuple of str
        The ``add_auxiliary`` entries switched on (``"time"``, ``"lsm-low"``,
        ``"orog-low"``, ``"lsm-high"``, ``"orog-high"``); the static ones are expected
        among the static covariates passed to training.
    feature_scaling, label_scaling : str
        The standardization methods (also in ``train``).
    split : DeepRSplit
        The data split as the file gives it.
    ignored : dict
        Key path → why it was not mapped (documented keys, unknown keys and lossy
        settings alike).
    source : str
        The file read.
    """

    train: TrainConfig
    features_coverage: dict[str, tuple[float, float]]
    labels_coverage: dict[str, tuple[float, float]]
    feature_variables: tuple[str, ...]
    label_variables: tuple[str, ...]
    auxiliary: tuple[str, ...]
    feature_scaling: str
    label_scaling: str
    split: DeepRSplit
    ignored: dict[str, str]
    source: str = ""

    @property
    def static_auxiliary(self) -> tuple[str, ...]:
        """The auxiliary entries that are static fields (all but ``"time"``)."""
        return tuple(a for a in self.auxiliary if a != "time")

    def prepare(
        self, features: xr.Dataset, labels: xr.Dataset
    ) -> tuple[xr.Dataset, xr.Dataset, TrainConfig]:
        """Crop to the coverages, keep the times of the split, and fit the fraction.

        Features and labels are cropped to their ``spatial_coverage``; times outside
        ``temporal_coverage`` and the test part (the last ``test`` fraction of the
        shared times, or the test period) are dropped; with periods, only the training
        and validation periods are kept and ``validation_fraction`` becomes the exact
        share of validation times, so that xdeepr (which validates on the last part)
        validates on the validation period.

        Raises
        ------
        InputError
            When the validation period does not follow the training period, or no
            times are left.

        Examples
        --------
        >>> import xdeepr
        >>> f, l, _ = xdeepr.datasets.load_sample(periods=8)
        >>> cfg = DeepRConfig(
        ...     TrainConfig(), {"longitude": (8.5, 11.5), "latitude": (48.5, 46.5)},
        ...     {"longitude": (9.2, 10.75), "latitude": (48, 47.05)}, ("t2m",), ("t2m",),
        ...     (), "domain-wise", "domain-wise",
        ...     DeepRSplit(periods={"train": ("2020-01-01", "2020-01-01"),
        ...                         "validation": ("2020-01-02", "2020-01-02")}), {})
        >>> f2, l2, tc = cfg.prepare(f, l)
        >>> dict(f2.sizes), tc.validation_fraction
        ({'time': 8, 'latitude': 9, 'longitude': 13}, 0.5)
        """
        coverages = (self.features_coverage, self.labels_coverage)
        return prepare(self.split, self.train, coverages, features, labels)


def read_deepr_config(path: str | os.PathLike[str]) -> DeepRConfig:
    """Read a DeepR ``configuration_diffusion.yml`` as a :class:`DeepRConfig`.

    Parameters
    ----------
    path : str or path-like
        A YAML file with DeepR's structure (``data_configuration``,
        ``training_configuration``); see docs/from-deepr.md for each key.

    Returns
    -------
    DeepRConfig
        The TrainConfig (``.train``), coverages, variables, auxiliary statics, scaling
        methods, split and the ignored keys with their reasons.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ConfigError
        For a missing section or key, a value of the wrong type, an unknown method,
        schedule or prediction, or a non-diffusion ``training_configuration.type``; the
        message names the key path.

    Warns
    -----
    DeepRConfigWarning
        Listing the keys the reader does not know and the settings xdeepr reads
        differently (e.g. the LMS scheduler: xdeepr's default sampler).

    Examples
    --------
    >>> import pathlib, tempfile, textwrap, warnings
    >>> text = textwrap.dedent('''
    ...     data_configuration:
    ...       features_configuration:
    ...         variables: [t2m]
    ...         spatial_coverage: {longitude: [-8.35, 6.6], latitude: [46.45, 35.5]}
    ...         standardization: {to_do: true, method: domain-wise}
    ...       label_configuration:
    ...         variable: t2m
    ...         spatial_coverage: {longitude: [-6.85, 5.1], latitude: [44.95, 37]}
    ...     training_configuration:
    ...       model_configuration:
    ...         eps_model:
    ...           class_name: diffusers.UNet2DModel
    ...           kwargs: {block_out_channels: [16, 32], layers_per_block: 1,
    ...                    down_block_types: [DownBlock2D, AttnDownBlock2D]}
    ...         scheduler: {class_name: DDPMScheduler}
    ...       training_parameters: {num_epochs: 3, batch_size: 4, hour_embed_type: class}
    ... ''')
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "deepr.yml"
    >>> _ = p.write_text(text)
    >>> cfg = read_deepr_config(p)
    >>> cfg.train.channel_multipliers, cfg.train.is_attention, cfg.train.epochs
    ((1, 2), (False, True), 3)
    >>> cfg.labels_coverage["latitude"]
    (44.95, 37.0)
    """
    read = read_fields(path)
    return DeepRConfig(
        train=train_config(TrainConfig, read),
        features_coverage=read.features_coverage,
        labels_coverage=read.labels_coverage,
        feature_variables=read.feature_variables,
        label_variables=read.label_variables,
        auxiliary=read.auxiliary,
        feature_scaling=read.feature_scaling,
        label_scaling=read.label_scaling,
        split=read.split,
        ignored=read.ignored,
        source=read.source,
    )
