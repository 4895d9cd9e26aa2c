"""HGPrompt's objective for many evaluations: per-pair statistics precomputed once.

With linear mixing every second moment of F_alpha = sum_i alpha_i f_i is quadratic in alpha
(the observation behind HGPrompt's Theorem 1; Zhang et al., AAAI 2026, arXiv 2504.12311). With
w_p = alpha_i alpha_j for each source pair p = (i, j), i <= j:

    G(alpha) = X^T X = sum_p w_p G_p,          G_p = X_i^T X_j + X_j^T X_i   (X_i^T X_i when i = j)
    ||x_n||^2      = sum_p w_p q_p(n),        q_p(n) = 2 <x_in, x_jn>        (||x_in||^2 when i = j)
    ||G||_F^2      = w^T Q w,                 Q_pq = <G_p, G_q>

so an optimization step needs no (N, d) product: it assembles G from the K (K + 1) / 2
precomputed G_p (a matrix-vector product), factorizes G / N + c I once, and gets the gradient
by one more matrix-vector product with the G_p. The Ledoit-Wolf shrinkage's dependence on alpha (through
||G||_F^2 and the sample norms) costs O(K^4 + K^2 N). Values equal
:func:`promptkit.ensemble.objective.mixture_transferability` to rounding.

Memory: K (K + 1) / 2 d (d + 1) / 2 numbers (K = 11, d = 768: 78 MB in float32); :func:`fits` tells when
that is too much and the direct evaluation should be used instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from promptkit.ensemble.objective import (
    ObjectiveTerms,
    SourceFeatures,
    _solve_spd,
    ledoit_wolf_moments,
    shrinkage_case,
)
from promptkit.ensemble.regularizer import variance_mismatch
from promptkit.errors import UsageError

__all__ = ["MAX_PAIR_BYTES", "PairwiseMixture", "fits"]

MAX_PAIR_BYTES = 1 << 30  # 1 GiB of precomputed G_p at most; above it, evaluate directly
_CHUNK = 1 << 16  # columns of the flattened G_p per float64 block when forming Q


def _pair_bytes(sources: SourceFeatures, dtype: torch.dtype) -> int:
    k, d = sources.num_sources, sources.dim
    return k * (k + 1) // 2 * d * (d + 1) // 2 * torch.finfo(dtype).bits // 8


def fits(sources: SourceFeatures, dtype: torch.dtype, *, max_bytes: int = MAX_PAIR_BYTES) -> bool:
    """Whether the per-pair statistics of these sources take at most ``max_bytes`` in ``dtype``."""
    return _pair_bytes(sources, dtype) <= max_bytes


class _PairwiseInverseQuadratic(torch.autograd.Function):
    """tr(M (G(alpha) / N + c I)^-1 M^T) from the per-pair G_p, with a closed-form backward.

    With Z = (G / N + c I)^-1 M^T (d, C): dT/dM = 2 Z^T, dT/dc = -|Z|^2 and
    dT/dalpha_i = -<Z Z^T, dG/dalpha_i> / N, where dG/dalpha_i = sum_p (dw_p/dalpha_i) G_p.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, alpha: Tensor, c: Tensor, m: Tensor, mixture: PairwiseMixture
    ) -> Tensor:
        n, d = mixture.num_samples, mixture.dim
        w = alpha[mixture.first] * alpha[mixture.second]  # (P,)
        packed = w @ mixture.pair_grams  # (d (d + 1) / 2,), the lower triangle of G(alpha)
        system = packed.new_empty(d * d)
        system.index_copy_(0, mixture.scatter, torch.cat([packed, packed]))  # both triangles
        system = system.view(d, d)
        system.diagonal().add_(n * c)  # N (G / N + c I)
        z = _solve_spd(system, m.T) * n  # (d, C)
        ctx.save_for_backward(alpha, z)
        ctx.mixture = mixture
        return (m.T * z).sum()

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, None]:
        alpha, z = ctx.saved_tensors  # type: ignore[attr-defined]
        mixture: PairwiseMixture = ctx.mixture  # type: ignore[attr-defined]
        n = mixture.num_samples
        # dT/dw_p = -<Z Z^T, G_p> / N, from the packed lower triangles (off-diagonal entries
        # count twice). A matrix-vector product: cheaper than forming X_i Z for every source.
        zz = (z @ z.T).view(-1)[mixture.scatter[: mixture.pair_grams.shape[1]]] * mixture.tril_weight
        grad_w = -(mixture.pair_grams @ zz) / n  # (P,)
        # w_p = alpha_i alpha_j: dw_p/dalpha_i = alpha_j and dw_p/dalpha_j = alpha_i (2 alpha_i when i = j).
        grad_alpha = torch.zeros_like(alpha)
        grad_alpha.index_add_(0, mixture.first, grad_w * alpha[mixture.second])
        grad_alpha.index_add_(0, mixture.second, grad_w * alpha[mixture.first])
        return grad * grad_alpha, -grad * (z * z).sum(), 2 * grad * z.T, None


class PairwiseMixture:
    """Per-pair statistics of prepared sources, for fast repeated evaluation of the objective.

    G_p is symmetric: only its lower triangle is kept (half the memory and half the reading
    per step).

    Shape:
        pair_grams: (P, d (d + 1) / 2), P = K (K + 1) / 2, the lower triangles of the G_p.
        pair_norms: (P, N), q_p.
        quartic: (P, P), Q (accumulated in float64, stored in the working dtype).
        first, second: (P,), the pair's source indices i <= j.
        scatter: (d (d + 1),), flat (d, d) positions of the packed entries, then of their mirrors.
        tril_weight: (d (d + 1) / 2,), 1 on the diagonal and 2 off it (Frobenius products of packed
            symmetric matrices).
    """

    def __init__(
        self, sources: SourceFeatures, dtype: torch.dtype = torch.float32, *, max_bytes: int = MAX_PAIR_BYTES
    ) -> None:
        """Precompute the per-pair statistics (K (K + 1) / 2 products of (d, N) by (N, d)).

        Args:
            sources: prepared sources.
            dtype: working dtype of the statistics and of every evaluation.
            max_bytes: refuse to allocate more than this for the G_p.

        Raises:
            UsageError: the statistics would exceed ``max_bytes`` (check :func:`fits` first).
        """
        if not fits(sources, dtype, max_bytes=max_bytes):
            raise UsageError(
                f"pairwise statistics for K={sources.num_sources}, d={sources.dim} would take "
                f"{_pair_bytes(sources, dtype) / 2**20:.0f} MiB",
                hint="evaluate the objective directly (promptkit.ensemble.ensemble_objective)",
            )
        x = sources.features.to(dtype).contiguous()  # (K, N, d)
        k, n, d = x.shape
        rows, cols = torch.tril_indices(d, d, device=x.device)
        lower, upper = rows * d + cols, cols * d + rows  # flat positions of (r, c) and (c, r)
        first, second = torch.triu_indices(k, k, device=x.device)  # pairs i <= j, row by row
        grams = torch.empty(first.shape[0], lower.shape[0], dtype=dtype, device=x.device)
        p = 0
        for i in range(k):
            block = torch.matmul(x[i].T, x[i:])  # (K - i, d, d): X_i^T X_j for every j >= i
            for offset, b in enumerate(block):
                # G_p = X_i^T X_i for a source with itself, B + B^T for two (lower triangles).
                flat = b.reshape(-1) if offset == 0 else (b + b.T).reshape(-1)
                grams[p] = flat[lower]
                p += 1
        self.pair_grams = grams
        self.scatter = torch.cat([lower, upper])
        per_sample = torch.bmm(x.transpose(0, 1), x.permute(1, 2, 0))  # (N, K, K): <x_in, x_jn>
        factor = torch.where(first == second, 1.0, 2.0).to(dtype)
        self.pair_norms = factor.unsqueeze(1) * per_sample[:, first, second].T  # (P, N)
        # <G_p, G_q> counts each strictly lower entry twice: weight it by 2 in the inner product.
        weight = torch.where(rows == cols, 1.0, 2.0).to(torch.float64)
        self.tril_weight = weight.to(dtype)
        quartic = torch.zeros(first.shape[0], first.shape[0], dtype=torch.float64, device=x.device)
        for start in range(0, lower.shape[0], _CHUNK):
            block64 = grams[:, start : start + _CHUNK].to(torch.float64)
            quartic += (block64 * weight[start : start + _CHUNK]) @ block64.T
        self.quartic = quartic.to(dtype)
        self.first, self.second = first, second
        self.class_deviations = sources.class_deviations.to(dtype)
        self.atoms = sources.atoms.to(dtype)
        self.num_classes = sources.num_classes
        self.num_samples, self.dim = n, d

    def transferability(self, alpha: Tensor) -> Tensor:
        """T(alpha), the shrinkage H-score of the mixture; differentiable w.r.t. alpha.

        Shape:
            alpha: (K,); output: ().
        """
        alpha = alpha.to(device=self.pair_grams.device, dtype=self.pair_grams.dtype)
        n, d = self.num_samples, self.dim
        w = alpha[self.first] * alpha[self.second]  # (P,)
        s_frob2 = w @ self.quartic @ w / n**2
        sq_norms = w @ self.pair_norms  # (N,)
        mu, b2, d2 = ledoit_wolf_moments(sq_norms, s_frob2, d)
        case = shrinkage_case(b2, d2, d)
        if case == "zero":  # a = 1: the score is 0 and flat
            return alpha.sum() * 0.0
        shrink = b2 / d2 if case == "shrunk" else alpha.new_zeros(())
        c = shrink * mu / (1 - shrink)  # T = tr(M (S + c I)^-1 M^T), see objective._MixtureScore
        m = (alpha @ self.class_deviations.view(alpha.shape[0], -1)).view(self.num_classes, d)
        return _PairwiseInverseQuadratic.apply(alpha, c, m, self)

    def objective(self, alpha: Tensor, *, lam: float) -> ObjectiveTerms:
        """T / (C - 1) - lam R, as :func:`promptkit.ensemble.objective.ensemble_objective`.

        Shape:
            alpha: (K,); outputs: ().
        """
        t = self.transferability(alpha)
        r = variance_mismatch(alpha, self.atoms)
        return ObjectiveTerms(objective=t / (self.num_classes - 1) - lam * r, transferability=t, regularizer=r)
