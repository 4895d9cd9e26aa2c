"""The full configuration of one prompt-tuning run, as a JSON-serialisable dataclass.

Defaults are one set for every command that tunes (``train``, ``ensemble``, ``benchmark``):
AdamW, prompt lr 0.01, head lr 0.001, weight decay 1e-4, batch 64, cosine schedule after a linear
warm-up of 10 % of the epochs, 100 epochs (``ensemble`` changes only the epochs, to its short
budget). The official VPT recipe (Jia et al., ECCV 2022; docs/method.md#vpt) is SGD with momentum
0.9, lr 0.01 for prompt and head, batch 128: ``optimizer="sgd", head_lr=None, batch_size=128``.
The embedded zoo's measured
lessons (docs/zoo.md#lesson-2) where VPT's recipe underfits on small tasks: the head starts from
the linear-probe solution on standardized features (Kumar et al., ICLR 2022) and the
best-validation epoch is kept, the probe's own starting point included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from promptkit.device import PRECISIONS
from promptkit.errors import UsageError, format_choices

__all__ = ["OPTIMIZERS", "RUNTIME_FIELDS", "TrainConfig"]

OPTIMIZERS = ("sgd", "adamw")
# Fields that change where and how fast a run computes, not what it computes: a run may be
# resumed with different values (and its stored config records the values of the last leg).
RUNTIME_FIELDS = frozenset({"device", "num_workers", "eval_batch_size", "grad_checkpointing"})


@dataclass
class TrainConfig:
    """How to tune a prompt and a linear head on a target task.

    Every field is a JSON scalar so that :meth:`to_dict` round-trips through ``json``.
    """

    # -- prompt ------------------------------------------------------------------------------
    mode: Literal["shallow", "deep"] = "shallow"  # deep: one set of m tokens per block
    length: int = 10  # m, prompt tokens per layer
    init: str = "random"  # a promptkit.inits name, or "from:<ref>"
    init_images: int = 64  # training images sampled for the SPT (data-derived) inits

    # -- optimisation (one set for every command; VPT's recipe: sgd, head_lr None, batch 128) ------
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 0.01  # prompt learning rate (VPT's base lr too)
    head_lr: float | None = 0.001  # head learning rate; None: same as lr
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4  # on prompt and head weight, never on the bias
    epochs: int = 100
    warmup_epochs: int | None = None  # linear warm-up; None: 10 % of the epochs (VPT: 10 of 100)
    batch_size: int = 64

    # -- head: linear probe, then tune -------------------------------------------------------
    probe_l2: float | None = None  # None: chosen on the val split from promptkit.probe.select_l2's grid
    probe_on: Literal["initial", "frozen"] = "initial"  # features the starting probe is fit on
    baseline_probe: bool = True  # also report a probe on frozen (prompt-free) features: train/val/test

    # -- model selection ---------------------------------------------------------------------
    keep: Literal["best", "last"] = "best"  # best: highest val accuracy over epochs 0..E (0 = start)

    # -- self-regulation (PromptSRC, Khattak et al., ICCV 2023) ------------------------------
    self_reg: bool = False  # L1 agreement with frozen features + KL to the frozen probe's logits
    sr_feature_weight: float = 10.0  # PromptSRC's image-feature weight
    sr_logit_weight: float = 1.0  # PromptSRC's logit weight (temperature 1)
    gpa_mu: float | None = None  # Gaussian prompt aggregation: mean epoch (1-based); needs gpa_sigma
    gpa_sigma: float | None = None  # and its standard deviation in epochs

    # -- distillation (a teacher's logits on the training images, given to train_prompt) -------
    distill_weight: float = 0.0  # w in CE + w * T^2 * KL(teacher || student); 0: no distillation
    distill_temperature: float = 1.0  # T

    # -- runtime -----------------------------------------------------------------------------
    seed: int = 0  # seeds the init, the per-epoch shuffling and torch's global RNG (random transforms)
    device: str = "auto"  # auto | cpu | cuda[:N] | mps
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast for the backbone forward (GPUs)
    num_workers: int | None = None  # DataLoader workers; None: promptkit.data.loader.default_num_workers
    eval_batch_size: int | None = None  # None: batch_size
    grad_checkpointing: bool = False  # recompute block activations in backward (saves memory on GPUs)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> UsageError:
            return UsageError(f"invalid training config: {name}={getattr(self, name)!r}: {why}")

        if self.mode not in ("shallow", "deep"):
            raise bad("mode", "choose 'shallow' or 'deep'")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"choose {format_choices(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise bad("precision", f"choose {format_choices(PRECISIONS)}")
        if self.probe_on not in ("initial", "frozen"):
            raise bad("probe_on", "choose 'initial' or 'frozen'")
        if self.keep not in ("best", "last"):
            raise bad("keep", "choose 'best' or 'last'")
        for name in ("length", "epochs", "batch_size", "init_images"):
            if int(getattr(self, name)) < 1:
                raise bad(name, "must be >= 1")
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr < 0):
            raise bad("lr" if self.lr <= 0 else "head_lr", "must be positive")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise bad("weight_decay" if self.weight_decay < 0 else "momentum", "out of range")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs <= self.epochs:
            raise bad("warmup_epochs", f"must lie in [0, epochs={self.epochs}]")
        if (self.gpa_mu is None) != (self.gpa_sigma is None):
            raise bad("gpa_mu" if self.gpa_mu is None else "gpa_sigma", "Gaussian prompt aggregation needs both")
        if self.gpa_sigma is not None and self.gpa_sigma <= 0:
            raise bad("gpa_sigma", "must be positive")
        if self.seed < 0:
            raise bad("seed", "must be >= 0")
        if self.num_workers is not None and self.num_workers < 0:
            raise bad("num_workers", "must be >= 0")
        if self.distill_weight < 0:
            raise bad("distill_weight", "must be >= 0")
        if self.distill_temperature <= 0:
            raise bad("distill_temperature", "must be positive")
        if self.probe_l2 is not None and self.probe_l2 < 0:
            raise bad("probe_l2", "must be >= 0")

    # -- derived -----------------------------------------------------------------------------

    @property
    def gpa(self) -> bool:
        return self.gpa_mu is not None

    @property
    def effective_warmup_epochs(self) -> int:
        return self.epochs // 10 if self.warmup_epochs is None else self.warmup_epochs

    @property
    def effective_head_lr(self) -> float:
        return self.lr if self.head_lr is None else self.head_lr

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict` output; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def semantic_dict(self) -> dict[str, Any]:
        """The fields that decide the result (everything but :data:`RUNTIME_FIELDS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}
