"""Storing a tuning result (:class:`promptkit.train.TrainResult`) as a registry asset, for every command that tunes."""

from __future__ import annotations

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
) -> Any:
    """Store prompt, folded head, metrics, the full training config and dataset info as the next version of ``name``.

    Args:
        reg: the registry.
        result: a ``TrainResult``.
        splits: the target's ``Splits`` (name, source, sizes, seed).
        lineage: a ``Lineage`` when the prompt derives from other prompts.
        init: the manifest's init method [default: the training config's].
        training: extra JSON values for the manifest's ``training`` record.

    Returns:
        The stored version's manifest.
    """
    from promptkit.registry import AssetSpec, DatasetInfo, HeadInfo

    c = result.num_classes
    record = {
        **result.config.to_dict(),
        "split_fingerprints": result.split_fingerprints,
        "history": result.history,
        "warnings": result.warnings,
        "dataset_seed": getattr(splits, "seed", None),
        **(training or {}),
    }
    spec = AssetSpec(
        backbone=result.backbone,
        geometry=result.geometry,
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
    tensors = {"prompt": result.prompt, "head.weight": result.head_weight, "head.bias": result.head_bias}
    return reg.add(name, tensors, spec)
