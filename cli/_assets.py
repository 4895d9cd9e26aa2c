"""Storing a tuning result (:class:`promptkit.train.TrainResult`) as a registry asset, for every command that tunes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["store_result"]


def store_result(
    reg: Any,
    name: str,
    result: Any,
    splits: Any,
    *,
    lineage: Any = None,
    description: str = "",
    init: str | None = None,
    training: dict[str, Any] | None = None,
    members: Sequence[tuple[str, str, str | None]] | None = None,
    composition: str = "ensemble",
    learned_alpha: bool = False,
) -> Any:
    """Store prompt, folded head, metrics, the full training config and dataset info as the next version of ``name``.

    A result of kind ``"ensemble"`` is stored as an ensemble asset: its members, alpha, member
    statistics and head, with an ``EnsembleInfo`` naming where each member started from.

    Args:
        reg: the registry.
        result: a ``TrainResult``.
        splits: the target's ``Splits`` (name, source, sizes, seed).
        lineage: a ``Lineage`` when the prompt derives from other prompts.
        init: the manifest's init method [default: the training config's].
        training: extra JSON values for the manifest's ``training`` record.
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
        UsageError: an ensemble result without ``members``, or with another number of them than it has members.
    """
    from promptkit.registry import AssetSpec, DatasetInfo, HeadInfo
    from promptkit.registry.files import HEAD_BIAS, HEAD_WEIGHT, PROMPT

    c = result.num_classes
    record = {
        **result.config.to_dict(),
        "split_fingerprints": result.split_fingerprints,
        "history": result.history,
        "warnings": result.warnings,
        "dataset_seed": getattr(splits, "seed", None),
        **(training or {}),
    }
    head = {HEAD_WEIGHT: result.head_weight, HEAD_BIAS: result.head_bias}
    if getattr(result, "kind", "prompt") == "ensemble":
        ensemble, tensors = _ensemble_parts(result, members, composition=composition, learned_alpha=learned_alpha)
        tensors |= head
        kind = "ensemble"
    else:
        ensemble, tensors, kind = None, {PROMPT: result.prompt, **head}, "prompt"
    spec = AssetSpec(
        backbone=result.backbone,
        geometry=result.geometry,
        kind=kind,
        ensemble=ensemble,
        init=init or result.config.init,
        task=splits.name,
        dataset=DatasetInfo(name=splits.source or splits.name, fingerprint=result.dataset_fingerprint,
                            num_classes=c if c >= 2 else None, sizes=splits.sizes),
        head=HeadInfo(num_classes=c, in_features=result.geometry.width, task=splits.name),
        training=record,
        seed=result.config.seed,
        metrics=result.metrics,
        lineage=lineage,
        description=description,
    )
    return reg.add(name, tensors, spec)


def _ensemble_parts(
    result: Any, members: Sequence[tuple[str, str, str | None]] | None, *, composition: str, learned_alpha: bool
) -> tuple[Any, dict[str, Any]]:
    """The ``EnsembleInfo`` and the tensors (without the head) of an ensemble result."""
    from promptkit.registry import EnsembleInfo, EnsembleMember
    from promptkit.registry.files import ALPHA, MEMBER_MEAN, MEMBER_STD, MEMBERS

    from promptkit.errors import UsageError
    from promptkit.prompted import prompt_sha256

    stacked = result.prompt
    k = int(stacked.shape[0])
    if members is None or len(members) != k:
        got = "none" if members is None else str(len(members))
        raise UsageError(f"an ensemble of {k} members needs the source (ref, sha256, task) of each member, got {got}",
                         hint="pass members=[(ref, sha256, task), ...] in member order")
    alpha = result.extras[ALPHA]
    info = EnsembleInfo(
        members=[EnsembleMember(ref=ref, sha256=sha256, task=task, weight=float(alpha[j]),
                                prompt_sha256=prompt_sha256(stacked[j], result.geometry.mode))
                 for j, (ref, sha256, task) in enumerate(members)],
        composition=composition, learned_alpha=learned_alpha,
    )
    tensors = {MEMBERS: stacked, ALPHA: alpha, MEMBER_MEAN: result.extras[MEMBER_MEAN],
               MEMBER_STD: result.extras[MEMBER_STD]}
    return info, tensors
