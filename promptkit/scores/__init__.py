"""Transferability scores: how well frozen features suit a labelled target task.

One module per metric, each a pure torch function ``fn(features (N, d), labels (N,)) ->
scalar tensor`` (float64 inside, higher is better), listed in :data:`SCORES` by promptkit/builtins.py:

- ``hscore``: H-score (Bao et al., ICIP 2019), differentiable.
- ``shrinkage-hscore``: Ledoit-Wolf shrinkage H-score (Ibrahim et al., arXiv 2110.06893),
  differentiable; the one to optimize through when d is large against N.
- ``logme``: LogME (You et al., ICML 2021), the usual comparison metric; not differentiable.

Labels may be any integers; invalid inputs raise :class:`promptkit.errors.ScoreInputError`
with the offending numbers.
"""

from __future__ import annotations

from promptkit.scores._inputs import ScoreInputs, check_score_inputs
from promptkit.scores._registry import SCORES, ScoreFn, get_score, is_differentiable, register_score, score_all
from promptkit.scores.hscore import between_class_covariance, hscore
from promptkit.scores.logme import logme
from promptkit.scores.shrinkage import ledoit_wolf_shrinkage, shrinkage_hscore

__all__ = [
    "SCORES",
    "ScoreFn",
    "ScoreInputs",
    "between_class_covariance",
    "check_score_inputs",
    "get_score",
    "hscore",
    "is_differentiable",
    "ledoit_wolf_shrinkage",
    "logme",
    "register_score",
    "score_all",
    "shrinkage_hscore",
]
