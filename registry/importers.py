"""Read prompts that were not made by promptkit: bare safetensors files and VPT-style checkpoints.

Checkpoints are read by :func:`promptkit.state_dict.read_checkpoint` (``torch.load(weights_only=True)``,
whose unpickler only rebuilds tensors and plain containers, so a malicious checkpoint cannot run
code; nested ``state_dict``/``model``/``module`` wrappers are unwrapped). Key names follow the
official VPT code (KMnP/vpt): ``...prompt_embeddings`` (1, m, d), ``...deep_prompt_embeddings``
(L-1, m, d) and ``head.last_layer.{weight,bias}``; promptkit's own names (``prompt``,
``head.weight``, ``head.bias``) are accepted too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptkit.errors import InvalidAssetError
from promptkit.state_dict import CHECKPOINT_SUFFIXES, read_checkpoint

from .files import HEAD_BIAS, HEAD_WEIGHT, PROMPT, read_header
from .limits import check_tensor_bytes, read_regular_file, regular_file_size

if TYPE_CHECKING:
    import torch

__all__ = ["read_bare_prompt"]


def read_bare_prompt(path: Path) -> dict[str, torch.Tensor]:
    """Tensors ``prompt`` (L, m, d) and, when present, ``head.weight``/``head.bias`` from a file.

    Raises:
        InvalidAssetError: the file holds no prompt, or is not a safetensors/checkpoint file.
    """
    path = Path(path)
    source = str(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load

        data = read_regular_file(path)
        read_header(data, source=source)
        try:
            state: dict[str, Any] = dict(load(data))
        except Exception as err:  # safetensors raises its own error types for malformed files
            raise InvalidAssetError(f"unreadable safetensors data ({err})", source=source) from None
    elif path.suffix in CHECKPOINT_SUFFIXES:
        import pickle

        check_tensor_bytes("the file", regular_file_size(path), source=source)  # refuses a FIFO before opening
        try:
            state = read_checkpoint(path) or {}
        except pickle.UnpicklingError as err:
            raise InvalidAssetError(
                f"refused to load: the checkpoint holds objects other than tensors ({str(err).splitlines()[0]})",
                source=source,
                hint="save the prompt tensors alone (torch.save({'prompt_embeddings': t}, path)) or as safetensors",
            ) from None
        except Exception as err:
            raise InvalidAssetError(f"unreadable checkpoint ({err})", source=source) from None
    else:
        raise InvalidAssetError(
            f"unsupported file type {path.suffix!r}", source=source,
            hint="give a .safetensors file, a VPT checkpoint (.pth/.pt/.bin) or a folder made by `promptkit export`",
        )
    return _extract(state, source=source)


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _extract(state: dict[str, Any], *, source: str) -> dict[str, torch.Tensor]:
    import torch

    def find(*suffixes: str) -> torch.Tensor | None:
        for key, value in state.items():
            if _is_tensor(value) and any(key == s or key.endswith("." + s) for s in suffixes):
                # before any copy: an expanded (stride-0) tensor of a 1 KB file can claim gigabytes
                check_tensor_bytes(f"tensor {key!r}", value.numel() * value.element_size(), source=source)
                return value
        return None

    prompt = find(PROMPT)
    if prompt is None:
        shallow = next((v for k, v in state.items() if k.endswith("prompt_embeddings")
                        and not k.endswith("deep_prompt_embeddings") and _is_tensor(v)), None)
        if shallow is not None:
            check_tensor_bytes("tensor 'prompt_embeddings'", shallow.numel() * shallow.element_size(), source=source)
        deep = find("deep_prompt_embeddings")
        if shallow is None:
            raise InvalidAssetError(
                "no prompt tensor found (looked for 'prompt' and VPT's '*prompt_embeddings')", source=source,
            )
        if shallow.dim() == 2:
            shallow = shallow.unsqueeze(0)
        prompt = shallow if deep is None else torch.cat([shallow, deep], dim=0)  # (L, m, d)
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0)
    if prompt.dim() != 3:
        raise InvalidAssetError(f"prompt has shape {tuple(prompt.shape)}; expected (m, d) or (L, m, d)", source=source)
    out = {PROMPT: prompt.contiguous()}
    weight = find(HEAD_WEIGHT, "head.last_layer.weight")
    bias = find(HEAD_BIAS, "head.last_layer.bias")
    if weight is not None and bias is not None:
        out[HEAD_WEIGHT], out[HEAD_BIAS] = weight.contiguous(), bias.contiguous()
    return out
