"""Baselines for ensemble weights and source selection (docs/method.md#baselines).

Weight baselines, registered by name next to ``hgprompt`` and returning the same
:class:`~promptkit.ensemble.result.AlphaResult` (scored with the same objective, so they can be
compared number for number):

- ``uniform``: alpha_i = 1 / K.
- ``hscore-weights``: alpha proportional to each source's own shrinkage H-score on the target
  (clipped at 0), the score-each-prompt-alone view that HGPrompt's Definition 2 argues against.
- ``best-single``: all weight on the source with the highest own score.

Source ranking by prompt similarity: :func:`spot_rank`, SPoT (Vu, Lester, Constant, Al-Rfou,
Cer; "SPoT: Better frozen model adaptation through soft prompt transfer", ACL 2022): briefly
tune a prompt on the target, then rank the sources by the cosine similarity of their
mean-pooled prompt tokens to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from promptkit.ensemble.objective import SourceFeatures
from promptkit.ensemble.result import AlphaResult, evaluate_weights
from promptkit.errors import IncompatibleError, UsageError

__all__ = ["SpotRanking", "best_single_weights", "hscore_weights", "spot_rank", "uniform_weights"]


def uniform_weights(sources: SourceFeatures, *, lam: float = 0.0) -> AlphaResult:
    """alpha_i = 1 / K.

    Args:
        sources: prepared sources.
        lam: regularizer weight for the recorded objective only.
    """
    alpha = torch.full((sources.num_sources,), 1.0 / sources.num_sources, dtype=torch.float64)
    return evaluate_weights(sources, alpha, method="uniform", lam=lam)


def hscore_weights(sources: SourceFeatures, *, lam: float = 0.0) -> AlphaResult:
    """alpha proportional to each source's own shrinkage H-score, clipped at 0.

    Falls back to uniform weights when every score is 0 (no source carries class
    information, e.g. all shrunk fully).

    Args:
        sources: prepared sources.
        lam: regularizer weight for the recorded objective only.
    """
    scores = sources.source_scores.clamp_min(0.0)
    alpha = scores if float(scores.sum()) > 0 else torch.ones_like(scores)
    return evaluate_weights(sources, alpha, method="hscore-weights", lam=lam)


def best_single_weights(sources: SourceFeatures, *, lam: float = 0.0) -> AlphaResult:
    """All weight on the source with the highest own shrinkage H-score (the first on ties).

    Args:
        sources: prepared sources.
        lam: regularizer weight for the recorded objective only.
    """
    scores = sources.source_scores
    alpha = torch.zeros_like(scores)
    alpha[int(torch.argmax(scores))] = 1.0  # argmax returns the first maximum
    return evaluate_weights(sources, alpha, method="best-single", lam=lam)


class SpotRanking(NamedTuple):
    """Sources ordered by prompt similarity to the target prompt, most similar first."""

    order: tuple[int, ...]  # source indices, descending similarity (ties: lower index first)
    similarities: Tensor  # (K,) cosine similarity of each source (in input order) to the target


def _pooled(prompt: Tensor) -> Tensor:
    # Mean over the m tokens of each layer, layers concatenated: deep prompts live in a
    # different representation space per layer, so averaging across layers would mix them.
    return prompt.to(torch.float64).mean(dim=-2).flatten()  # (L * d,)


def spot_rank(target_prompt: Tensor, source_prompts: Sequence[Tensor] | Tensor) -> SpotRanking:
    """Rank source prompts by cosine similarity of mean-pooled prompt tokens (SPoT).

    SPoT averages a prompt's token embeddings into one vector; for deep prompts (L > 1) each
    layer's tokens are averaged and the L means concatenated. A zero prompt has similarity 0.

    Args:
        target_prompt: a prompt briefly tuned on the target task.
        source_prompts: the K source prompts, same geometry as the target's.

    Returns:
        The ranking and the similarities (float64).

    Raises:
        UsageError: no sources, or a prompt that is not 3-D.
        IncompatibleError: a source's shape differs from the target's.

    Shape:
        target_prompt: (L, m, d); source_prompts: (K, L, m, d); similarities: (K,).
    """
    if target_prompt.ndim != 3:
        raise UsageError(f"the target prompt must be (layers, length, width), got shape {tuple(target_prompt.shape)}")
    sources = list(source_prompts)
    if not sources:
        raise UsageError("no source prompts to rank", hint="pass at least one source prompt")
    for i, p in enumerate(sources):
        if p.shape != target_prompt.shape:
            raise IncompatibleError(f"source {i}: prompt shape", str(tuple(target_prompt.shape)), str(tuple(p.shape)))
    target = _pooled(target_prompt)
    pooled = torch.stack([_pooled(p) for p in sources])  # (K, L * d)
    sims = torch.nn.functional.cosine_similarity(pooled, target.unsqueeze(0), dim=1, eps=1e-30)
    # Stable sort on the negated similarities: equal ones keep their input order.
    order = torch.sort(-sims, stable=True).indices
    return SpotRanking(order=tuple(int(i) for i in order), similarities=sims)
