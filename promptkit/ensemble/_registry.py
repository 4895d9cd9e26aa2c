"""The table of ensemble-weight methods (a :class:`~promptkit.plugins.Registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from promptkit.ensemble.objective import SourceFeatures, SourceInput, prepare_sources
from promptkit.ensemble.result import AlphaResult
from promptkit.errors import UsageError
from promptkit.plugins import Registry

__all__ = ["WEIGHT_METHODS", "WeightMethod", "ensemble_weights", "get_weight_method", "register_weights"]

WeightMethod = Callable[..., AlphaResult]
"""``fn(sources: SourceFeatures, *, lam: float = 0.0, **options) -> AlphaResult``."""

# name -> method; the built-ins (weights.py, baselines.py) are listed in promptkit/builtins.py.
WEIGHT_METHODS: Registry[WeightMethod] = Registry(
    "ensemble weight method", home=__name__, listing="promptkit plugins weights"
)


def register_weights(name: str) -> Callable[[WeightMethod], WeightMethod]:
    """Register a weight method under ``name`` (hyphenated, lower case).

    Every weight method is also an ensemble method (``promptkit ensemble --method NAME``).

    Raises:
        ValueError: the name is already taken (a programming error, not a user error).
    """
    return WEIGHT_METHODS.register(name)


def get_weight_method(name: str) -> WeightMethod:
    """The weight method registered under ``name`` (``-`` and ``_`` are interchangeable).

    Raises:
        UsageError: no method has that name; the message lists the valid ones.
    """
    return WEIGHT_METHODS.lookup(name)


def ensemble_weights(
    method: str, features: SourceInput | SourceFeatures, labels: Tensor | None = None, **options: Any
) -> AlphaResult:
    """Ensemble weights for a target by the named method.

    Args:
        method: a registered name: ``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``.
        features: K feature matrices (N, d) of the target's training images, one per source
            prompt; or sources already prepared by :func:`prepare_sources` (reuse them to run
            several methods without recomputing the per-source statistics and scores).
        labels: the target labels; required with raw features, omitted with prepared ones.
        **options: the method's keyword options, e.g. ``lam`` (all methods record the objective
            with it; ``hgprompt`` optimizes it), ``steps``, ``lr``.

    Raises:
        UsageError: unknown method, or labels missing (raw features) or given twice (prepared).
    """
    fn = get_weight_method(method)  # fail on a bad name before any computation
    if isinstance(features, SourceFeatures):
        if labels is not None:
            raise UsageError("prepared sources already hold the labels; do not pass labels again")
        sources = features
    else:
        if labels is None:
            raise UsageError("labels are required with raw source features")
        sources = prepare_sources(features, labels)
    return fn(sources, **options)
