"""Method runs: from source prompts to a tuned target model, for every method and composition.

The orchestration around the pure math of :mod:`promptkit.ensemble`: it extracts features,
tunes prompts and builds target models.

- :mod:`~promptkit.runs.methods`: the method table (:data:`METHODS`: every weight method and
  every start strategy of :data:`STARTS`; :func:`register_method`, :func:`get_method`).
- :mod:`~promptkit.runs.starts`: the built-in start strategies (weight methods, ``spot``,
  ``random``, ``spt``).
- :mod:`~promptkit.runs.compositions`: how weights become the start model (``average``,
  ``aligned``, ``ensemble``, ``distill``; :func:`register_composition`) and the
  :class:`Variant` naming one row of a comparison.
- :mod:`~promptkit.runs.members`: which sources an ensemble keeps (:class:`MemberRule`).
- :mod:`~promptkit.runs.context`: what the runs of one comparison share (:class:`MethodRun`),
  and the source checks made before any work.
- :mod:`~promptkit.runs.execute`: :func:`run_method` and :func:`compare`.
- :mod:`~promptkit.runs.outcome`: :class:`MethodResult`, what one run gives.
"""

from __future__ import annotations

from promptkit.runs.compositions import (
    COMPOSITIONS,
    DEFAULT_COMPOSITION,
    Built,
    CompositionSpec,
    Variant,
    get_composition,
    parse_variant,
    register_composition,
)
from promptkit.runs.context import MethodRun, check_ensemble_sources
from promptkit.runs.execute import compare, run_method
from promptkit.runs.members import MemberRule, choose_members
from promptkit.runs.methods import METHODS, STARTS, MethodSpec, get_method, register_method, weight_methods
from promptkit.runs.outcome import MethodResult, Start

__all__ = [
    "COMPOSITIONS",
    "DEFAULT_COMPOSITION",
    "METHODS",
    "STARTS",
    "Built",
    "CompositionSpec",
    "MemberRule",
    "MethodResult",
    "MethodRun",
    "MethodSpec",
    "Start",
    "Variant",
    "check_ensemble_sources",
    "choose_members",
    "compare",
    "get_composition",
    "get_method",
    "parse_variant",
    "register_composition",
    "register_method",
    "run_method",
    "weight_methods",
]
