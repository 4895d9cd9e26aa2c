"""Workflows between the registry and the core: read prompts for it, store what it returns.

The core works on tensors and identities and never imports the registry; these functions do
the registry side: resolve and load sources (verified), find their common backbone, and store a
training result (prompt or ensemble, head, metrics, configuration, lineage) as an asset.

A source is one prompt: an ensemble asset (k prompts) is no source. Named, it is refused with
what to use instead; the default set (every latest version) leaves ensembles out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from promptkit.errors import UsageError
from promptkit.identity import BackboneIdentity

from .asset import not_a_prompt
from .files import ALPHA, HEAD_BIAS, HEAD_WEIGHT, MEMBER_MEAN, MEMBER_STD, MEMBERS, PROMPT
from .manifest import (
    ENSEMBLE,
    PROMPT_KIND,
    AssetSpec,
    DatasetInfo,
    EnsembleInfo,
    EnsembleMember,
    HeadInfo,
    Lineage,
    Manifest,
)
from .store import Registry

if TYPE_CHECKING:
    from torch import Tensor

    from promptkit.data import Splits
    from promptkit.train import TrainResult

__all__ = ["choose_backbone", "load_sources", "source_refs", "store_training_result"]

# (ref, sha256, task) of the source version an ensemble member started from
MemberSource = tuple[str, str, str | None]


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


def store_training_result(
    reg: Registry,
    name: str,
    result: TrainResult,
    splits: Splits,
    *,
    lineage: Lineage | None = None,
    description: str = "",
    init: str | None = None,
    training: Mapping[str, Any] | None = None,
    members: Sequence[MemberSource] | None = None,
    composition: str = "ensemble",
    learned_alpha: bool = False,
) -> Manifest:
    """Store a training result as the next version of ``name``: prompt, head, metrics, config and dataset.

    What ``promptkit train`` and ``promptkit ensemble`` do after tuning, for a notebook. A result
    of kind ``"prompt"`` is stored as a prompt asset; one of kind ``"ensemble"`` as an ensemble
    asset: its members, alpha, member statistics and head, with an ``EnsembleInfo`` naming the
    source version each member started from. The manifest's ``training`` record holds the full
    training config, the split fingerprints, the epoch history, the warnings and the dataset seed.

    Args:
        reg: the registry to store into.
        name: the asset name; the result becomes its next version.
        result: a :class:`promptkit.train.TrainResult` (e.g. from ``promptkit.train.train_prompt``).
        splits: the target's :class:`promptkit.data.Splits` (its name, source, sizes and seed are recorded).
        lineage: a ``Lineage`` when the prompt derives from other prompts.
        description: free text for the manifest.
        init: the manifest's init method [default: the training config's].
        training: extra JSON values for the manifest's ``training`` record (they win over the defaults).
        members: for an ensemble (required then), ``(ref, sha256, task)`` of the source version each
            member started from, in member order.
        composition: for an ensemble, how it was composed (the manifest's ``ensemble.composition``).
        learned_alpha: for an ensemble, whether alpha was tuned with the members.

    Shape:
        - prompt result: ``result.prompt`` ``(L, m, d)``
        - ensemble result: ``result.prompt`` ``(k, L, m, d)``; ``result.extras``: ``alpha`` ``(k,)``,
          ``member.mean`` and ``member.std`` ``(k, d)``; head ``(C, d)``, ``(C,)`` on the mixed features

    Returns:
        The stored version's manifest.

    Raises:
        UsageError: an ensemble result without ``members``, or with another number of them than it has
            members (nothing is written).
        InvalidNameError: ``name`` is not a valid asset name.
        ReadOnlyError: ``name`` belongs to the read-only built-in collection.
        InvalidAssetError: the result's tensors do not fit its geometry and head.
    """
    c = result.num_classes
    head = {HEAD_WEIGHT: result.head_weight, HEAD_BIAS: result.head_bias}
    ensemble: EnsembleInfo | None = None
    if getattr(result, "kind", PROMPT_KIND) == ENSEMBLE:
        ensemble, tensors = _ensemble_parts(result, members, composition=composition, learned_alpha=learned_alpha)
        tensors |= head
        kind = ENSEMBLE
    else:
        tensors, kind = {PROMPT: result.prompt, **head}, PROMPT_KIND
    spec = AssetSpec(
        backbone=result.backbone,
        geometry=result.geometry,
        kind=kind,
        ensemble=ensemble,
        init=init or result.config.init,
        task=splits.name,
        dataset=DatasetInfo(name=splits.source or splits.name, fingerprint=result.dataset_fingerprint,
                            num_classes=c if c >= 2 else None, sizes=splits.sizes),
        head=HeadInfo(num_classes=c, in_features=int(result.head_weight.shape[1]), task=splits.name),
        training=_training_record(result, splits, training),
        seed=result.config.seed,
        metrics=result.metrics,
        lineage=lineage,
        description=description,
    )
    return reg.add(name, tensors, spec)


def _training_record(result: TrainResult, splits: Splits, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest's ``training`` record: the config, split fingerprints, history, warnings, dataset seed."""
    return {
        **result.config.to_dict(),
        "split_fingerprints": result.split_fingerprints,
        "history": result.history,
        "warnings": result.warnings,
        "dataset_seed": getattr(splits, "seed", None),
        **(extra or {}),
    }


def _ensemble_parts(
    result: TrainResult, members: Sequence[MemberSource] | None, *, composition: str, learned_alpha: bool
) -> tuple[EnsembleInfo, dict[str, Tensor]]:
    """The ``EnsembleInfo`` and the tensors (without the head) of an ensemble result.

    Raises:
        UsageError: ``members`` is missing or does not have one entry per member.
    """
    from promptkit.prompted import prompt_sha256

    stacked = result.prompt
    k = int(stacked.shape[0])
    if members is None or len(members) != k:
        got = "none" if members is None else str(len(members))
        raise UsageError(f"an ensemble of {k} members needs the source (ref, sha256, task) of each member, got {got}",
                         hint="pass members=[(ref, sha256, task), ...] in member order")
    alpha = result.extras[ALPHA]
    width = result.geometry.width
    in_features = int(result.head_weight.shape[1])
    if in_features not in (width, k * width):
        raise UsageError(f"the ensemble's head reads {in_features} features; {k} members of width {width} give "
                         f"{width} (mixed) or {k * width} (stacked)")
    info = EnsembleInfo(
        members=[EnsembleMember(ref=ref, sha256=sha256, task=task, weight=float(alpha[j]),
                                prompt_sha256=prompt_sha256(stacked[j], result.geometry.mode))
                 for j, (ref, sha256, task) in enumerate(members)],
        composition=composition, learned_alpha=learned_alpha,
        features="stack" if in_features == k * width and k > 1 else "mix",  # one member: the two are one map
    )
    tensors = {MEMBERS: stacked, ALPHA: alpha, MEMBER_MEAN: result.extras[MEMBER_MEAN],
               MEMBER_STD: result.extras[MEMBER_STD]}
    return info, tensors
