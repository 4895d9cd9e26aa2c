"""Shrinkage-based H-score (Ibrahim, Ponomareva, Mazumder; "Newer is not always better:
rethinking transferability metrics, their peculiarities, stability and performance",
arXiv 2110.06893).

The H-score's covariance cov(f) is replaced by its Ledoit-Wolf estimate

    cov_a = (1 - a) S + a (tr S / d) I

with S the N-normalized sample covariance and a in [0, 1] the Ledoit-Wolf shrinkage
(Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices",
J. Multivariate Analysis 2004), and the between-class term is shrunk alike:

    H_a(f) = tr( cov_a^-1 (1 - a) cov(E[f | y]) ).

cov(E[f | y]) keeps the H-score's (N-1) normalization, as in the authors' code (so at a = 0
H_a = N / (N - 1) H). cov_a is well conditioned even when d > N, which fixes the H-score's
instability there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from promptkit.scores._inputs import check_score_inputs
from promptkit.scores.hscore import between_class_covariance

__all__ = ["ledoit_wolf_shrinkage", "shrinkage_hscore"]


def ledoit_wolf_shrinkage(features: Tensor) -> Tensor:
    """The Ledoit-Wolf shrinkage a of the sample covariance towards (tr S / d) I.

    With x_i the centered samples, S = X^T X / N and mu = tr S / d:
        b2 = (1 / (d N)) (sum_i ||x_i||^4 / N - ||S||_F^2)   (variance of the outer products)
        d2 = ||S - mu I||_F^2 / d                            (dispersion of S around mu I)
        a  = min(b2, d2) / d2,  and a = 0 when d = 1 or b2 = 0.
    The same estimator as ``sklearn.covariance.ledoit_wolf_shrinkage(assume_centered=False)``
    (computed independently here, in torch). Differentiable w.r.t. the features (``min`` picks
    one branch; at S = mu I the shrinkage is irrelevant and 0 is returned).

    Args:
        features: one row per sample, floating point.

    Returns:
        Scalar tensor in [0, 1], in the features' dtype.

    Shape:
        features: (N, d); output: ().
    """
    n, d = features.shape
    zero = features.new_zeros(())
    if d == 1:
        return zero
    x = features - features.mean(dim=0)  # (N, d)
    sq_norms = (x * x).sum(dim=1)  # (N,) ||x_i||^2
    # ||X^T X||_F == ||X X^T||_F: use whichever Gram matrix is smaller.
    gram = x.T @ x if d <= n else x @ x.T  # (min(N, d), min(N, d))
    s_frob2 = (gram * gram).sum() / n**2  # ||S||_F^2
    mu = sq_norms.sum() / (n * d)  # tr S / d
    b2 = ((sq_norms * sq_norms).sum() / n - s_frob2) / (d * n)
    d2 = (s_frob2 - d * mu * mu) / d  # ||S - mu I||_F^2 / d, expanded since tr S = d mu
    if bool(d2 <= 0) or bool(b2 <= 0):
        return zero
    return torch.minimum(b2, d2) / d2


def shrinkage_hscore(features: Tensor, labels: Tensor) -> Tensor:
    """Shrinkage H-score (Ibrahim et al., arXiv 2110.06893).

    H_a(f) = tr( ((1 - a) S + a (tr S / d) I)^-1 (1 - a) cov(E[f | y]) ), S N-normalized,
    cov(E[f | y]) (N-1)-normalized, a = :func:`ledoit_wolf_shrinkage`. Computed in float64.
    Differentiable w.r.t. the features, including through a (not detached), so an optimizer
    sees how the mixture changes the shrinkage too.

    Args:
        features: one row per sample.
        labels: one integer label per sample, any values (remapped to 0..C-1).

    Returns:
        A float64 scalar tensor on the features' device, in [0, C - 1].

    Raises:
        ScoreInputError: see :func:`promptkit.scores._inputs.check_score_inputs`.

    Shape:
        features: (N, d); labels: (N,); output: ().
    """
    inputs = check_score_inputs(features, labels)
    f = inputs.features
    n, d = f.shape
    centered = f - f.mean(dim=0)  # (N, d)
    s = centered.T @ centered / n  # (d, d)
    a = ledoit_wolf_shrinkage(f)
    mu = torch.diagonal(s).sum() / d
    eye = torch.eye(d, dtype=f.dtype, device=f.device)
    cov_a = (1 - a) * s + a * mu * eye  # (d, d)
    between = (1 - a) * between_class_covariance(inputs)  # (d, d)
    solved, info = torch.linalg.solve_ex(cov_a, between)  # (d, d) cov_a^-1 between
    if int(info) != 0:
        # a = 0 with a singular S happens only when every centered sample is +-v (b2 = 0).
        solved = torch.linalg.pinv(cov_a, hermitian=True) @ between
    return torch.diagonal(solved).sum()
