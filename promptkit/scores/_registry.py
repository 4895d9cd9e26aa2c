"""The table of transferability scores: each metric module registers itself by decorator."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from promptkit.errors import UsageError, format_choices

__all__ = ["SCORES", "ScoreFn", "get_score", "is_differentiable", "register_score", "score_all"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""``fn(features (N, d), labels (N,)) -> scalar tensor``; higher means more transferable."""

# name -> score function; filled by the @register_score decorators in the metric modules.
SCORES: dict[str, ScoreFn] = {}
# names whose function is differentiable w.r.t. the features (the ensemble optimizes through them).
_DIFFERENTIABLE: set[str] = set()


def _canonical(name: str) -> str:
    # CLI spelling uses hyphens, Python identifiers use underscores: accept both.
    return name.strip().lower().replace("_", "-")


def register_score(name: str, *, differentiable: bool) -> Callable[[ScoreFn], ScoreFn]:
    """Register a score function under ``name`` (hyphenated, lower case).

    Args:
        name: the name users type, e.g. ``"shrinkage-hscore"``.
        differentiable: whether gradients flow from the score to the features.

    Raises:
        ValueError: the name is already taken (a programming error, not a user error).
    """
    key = _canonical(name)

    def decorator(fn: ScoreFn) -> ScoreFn:
        if key in SCORES:
            raise ValueError(f"score {key!r} is registered twice")
        SCORES[key] = fn
        if differentiable:
            _DIFFERENTIABLE.add(key)
        return fn

    return decorator


def get_score(name: str) -> ScoreFn:
    """The score function registered under ``name`` (``-`` and ``_`` are interchangeable).

    Raises:
        UsageError: no score has that name; the message lists the valid ones.
    """
    key = _canonical(name)
    if key not in SCORES:
        valid = format_choices(sorted(SCORES))
        raise UsageError(f"unknown score {name!r}", hint=f"choose {valid}")
    return SCORES[key]


def is_differentiable(name: str) -> bool:
    """Whether the score ``name`` can be optimized through (gradients w.r.t. the features)."""
    get_score(name)
    return _canonical(name) in _DIFFERENTIABLE


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
    keys = sorted(SCORES) if names is None else [_canonical(n) for n in names]
    fns = [get_score(k) for k in keys]  # fail on a bad name before any computation
    return {k: float(fn(features, labels).detach()) for k, fn in zip(keys, fns)}
