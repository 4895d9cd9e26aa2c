"""Training checkpoints: one safetensors file per run, replaced atomically after each epoch.

A checkpoint holds plain tensors (prompt, head, optimizer moments, aggregates, RNG state) and a
JSON state (config, epoch, history, optimizer hyper-parameters) in the safetensors metadata --
one file, so a crash can never pair the tensors of one epoch with the state of another, and no
pickle is involved anywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from promptkit._io import write_atomic
from promptkit.errors import IntegrityError

__all__ = [
    "CHECKPOINT_FILE",
    "load_checkpoint",
    "optimizer_from_flat",
    "optimizer_to_flat",
    "save_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.safetensors"
_META_KEY = "promptkit.train_state"
_FORMAT = "promptkit-train-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike[str], tensors: dict[str, Tensor], state: dict[str, Any]) -> Path:
    """Write tensors and a JSON-serialisable state to ``path`` atomically (temp file, fsync, rename)."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    blob = save(flat, metadata={_META_KEY: json.dumps({"format": _FORMAT, **state}, sort_keys=True)})
    write_atomic(path, blob)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        IntegrityError: the file cannot be parsed or is not a promptkit training checkpoint.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            state = json.loads((fh.metadata() or {})[_META_KEY])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no iteration)
    except Exception as e:
        raise IntegrityError(
            f"cannot read training checkpoint {path}: {e}",
            hint="delete the checkpoint folder to start over, or run without --resume",
        ) from e
    if state.get("format") != _FORMAT:
        raise IntegrityError(f"{path} is not a promptkit training checkpoint (format {state.get('format')!r})")
    return tensors, state


def optimizer_to_flat(optimizer: torch.optim.Optimizer, prefix: str = "optim.") -> tuple[dict[str, Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``prefix<param>.<name>``) and JSON."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for name, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}{pid}.{name}"] = value.detach().clone()  # a snapshot, not the live buffer
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict, prefix: str = "optim."
) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the state into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, name = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    for pid, entry in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
