"""Ensemble math over source prompts for a new target: HGPrompt weights, baselines, composition.

- :mod:`~promptkit.ensemble.objective`: the exact, fast transferability T(alpha) of a mixture
  of source features (shrinkage H-score) and HGPrompt's objective.
- :mod:`~promptkit.ensemble.pairwise`: the same objective from per-pair statistics, for the
  many evaluations of an optimization.
- :mod:`~promptkit.ensemble.regularizer`: the gradient-variance mismatch R(alpha).
- :mod:`~promptkit.ensemble.weights`: :func:`learn_alpha` (HGPrompt, Zhang et al., AAAI 2026).
- :mod:`~promptkit.ensemble.baselines`: ``uniform``, ``hscore-weights``, ``best-single`` and
  SPoT's similarity ranking (Vu et al., ACL 2022).
- :mod:`~promptkit.ensemble.compose`: P_t = sum_i alpha_i P_i, with compatibility checks.
- :mod:`~promptkit.ensemble.align`: token-matched averaging of prompts.

Weight methods register by name; :func:`ensemble_weights` dispatches. Everything here works on
tensors already computed: it extracts no features and tunes nothing. Method runs (source
features, weights, composition and tuning of the target model: ``run_method``, ``compare``)
live in :mod:`promptkit.runs`.
"""

from __future__ import annotations

from promptkit.ensemble._registry import (
    WEIGHT_METHODS,
    WeightMethod,
    ensemble_weights,
    get_weight_method,
    register_weights,
)
from promptkit.ensemble.baselines import SpotRanking, best_single_weights, hscore_weights, spot_rank, uniform_weights
from promptkit.ensemble.compose import check_sources, compose_prompt
from promptkit.ensemble.objective import (
    ObjectiveTerms,
    SourceFeatures,
    ensemble_objective,
    mix_features,
    mixture_transferability,
    prepare_sources,
    stack_sources,
)
from promptkit.ensemble.pairwise import PairwiseMixture
from promptkit.ensemble.regularizer import gradient_variance_atoms, variance_mismatch
from promptkit.ensemble.result import AlphaResult, evaluate_weights
from promptkit.ensemble.weights import Precision, hgprompt_weights, learn_alpha

__all__ = [
    "WEIGHT_METHODS",
    "AlphaResult",
    "ObjectiveTerms",
    "PairwiseMixture",
    "Precision",
    "SourceFeatures",
    "SpotRanking",
    "WeightMethod",
    "best_single_weights",
    "check_sources",
    "compose_prompt",
    "ensemble_objective",
    "ensemble_weights",
    "evaluate_weights",
    "get_weight_method",
    "gradient_variance_atoms",
    "hgprompt_weights",
    "hscore_weights",
    "learn_alpha",
    "mix_features",
    "mixture_transferability",
    "prepare_sources",
    "register_weights",
    "spot_rank",
    "stack_sources",
    "uniform_weights",
    "variance_mismatch",
]
