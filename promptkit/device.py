"""Where computation runs: device names, mixed precision, and data-loader settings.

Every command that computes takes ``--device auto|cpu|cuda[:N]|mps``; ``auto`` picks CUDA when
present, then Apple's MPS, then the CPU. Mixed precision is bf16 autocast (no loss scaling
needed, unlike fp16), an option for GPUs; the frozen backbone and the trained tensors stay
float32.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Literal

import torch

from promptkit.errors import UsageError

__all__ = ["PRECISIONS", "Precision", "autocast", "loader_kwargs", "resolve_device"]

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` into an available ``torch.device``.

    Raises:
        UsageError: an unknown name, or a device this machine does not have (the hint says
            what is available).
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise UsageError("device 'mps' is not available on this machine", hint=_available_hint())
        return torch.device("mps")
    match = _CUDA.match(text)
    if match:
        if not torch.cuda.is_available():
            raise UsageError(f"device {text!r} requested but CUDA is not available", hint=_available_hint())
        # a bare "cuda" is the current GPU: 0 unless set (under torchrun, each process's LOCAL_RANK)
        index = int(match.group(1)) if match.group(1) else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise UsageError(f"device {text!r} does not exist: {torch.cuda.device_count()} CUDA device(s)",
                             hint=_available_hint())
        return torch.device("cuda", index)
    raise UsageError(f"unknown device {spec!r}", hint="use auto, cpu, cuda, cuda:N or mps")


def autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager[Any]:
    """Autocast context for ``precision`` on ``device``: bf16 autocast, or nothing for fp32.

    Raises:
        UsageError: unknown precision, or bf16 where torch has no autocast for the device.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise UsageError(f"unknown precision {precision!r}", hint="use fp32 or bf16")
    if not torch.amp.is_autocast_available(device.type):
        raise UsageError(f"bf16 autocast is not available on {device.type}", hint="use --precision fp32")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def loader_kwargs(device: torch.device, num_workers: int | None = 0, dataset: Any = None) -> dict[str, Any]:
    """DataLoader settings that help on ``device``: worker processes, and pinned memory for CUDA.

    ``num_workers=None`` picks :func:`promptkit.data.loader.default_num_workers` for ``dataset``
    (none for in-memory data or on 2-core machines, several on CUDA).
    """
    if num_workers is None:
        from promptkit.data.loader import default_num_workers

        num_workers = default_num_workers(dataset, device)
    kwargs: dict[str, Any] = {"num_workers": num_workers, "pin_memory": device.type == "cuda"}
    if num_workers > 0:
        kwargs["persistent_workers"] = False  # loaders are rebuilt per pass; workers must not outlive them
    return kwargs


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _available_hint() -> str:
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return "available here: " + ", ".join(names) + " (or auto)"
