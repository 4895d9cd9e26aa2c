"""Which stored prompts are the sources for a target: what ``promptkit rank`` and ``promptkit ensemble`` combine.

>>> from promptkit.registry import Registry
>>> from promptkit.registry.sources import plan_sources, select_sources
>>> refs = select_sources(Registry(), "zoo-textures")   # every latest prompt not tuned on zoo-textures
>>> plan = plan_sources(Registry(), "zoo-textures", builtin_only=True)
>>> plan.refs, plan.left_out                            # what is used, and what was left out and why

Loading them (verified) is :func:`promptkit.registry.workflows.load_sources`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError
from promptkit.identity import BackboneIdentity

from .asset import Entry
from .manifest import ENSEMBLE, Manifest
from .store import Registry
from .workflows import choose_backbone, source_refs

__all__ = ["LeftOut", "SourcePlan", "plan_sources", "select_sources", "sources_by_task"]


@dataclass(frozen=True)
class LeftOut:
    """A stored prompt that is not a source, and why.

    Attributes:
        ref: its exact reference.
        reason: one short phrase, naming the option that would keep it where there is one.
        kind: ``ensemble``, ``target``, ``derived``, ``filter``, ``backbone`` or ``geometry``.
    """

    ref: str
    reason: str
    kind: str = "filter"

    @property
    def misfit(self) -> bool:
        """Left out because it does not fit the others (backbone or geometry), not by a rule."""
        return self.kind in ("backbone", "geometry")


@dataclass(frozen=True)
class SourcePlan:
    """The sources chosen for a target, before any work: what is used and what was left out, and why.

    Attributes:
        target: the target as given.
        task: the target's task (catalog name, or an image folder's name).
        refs: the exact references used (``name:version``), in order.
        left_out: every latest prompt of the registry not used, with the reason (empty when the
            sources were named: named sources are all used).
        backbone: the backbone the sources were tuned on (None when there is no source).
        named: the sources were named (command line or stdin) rather than the default set.
    """

    target: str
    task: str
    refs: list[str]
    left_out: list[LeftOut] = field(default_factory=list)
    backbone: BackboneIdentity | None = None
    named: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``used``, ``left_out`` (ref and reason), ``backbone`` and ``named``."""
        return {"target": self.target, "task": self.task, "named": self.named,
                "backbone": None if self.backbone is None else self.backbone.short(),
                "used": list(self.refs),
                "left_out": [{"ref": o.ref, "reason": o.reason, "kind": o.kind} for o in self.left_out]}

    def require(self) -> SourcePlan:
        """This plan, or a UsageError saying why no source is left (what was left out, and what to change)."""
        if self.refs:
            return self
        if not self.left_out:
            raise UsageError(f"no source prompts for {self.target}: the registry holds no prompt",
                             hint="add prompts with `promptkit add` or `promptkit train`")
        why = Counter(o.reason.split(" (")[0] for o in self.left_out)
        summary = "; ".join(f"{n} {reason}" for reason, n in why.most_common(3))
        raise UsageError(f"no source prompts for {self.target}: all {len(self.left_out)} left out ({summary})",
                         hint="name sources as arguments, or widen the choice (--include-target, "
                              "--include-derived, fewer --namespace/--source-tag filters)")


def select_sources(
    reg: Registry, target: str, refs: Sequence[str] | None = None, *, include_target: bool = False
) -> list[str]:
    """The exact references (``name:version``) of the source prompts to use for ``target``.

    Named ``refs`` are resolved and all kept, in order, without duplicates. Without them, the
    sources are the latest version of every prompt in the registry (ensembles left out), except
    those tuned on the target's own task unless ``include_target``.

    Args:
        reg: the registry to read.
        target: the target task: a catalog name (``promptkit datasets``) or an image folder, whose
            name is then the task.
        refs: references to use (``name``, ``name:3``, ``name@alias``) [default: every latest prompt].
        include_target: keep sources tuned on the target's task in the default set.

    Returns:
        The exact references, possibly empty (a registry without prompts).

    Raises:
        UsageError: a named reference is an ensemble, not one prompt, or is malformed.
        AssetNotFoundError: a named reference is not in the registry.
    """
    if refs:
        return source_refs(reg, refs)
    return source_refs(reg, exclude_tasks=() if include_target else (_task_of(target),))


def plan_sources(
    reg: Registry,
    target: str,
    refs: Sequence[str] | None = None,
    *,
    include_target: bool = False,
    include_derived: bool = False,
    namespaces: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    builtin_only: bool = False,
    backbone: str | None = None,
    same_geometry: bool = False,
) -> SourcePlan:
    """Choose the sources for ``target`` and say what was left out and why, reading manifests only.

    Named ``refs`` are all used (a misfit fails later, naming it). Otherwise every latest prompt
    is a candidate and these are left out, each with its reason: ensembles; prompts tuned on the
    target's task (unless ``include_target``); prompts composed from other prompts by an earlier
    ensemble run (unless ``include_derived``); those outside ``namespaces``, without ``tags`` or
    not built in (``builtin_only``); then those tuned on another backbone than ``backbone`` (else
    the most common one) and, with ``same_geometry``, of another prompt geometry than the most
    common (an ensemble needs one geometry; ranking scores each source alone).

    Returns:
        The plan; its ``refs`` may be empty (:meth:`SourcePlan.require` turns that into an error).

    Raises:
        UsageError: a named reference is an ensemble or malformed; no source uses ``backbone``.
        AssetNotFoundError: a named reference is not in the registry.
    """
    task = _task_of(target)
    if refs:
        named = source_refs(reg, refs)
        identities = [reg.resolve(r).backbone for r in named]
        return SourcePlan(target, task, named, backbone=choose_backbone(identities, name=backbone), named=True)
    rules = _Rules(task, include_target, include_derived, tuple(ns.rstrip("/") for ns in namespaces), dict(tags or {}),
                   builtin_only)
    kept: list[Manifest] = []
    left_out: list[LeftOut] = []
    for entry in reg.list(all_versions=False):
        reason = rules.reason(entry)
        if reason:
            left_out.append(LeftOut(entry.manifest.ref, *reason))
        else:
            kept.append(entry.manifest)
    if not kept:
        return SourcePlan(target, task, [], left_out)
    identity = choose_backbone([m.backbone for m in kept], name=backbone)
    left_out += [LeftOut(m.ref, f"tuned on another backbone ({m.backbone.short()}, not {identity.short()})",
                         "backbone") for m in kept if not m.backbone.same_backbone(identity)]
    kept = [m for m in kept if m.backbone.same_backbone(identity)]
    if same_geometry and kept:
        geometry = Counter(m.geometry for m in kept).most_common(1)[0][0]
        left_out += [LeftOut(m.ref, f"another prompt geometry ({m.geometry.short()}, not {geometry.short()})",
                             "geometry") for m in kept if m.geometry != geometry]
        kept = [m for m in kept if m.geometry == geometry]
    return SourcePlan(target, task, [m.ref for m in kept], left_out, identity)


@dataclass(frozen=True)
class _Rules:
    """The filters of the default set, in the order their reasons are given."""

    task: str
    include_target: bool
    include_derived: bool
    namespaces: tuple[str, ...]
    tags: dict[str, str]
    builtin_only: bool

    def reason(self, entry: Entry) -> tuple[str, str] | None:
        """``(reason, kind)`` when ``entry`` is no source, None when it is one."""
        m = entry.manifest
        if m.kind == ENSEMBLE:
            return "an ensemble, not one prompt", "ensemble"
        if not self.include_target and m.task is not None and m.task == self.task:
            return f"tuned on the target task {self.task} (--include-target keeps it)", "target"
        if not self.include_derived and m.lineage is not None and m.lineage.method != "from":
            return (f"composed from {len(m.lineage.sources)} other prompts by {m.lineage.method} "
                    "(--include-derived keeps it)"), "derived"
        if self.builtin_only and not entry.builtin:
            return "not built in (--builtin-only)", "filter"
        if self.namespaces and (m.name.split("/")[0] if "/" in m.name else "") not in self.namespaces:
            return "outside --namespace " + ",".join(self.namespaces), "filter"
        missing = [f"{k}={v}" for k, v in self.tags.items() if m.tags.get(k) != v]
        if missing:
            return "without tag " + ", ".join(missing), "filter"
        return None


def _task_of(target: str) -> str:
    """The task a target names: its catalog entry's name, else (an image folder) the folder's name."""
    from promptkit.data.catalog import get_dataset_entry
    from promptkit.errors import DatasetNotFoundError

    try:
        return get_dataset_entry(target).name
    except DatasetNotFoundError:  # a folder path: its name is the task
        return Path(target).name


def sources_by_task(reg: Registry, tasks: Sequence[str], *, weights_sha256: str) -> dict[str, Any]:
    """The latest stored prompt tuned on each of ``tasks`` for the backbone with these weights, loaded and verified.

    For a benchmark that takes its source prompts from the registry (``promptkit benchmark
    --sources registry``): a task without such a prompt is absent from the result (the
    benchmark then tunes one). Ensembles and prompts tuned on other weights are not used.

    Returns:
        catalog name -> :class:`promptkit.rank.SourcePrompt`.
    """
    from promptkit.data.catalog import get_dataset_entry

    from .workflows import load_sources

    wanted = {get_dataset_entry(t).name: t for t in tasks}
    chosen: dict[str, str] = {}
    for entry in reg.list(all_versions=False):
        m = entry.manifest
        if m.kind == ENSEMBLE or m.task is None or m.backbone.weights_sha256 != weights_sha256:
            continue
        task = wanted.get(m.task)
        if task is not None and task not in chosen:  # one per task: the first name in listing order
            chosen[task] = m.ref
    loaded = load_sources(reg, list(chosen.values()))
    return {task: src for task, src in zip(chosen, loaded, strict=True)}
