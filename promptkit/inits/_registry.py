"""The name -> function table of prompt initializations, filled by the ``@register_init`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from promptkit.identity import BackboneIdentity, PromptGeometry

__all__ = ["INITS", "InitContext", "InitSpec", "PromptSource", "register_init"]


class PromptSource(NamedTuple):
    """An already-loaded prompt to start from (``from:<ref>``), with what it was made for."""

    prompt: Tensor  # (L, m, d)
    backbone: BackboneIdentity
    geometry: PromptGeometry


@dataclass(frozen=True)
class InitContext:
    """Everything an initializer may use; each initializer reads only what it needs."""

    vit: nn.Module  # the frozen timm VisionTransformer
    identity: BackboneIdentity | None  # None for a bare timm model
    geometry: PromptGeometry
    images: Tensor | None  # (N, 3, H, W) sample of target training images, transformed
    generator: torch.Generator  # seeded; the only source of randomness
    source: PromptSource | None
    argument: str  # text after "name:" (the ref for "from:<ref>"), else ""
    batch_size: int


InitFn = Callable[[InitContext], Tensor]


@dataclass(frozen=True)
class InitSpec:
    """A registered initializer."""

    name: str
    fn: InitFn
    needs_images: bool  # data-derived (SPT) inits need target images
    needs_source: bool  # "from" needs an already-loaded prompt
    summary: str


INITS: dict[str, InitSpec] = {}


def register_init(
    name: str, *, needs_images: bool = False, needs_source: bool = False
) -> Callable[[InitFn], InitFn]:
    """Register ``fn(ctx) -> (L, m, d) tensor`` under ``name`` (timm's registry pattern)."""

    def deco(fn: InitFn) -> InitFn:
        if name in INITS:
            raise ValueError(f"prompt init {name!r} is already registered")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        INITS[name] = InitSpec(name, fn, needs_images, needs_source, summary)
        return fn

    return deco
