"""Limits on what the registry reads: prompt tensor bytes (``PROMPTKIT_MAX_PROMPT_BYTES``) and regular files only.

Sizes are checked from a file's length, a safetensors header or a tensor's shape before any
tensor data is read, copied or materialized.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from promptkit.errors import InvalidAssetError, UsageError

__all__ = ["DEFAULT_MAX_PROMPT_BYTES", "MAX_PROMPT_BYTES_ENV", "check_tensor_bytes", "max_prompt_bytes",
           "max_prompt_file_bytes", "read_regular_file", "regular_file_size"]

MAX_PROMPT_BYTES_ENV = "PROMPTKIT_MAX_PROMPT_BYTES"
DEFAULT_MAX_PROMPT_BYTES = 64 * 1024 * 1024  # a deep ViT-L prompt of 200 tokens is ~20 MB in float32
_HEADER_ALLOWANCE = 16 * 1024 * 1024 + 8  # a prompt file's header on top of its tensor bytes


def max_prompt_bytes() -> int:
    """The most tensor bytes one prompt file may hold: ``$PROMPTKIT_MAX_PROMPT_BYTES`` or 64 MiB."""
    raw = os.environ.get(MAX_PROMPT_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PROMPT_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{MAX_PROMPT_BYTES_ENV}={raw!r} is not a positive number of bytes")
    return value


def max_prompt_file_bytes() -> int:
    """The most bytes one prompt file may hold: its tensors' limit plus room for the header (e.g. a download)."""
    return max_prompt_bytes() + _HEADER_ALLOWANCE


def _hint() -> str:
    return f"if the file is genuine, raise the limit: {MAX_PROMPT_BYTES_ENV}=BYTES (now {max_prompt_bytes()})"


def check_tensor_bytes(what: str, nbytes: int, *, source: str) -> None:
    """Refuse ``nbytes`` of tensor data (one tensor or a file's total) above :func:`max_prompt_bytes`."""
    if nbytes > max_prompt_bytes():
        raise InvalidAssetError(
            f"{what} holds {nbytes} bytes of tensor data, over the limit of {max_prompt_bytes()}",
            source=source, hint=_hint(),
        )


def regular_file_size(path: Path) -> int:
    """The size of a regular file; a FIFO, device, socket or folder is refused without opening it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except OSError as err:
        raise UsageError(f"cannot read {path} ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"{path} is not a regular file", hint="give a prompt file or a folder made by `promptkit export`"
        )
    return st.st_size


def read_regular_file(path: Path) -> bytes:
    """The bytes of a prompt file, refused (before reading) when special or larger than the limit allows."""
    size = regular_file_size(path)
    check_tensor_bytes("the file", max(0, size - _HEADER_ALLOWANCE), source=str(path))
    with open(path, "rb") as fh:
        return fh.read()
