"""Aligned averaging of prompts: match tokens across sources before taking a weighted sum.

Prompt tokens carry no position embedding (VPT inserts them after it), so within one layer a
prompt is a *set* of tokens: permuting a layer's tokens leaves the pooled features unchanged,
and token j of one source has no counterpart in another. Averaging parameters then mixes
unrelated tokens, the same symmetry that breaks weight averaging of independently trained
networks unless their neurons are matched first (Ainsworth et al., "Git Re-Basin", ICLR 2023;
Singh & Jaggi, "Model Fusion via Optimal Transport", NeurIPS 2020).

:func:`align_prompt` permutes each layer's tokens of one prompt to best match a reference
prompt (optimal assignment on squared L2 distance, by ``scipy.optimize.linear_sum_assignment``);
:func:`aligned_average` aligns every source to the top-weight one, then composes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from promptkit.ensemble.compose import compose_prompt
from promptkit.errors import IncompatibleError

__all__ = ["align_prompt", "aligned_average", "permute_tokens"]


def align_prompt(reference: Tensor, prompt: Tensor) -> tuple[Tensor, list[list[int]]]:
    """Permute each layer's tokens of ``prompt`` to match ``reference`` as closely as possible.

    Args:
        reference: the prompt to match.
        prompt: the prompt to permute.

    Returns:
        The permuted prompt and, per layer, the permutation ``perm`` with
        ``aligned[l, j] = prompt[l, perm[l][j]]``; it minimizes
        ``sum_j || reference[l, j] - prompt[l, perm[l][j]] ||^2`` over all permutations.

    Raises:
        IncompatibleError: the shapes differ.

    Shape:
        reference, prompt, output: ``(L, m, d)``.
    """
    from scipy.optimize import linear_sum_assignment

    if reference.shape != prompt.shape or prompt.ndim != 3:
        raise IncompatibleError("prompt shape for alignment", str(tuple(reference.shape)), str(tuple(prompt.shape)))
    perms: list[list[int]] = []
    for layer in range(prompt.shape[0]):
        cost = torch.cdist(reference[layer].double(), prompt[layer].double()).pow(2)  # (m, m): ref j vs prompt j'
        rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
        perm = [int(c) for _, c in sorted(zip(rows, cols))]
        perms.append(perm)
    return permute_tokens(prompt, perms), perms


def permute_tokens(prompt: Tensor, perms: Sequence[Sequence[int]]) -> Tensor:
    """``out[l, j] = prompt[l, perms[l][j]]``.

    Shape:
        prompt, output: ``(L, m, d)``; perms: L permutations of ``range(m)``.
    """
    index = torch.as_tensor([list(p) for p in perms], dtype=torch.long, device=prompt.device)  # (L, m)
    return torch.gather(prompt, 1, index.unsqueeze(-1).expand(-1, -1, prompt.shape[2]))


def aligned_average(prompts: Sequence[Tensor], alpha: Tensor) -> tuple[Tensor, Tensor, list[list[list[int]]]]:
    """Align every prompt to the top-weight one, then P_t = sum_i alpha_i P_i.

    Args:
        prompts: the K source prompts, one shape.
        alpha: their weights.

    Returns:
        ``(composed, aligned, perms)``: the composed prompt, the K aligned prompts stacked, and
        each source's per-layer permutations (the identity for the reference).

    Shape:
        prompts: K x ``(L, m, d)``; alpha: ``(K,)``; composed: ``(L, m, d)``; aligned: ``(K, L, m, d)``.
    """
    items = [p.detach().float() for p in prompts]
    top = int(torch.argmax(alpha))
    aligned, perms = [], []
    for i, p in enumerate(items):
        if i == top:
            aligned.append(p)
            perms.append([list(range(p.shape[1])) for _ in range(p.shape[0])])
        else:
            q, perm = align_prompt(items[top], p)
            aligned.append(q)
            perms.append(perm)
    stacked = torch.stack(aligned)
    return compose_prompt(stacked, alpha), stacked, perms
