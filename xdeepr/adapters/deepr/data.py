"""``data_configuration`` of a DeepR file: variables, coverages, scaling, auxiliary, split.

:func:`read_data` returns the variables, the ``spatial_coverage`` boxes, the
standardization methods, the ``add_auxiliary`` entries switched on and the
:class:`~.split.DeepRSplit`; every key is mapped, ignored with a reason, or refused with
its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._validate import BOOL
from ...errors import ConfigError
from .keys import AUXILIARY, IGNORED, SPLITS
from .schema import PREFIX, Reader
from .split import DeepRSplit

__all__ = ["read_data", "read_split"]


def read_data(r: Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """``data_configuration`` of `doc`: ``fvars``, ``lvars`` (variables), ``fcov``, ``lcov``
    (coverages), ``fscale``, ``lscale`` (scaling methods), ``aux`` and ``split``."""
    data = r.section(doc, "data_configuration", "")
    fpath, lpath = (
        "data_configuration.features_configuration",
        "data_configuration.label_configuration",
    )
    fsec = r.section(data, "features_configuration", "data_configuration")
    lsec = r.section(data, "label_configuration", "data_configuration")
    out: dict[str, Any] = {
        "fvars": r.names(fsec, fpath, ("variables", "variable")),
        "lvars": r.names(lsec, lpath, ("variable", "variables")),
        "fcov": r.coverage(fsec, fpath),
        "lcov": r.coverage(lsec, lpath),
    }
    fscale, fused = r.scaling(fsec, fpath)
    lscale, lused = r.scaling(lsec, lpath)
    out["fscale"] = fscale or "domain-wise"
    if fscale is None:
        r.note_lossy(
            f"{fpath}.standardization", "off in DeepR; xdeepr always standardises (domain-wise)"
        )
    # DeepR scales the labels with the features' scaler when theirs is off
    out["lscale"] = lscale or out["fscale"]
    aux: list[str] = []
    aux_value = fsec.get("add_auxiliary", {})
    apath = f"{fpath}.add_auxiliary"
    if isinstance(aux_value, bool):  # DeepR's first files: all or nothing
        aux = list(AUXILIARY) if aux_value else []
    elif isinstance(aux_value, Mapping):
        for key, on in aux_value.items():
            if key not in AUXILIARY:
                r.note_unknown(f"{apath}.{key}")
                continue
            if r.check(f"{apath}.{key}", on, BOOL):
                aux.append(key)
    elif aux_value is not None:
        raise r.fail(apath, "a mapping of flags or true/false", aux_value)
    out["aux"] = tuple(aux)
    r.known(
        fsec, fpath, {"variables", "variable", "spatial_coverage", "add_auxiliary"} | fused, IGNORED
    )
    r.known(
        lsec, lpath, {"variables", "variable", "spatial_coverage", "add_auxiliary"} | lused, IGNORED
    )
    if "add_auxiliary" in lsec:
        r.ignored[f"{lpath}.add_auxiliary"] = "DeepR reads the auxiliary flags of the features"
    out["split"] = read_split(r, data)
    r.known(
        data,
        "data_configuration",
        {
            "features_configuration",
            "label_configuration",
            "common_configuration",
            "split_coverages",
        },
        IGNORED,
    )
    return out


def read_split(r: Reader, data: Mapping[str, Any]) -> DeepRSplit:
    """The split of ``common_configuration`` (``temporal_coverage``, ``data_split``) and
    ``split_coverages``: fractions or periods, never both."""
    cpath = "data_configuration.common_configuration"
    common = r.section(data, "common_configuration", "data_configuration", required=False)
    time_range = None
    if "temporal_coverage" in common:
        tc = r.section(common, "temporal_coverage", cpath)
        time_range = r.period(tc, f"{cpath}.temporal_coverage")
    periods: dict[str, tuple[str, str]] = {}
    fractions: dict[str, float] = {}
    blocks = []
    if "data_split" in common:
        blocks.append((r.section(common, "data_split", cpath), f"{cpath}.data_split"))
    if "split_coverages" in data:  # DeepR's later files
        blocks.append(
            (
                r.section(data, "split_coverages", "data_configuration"),
                "data_configuration.split_coverages",
            )
        )
    for block, path in blocks:
        for key, value in block.items():
            full = f"{path}.{key}"
            if key not in SPLITS:
                r.note_unknown(full)
            elif isinstance(value, Mapping):
                periods[key] = r.period(value, full)
            else:
                v = r.number(block, key, path, float, None)
                if not 0.0 <= v < 1.0:
                    raise r.fail(full, "a fraction in [0, 1)", value)
                fractions[key] = v
    if periods and fractions:
        raise ConfigError(
            f"{PREFIX}{cpath}.data_split mixes fractions and periods; give one or the other"
        )
    r.known(common, cpath, {"temporal_coverage", "data_split"}, IGNORED)
    test, val = fractions.get("test", 0.0), fractions.get("validation", 0.0)
    if fractions and test + val >= 1.0:
        raise r.fail(f"{cpath}.data_split", "fractions that leave times to train on", fractions)
    if "train" in fractions:
        r.ignored[f"{cpath}.data_split.train"] = "the rest of the times train"
    return DeepRSplit(
        validation=val if fractions else None,
        test=test if fractions else None,
        periods=periods,
        time_range=time_range,
    )
