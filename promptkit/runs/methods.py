"""The method table: every way to find a target's start, registered by name.

A method is a start strategy ``fn(run, method, seconds) -> Start`` (the built-in ones are in
:mod:`promptkit.runs.starts`, registered at the end of this module): the weight methods
(``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``) learn or compute weights alpha
over the sources, and a composition turns them into the start model; ``spot`` starts from the
most similar source; ``random`` and ``spt`` from a registered init. Register more with
:func:`register_method`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from promptkit.ensemble import weights as _weights  # noqa: F401  (registers "hgprompt" with the weight methods)
from promptkit.errors import UsageError, format_choices
from promptkit.runs.context import MethodRun
from promptkit.runs.outcome import Start
from promptkit.runs.starts import random_start, spot_start, spt_start, weighted_start

__all__ = ["METHODS", "MethodSpec", "StartFn", "get_method", "register_method", "weight_methods"]

StartFn = Callable[[MethodRun, str, dict[str, float]], Start]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: how it finds its start prompt."""

    name: str
    fn: StartFn
    needs_sources: bool
    summary: str

    @property
    def uses_weights(self) -> bool:
        """It learns or computes weights alpha over the sources, so a composition applies."""
        return self.fn is weighted_start


def weight_methods() -> set[str]:
    """The registered methods that produce weights (compositions apply to them)."""
    return {name for name, spec in METHODS.items() if spec.uses_weights}


METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, *, needs_sources: bool = True, summary: str = "") -> Callable[[StartFn], StartFn]:
    """Register ``fn(run, method, seconds) -> Start`` under ``name`` (``seconds`` collects phase times)."""

    def deco(fn: StartFn) -> StartFn:
        if name in METHODS:
            raise ValueError(f"ensemble method {name!r} is registered twice")
        METHODS[name] = MethodSpec(name, fn, needs_sources, summary or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name`` (``_`` and ``-`` are interchangeable).

    Raises:
        UsageError: unknown name; the hint lists the registered ones.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in METHODS:
        raise UsageError(f"unknown ensemble method {name!r}", hint=f"choose {format_choices(sorted(METHODS))}")
    return METHODS[key]


for _name, _summary in (
    ("hgprompt", "HGPrompt: weights maximizing the mixture's transferability minus lam x gradient mismatch"),
    ("uniform", "equal weights 1/K"),
    ("hscore-weights", "weights proportional to each source's own shrinkage H-score"),
    ("best-single", "the source with the highest own shrinkage H-score"),
):
    register_method(_name, summary=_summary)(weighted_start)
register_method("random", needs_sources=False)(random_start)
register_method("spt", needs_sources=False)(spt_start)
register_method("spot")(spot_start)
