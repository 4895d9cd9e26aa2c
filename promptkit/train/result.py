"""What training takes and gives: the splits it reads, the models it tunes, the result it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.utils.data import Dataset

from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.train.config import TrainConfig

__all__ = ["TrainResult", "TrainSplits", "TunableModel"]


class TrainSplits(Protocol):
    """What training needs from a dataset (:class:`promptkit.data.Splits` provides it)."""

    train: Dataset
    val: Dataset
    test: Dataset

    @property
    def num_classes(self) -> int: ...

    def fingerprint(self, split: str | None = None) -> str: ...


@dataclass
class TrainResult:
    """The outcome of :func:`train_prompt`.

    Attributes:
        prompt: the final prompt, float32 CPU, ``(L, m, d)``.
        head_weight, head_bias: the final head folded onto raw pooled features, ``(C, d)``, ``(C,)``.
        backbone: identity of the backbone it was tuned on.
        geometry: the prompt's geometry.
        metrics: ``train_acc``, ``val_acc``, ``test_acc`` of the final prompt + head;
            ``start_val_acc`` (prompt + head before tuning); ``probe_{train,val,test}_acc`` of a
            probe on frozen (prompt-free) features (with ``baseline_probe``); ``head_probe_l2``;
            ``best_epoch``; ``epochs``; ``init_seconds`` (prompt init, e.g. the k-means cost);
            ``train_seconds``.
        history: one record per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_acc``, ``val_acc``
            (plus ``sr_feature_loss``, ``sr_logit_loss`` with self-regulation).
        config: the run's configuration.
        dataset_fingerprint: fingerprint of the whole task (train, val, test).
        split_fingerprints: fingerprint of each split (``train``, ``val``, ``test``); the test
            one identifies the task for :func:`~promptkit.train.evaluate` across seeds.
        num_classes: C.
        warnings: things the user should know (e.g. the tuned start is below the frozen probe).
    """

    prompt: Tensor
    head_weight: Tensor
    head_bias: Tensor
    backbone: BackboneIdentity
    geometry: PromptGeometry
    metrics: dict[str, float]
    history: list[dict[str, float]]
    config: TrainConfig
    dataset_fingerprint: str
    split_fingerprints: dict[str, str]
    num_classes: int
    warnings: list[str] = field(default_factory=list)
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def head(self) -> tuple[Tensor, Tensor]:
        return self.head_weight, self.head_bias

    @property
    def kind(self) -> str:
        """``"ensemble"`` when the tuned model is a :class:`~promptkit.prompted_ensemble.PromptedEnsemble`
        (then ``prompt`` holds the members ``(k, L, m, d)`` and ``extras`` their ``alpha``,
        ``member.mean`` and ``member.std``), else ``"prompt"``."""
        return "ensemble" if "member.mean" in self.extras else "prompt"


class TunableModel(Protocol):
    """What the loop tunes: :class:`PromptedViT` and its composed variant, or a :class:`PromptedEnsemble`."""

    head: Any

    def pooled(self, x: Tensor, *, use_prompt: bool = True) -> Tensor: ...

    def prompt_sha256(self) -> str: ...

    def tunable(self) -> dict[str, torch.nn.Parameter]: ...

    def prompt_groups(self, lr: float, weight_decay: float) -> list[dict]: ...

    def export(self) -> dict[str, Tensor]: ...
