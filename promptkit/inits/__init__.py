"""Prompt initializations, registered by name.

=========  ============================================================================
name       what
=========  ============================================================================
random     VPT uniform init in [-v, v], v = sqrt(6 / (3 p^2 + d)) (Jia et al., ECCV 2022)
kmeans     SPT: k-means centroids of the target's tokens per layer (Wang et al., ICML 2024)
mean       SPT: mean-pooled token windows, m kept at random
max        SPT: max-pooled token windows, m kept at random
sample     SPT: m target tokens drawn uniformly without replacement
from:<ref> copy of an existing prompt (same backbone and geometry)
=========  ============================================================================

The built-ins are listed in promptkit/builtins.py; add one with ``@register_init("name")``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from promptkit.backbone import Backbone
from promptkit.errors import UsageError, format_choices
from promptkit.identity import PromptGeometry
from promptkit.inits._registry import INITS, InitContext, InitSpec, PromptSource, register_init
from promptkit.inits.kmeans import kmeans
from promptkit.inits.spt import collect_layer_tokens, sample_images
from promptkit.inits.vpt import vpt_uniform_bound

__all__ = [
    "INITS",
    "InitSpec",
    "PromptSource",
    "available_inits",
    "collect_layer_tokens",
    "init_prompt",
    "init_spec",
    "kmeans",
    "register_init",
    "sample_images",
    "vpt_uniform_bound",
]


def available_inits() -> list[str]:
    """Registered init names (``from`` is used as ``from:<ref>``)."""
    return INITS.names()


def init_spec(name: str) -> InitSpec:
    """The registered initializer for ``name`` (``"from:<ref>"`` resolves to ``"from"``).

    Raises:
        UsageError: unknown name; the hint lists the registered ones.
    """
    base = name.split(":", 1)[0]
    if base not in INITS:
        raise UsageError(f"unknown prompt init {name!r}",
                         hint=f"choose {format_choices([*sorted(set(INITS) - {'from'}), 'from:<ref>'])}")
    return INITS.lookup(base)


def init_prompt(
    name: str,
    *,
    backbone: Backbone | nn.Module,
    geometry: PromptGeometry,
    images: Tensor | None = None,
    seed: int,
    source: PromptSource | None = None,
    batch_size: int = 64,
) -> Tensor:
    """Initial prompt tokens by a registered method.

    Args:
        name: ``random``, ``kmeans``, ``mean``, ``max``, ``sample`` or ``from:<ref>``.
        backbone: the frozen backbone (a bare timm ``VisionTransformer`` works for all but ``from``).
        geometry: the prompt to produce; must fit the backbone (width, depth for deep).
        images: transformed target training images, for the SPT inits.
        seed: seeds the only random generator the init uses (same seed, same prompt).
        source: the already-loaded prompt for ``from:<ref>``.
        batch_size: images per forward pass when collecting tokens.

    Returns:
        float32 CPU tensor of shape ``geometry.shape``.

    Shape:
        - images: ``(N, 3, H, W)``
        - output: ``(L, m, d)``
    """
    spec = init_spec(name)
    vit = backbone.model if isinstance(backbone, Backbone) else backbone
    identity = backbone.identity if isinstance(backbone, Backbone) else None
    fit = PromptGeometry.for_backbone(geometry.mode, geometry.length, width=vit.embed_dim, depth=len(vit.blocks))
    if geometry != fit:
        raise UsageError(
            f"geometry {geometry.short()} does not fit this backbone "
            f"(width {vit.embed_dim}, {fit.layers} layer(s) for {geometry.mode} prompts)"
        )
    ctx = InitContext(
        vit=vit,
        identity=identity,
        geometry=geometry,
        images=images,
        generator=torch.Generator().manual_seed(seed),
        source=source,
        argument=name.split(":", 1)[1] if ":" in name else "",
        batch_size=batch_size,
    )
    prompt = spec.fn(ctx).float().cpu()
    if tuple(prompt.shape) != geometry.shape:  # a registered init broke its contract
        raise RuntimeError(f"init {name!r} returned shape {tuple(prompt.shape)}, expected {geometry.shape}")
    return prompt.contiguous()
