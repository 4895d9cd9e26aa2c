"""Lineage both ways: what a version was built from, and what was built from it.

>>> from promptkit.registry import Registry
>>> from promptkit.registry.lineage import lineage_of
>>> view = lineage_of(Registry(), "zoo/digits")
>>> view.upstream, view.downstream      # each a list of Link(ref, method, weight, ...)

A version is built from the sources its lineage cites (an ensemble run, a ``from:`` init) and
from the members of an ensemble asset; a link matches a stored version by content digest, so a
source cited as ``zoo/textures:1`` is found whatever it is called here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .manifest import Manifest
from .store import Registry

__all__ = ["LineageView", "Link", "aliases_of", "lineage_of"]


@dataclass(frozen=True)
class Link:
    """One edge of the lineage graph, seen from the version asked about.

    Attributes:
        ref: the other version's exact reference (as cited, for upstream; as stored, for downstream).
        method: how the later version was built (``hgprompt``, ``from``, ``ensemble``, ...).
        weight: the source's ensemble weight, when there is one.
        task: the other version's task, when known.
        stored: for upstream links, whether the cited source is in this registry (by digest).
    """

    ref: str
    method: str
    weight: float | None = None
    task: str | None = None
    stored: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "method": self.method, "weight": self.weight, "task": self.task,
                "stored": self.stored}


@dataclass(frozen=True)
class LineageView:
    """A version, what it was built from (``upstream``) and what was built from it (``downstream``)."""

    ref: str
    sha256: str
    upstream: list[Link] = field(default_factory=list)
    downstream: list[Link] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "sha256": self.sha256, "built_from": [x.to_dict() for x in self.upstream],
                "built_into": [x.to_dict() for x in self.downstream]}


def _cited(m: Manifest) -> list[tuple[str, str, str, float | None, str | None]]:
    """``(ref, sha256, method, weight, task)`` of every version ``m`` was built from."""
    out = []
    if m.lineage is not None:
        out += [(s.ref, s.sha256, m.lineage.method, s.weight, s.task) for s in m.lineage.sources]
    if m.ensemble is not None:
        cited = {sha for _, sha, *_ in out}
        out += [(x.ref, x.sha256, m.ensemble.composition, x.weight, x.task) for x in m.ensemble.members
                if x.sha256 not in cited]
    return out


def lineage_of(reg: Registry, ref: str) -> LineageView:
    """What ``ref`` was built from and which stored versions were built from it (by content digest).

    Raises:
        AssetNotFoundError: ``ref`` is not in the registry.
        InvalidReferenceError: ``ref`` is malformed.
    """
    m = reg.resolve(ref)
    everything = [e.manifest for e in reg.list()]
    digests = {x.sha256 for x in everything}
    upstream = [Link(r, method, weight, task, stored=sha in digests) for r, sha, method, weight, task in _cited(m)]
    downstream = []
    for other in everything:
        for _, sha, method, weight, _ in _cited(other):
            if sha == m.sha256 and other.ref != m.ref:
                downstream.append(Link(other.ref, method, weight, other.task))
                break
    return LineageView(m.ref, m.sha256, upstream, downstream)


def aliases_of(reg: Registry, ref: str) -> list[str]:
    """The aliases pointing at ``ref``'s version (``latest`` included when it is the latest)."""
    m = reg.resolve(ref)
    return next((list(e.aliases) for e in reg.list(name=m.name) if e.manifest.ref == m.ref), [])
