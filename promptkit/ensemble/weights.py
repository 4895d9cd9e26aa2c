"""Learning HGPrompt's ensemble weights alpha on cached features.

HGPrompt (Zhang, Cao, Wu, Zhao, Li; AAAI 2026, arXiv 2504.12311) learns weights on the simplex
that maximize the transferability of the mixed source features (Definition 2) under a
gradient-alignment regularizer, "in a single forward-backward pass over the features". As
adopted in docs/method.md#hgprompt (the paper's body was not available; parts are our
reconstruction): alpha = softmax(w), w = 0 at the start (uniform weights), maximize

    T(alpha) / (C - 1) - lam R(alpha)

with Adam for a fixed number of steps, where T is the exact shrinkage H-score of the mixture
(:mod:`promptkit.ensemble.objective`) and R the gradient-variance mismatch
(:mod:`promptkit.ensemble.regularizer`).

Starting from uniform weights matters: an isotropic mixture whose Ledoit-Wolf shrinkage is
clipped at 1 (T = 0, zero gradient) simply stays where it is instead of drifting. Identical
sources (equal standardized features) share one learned weight, split equally: T cannot tell
them apart, and Adam would otherwise turn rounding noise into unequal weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import Tensor

from promptkit.ensemble.objective import (
    ObjectiveTerms,
    SourceFeatures,
    SourceInput,
    ensemble_objective,
    prepare_sources,
)
from promptkit.ensemble.pairwise import PairwiseMixture, fits
from promptkit.ensemble.result import AlphaResult, evaluate_weights
from promptkit.errors import UsageError
from promptkit.progress import PhaseProgress

__all__ = ["Precision", "hgprompt_weights", "learn_alpha"]

Precision = Literal["float32", "float64"]
_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}



def _check_options(lam: float, steps: int, lr: float, precision: str) -> None:
    if not (math.isfinite(lam) and lam >= 0):
        raise UsageError(f"lam must be a finite number >= 0, got {lam}", hint="try 0, 0.01 or 0.1")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UsageError(f"steps must be an integer >= 0, got {steps!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise UsageError(f"lr must be a finite number > 0, got {lr}")
    if precision not in _DTYPES:
        raise UsageError(f"unknown precision {precision!r}", hint="choose 'float32' or 'float64'")


def _objective_fn(sources: SourceFeatures, dtype: torch.dtype, steps: int) -> Callable[..., ObjectiveTerms]:
    # The per-pair statistics cost about K (K + 1) / 2 (N, d) products once and then save about
    # two per step (measured: 3.3 s once, then 43 ms instead of ~90 ms per step at K = 11,
    # N = 1000, d = 768 in float32), so they pay off beyond ~K (K + 1) / 2 steps; they also take
    # K (K + 1) / 2 d (d + 1) / 2 numbers, so very many sources or wide features go the direct way.
    k = sources.num_sources
    if steps >= k * (k + 1) // 2 and fits(sources, dtype):
        return PairwiseMixture(sources, dtype).objective
    work = sources if sources.features.dtype == dtype else sources.to(dtype)
    return partial(ensemble_objective, work)


def hgprompt_weights(
    sources: SourceFeatures,
    *,
    lam: float = 0.0,
    steps: int = 300,
    lr: float = 0.05,
    precision: Precision = "float32",
    progress: PhaseProgress | None = None,
) -> AlphaResult:
    """HGPrompt's weights on prepared sources (see :func:`learn_alpha`)."""
    _check_options(lam, steps, lr, precision)
    dtype = _DTYPES[precision]
    device = sources.features.device
    split = _duplicate_split(sources.features).to(device)  # (K, U)
    counts = (split > 0).sum(dim=0).to(dtype)  # (U,) copies of each distinct source
    # w per distinct source, started at log(copies) so that every source starts at 1 / K.
    w = counts.log().requires_grad_(True)
    split = split.to(dtype)
    history: list[float] = []
    if split.shape[1] > 1 and steps > 0:  # one distinct source: nothing to learn
        objective = _objective_fn(sources, dtype, steps)
        optimizer = torch.optim.Adam([w], lr=lr)
        for step in range(steps):
            optimizer.zero_grad()
            terms = objective(split @ torch.softmax(w, dim=0), lam=lam)
            (-terms.objective).backward()
            optimizer.step()
            history.append(float(terms.objective.detach()))
            if progress is not None:
                progress(step + 1, steps)
    alpha = split.to(torch.float64) @ torch.softmax(w.detach().to(torch.float64), dim=0)
    return evaluate_weights(sources, alpha, method="hgprompt", lam=lam, history=tuple(history))


def _duplicate_split(features: Tensor) -> Tensor:
    """(K, U) matrix sharing the weight of each of the U distinct sources equally among its copies.

    Copies of one source leave T flat along how their weight is shared; in float32 the rounding
    noise of that (zero) gradient would be amplified by Adam's normalization and split identical
    sources unequally. Learning one weight per distinct source keeps copies exactly equal, on
    the trajectory exact arithmetic would take (Adam's step does not depend on gradient scale).
    """
    k = features.shape[0]
    group: list[int] = []
    representatives: list[int] = []
    for i in range(k):
        match = next((g for g, r in enumerate(representatives) if torch.equal(features[i], features[r])), None)
        if match is None:
            match = len(representatives)
            representatives.append(i)
        group.append(match)
    onehot = torch.nn.functional.one_hot(torch.tensor(group), len(representatives)).to(torch.float64)  # (K, U)
    return onehot / onehot.sum(dim=0)


def learn_alpha(
    features: SourceInput,
    labels: Tensor,
    *,
    lam: float,
    steps: int = 300,
    lr: float = 0.05,
    precision: Precision = "float32",
    progress: PhaseProgress | None = None,
) -> AlphaResult:
    """Learn HGPrompt ensemble weights for a target from its features under K source prompts.

    Each source's features are standardized per dimension; alpha = softmax(w) starts uniform
    and Adam maximizes T(alpha) / (C - 1) - lam R(alpha) for ``steps`` steps. Deterministic: no
    randomness is involved.

    Args:
        features: features of the target's N training images under each of the K source
            prompts (pooled backbone outputs).
        labels: the N target labels, any integers.
        lam: weight of the gradient-variance regularizer; 0 optimizes transferability alone.
            Larger values pull alpha towards uniform; choose it on validation data.
        steps: Adam steps (the result holds the final alpha).
        lr: Adam learning rate on w.
        precision: dtype of the optimization steps. ``"float32"`` is several times faster on
            CPU and its rounding (relative ~1e-6 in the objective) does not matter to Adam; the
            reported T, R and objective are always recomputed in float64 at the final alpha.
        progress: called as ``progress(step, steps)`` after every step.

    Returns:
        alpha, its T, R and objective (float64), the objective history (in ``precision``),
        and every source's own shrinkage H-score.

    Raises:
        UsageError: bad option values or source shapes.
        ScoreInputError: features or labels that cannot be scored; the message names the source.

    Shape:
        features: (K, N, d) or K tensors (N, d); labels: (N,).
    """
    _check_options(lam, steps, lr, precision)
    return hgprompt_weights(
        prepare_sources(features, labels), lam=lam, steps=steps, lr=lr, precision=precision, progress=progress
    )
