"""Prompt tuning: VPT prompt + linear head, with optional PromptSRC self-regulation.

- :class:`TrainConfig` (:mod:`.config`): every knob, JSON-serialisable;
- :func:`train_prompt` (:mod:`.loop`): one run, checkpointed and resumable, -> :class:`TrainResult`
  (:mod:`.result`); its start, the probe-initialized head, is :mod:`.start`, its optimizer and
  learning-rate schedule :mod:`.schedule`;
- :func:`evaluate` (:mod:`.evaluate`): test accuracy with the prompt's head or a probe;
- :mod:`.selfreg`: PromptSRC's agreement losses and Gaussian prompt aggregation;
- :mod:`.head`: the standardized linear head and its folding into ``W x + b``;
- :mod:`.checkpoint`: the checkpoint file format.
"""

from __future__ import annotations

from promptkit.train.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from promptkit.train.config import OPTIMIZERS, RUNTIME_FIELDS, TrainConfig
from promptkit.train.distill import distillation_loss
from promptkit.train.evaluate import EvalResult, evaluate, head_applies
from promptkit.train.head import StandardizedHead, fold_standardization
from promptkit.train.loop import TrainProgress, train_prompt
from promptkit.train.result import TrainResult, TrainSplits
from promptkit.train.selfreg import GaussianPromptAggregator, agreement_loss, gpa_weights

__all__ = [
    "CHECKPOINT_FILE",
    "OPTIMIZERS",
    "RUNTIME_FIELDS",
    "EvalResult",
    "GaussianPromptAggregator",
    "StandardizedHead",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainSplits",
    "agreement_loss",
    "distillation_loss",
    "evaluate",
    "fold_standardization",
    "gpa_weights",
    "head_applies",
    "load_checkpoint",
    "save_checkpoint",
    "train_prompt",
]
