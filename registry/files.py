"""The prompt file format: safetensors with the manifest embedded, validated without unpickling.

A prompt file (manifest ``kind`` ``"prompt"``) holds the tensors ``prompt`` (L, m, d) and
optionally ``head.weight`` (C, d) and ``head.bias`` (C,). An ensemble file (``kind``
``"ensemble"``) holds exactly ``members`` (k, L, m, d), ``alpha`` (k,), ``member.mean`` (k, d),
``member.std`` (k, d), ``head.weight`` (C, d) and ``head.bias`` (C,): k member prompts whose
pooled features are standardized per member and mixed by alpha, and a head on the mixture
(:class:`promptkit.prompted_ensemble.PromptedEnsemble`). Either carries a ``__metadata__`` entry
``promptkit.manifest`` with the manifest JSON. Everything read from disk is checked here before
it is trusted: header size and structure, tensor names, dtypes, shapes against the manifest,
finiteness, an ensemble's weights and statistics and each member's digest, and the content digest.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from promptkit.digest import tensor_sha256
from promptkit.errors import InvalidAssetError

from .limits import check_tensor_bytes, read_regular_file
from .manifest import ALPHA_SUM_ATOL, ENSEMBLE, METADATA_KEY, AssetSpec, Manifest, parse_manifest

if TYPE_CHECKING:
    import torch

__all__ = [
    "ALLOWED_DTYPES",
    "ALPHA",
    "ALPHA_WEIGHT_ATOL",
    "ENSEMBLE_TENSORS",
    "HEAD_BIAS",
    "HEAD_WEIGHT",
    "MEMBERS",
    "MEMBER_MEAN",
    "MEMBER_STD",
    "PROMPT",
    "PROMPT_TENSORS",
    "content_digest",
    "read_header",
    "read_prompt_file",
    "serialize",
    "validate_tensors",
]

PROMPT = "prompt"
HEAD_WEIGHT = "head.weight"
HEAD_BIAS = "head.bias"
MEMBERS = "members"  # an ensemble's member prompts (k, L, m, d)
ALPHA = "alpha"  # their weights (k,), on the simplex
MEMBER_MEAN = "member.mean"  # each member's feature mean (k, d) on the target's training images
MEMBER_STD = "member.std"  # and standard deviation (k, d), > 0
PROMPT_TENSORS = (PROMPT, HEAD_WEIGHT, HEAD_BIAS)  # what a prompt file may hold (the head is optional)
ENSEMBLE_TENSORS = (MEMBERS, ALPHA, MEMBER_MEAN, MEMBER_STD, HEAD_WEIGHT, HEAD_BIAS)  # exactly, in an ensemble file
ALPHA_WEIGHT_ATOL = 1e-5  # alpha[j] equals the manifest's weight of member j within this
ALLOWED_DTYPES = ("F32", "F16", "BF16")  # safetensors dtype codes of floating prompts
_MAX_HEADER = 16 * 1024 * 1024  # a prompt's header is a few KB; refuse absurd sizes before reading them
_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}


def content_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order (``Manifest.sha256``).

    The ``"content"`` encoding of :func:`promptkit.digest.tensor_sha256`. Independent of the
    file's metadata, so the same prompt stored under another name, version or embedded manifest
    has the same digest (``name@sha256:...`` and duplicate detection).
    """
    return tensor_sha256(tensors, encoding="content")


def validate_tensors(tensors: Mapping[str, torch.Tensor], spec: AssetSpec, *, source: str) -> None:
    """Check tensor names, dtypes, shapes (against ``spec``) and finiteness; for an ensemble also
    its weights, statistics and each member's digest.

    Raises:
        InvalidAssetError: naming the tensor (or ensemble member) and what is wrong with it.
    """
    import torch

    if "__metadata__" in tensors:
        raise InvalidAssetError("a tensor may not be named '__metadata__' (reserved by safetensors)", source=source)
    if spec.kind == ENSEMBLE:
        _check_ensemble_names(tensors, source=source)
    else:
        unknown = sorted(set(tensors) - set(PROMPT_TENSORS))
        if unknown:
            hint = (f"an ensemble's tensors {list(ENSEMBLE_TENSORS)} need a manifest of kind 'ensemble'"
                    if MEMBERS in tensors else "")
            raise InvalidAssetError(
                f"unexpected tensors {unknown}; a prompt file holds only {list(PROMPT_TENSORS)}", source=source,
                hint=hint,
            )
        if PROMPT not in tensors:
            raise InvalidAssetError("no 'prompt' tensor", source=source)
    allowed = (torch.float32, torch.float16, torch.bfloat16)
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise InvalidAssetError(f"{name!r} is a {type(t).__name__}, not a tensor", source=source)
        if t.dtype not in allowed:
            raise InvalidAssetError(
                f"{name!r} has dtype {t.dtype}; allowed: float32, float16, bfloat16", source=source,
                hint="convert with tensor.float()",
            )
        if not torch.isfinite(t).all():
            raise InvalidAssetError(f"{name!r} holds non-finite values (nan or inf)", source=source)
    if spec.kind == ENSEMBLE:
        _check_ensemble_values(tensors, spec, source=source)
    else:
        shape = tuple(tensors[PROMPT].shape)
        if shape != spec.geometry.shape:
            raise InvalidAssetError(
                f"'prompt' has shape {shape} but the manifest's geometry says {spec.geometry.shape} "
                f"({spec.geometry.short()})", source=source,
            )
    has_head = HEAD_WEIGHT in tensors or HEAD_BIAS in tensors
    if has_head != (spec.head is not None):
        raise InvalidAssetError(
            "head tensors and the manifest's 'head' entry must both be present or both absent", source=source
        )
    if spec.head is not None:
        want = {HEAD_WEIGHT: (spec.head.num_classes, spec.head.in_features), HEAD_BIAS: (spec.head.num_classes,)}
        for name, expected in want.items():
            got = tuple(tensors[name].shape) if name in tensors else None
            if got != expected:
                raise InvalidAssetError(
                    f"{name!r} has shape {got}, the manifest's head says {expected}", source=source
                )
        if spec.ensemble is not None and spec.ensemble.features == "stack":
            expected_in = spec.ensemble.head_in_features(spec.geometry.width)
            if spec.head.in_features != expected_in:
                raise InvalidAssetError(
                    f"head in_features {spec.head.in_features} differs from {expected_in}, the {spec.ensemble.k} "
                    f"stacked members' width", source=source,
                )
        elif spec.head.in_features != spec.geometry.width:
            raise InvalidAssetError(
                f"head in_features {spec.head.in_features} differs from the prompt width {spec.geometry.width}",
                source=source,
            )


def _check_ensemble_names(tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """An ensemble file holds exactly :data:`ENSEMBLE_TENSORS`."""
    names = set(tensors)
    if PROMPT in names:
        raise InvalidAssetError(
            f"an ensemble file holds no {PROMPT!r} tensor (its member prompts are {MEMBERS!r}); it holds exactly "
            f"{list(ENSEMBLE_TENSORS)}", source=source,
            hint="store one prompt with a manifest of kind 'prompt', or the members of an ensemble as 'members'",
        )
    missing = [n for n in ENSEMBLE_TENSORS if n not in names]
    unknown = sorted(names - set(ENSEMBLE_TENSORS))
    if unknown or missing:
        what = "; ".join(part for part in (f"unexpected tensors {unknown}" if unknown else "",
                                           f"missing tensors {missing}" if missing else "") if part)
        raise InvalidAssetError(f"{what}; an ensemble file holds exactly {list(ENSEMBLE_TENSORS)}", source=source,
                                hint="an ensemble needs its head: the linear head on the mixed features"
                                if HEAD_WEIGHT in missing or HEAD_BIAS in missing else "")


def _check_ensemble_values(tensors: Mapping[str, torch.Tensor], spec: AssetSpec, *, source: str) -> None:
    """Shapes against the manifest, alpha on the simplex and equal to the members' weights, std > 0,
    and each stored member's digest against its manifest entry.

    Shape:
        members ``(k, L, m, d)``; alpha ``(k,)``; member.mean, member.std ``(k, d)``.
    """
    import torch

    from promptkit.prompted import prompt_sha256

    info = spec.ensemble
    if info is None:  # the manifest's validator pairs them; a spec built without validation may not
        raise InvalidAssetError("kind 'ensemble' without the manifest's 'ensemble' entry", source=source)
    k, g = info.k, spec.geometry
    want = {MEMBERS: (k, *g.shape), ALPHA: (k,), MEMBER_MEAN: (k, g.width), MEMBER_STD: (k, g.width)}
    for name, expected in want.items():
        got = tuple(tensors[name].shape)
        if got != expected:
            raise InvalidAssetError(
                f"{name!r} has shape {got}, the manifest says {expected} ({k} member(s) of {g.short()})",
                source=source,
            )
    alpha = tensors[ALPHA].detach().to("cpu", torch.float64)
    if bool((alpha < 0).any()) or abs(float(alpha.sum()) - 1.0) > ALPHA_SUM_ATOL:
        raise InvalidAssetError(
            f"{ALPHA!r} must be non-negative and sum to 1, got {[round(float(a), 6) for a in alpha]}", source=source
        )
    for j, member in enumerate(info.members):
        if abs(float(alpha[j]) - member.weight) > ALPHA_WEIGHT_ATOL:
            raise InvalidAssetError(
                f"{ALPHA!r}[{j}] is {float(alpha[j]):.6f} but the manifest gives member {j} ({member.ref}) weight "
                f"{member.weight:.6f}", source=source,
            )
    if not bool((tensors[MEMBER_STD] > 0).all()):
        raise InvalidAssetError(f"{MEMBER_STD!r} must be > 0 everywhere", source=source)
    members = tensors[MEMBERS]
    for j, member in enumerate(info.members):
        if prompt_sha256(members[j], g.mode) != member.prompt_sha256:
            raise InvalidAssetError(
                f"member {j} ({member.ref}): the stored prompt's digest differs from the manifest's prompt_sha256 "
                f"{member.prompt_sha256[:12]}... (the member was modified)", source=source,
                hint="the file was edited or corrupted; remove it and add or pull the ensemble again",
            )


def serialize(tensors: Mapping[str, torch.Tensor], manifest: Manifest) -> bytes:
    """The bytes of a prompt file: tensors plus the manifest JSON in ``__metadata__``."""
    from safetensors.torch import save

    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return save(clean, metadata={METADATA_KEY: manifest.model_dump_json()})


def read_header(data: bytes, *, source: str) -> tuple[dict[str, dict], dict[str, str]]:
    """Parse and check a safetensors header; return (tensor entries, metadata).

    Only JSON is parsed; nothing is unpickled. Catches a truncated file, an oversized or
    malformed header, offsets outside the file and a tensor named ``__metadata__``.
    """
    if len(data) < 8:
        raise InvalidAssetError("not a safetensors file (shorter than its 8-byte header length)", source=source)
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise InvalidAssetError(
            "not a safetensors file (header length out of range; is it a pickle/.pth file?)", source=source,
            hint="convert checkpoints with `promptkit add CHECKPOINT.pth --backbone ...`",
        )
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError):
        raise InvalidAssetError("broken safetensors header (not valid JSON)", source=source) from None
    if not isinstance(header, dict):
        raise InvalidAssetError("broken safetensors header (not a JSON object)", source=source)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidAssetError("'__metadata__' must map strings to strings (is a tensor named so?)", source=source)
    body = len(data) - 8 - n
    total = 0
    for name, entry in header.items():
        total += _check_entry(name, entry, body, source=source)
    check_tensor_bytes("the file", total, source=source)
    return header, metadata


def _check_entry(name: str, entry: object, body: int, *, source: str) -> int:
    """Check one header entry (structure, dtype, claimed size before any data is read); its byte count."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise InvalidAssetError(f"broken header entry for tensor {name!r}", source=source)
    offsets, shape = entry["data_offsets"], entry["shape"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and isinstance(shape, list)
            and all(type(d) is int and d >= 0 for d in shape)):
        raise InvalidAssetError(f"broken header entry for tensor {name!r}", source=source)
    if entry["dtype"] not in ALLOWED_DTYPES:
        raise InvalidAssetError(
            f"{name!r} has dtype {entry['dtype']}; allowed: float32, float16, bfloat16", source=source
        )
    nbytes = _DTYPE_BYTES[entry["dtype"]]
    for d in shape:
        nbytes *= d
    check_tensor_bytes(f"tensor {name!r}", nbytes, source=source)  # before its offsets: a 1 TB claim is refused
    begin, end = offsets
    if not (type(begin) is int and type(end) is int and 0 <= begin <= end <= body):
        raise InvalidAssetError(f"tensor {name!r} points outside the file (truncated?)", source=source)
    if end - begin != nbytes:
        raise InvalidAssetError(f"tensor {name!r}: its shape and its data size disagree", source=source)
    return nbytes


def read_prompt_file(path: Path, *, data: bytes | None = None) -> tuple[dict[str, torch.Tensor], Manifest]:
    """Read and fully validate a prompt or ensemble file that embeds a manifest.

    Returns:
        The tensors and the embedded manifest, after checking that the tensors agree with it
        (names, dtypes, shapes, finiteness) and that their content digest is the manifest's.
    """
    from safetensors.torch import load

    source = str(path)
    if data is None:
        data = read_regular_file(Path(path))
    _, metadata = read_header(data, source=source)
    if METADATA_KEY not in metadata:
        raise InvalidAssetError(
            "the file carries no promptkit manifest", source=source,
            hint="add a bare prompt with `promptkit add FILE --backbone NAME --weights-sha256 HEX`",
        )
    manifest = parse_manifest(metadata[METADATA_KEY], source=source)
    try:
        tensors = load(data)
    except Exception as err:  # safetensors raises its own error types for malformed files
        raise InvalidAssetError(f"unreadable safetensors data ({err})", source=source) from None
    validate_tensors(tensors, manifest, source=source)
    digest = content_digest(tensors)
    if digest != manifest.sha256:
        raise InvalidAssetError(
            f"tensor content digest {digest[:12]}... differs from the manifest's sha256 {manifest.sha256[:12]}...",
            source=source,
        )
    return tensors, manifest
