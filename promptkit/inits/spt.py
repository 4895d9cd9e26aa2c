"""SPT: prompts initialized from the target's own tokens (Wang et al., "Revisiting the Power of
Prompt for Visual Tuning", ICML 2024).

For each prompt layer ``i`` the tokens entering block ``i`` are collected on a sample of target
training images (``i = 0``: patch embeddings after the position embedding; ``i >= 1``: output of
block ``i - 1``), prefix tokens removed, and reduced to ``m`` vectors by k-means centroids,
windowed mean or max pooling, or uniform sampling. Shallow prompts use layer 0 only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from promptkit.errors import UsageError
from promptkit.inits._registry import InitContext
from promptkit.inits.kmeans import kmeans

__all__ = [
    "KMEANS_ITERS", "Reduction", "collect_layer_tokens", "kmeans_init", "kmeans_tokens", "max_init", "max_windows",
    "mean_init", "mean_windows", "sample_images", "sample_init", "sample_tokens",
]

KMEANS_ITERS = 20  # fixed budget: cost is iters * (N * n) * m * d multiply-adds per layer


@torch.no_grad()
def collect_layer_tokens(
    vit: nn.Module, images: Tensor, layers: Sequence[int], *, batch_size: int = 64
) -> list[Tensor]:
    """Patch tokens entering the given blocks of a frozen timm ViT, prefix tokens removed.

    Runs timm's ``forward_features`` steps (patch embed, position embedding, patch drop,
    ``norm_pre``, blocks) on the backbone's device and stops after the deepest requested layer.

    Args:
        vit: a timm ``VisionTransformer`` (eval mode).
        images: transformed target images.
        layers: block indices, each in ``[0, depth)``.
        batch_size: images per forward pass.

    Shape:
        - images: ``(N, 3, H, W)``
        - output: one ``(N, n_patches, d)`` float32 CPU tensor per requested layer, in order.
    """
    wanted = sorted(set(layers))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < len(vit.blocks):
        raise UsageError(f"layers must lie in [0, {len(vit.blocks)}), got {list(layers)}")
    device = next(vit.parameters()).device
    n_prefix = int(vit.num_prefix_tokens)
    out: dict[int, list[Tensor]] = {i: [] for i in wanted}
    for start in range(0, images.shape[0], batch_size):
        x = images[start:start + batch_size].to(device)
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        for i, block in enumerate(vit.blocks):
            if i in out:
                out[i].append(x[:, n_prefix:].float().cpu())
            if i >= wanted[-1]:
                break
            x = block(x)
    return [torch.cat(out[i]) for i in layers]


def _flat(tokens: Tensor, m: int) -> Tensor:
    flat = tokens.reshape(-1, tokens.shape[-1])  # (N * n, d)
    _need(flat.shape[0], m, "tokens")
    return flat


def kmeans_tokens(tokens: Tensor, m: int, *, generator: torch.Generator) -> Tensor:
    """``m`` k-means centroids of all the tokens (``(N, n, d)`` -> ``(m, d)``)."""
    return kmeans(_flat(tokens, m), m, iters=KMEANS_ITERS, generator=generator)


def _pooled_windows(tokens: Tensor, m: int, pool: str, generator: torch.Generator) -> Tensor:
    num, n, d = tokens.shape
    w = max(1, n // m)  # window size
    nw = n // w  # whole windows per image; leftover tokens are dropped
    windows = tokens[:, :nw * w].reshape(num, nw, w, d)  # (N, nw, w, d)
    pooled = (windows.mean(2) if pool == "mean" else windows.amax(2)).reshape(-1, d)  # (N * nw, d)
    _need(pooled.shape[0], m, "pooled windows")
    return pooled[torch.randperm(pooled.shape[0], generator=generator)[:m]]


def mean_windows(tokens: Tensor, m: int, *, generator: torch.Generator) -> Tensor:
    """Mean-pool windows of ``n // m`` consecutive tokens of each image, keep ``m`` at random."""
    return _pooled_windows(tokens, m, "mean", generator)


def max_windows(tokens: Tensor, m: int, *, generator: torch.Generator) -> Tensor:
    """Max-pool windows of ``n // m`` consecutive tokens of each image, keep ``m`` at random."""
    return _pooled_windows(tokens, m, "max", generator)


def sample_tokens(tokens: Tensor, m: int, *, generator: torch.Generator) -> Tensor:
    """``m`` tokens drawn uniformly without replacement."""
    flat = _flat(tokens, m)
    return flat[torch.randperm(flat.shape[0], generator=generator)[:m]]


Reduction = Callable[..., Tensor]
"""``reduce(tokens (N, n, d), m, *, generator) -> (m, d)``: one layer's tokens to ``m`` prototypes (SPT)."""


def sample_images(dataset: Dataset, count: int, *, seed: int) -> Tensor:
    """``count`` images drawn without replacement (seeded) from a dataset of ``(image, label)``.

    Shape:
        - output: ``(min(count, len(dataset)), 3, H, W)``
    """
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[:count].tolist()  # type: ignore[arg-type]
    return torch.stack([dataset[i][0] for i in idx])


def _need(have: int, m: int, what: str) -> None:
    if have < m:
        raise UsageError(f"SPT init needs at least m={m} {what}, the image sample gives {have}",
                         hint="use more images for the init or a shorter prompt")


def _spt(ctx: InitContext, reduce: Reduction, name: str) -> Tensor:
    if ctx.images is None or ctx.images.shape[0] == 0:
        raise UsageError(f"the {name!r} init needs target training images",
                         hint="pass images= (a sample of the target's training set)")
    layers = list(range(ctx.geometry.layers))
    per_layer = collect_layer_tokens(ctx.vit, ctx.images, layers, batch_size=ctx.batch_size)
    return torch.stack([reduce(t, ctx.geometry.length, generator=ctx.generator) for t in per_layer])


def kmeans_init(ctx: InitContext) -> Tensor:
    """SPT: k-means centroids of the target's tokens entering each layer."""
    return _spt(ctx, kmeans_tokens, "kmeans")


def mean_init(ctx: InitContext) -> Tensor:
    """SPT: mean-pooled windows of the target's tokens, m kept at random."""
    return _spt(ctx, mean_windows, "mean")


def max_init(ctx: InitContext) -> Tensor:
    """SPT: max-pooled windows of the target's tokens, m kept at random."""
    return _spt(ctx, max_windows, "max")


def sample_init(ctx: InitContext) -> Tensor:
    """SPT: m of the target's tokens drawn uniformly without replacement."""
    return _spt(ctx, sample_tokens, "sample")
