"""Gradient-variance mismatch across sources: HGPrompt's regularizer R(alpha), as reconstructed.

HGPrompt (Zhang et al., AAAI 2026, arXiv 2504.12311) regularizes the ensemble weights by
"matching the gradient variances with respect to different source prompts", citing Fishr
(Rame, Dancette, Cord; ICML 2022), which matches per-domain gradient variances. The paper's
exact formula was not available; this is the reconstruction in docs/method.md#hgprompt-step-3, Fishr
applied across sources instead of domains:

With a linear head W on F_alpha = sum_i alpha_i f_i and per-sample cross-entropy, the gradient
w.r.t. W splits into per-source parts g_i(x) = alpha_i (p(x) - y(x)) f_i(x)^T. The statistics
are taken where target tuning starts, W = 0, so p(x) = 1/C for every x (taking them after
fitting W on separable training features makes p - y vanish and R collapse to ~1e-26, a
pitfall measured in a prototype). Then

    v_i = Var_x[g_i(x)] (elementwise, (C, d)) = alpha_i^2 u_i,   u_i = Var_x[(1/C - y(x)) f_i(x)^T],
    R(alpha) = mean_i || v_i - mean_j v_j ||^2 / || mean_j v_j ||^2.

u_i is computed once (:func:`gradient_variance_atoms`); R is then cheap in alpha. The
normalization makes R scale-free; R = 0 when every source contributes the same variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from promptkit.errors import UsageError

__all__ = ["gradient_variance_atoms", "variance_mismatch"]


def gradient_variance_atoms(features: Tensor, labels: Tensor) -> Tensor:
    """u_i = Var_x[(p(x) - y(x)) f_i(x)^T] at W = 0 (p = 1/C), elementwise, for every source.

    The variance is N-normalized (the normalization cancels in R).

    Args:
        features: per-source features of the same N labelled samples (standardized or not).
        labels: one integer label per sample, any values (remapped to 0..C-1).

    Returns:
        The atoms, in the features' dtype.

    Raises:
        UsageError: shapes that do not fit, or fewer than 2 classes.

    Shape:
        features: (K, N, d); labels: (N,); output: (K, C, d).
    """
    if features.ndim != 3 or labels.ndim != 1 or features.shape[1] != labels.shape[0]:
        raise UsageError(
            f"expected features (K, N, d) and labels (N,), got {tuple(features.shape)} and {tuple(labels.shape)}"
        )
    _, remapped = torch.unique(labels, sorted=True, return_inverse=True)
    num_classes = int(remapped.max()) + 1
    if num_classes < 2:
        raise UsageError("the gradient-variance regularizer needs at least 2 classes, got 1")
    residual = 1.0 / num_classes - torch.nn.functional.one_hot(remapped, num_classes).to(features.dtype)  # (N, C)
    n = features.shape[1]
    mean = torch.einsum("nc,knd->kcd", residual, features) / n  # E[g]
    second = torch.einsum("nc,knd->kcd", residual * residual, features * features) / n  # E[g^2]
    return (second - mean * mean).clamp_min(0.0)


def variance_mismatch(alpha: Tensor, atoms: Tensor) -> Tensor:
    """R(alpha) = mean_i || v_i - mean_j v_j ||^2 / || mean_j v_j ||^2 with v_i = alpha_i^2 u_i.

    Scale-free (unchanged when all features, hence all u_i, are multiplied by a constant, or
    alpha is), >= 0, and 0 exactly when all v_i are equal: identical sources with equal
    weights, or a single source. Differentiable w.r.t. alpha.

    Args:
        alpha: one weight per source.
        atoms: u_i from :func:`gradient_variance_atoms`.

    Returns:
        A scalar in the atoms' dtype; 0 when every v_i is 0.

    Shape:
        alpha: (K,); atoms: (K, C, d); output: ().
    """
    if alpha.shape != atoms.shape[:1]:
        raise UsageError(f"alpha has shape {tuple(alpha.shape)} but there are {atoms.shape[0]} sources")
    v = (alpha.to(atoms.dtype) ** 2)[:, None, None] * atoms  # (K, C, d)
    mean = v.mean(dim=0)  # (C, d)
    spread = ((v - mean) ** 2).sum(dim=(1, 2)).mean()
    norm = (mean * mean).sum()
    if bool(norm == 0):
        return spread * 0.0
    return spread / norm
