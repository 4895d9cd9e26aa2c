"""Workflows that read prompts from the registry and hand them to the core (ranking, ensembles).

The core works on tensors and identities and never imports the registry; these functions do
the registry side: choose and load sources (verified), find their common backbone.

A source is one prompt: an ensemble asset (k prompts) is no source. Named, it is refused with
what to use instead; the default set (every latest version) leaves ensembles out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from promptkit.errors import UsageError
from promptkit.identity import BackboneIdentity

from .asset import not_a_prompt
from .manifest import ENSEMBLE, Manifest
from .store import Registry

__all__ = ["choose_backbone", "load_sources", "source_refs"]


def source_refs(reg: Registry, refs: Sequence[str] | None = None, *, exclude_tasks: Sequence[str] = ()) -> list[str]:
    """Exact references (``name:version``) of the sources: ``refs`` resolved, or the latest version of every name.

    The default set holds only prompts (ensembles are left out); a named ensemble is refused.

    Args:
        exclude_tasks: leave out sources tuned on these tasks (e.g. the target itself).

    Raises:
        UsageError: a named reference is an ensemble.
    """
    if refs:
        manifests = [_one_prompt(reg.resolve(r)) for r in refs]
    else:
        manifests = [e.manifest for e in reg.list(all_versions=False) if e.manifest.kind != ENSEMBLE]
    out = []
    for m in manifests:
        if m.task is not None and m.task in exclude_tasks:
            continue
        if m.ref not in out:
            out.append(m.ref)
    return out


def load_sources(reg: Registry, refs: Sequence[str]):  # -> list[promptkit.rank.SourcePrompt]
    """Load and verify each source (a tampered file raises before any work starts).

    Raises:
        UsageError: a reference is an ensemble, not one prompt (checked for all before any loading).
    """
    from promptkit.rank import SourcePrompt

    for ref in refs:
        _one_prompt(reg.resolve(ref))
    out = []
    for ref in refs:
        asset = reg.load(ref)
        m = _one_prompt(asset.manifest)
        out.append(SourcePrompt(ref=m.ref, prompt=asset.prompt.float(), identity=m.backbone, geometry=m.geometry,
                                sha256=m.sha256, task=m.task))
    return out


def _one_prompt(manifest: Manifest) -> Manifest:
    if manifest.kind == ENSEMBLE:
        raise not_a_prompt(manifest, use="a source prompt (rank and ensemble combine single prompts)")
    return manifest


def choose_backbone(identities: Sequence[BackboneIdentity], *, name: str | None = None) -> BackboneIdentity:
    """The backbone to run: the one named (timm name), else the one most sources were tuned on."""
    if not identities:
        raise UsageError("no source prompts to rank", hint="add prompts with `promptkit add` or `promptkit train`")
    if name is not None:
        matching = [i for i in identities if name in (i.timm_name, i.short())]
        if not matching:
            have = ", ".join(sorted({i.timm_name for i in identities}))
            raise UsageError(f"no source was tuned on backbone {name!r}", hint=f"sources use: {have}")
        identities = matching
    counts = Counter((i.timm_name, i.weights_sha256) for i in identities)
    best = counts.most_common(1)[0][0]
    return next(i for i in identities if (i.timm_name, i.weights_sha256) == best)
