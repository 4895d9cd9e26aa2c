"""The table of prompt initializations (a :class:`~promptkit.plugins.Registry` of :class:`InitSpec`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.plugins import Registry, canonical_name

__all__ = ["INITS", "InitContext", "InitSpec", "PromptSource", "init_spec_of", "register_init"]


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


def _spec_summary(spec: InitSpec) -> str:
    return spec.summary


# name -> spec; the built-ins are listed in promptkit/builtins.py.
INITS: Registry[InitSpec] = Registry(
    "prompt init", home=__name__, listing="promptkit plugins inits", summarize=_spec_summary
)


def init_spec_of(name: str, fn: InitFn, *, needs_images: bool = False, needs_source: bool = False) -> InitSpec:
    """The spec of ``fn(ctx) -> (L, m, d) tensor``; its summary is the docstring's first line."""
    summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
    return InitSpec(canonical_name(name), fn, needs_images, needs_source, summary)


def register_init(
    name: str, *, needs_images: bool = False, needs_source: bool = False
) -> Callable[[InitFn], InitFn]:
    """Register ``fn(ctx) -> (L, m, d) tensor`` under ``name`` (timm's registry pattern)."""

    def deco(fn: InitFn) -> InitFn:
        INITS.add(name, init_spec_of(name, fn, needs_images=needs_images, needs_source=needs_source))
        return fn

    return deco
