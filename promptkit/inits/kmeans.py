"""Batched k-means in torch with a fixed iteration budget (for SPT's ``kmeans`` init)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["kmeans"]


def kmeans(x: Tensor, k: int, *, iters: int = 20, generator: torch.Generator, chunk: int = 16384,
           start: str = "random") -> Tensor:
    """Lloyd's k-means with seeded init and exactly ``iters`` assignment/update rounds.

    Initial centroids are ``k`` distinct points drawn with ``generator`` (``start="random"``, the
    default, which SPT's ``kmeans`` init and the built-in prompts use), or chosen by k-means++
    (``start="k-means++"``, Arthur & Vassilvitskii 2007: each next centroid is a point drawn with
    probability proportional to its squared distance to the nearest centroid so far). A cluster that ends
    an update empty is re-seeded with the point farthest from its centroid, so ``k`` centroids
    always come back. Distances are computed in chunks of ``chunk`` points to bound memory.
    Runs on ``x``'s device.

    Args:
        x: points.
        k: number of centroids; ``k <= N``.
        iters: fixed iteration budget (no early stop, so cost is predictable: ``iters * N * k * d``).
        generator: a seeded CPU generator.
        chunk: points per distance block.
        start: ``random`` or ``k-means++``.

    Shape:
        - x: ``(N, d)``
        - output: ``(k, d)``
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= N points, got k={k}, N={n}")
    x = x.float()
    x2 = (x * x).sum(1)  # (N,), once: the points do not move
    if start == "random":
        centroids = x[torch.randperm(n, generator=generator)[:k].to(x.device)].clone()  # (k, d)
    elif start == "k-means++":
        centroids = _plus_plus(x, x2, k, generator, chunk)
    else:
        raise ValueError(f"unknown k-means start {start!r}: use 'random' or 'k-means++'")
    for _ in range(iters):
        assign, dist = _assign(x, x2, centroids, chunk)  # (N,), (N,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)  # (k, d)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)  # (k,)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp_min(1)[:, None])
        if empty.any():
            far = torch.topk(dist, int(empty.sum())).indices  # farthest points seed the empty clusters
            centroids[empty] = x[far]
    return centroids


def _plus_plus(x: Tensor, x2: Tensor, k: int, generator: torch.Generator, chunk: int) -> Tensor:
    """k-means++ seeding: ``k`` points, each drawn by squared distance to the nearest one chosen so far."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centroids = x[first:first + 1].clone()  # (1, d)
    _, dist = _assign(x, x2, centroids, chunk)  # (N,) squared distances to the nearest centroid
    for _ in range(1, k):
        weights = dist.clamp_min(0).double().cpu()
        if float(weights.sum()) <= 0:  # every point sits on a centroid: any unchosen point will do
            weights = torch.ones(n, dtype=torch.float64)
        nxt = int(torch.multinomial(weights, 1, generator=generator))
        centroids = torch.cat([centroids, x[nxt:nxt + 1]])
        _, d_new = _assign(x, x2, centroids[-1:], chunk)
        dist = torch.minimum(dist, d_new)
    return centroids


def _assign(x: Tensor, x2: Tensor, centroids: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    assign, dist = [], []
    c2 = (centroids * centroids).sum(1)  # (k,)
    for start in range(0, x.shape[0], chunk):
        xb = x[start:start + chunk]  # (b, d)
        # squared distances |x|^2 - 2 x.c + |c|^2, as one fused matmul
        d2 = torch.addmm(c2, xb, centroids.T, alpha=-2).add_(x2[start:start + chunk, None])  # (b, k)
        best = d2.min(1)
        assign.append(best.indices)
        dist.append(best.values)
    return torch.cat(assign), torch.cat(dist)
