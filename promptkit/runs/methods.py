"""The method table: every way to find a target's start, by name.

A method is a start strategy ``fn(run, method, seconds) -> Start`` (the built-in ones are in
:mod:`promptkit.runs.starts`). Two kinds make up :data:`METHODS`:

- every ensemble weight method (:data:`promptkit.ensemble.WEIGHT_METHODS`: ``hgprompt``,
  ``uniform``, ``hscore-weights``, ``best-single`` and any registered later) is a method: it
  learns or computes weights alpha over the sources, and a composition turns them into the
  start model (:func:`~promptkit.runs.starts.weighted_start`);
- the other strategies are registered in :data:`STARTS`: ``spot`` starts from the most similar
  source; ``random`` and ``spt`` from a registered init. Register more with
  :func:`register_method`.

The built-in strategies are listed in :mod:`promptkit.builtins`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from promptkit.ensemble._registry import WEIGHT_METHODS
from promptkit.errors import UsageError
from promptkit.plugins import Entry, Registry, canonical_name, suggest
from promptkit.runs.context import MethodRun
from promptkit.runs.outcome import Start
from promptkit.runs.starts import weighted_start

__all__ = [
    "METHODS",
    "STARTS",
    "MethodSpec",
    "MethodTable",
    "StartFn",
    "get_method",
    "register_method",
    "weight_methods",
]

StartFn = Callable[[MethodRun, str, dict[str, float]], Start]


@dataclass(frozen=True)
class MethodSpec:
    """A method: how it finds its start prompt."""

    name: str
    fn: StartFn
    needs_sources: bool
    summary: str

    @property
    def uses_weights(self) -> bool:
        """It learns or computes weights alpha over the sources, so a composition applies."""
        return self.fn is weighted_start


# name -> the start strategies that are not weight methods (spot, random, spt, ...)
STARTS: Registry[MethodSpec] = Registry(
    "ensemble method", home=__name__, listing="promptkit plugins methods", summarize=lambda spec: spec.summary
)


def register_method(
    name: str, *, needs_sources: bool = True, summary: str | None = None
) -> Callable[[StartFn], StartFn]:
    """Decorator: register ``fn(run, method, seconds) -> Start`` under ``name``.

    ``seconds`` collects the run's phase times. The summary defaults to the first line of the
    function's docstring. A weight method needs no registration here: registering it in
    :data:`promptkit.ensemble.WEIGHT_METHODS` makes it a method.

    Raises:
        ValueError: the name is taken, by a start strategy or a weight method.
    """

    def deco(fn: StartFn) -> StartFn:
        if name in WEIGHT_METHODS:
            raise ValueError(f"ensemble method {canonical_name(name)!r} is already registered (a weight method); "
                             "a name cannot be registered twice")
        text = summary if summary is not None else ((fn.__doc__ or "").strip().splitlines() or [""])[0].strip()
        STARTS.add(name, MethodSpec(canonical_name(name), fn, needs_sources, text))
        return fn

    return deco


class MethodTable(Mapping[str, MethodSpec]):
    """Every method, read-only: the weight methods and :data:`STARTS`, as they are registered now.

    Reads like the other plugin tables (:class:`~promptkit.plugins.Registry`): canonical names,
    :meth:`entry`/:meth:`lookup` with a did-you-mean error, :meth:`entries` for listings.
    """

    kind = "ensemble method"

    def _specs(self) -> dict[str, MethodSpec]:
        specs = {e.name: MethodSpec(e.name, weighted_start, True, e.summary) for e in WEIGHT_METHODS.entries()}
        return specs | dict(STARTS.items())

    def lookup(self, name: str) -> MethodSpec:
        """The method called ``name`` (any spelling :func:`~promptkit.plugins.canonical_name` accepts).

        Raises:
            UsageError: unknown name; the hint gives the closest names and every valid one.
        """
        specs = self._specs()
        key = canonical_name(name)
        if key in specs:
            return specs[key]
        hint = suggest(name, sorted(specs), kind=self.kind, listing="promptkit plugins methods")
        raise UsageError(f"unknown ensemble method {name!r}", hint=hint)

    def entry(self, name: str) -> Entry[MethodSpec]:
        """:meth:`lookup` as a plugin :class:`~promptkit.plugins.Entry`."""
        spec = self.lookup(name)
        return Entry(spec.name, spec, spec.summary, {"needs_sources": spec.needs_sources})

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._specs())

    def entries(self) -> list[Entry[MethodSpec]]:
        """Every method, sorted by name."""
        return [self.entry(name) for name in self.names()]

    def __getitem__(self, name: str) -> MethodSpec:
        return self._specs()[canonical_name(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name) in self._specs()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._specs())

    def __repr__(self) -> str:
        return f"MethodTable({len(self)} methods)"


METHODS = MethodTable()
"""name -> :class:`MethodSpec`: every weight method and every registered start strategy."""


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` (``_`` and ``-`` are interchangeable).

    Raises:
        UsageError: unknown name; the hint lists the registered ones.
    """
    return METHODS.lookup(name)


def weight_methods() -> set[str]:
    """The methods that produce weights (compositions apply to them)."""
    return {name for name, spec in METHODS.items() if spec.uses_weights}
