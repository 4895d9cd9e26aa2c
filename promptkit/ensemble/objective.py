"""The transferability of a mixture of source features, fast and exact (HGPrompt's T(alpha)).

HGPrompt (Zhang, Cao, Wu, Zhao, Li; AAAI 2026, arXiv 2504.12311), Definition 2: the ensemble
weights maximize the H-score of the mixed features F_alpha(x) = sum_i alpha_i f_i(x), where
f_i(x) are the features of target image x under source prompt P_i. The reconstruction we adopt
(docs/method.md#hgprompt) uses the shrinkage H-score (Ibrahim et al., arXiv 2110.06893) and
per-source standardization.

Speed. Evaluating :func:`promptkit.scores.shrinkage_hscore` on the mixture and letting
autograd differentiate it costs several d x d solves per step (measured: 0.45-0.8 s per step
at K = 11, N = 1000, d = 768). Here the same value is computed from quantities that are linear
or quadratic in alpha (Theorem 1's observation):

- the centred mixture X(alpha) = sum_i alpha_i X_i, with X_i the standardized features;
- the class-mean deviations M(alpha) = sum_i alpha_i M_i, precomputed per source, so that
  cov(E[f | y]) = M^T M;
- T = (1 - a) tr(M cov_a^-1 M^T) = tr(M (S + c I)^-1 M^T) with c = a mu / (1 - a): one
  Cholesky factorization, and a closed-form backward (see ``_MixtureScore``) instead of
  autograd's two products for X^T X and its O(d^3) backward through the factorization.

One evaluation with gradient costs two N d^2 products and one d^3 / 3 factorization. For the
hundreds of evaluations of an optimization, :mod:`promptkit.ensemble.pairwise` precomputes the
per-pair products once and needs none per step. Nothing is approximated:
:func:`mixture_transferability` equals ``shrinkage_hscore`` of the mixed standardized features
to rounding (tested to 1e-8 relative in float64), gradients included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

import torch
from torch import Tensor

from promptkit.ensemble.regularizer import gradient_variance_atoms, variance_mismatch
from promptkit.errors import ScoreInputError, UsageError
from promptkit.scores import check_score_inputs
from promptkit.stats import standardization

__all__ = [
    "ObjectiveTerms",
    "SourceFeatures",
    "ensemble_objective",
    "ledoit_wolf_moments",
    "mix_features",
    "mixture_transferability",
    "prepare_sources",
    "shrinkage_case",
    "stack_sources",
]

SourceInput = Sequence[Tensor] | Tensor
"""K feature matrices (N, d), as a sequence or stacked into one (K, N, d) tensor."""


def stack_sources(features: SourceInput) -> Tensor:
    """Stack K per-source feature matrices into one tensor, checking that they agree.

    Args:
        features: a (K, N, d) tensor, or a sequence of K tensors of shape (N, d).

    Returns:
        The (K, N, d) tensor (the input itself when already stacked).

    Raises:
        UsageError: no sources, a source that is not 2-D, or sources of different shapes.

    Shape:
        output: (K, N, d).
    """
    if isinstance(features, Tensor):
        if features.ndim != 3:
            raise UsageError(
                f"source features must be (K sources, N samples, d dims), got shape {tuple(features.shape)}",
                hint="pass a list of per-source (N, d) feature matrices or stack them along a new first dimension",
            )
        if features.shape[0] == 0:
            raise UsageError("no source features given", hint="pass at least one source")
        return features
    items = [torch.as_tensor(f) for f in features]
    if not items:
        raise UsageError("no source features given", hint="pass at least one source")
    for i, f in enumerate(items):
        if f.ndim != 2:
            raise UsageError(f"source {i}: features must be 2-D (N, d), got shape {tuple(f.shape)}")
        if f.shape != items[0].shape:
            raise UsageError(
                f"source {i}: features have shape {tuple(f.shape)} but source 0 has {tuple(items[0].shape)}",
                hint="extract every source's features on the same target images with the same backbone",
            )
    return torch.stack(items)


def mix_features(features: SourceInput, alpha: Tensor) -> Tensor:
    """F_alpha = sum_i alpha_i f_i, the features HGPrompt scores as a whole (Definition 2).

    Args:
        features: K feature matrices of the same shape.
        alpha: one weight per source; differentiable.

    Returns:
        The mixed features.

    Shape:
        features: (K, N, d); alpha: (K,); output: (N, d).
    """
    stacked = stack_sources(features)
    if alpha.shape != (stacked.shape[0],):
        raise UsageError(f"alpha has shape {tuple(alpha.shape)}, expected ({stacked.shape[0]},), one per source")
    return torch.einsum("k,knd->nd", alpha.to(stacked.dtype), stacked)


@dataclass(frozen=True, eq=False)
class SourceFeatures:
    """Target training features under K source prompts, ready for the mixture objective.

    Built by :func:`prepare_sources`; holds what every optimization step reuses.

    Shape:
        features: (K, N, d), each source standardized per dimension (zero mean, unit
            N-normalized standard deviation; constant dimensions left at zero).
        labels: (N,), int64 in 0..C-1.
        counts: (C,), samples per class.
        class_deviations: (K, C, d), row c of source i is sqrt(n_c / (N - 1)) (m_ic - m_i), so
            that the mixture's cov(E[F | y]) = M^T M with M = sum_i alpha_i class_deviations[i].
        atoms: (K, C, d), the regularizer's per-source gradient variances u_i at alpha_i = 1
            (:func:`promptkit.ensemble.regularizer.gradient_variance_atoms`).
    """

    features: Tensor
    labels: Tensor
    counts: Tensor
    class_deviations: Tensor
    atoms: Tensor

    @property
    def num_sources(self) -> int:
        """K."""
        return int(self.features.shape[0])

    @property
    def num_samples(self) -> int:
        """N."""
        return int(self.features.shape[1])

    @property
    def dim(self) -> int:
        """d."""
        return int(self.features.shape[2])

    @property
    def num_classes(self) -> int:
        """C."""
        return int(self.counts.shape[0])

    def to(self, dtype: torch.dtype) -> SourceFeatures:
        """A copy in another floating dtype (float32 halves the cost of an optimization step)."""
        return replace(
            self,
            features=self.features.to(dtype),
            class_deviations=self.class_deviations.to(dtype),
            atoms=self.atoms.to(dtype),
        )

    @cached_property
    def source_scores(self) -> Tensor:
        """Each source's own shrinkage H-score on the target, float64, computed once.

        Shape:
            output: (K,).
        """
        src = self if self.features.dtype == torch.float64 else self.to(torch.float64)
        eye = torch.eye(self.num_sources, dtype=torch.float64, device=self.features.device)
        with torch.no_grad():
            return torch.stack([mixture_transferability(src, eye[i]) for i in range(self.num_sources)])


def prepare_sources(features: SourceInput, labels: Tensor) -> SourceFeatures:
    """Validate, standardize and precompute per-source statistics for the mixture objective.

    Each source is standardized per dimension, as the same lab's H-ensemble does
    (docs/method.md#hgprompt-step-1): the sources' feature scales then do not decide the weights.

    Args:
        features: K feature matrices (N, d) of the same target images, one per source prompt.
        labels: one integer label per image, any values (remapped to 0..C-1).

    Returns:
        The prepared sources, float64.

    Raises:
        UsageError: see :func:`stack_sources`.
        ScoreInputError: a source's features or the labels cannot be scored (non-finite
            values, constant features, fewer than 2 classes, a class with fewer than 2
            samples, ...); the message names the source.

    Shape:
        features: (K, N, d); labels: (N,).
    """
    stacked = stack_sources(features)
    standardized = []
    inputs = None
    for i in range(stacked.shape[0]):
        try:
            inputs = check_score_inputs(stacked[i].detach(), labels)
        except ScoreInputError as exc:
            raise ScoreInputError(f"source {i}: {exc.message}", hint=exc.hint) from exc
        f = inputs.features
        mean, std = standardization(f)
        standardized.append((f - mean) / std)
    assert inputs is not None  # stack_sources refuses K = 0
    x = torch.stack(standardized)  # (K, N, d), contiguous
    n = x.shape[1]
    counts = inputs.counts.to(x.dtype)
    # (N, C): entry (n, c) = sqrt(n_c / (N - 1)) / n_c on class c's rows, so B^T X_i holds the
    # class means of the (already centred) X_i scaled for a class-size-weighted covariance.
    weights = inputs.one_hot() * (torch.sqrt(counts / (n - 1)) / counts)
    deviations = torch.einsum("nc,knd->kcd", weights, x)
    return SourceFeatures(
        features=x,
        labels=inputs.labels,
        counts=inputs.counts,
        class_deviations=deviations.contiguous(),
        atoms=gradient_variance_atoms(x, inputs.labels),
    )


def ledoit_wolf_moments(sq_norms: Tensor, s_frob2: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor]:
    """mu, b2 and d2 of :func:`promptkit.scores.ledoit_wolf_shrinkage`, from the moments at hand.

    The same formula (with x_n the centred samples, S = X^T X / N): mu = tr S / d,
    b2 = (sum_n ||x_n||^4 / N - ||S||_F^2) / (d N), d2 = (||S||_F^2 - d mu^2) / d. Restated here
    because the mixture objective gets ||S||_F^2 without forming S again.

    Shape:
        sq_norms: (N,), the ||x_n||^2; s_frob2: (); outputs: ().
    """
    n = sq_norms.shape[0]
    mu = sq_norms.sum() / (n * d)
    b2 = (torch.dot(sq_norms, sq_norms) / n - s_frob2) / (d * n)
    d2 = (s_frob2 - d * mu * mu) / d
    return mu, b2, d2


def shrinkage_case(b2: Tensor, d2: Tensor, d: int) -> str:
    """Which branch of a = min(b2, d2) / d2 applies: "fixed" (a = 0, the degenerate cases of
    :func:`promptkit.scores.ledoit_wolf_shrinkage`), "zero" (a = 1, so the score is 0) or
    "shrunk" (a = b2 / d2 in (0, 1))."""
    if d == 1 or bool(d2 <= 0) or bool(b2 <= 0):
        return "fixed"
    return "zero" if bool(b2 >= d2) else "shrunk"


class _MixtureScore(torch.autograd.Function):
    """Shrinkage H-score of centred features x with class deviations m, and its exact gradient.

    With S = x^T x / N and Ledoit-Wolf shrinkage a in (0, 1),

        T = (1 - a) tr(M ((1 - a) S + a mu I)^-1 M^T) = tr(M (S + c I)^-1 M^T),  c = a mu / (1 - a),

    so one Cholesky factorization of G + N c I (G = x^T x) gives T. The backward is closed-form:
    with Z = (S + c I)^-1 M^T (d, C),

        dT = -<Z Z^T, dS> - |Z|^2 dc + 2 <Z^T, dM>,

    and dc flows through a and mu into the sample norms and ||S||_F^2. That costs one more
    (N, d) x (d, d) product (x S, the gradient of ||S||_F^2) plus rank-C terms, instead of
    autograd's two products for x^T x and its O(d^3) backward through the factorization.
    a = 1 gives T = 0 with zero gradient; a = 0 (d = 1, b2 <= 0 or d2 <= 0) is a constant, as in
    :func:`promptkit.scores.ledoit_wolf_shrinkage`.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, m: Tensor) -> Tensor:  # type: ignore[override]
        n, d = x.shape
        gram = x.T @ x  # (d, d), = N S
        sq_norms = (x * x).sum(dim=1)  # (N,)
        s_frob2 = torch.dot(gram.flatten(), gram.flatten()) / n**2  # ||S||_F^2
        mu, b2, d2 = ledoit_wolf_moments(sq_norms, s_frob2, d)
        case = shrinkage_case(b2, d2, d)
        if case == "zero":  # a = 1: cov_a = mu I and T = (1 - a) (...) = 0
            ctx.case = case
            return x.new_zeros(())
        shrink = b2 / d2 if case == "shrunk" else x.new_zeros(())
        c = shrink * mu / (1 - shrink)
        system = gram.clone()
        system.diagonal().add_(n * c)  # N (S + c I)
        z = _solve_spd(system, m.T) * n  # (d, C), (S + c I)^-1 M^T
        ctx.case = case
        ctx.save_for_backward(x, gram, sq_norms, z)
        ctx.scalars = (shrink, mu, b2, d2)
        return (m.T * z).sum()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        if ctx.case == "zero":  # type: ignore[attr-defined]
            return None, None
        x, gram, sq_norms, z = ctx.saved_tensors  # type: ignore[attr-defined]
        n, d = x.shape
        grad_m = 2 * grad * z.T  # (C, d)
        grad_frob2 = 0.0  # dT/d||S||_F^2
        g_sq_norms = None  # dT/d||x_n||^2
        if ctx.case == "shrunk":  # type: ignore[attr-defined]
            shrink, mu, b2, d2 = ctx.scalars  # type: ignore[attr-defined]
            g_c = -(z * z).sum()  # dT/dc
            g_a = g_c * mu / (1 - shrink) ** 2
            g_mu = g_c * shrink / (1 - shrink)
            g_b2 = g_a / d2  # a = b2 / d2
            g_d2 = -g_a * b2 / d2**2
            grad_frob2 = float(-g_b2 / (d * n) + g_d2 / d)
            g_mu = g_mu - g_d2 * 2 * mu
            g_sq_norms = g_b2 * 2 * sq_norms / (n * n * d) + g_mu / (n * d)  # (N,)
        # x (-(2 / N) Z Z^T + (4 / N) dT/d||S||^2 S) + 2 dT/dsq_n x_n, with S = G / N.
        low_rank = (x @ z) @ z.T  # (N, d)
        grad_x = torch.addmm(low_rank, x, gram, beta=-2.0 / n, alpha=4 * grad_frob2 / n**2)
        if g_sq_norms is not None:
            grad_x = grad_x + (2 * g_sq_norms).unsqueeze(1) * x
        return grad * grad_x, grad_m


def _solve_spd(a: Tensor, rhs: Tensor) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(a)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, chol)
    # float32 can fail on an ill-conditioned system: retry in float64. A singular one (a = 0
    # and degenerate samples) falls back to the pseudo-inverse, as shrinkage_hscore does.
    a64, rhs64 = a.to(torch.float64), rhs.to(torch.float64)
    chol, info = torch.linalg.cholesky_ex(a64)
    if int(info) == 0:
        return torch.cholesky_solve(rhs64, chol).to(a.dtype)
    return (torch.linalg.pinv(a64, hermitian=True) @ rhs64).to(a.dtype)


def _check_alpha(sources: SourceFeatures, alpha: Tensor) -> Tensor:
    if alpha.shape != (sources.num_sources,):
        raise UsageError(f"alpha has shape {tuple(alpha.shape)}, expected ({sources.num_sources},), one per source")
    if not bool(torch.isfinite(alpha.detach()).all()):
        raise UsageError(f"alpha has non-finite entries: {alpha.detach().tolist()}")
    return alpha.to(device=sources.features.device, dtype=sources.features.dtype)


def mixture_transferability(sources: SourceFeatures, alpha: Tensor) -> Tensor:
    """T(alpha): the shrinkage H-score of the mixed standardized features, exactly.

    Equals ``shrinkage_hscore(mix_features(sources.features, alpha), labels)`` (same Ledoit-Wolf
    shrinkage a, through which gradients also flow), computed from the precomputed per-source
    statistics with two (N, d) products and one Cholesky factorization. Invariant to the scale
    of alpha. Differentiable w.r.t. alpha.

    Args:
        sources: from :func:`prepare_sources`, in the dtype to compute in.
        alpha: one weight per source.

    Returns:
        A scalar in the sources' dtype, in [0, C - 1].

    Shape:
        alpha: (K,); output: ().
    """
    alpha = _check_alpha(sources, alpha)
    k, n, d = sources.features.shape
    # Matrix-vector products on flattened views: their backward is one more, where einsum's
    # goes through elementwise products over all K N d entries.
    x = (alpha @ sources.features.reshape(k, n * d)).view(n, d)  # (N, d), centred
    m = (alpha @ sources.class_deviations.reshape(k, -1)).view(sources.num_classes, d)  # (C, d)
    return _MixtureScore.apply(x, m)


class ObjectiveTerms(NamedTuple):
    """HGPrompt's objective and its two parts (scalar tensors, differentiable)."""

    objective: Tensor  # T / (C - 1) - lam * R, maximized
    transferability: Tensor  # T: shrinkage H-score of the mixture, in [0, C - 1]
    regularizer: Tensor  # R: gradient-variance mismatch across sources, >= 0


def ensemble_objective(sources: SourceFeatures, alpha: Tensor, *, lam: float) -> ObjectiveTerms:
    """HGPrompt's objective T(alpha) / (C - 1) - lam R(alpha) (docs/method.md#hgprompt-step-4).

    T / (C - 1) lies in [0, 1], so lam weighs R against a fraction of the best possible score.

    Args:
        sources: from :func:`prepare_sources`.
        alpha: weights on the simplex (the objective itself does not require it).
        lam: weight of the gradient-variance regularizer, >= 0.

    Returns:
        The objective, T and R.

    Shape:
        alpha: (K,); outputs: ().
    """
    alpha = _check_alpha(sources, alpha)
    t = mixture_transferability(sources, alpha)
    r = variance_mismatch(alpha, sources.atoms)
    return ObjectiveTerms(objective=t / (sources.num_classes - 1) - lam * r, transferability=t, regularizer=r)
