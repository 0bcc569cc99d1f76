"""How a model travels to dask workers: its file bytes in the graph, decoded once per process."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..model import DownscalingModel

#: Models decoded in this process, by (identity, device): each worker decodes a model once.
_MODELS: dict[tuple[str, str], DownscalingModel] = {}
#: Model bytes scattered to a distributed cluster, by (client id, model digest).
_SCATTERED: dict[tuple[str, str], Any] = {}


def _model_bytes(model: DownscalingModel) -> bytes:
    """The model's file bytes (safetensors + JSON header, no pickle) for the task graph."""
    from ..model.fileformat import to_bytes

    return to_bytes(model)


def _model_from_bytes(data: np.ndarray, identity: str, device: torch.device) -> DownscalingModel:
    """The model of `data` on `device`, decoded once per process and `identity`.

    `identity` is the model's :attr:`~DownscalingModel.digest` (or its prefix,
    :attr:`~DownscalingModel.identity`), which covers everything that changes a
    result and is computed from the model's current state: two models that differ
    only in their scalers, or a copy whose weights were changed in place, have
    different keys.
    """
    from ..model.fileformat import from_bytes

    key = (identity, str(device))
    if key not in _MODELS:
        model = from_bytes(data.tobytes(), source="the model bytes of the task graph")
        if not model.digest.startswith(identity):
            raise RuntimeError(
                f"the model bytes in the task graph decode to model {model.identity}, "
                f"not {identity[:12]}: the graph is inconsistent"
            )
        _MODELS[key] = model.to(device)
    return _MODELS[key]


def _model_array(model: DownscalingModel, digest: str | None = None) -> Any:
    """The model file's bytes as a one-chunk dask array: it enters the graph once.

    With a ``dask.distributed`` client active, the bytes are scattered to the workers
    once per client and the graph only refers to them, so computing many pieces of
    the result (block by block, say) never re-sends the model. `digest` is the
    model's :attr:`~DownscalingModel.digest` when the caller already has it.
    """
    import dask
    import dask.array as dsa

    digest = model.digest if digest is None else digest
    raw = np.frombuffer(_model_bytes(model), dtype="uint8")
    name = f"xdeepr-model-{digest}"
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return dsa.from_array(raw, chunks=-1, name=name)
    key = (str(client.id), digest)
    future = _SCATTERED.get(key)
    if future is None or future.status != "finished":
        future = client.scatter(raw, broadcast=True)
        _SCATTERED[key] = future
    return dsa.from_delayed(dask.delayed(future), shape=raw.shape, dtype=raw.dtype, name=name)
