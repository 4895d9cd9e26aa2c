"""The table of transferability scores (a :class:`~promptkit.plugins.Registry`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from promptkit.plugins import Registry, canonical_name

__all__ = ["SCORES", "ScoreFn", "get_score", "is_differentiable", "register_score", "score_all"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""``fn(features (N, d), labels (N,)) -> scalar tensor``; higher means more transferable."""

# name -> score function; the built-ins are listed in promptkit/builtins.py.
SCORES: Registry[ScoreFn] = Registry("score", home=__name__, listing="promptkit plugins scores")


def register_score(name: str, *, differentiable: bool) -> Callable[[ScoreFn], ScoreFn]:
    """Register a score function under ``name`` (hyphenated, lower case).

    Args:
        name: the name users type, e.g. ``"shrinkage-hscore"``.
        differentiable: whether gradients flow from the score to the features.

    Raises:
        ValueError: the name is already taken (a programming error, not a user error).
    """
    return SCORES.register(name, differentiable=differentiable)


def get_score(name: str) -> ScoreFn:
    """The score function registered under ``name`` (``-`` and ``_`` are interchangeable).

    Raises:
        UsageError: no score has that name; the message lists the valid ones.
    """
    return SCORES.lookup(name)


def is_differentiable(name: str) -> bool:
    """Whether the score ``name`` can be optimized through (gradients w.r.t. the features)."""
    return bool(SCORES.meta(name).get("differentiable", False))


def score_all(features: Tensor, labels: Tensor, names: Sequence[str] | None = None) -> dict[str, float]:
    """Evaluate several scores on the same features, as Python floats.

    Args:
        features: one row per sample.
        labels: any integer labels.
        names: scores to compute, in this order; all registered scores (sorted) when None.

    Returns:
        ``{canonical name: value}`` in the requested order.

    Shape:
        features: (N, d); labels: (N,).
    """
    keys = SCORES.names() if names is None else [canonical_name(n) for n in names]
    fns = [get_score(k) for k in keys]  # fail on a bad name before any computation
    return {k: float(fn(features, labels).detach()) for k, fn in zip(keys, fns)}
