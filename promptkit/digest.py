"""Digests: the one place promptkit hashes tensors and files (SHA-256, 64 lowercase hex digits).

Named tensors are hashed with one encoding, ``"content"`` (a version's content digest, a cached
feature entry's digest). Two older encodings stay because digests made with them are recorded in
assets already stored, in the built-in collection, in users' registries and on the Hub, and
every stored value must keep verifying: ``"weights"`` (a backbone's weights digest) and
``"values"`` (a prompt's or an ensemble's value digest). One function computes all three and its
``encoding`` says which bytes go in (:func:`tensor_sha256`); new digests use ``"content"``. Whole files and
byte strings are hashed as they are (:func:`bytes_sha256`, :func:`file_sha256`).

torch is imported only when a tensor is hashed, so the registry and the CLI can import this
module without loading it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["ENCODINGS", "Encoding", "bytes_sha256", "file_sha256", "tensor_sha256"]

Encoding = Literal["content", "weights", "values"]
ENCODINGS: tuple[Encoding, ...] = ("content", "weights", "values")
_NAMED: tuple[Encoding, ...] = ("content", "weights")  # encodings that hash names, in sorted name order


def bytes_sha256(data: bytes) -> str:
    """SHA-256 hex digest of ``data`` exactly as given."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (read in ``chunk``-byte blocks); equals :func:`bytes_sha256` of them."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensor_sha256(
    tensors: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], *, encoding: Encoding, prefix: str = ""
) -> str:
    """SHA-256 hex digest of tensors, in one of the stored encodings.

    The hash reads ``prefix`` (UTF-8), then, for each tensor (in sorted name order for a mapping,
    in the given order for a sequence), a header and the tensor's raw bytes. The raw bytes are
    those of the detached, contiguous CPU tensor in row-major order and native byte order, in
    its own dtype (as float32 for ``"values"``); an empty tensor contributes none. ``dtype`` is
    ``str(t.dtype)`` (``"torch.float32"``) and ``shape`` is ``str(tuple(t.shape))`` (``"(2, 3)"``).

    Encodings (the header before each tensor's raw bytes):

    - ``"content"`` (a mapping): ``f"{name}\\0{dtype without 'torch.'}\\0{shape}\\0"``. A registry
      version's content digest (``Manifest.sha256``), independent of the file's metadata, and a
      cached feature entry's digest. The encoding for new digests.
    - ``"weights"`` (a mapping): the name, the dtype, the shape and the raw bytes, each preceded
      by its byte length as 8 bytes little-endian, so no two state dicts collide by concatenation.
      A backbone's ``weights_sha256``.
    - ``"values"`` (a sequence): no header; values cast to float32, so a tensor hashes the same on
      any device and in any floating dtype. Prompt and ensemble digests, whose ``prefix`` names
      the mode and shape (``prompt_sha256``).

    Raises:
        ValueError: an unknown encoding; TypeError: a sequence given to a named encoding.
    """
    import torch

    if encoding not in ENCODINGS:
        raise ValueError(f"unknown tensor digest encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    if encoding in _NAMED and not isinstance(tensors, Mapping):
        raise TypeError(f"the {encoding!r} digest hashes names: pass a mapping of name -> tensor")
    if isinstance(tensors, Mapping):
        items = [(name, tensors[name]) for name in sorted(tensors)]
    else:
        items = [("", t) for t in tensors]
    h = hashlib.sha256(prefix.encode())
    for name, tensor in items:
        t = tensor.detach().to("cpu")
        t = (t.to(torch.float32) if encoding == "values" else t).contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dtype, shape = str(t.dtype), str(tuple(t.shape))
        if encoding == "content":
            h.update(f"{name}\0{dtype.removeprefix('torch.')}\0{shape}\0".encode())
        if encoding == "weights":
            for part in (name.encode(), dtype.encode(), shape.encode(), raw):
                h.update(len(part).to_bytes(8, "little"))
                h.update(part)
        else:
            h.update(raw)
    return h.hexdigest()
