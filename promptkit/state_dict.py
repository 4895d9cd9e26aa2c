"""Reading tensors from torch checkpoint files: the one checkpoint reader of every layer.

Backbone weights (:mod:`promptkit.backbone`) and prompts made elsewhere (the registry's
importers) both come as ``torch.save`` files, often written by training scripts that wrap the
weights: ``{"state_dict": {...}}``, ``{"model": {...}, "optimizer": {...}}``, or keys prefixed
with ``module.`` by ``DataParallel``. They are read with ``torch.load(weights_only=True)``, whose
unpickler only rebuilds tensors and plain containers, so a malicious checkpoint cannot run code.

torch is imported only when a file is read.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["CHECKPOINT_SUFFIXES", "WRAPPER_KEYS", "read_checkpoint", "unwrap_state_dict"]

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")  # file names read with torch.load
WRAPPER_KEYS = ("state_dict", "model", "module")  # keys training scripts nest the weights under, in preference order
_DATA_PARALLEL_PREFIX = "module."


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The state dict in a torch checkpoint file, on the CPU (:func:`unwrap_state_dict` of what it holds).

    Returns:
        The (unwrapped) dict, or None when the file holds no dict; its values are not checked.

    Raises:
        pickle.UnpicklingError: the file holds objects other than tensors and plain containers.
        Exception: anything else ``torch.load`` raises for an unreadable file; callers turn both
            into their own errors.
    """
    import torch

    return unwrap_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))


def unwrap_state_dict(obj: Any) -> dict[str, Any] | None:
    """The state dict inside a loaded checkpoint.

    While a dict holds no tensor among its values, descend into the first of :data:`WRAPPER_KEYS`
    that maps to a dict (so ``{"model": {"state_dict": {...}}}`` unwraps fully); then drop a
    leading ``module.`` (``DataParallel``) from every key.

    Returns:
        The unwrapped dict, or None when ``obj`` (or what it wraps) is not a dict.
    """
    import torch

    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if nested is None:
            break
        obj = nested
    if not isinstance(obj, dict):
        return None
    return {(k.removeprefix(_DATA_PARALLEL_PREFIX) if isinstance(k, str) else k): v for k, v in obj.items()}
