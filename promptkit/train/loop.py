"""VPT prompt tuning with a linear head (Jia et al., ECCV 2022), the way the zoo found it works.

One run, top to bottom:

1. initialize the prompt (:mod:`promptkit.inits`), seeded;
2. extract pooled features of the train / val splits under the initial prompt (and without a
   prompt, for the baseline and for self-regulation), through the feature cache;
3. fit the linear probe (l2 chosen on val unless given) and start the head from it, in
   standardized feature space ("linear probing, then fine-tuning"; Kumar et al., ICLR 2022);
   record how the start compares with a probe on frozen features (docs/zoo.md#lesson-2 and
   #lesson-8) -- steps 1 to 3 are :mod:`promptkit.train.start`;
4. tune prompt + head with SGD or AdamW under a cosine schedule with linear warm-up
   (:mod:`promptkit.train.schedule`), optionally with PromptSRC's self-regulation (Khattak et al.,
   ICCV 2023); validate after each epoch, checkpoint after each epoch;
5. keep the best-validation epoch (epoch 0, the probe start, included), or the last, or the
   Gaussian aggregate over epochs; report train / val / test accuracy of that prompt with its
   head folded into a plain ``W x + b``.

Determinism: the only randomness is the init generator, the per-epoch shuffling generator
(seeded from ``(seed, epoch)``) and torch's global RNG (seeded, and saved in checkpoints, for
random transforms); on the CPU the same seed gives bit-identical prompts, and a resumed run
ends with the same prompt as an uninterrupted one.

Under torchrun (:mod:`promptkit.distributed`) the same run is split over processes: each takes its
slice of every global batch (:mod:`promptkit.train.sampler`) under DistributedDataParallel, the
feature passes are sharded and gathered in order, and rank 0 alone reads and writes the checkpoint;
the prompt matches the single-process one up to the order of float additions.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from promptkit import distributed
from promptkit.backbone import Backbone
from promptkit.device import autocast, loader_kwargs, resolve_device
from promptkit.errors import UsageError
from promptkit.features import FeatureCache
from promptkit.inits import PromptSource
from promptkit.progress import Progress
from promptkit.train.checkpoint import (
    CHECKPOINT_FILE,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
)
from promptkit.train.config import TrainConfig
from promptkit.train.distill import distillation_loss
from promptkit.train.head import StandardizedHead
from promptkit.train.result import TrainResult, TrainSplits, TunableModel
from promptkit.train.sampler import GlobalBatchShards, share_weight
from promptkit.train.schedule import epoch_seed, lr_factor, make_optimizer
from promptkit.train.selfreg import GaussianPromptAggregator, agreement_loss
from promptkit.train.start import PreparedStart, accuracy, features, prepare_start

__all__ = ["TrainProgress", "TrainResult", "TrainSplits", "TunableModel", "train_prompt"]

TrainProgress = Progress
"""The training run's progress callback: :data:`promptkit.progress.Progress` (phases ``init``,
``features:<split>[:frozen]``, ``train``, ``eval:<split>``). Kept as a name for existing imports."""


@dataclass
class _Plan:
    """How many optimizer steps the run takes, and the schedule's base learning rates."""

    n: int  # training images
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    base_lrs: list[float]


@dataclass
class _State:
    """What the loop carries from epoch to epoch; all of it is in the checkpoint."""

    best: dict[str, Tensor]
    best_val: float
    best_epoch: int = 0
    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


def train_prompt(
    backbone: Backbone,
    splits: TrainSplits,
    config: TrainConfig,
    *,
    init_source: PromptSource | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    cache: FeatureCache | None = None,
    progress: Progress | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    model: TunableModel | None = None,
    teacher_logits: Tensor | None = None,
) -> TrainResult:
    """Tune a visual prompt and a linear head on a target task.

    Args:
        backbone: the frozen backbone (moved to ``config.device``).
        splits: train / val / test datasets of ``(image, label)``, ``num_classes`` and fingerprints.
        config: the run's configuration.
        init_source: the already-loaded prompt for ``config.init == "from:<ref>"``.
        checkpoint_dir: where ``checkpoint.safetensors`` is written after every epoch; ``None``
            disables checkpoints.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one (its
            configuration, data and initial prompt must match this run's).
        cache: feature cache for the setup and final passes; ``None`` computes without caching.
        progress: ``callback(phase, done, total)``.
        on_epoch: called with each epoch's history record, after its checkpoint is written.
        model: a ready start model to tune instead of a prompt made by ``config.init`` (e.g. a
            :class:`~promptkit.prompted_ensemble.PromptedEnsemble` of source prompts, or a
            :class:`~promptkit.prompted_composed.ComposedPromptViT` with learnable weights).
        teacher_logits: a teacher's logits on the training images, in dataset order, for
            distillation (``config.distill_weight > 0``): the loss adds
            ``w * T^2 * KL(softmax(teacher / T) || softmax(student / T))`` (Hinton et al., 2015).

    Shape:
        teacher_logits: ``(N_train, C)``.

    Returns:
        The final prompt, folded head, metrics and history.

    Raises:
        UsageError: ``resume`` with a checkpoint of a different run; unknown init; bad device.
        IntegrityError: an unreadable checkpoint.
    """
    device = resolve_device(config.device)
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None
    with torch.random.fork_rng(devices=[]):  # seed the global RNG without leaking into the caller's
        torch.manual_seed(config.seed)
        backbone.model.to(device)
        backbone.model.set_grad_checkpointing(config.grad_checkpointing)
        setup = prepare_start(backbone, splits, config, device, init_source, cache, progress, model, teacher_logits)
        return _tune(backbone, splits, config, device, setup, ckpt_path, resume, cache, progress, on_epoch)


class _Indexed(Dataset):
    """Items ``(image, label, index)``: the index looks up precomputed frozen targets."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        x, y = self.base[i]
        return x, y, i


def _snapshot(model: Any, head: StandardizedHead) -> dict[str, Tensor]:
    snap = {name: p.detach().clone() for name, p in model.tunable().items()}
    return snap | {"head.weight": head.weight.detach().clone(), "head.bias": head.bias.detach().clone()}


def _restore(model: Any, head: StandardizedHead, snap: dict[str, Tensor]) -> None:
    with torch.no_grad():
        for name, p in model.tunable().items():
            p.copy_(snap[name])
        head.weight.copy_(snap["head.weight"])
        head.bias.copy_(snap["head.bias"])


def _tune(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, device: torch.device, setup: PreparedStart,
    ckpt_path: Path | None, resume: bool, cache: FeatureCache | None, progress: Progress | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> TrainResult:
    """Steps 4 and 5: tune prompt + head epoch by epoch (resuming from ``ckpt_path``), then keep and report."""
    model, head = setup.model, setup.head
    n = len(splits.train)  # type: ignore[arg-type]
    steps_per_epoch = math.ceil(n / config.batch_size)
    optimizer = make_optimizer(model, head, config)
    plan = _Plan(n, steps_per_epoch, config.epochs * steps_per_epoch,
                 config.effective_warmup_epochs * steps_per_epoch, [g["lr"] for g in optimizer.param_groups])
    gpa = GaussianPromptAggregator(config.epochs, config.gpa_mu, config.gpa_sigma) if config.gpa else None  # type: ignore[arg-type]
    fingerprint = splits.fingerprint()

    state = _State(best=_snapshot(model, head), best_val=setup.metrics["start_val_acc"])
    if resume and ckpt_path is not None:  # under torchrun rank 0 reads the checkpoint and sends it to all
        path = ckpt_path
        saved = distributed.from_writer(lambda: load_checkpoint(path) if path.is_file() else None)
        if saved is not None:
            state = _resume(saved, path, model, head, optimizer, gpa, config, fingerprint, setup.init_digest,
                            device)
    ddp = distributed.wrap_ddp(_Step(model, head, device, config.precision), device) \
        if distributed.is_active() else None

    loader_opts = loader_kwargs(device, config.num_workers, splits.train)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        sums = _train_epoch(model, head, setup, splits.train, config, optimizer, plan, state, epoch, device,
                            loader_opts, progress, ddp)
        val_acc = _eval_accuracy(model, head, splits, "val", config, device, None, progress)
        record = {"epoch": float(epoch), "lr": plan.base_lrs[0] * lr_factor(state.step - 1, plan.total_steps,
                                                                           plan.warmup_steps),
                  "train_loss": sums["loss"] / n, "train_acc": sums["correct"] / n, "val_acc": val_acc}
        if config.self_reg:
            record |= {"sr_feature_loss": sums["sr_feature_loss"] / n, "sr_logit_loss": sums["sr_logit_loss"] / n}
        if setup.teacher_logits is not None:
            record["distill_loss"] = sums["distill_loss"] / n
        state.history.append(record)
        if gpa is not None:
            gpa.update(epoch, _snapshot(model, head))
        if val_acc > state.best_val:  # strictly better: ties keep the earlier (cheaper-to-reach) epoch
            state.best_epoch, state.best_val, state.best = epoch, val_acc, _snapshot(model, head)
        state.train_seconds += time.perf_counter() - t0
        state.epoch = epoch
        if ckpt_path is not None and distributed.is_writer():
            _save(ckpt_path, model, head, optimizer, gpa, state, plan, config, fingerprint, setup.init_digest)
        if on_epoch is not None:
            on_epoch(record)
    return _finish(backbone, splits, config, device, setup, state, gpa, fingerprint, cache, progress)


class _Step(torch.nn.Module):
    """Pooled features and logits in one forward: the module DistributedDataParallel wraps under torchrun."""

    def __init__(self, model: Any, head: StandardizedHead, device: torch.device, precision: str) -> None:
        super().__init__()
        self.model, self.head, self.device, self.precision = model, head, device, precision

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        with autocast(self.device, self.precision):
            feats = self.model.pooled(x)
        return feats, self.head(feats.float())


def _shard_batches(
    train_set: Dataset, config: TrainConfig, seed: int, loader_opts: dict[str, Any],
) -> Iterator[tuple[Tensor, Tensor, Tensor, int]]:
    """This process's ``(x, y, index, global batch size)`` of each global batch (empty slices included)."""
    shards = GlobalBatchShards(len(train_set), config.batch_size, seed,  # type: ignore[arg-type]
                               rank=distributed.rank(), world_size=distributed.world_size())
    local = list(shards)
    loader = iter(DataLoader(_Indexed(train_set), batch_sampler=[b for b in local if b], **loader_opts))
    for batch, whole in zip(local, shards.global_batches()):
        if batch:
            x, y, idx = next(loader)
        else:  # no image of a short last batch: one stand-in image whose loss counts zero (no empty kernels)
            none = torch.zeros(0, dtype=torch.int64)
            x, y, idx = train_set[0][0][None], none, none
        yield x, y, idx, len(whole)


def _train_epoch(
    model: Any, head: StandardizedHead, setup: PreparedStart, train_set: Dataset, config: TrainConfig,
    optimizer: torch.optim.Optimizer, plan: _Plan, state: _State, epoch: int, device: torch.device,
    loader_opts: dict[str, Any], progress: Progress | None, ddp: torch.nn.Module | None = None,
) -> dict[str, float]:
    """One pass over the training images in epoch ``epoch``'s order; advances ``state.step``.

    Under torchrun (``ddp`` given) this process takes its slice of each global batch and the sums
    are added over processes at the end.

    Returns the epoch's summed losses and correct predictions (per image, not averaged).
    """
    if ddp is None:
        order = torch.randperm(plan.n, generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
        loader = DataLoader(_Indexed(train_set), batch_size=config.batch_size, sampler=order.tolist(), **loader_opts)
        batches: Iterator[tuple[Tensor, Tensor, Tensor, int]] = ((x, y, i, len(y)) for x, y, i in loader)
    else:
        batches = _shard_batches(train_set, config, epoch_seed(config.seed, epoch), loader_opts)
    model.train()
    sums = {"loss": 0.0, "correct": 0.0, "sr_feature_loss": 0.0, "sr_logit_loss": 0.0, "distill_loss": 0.0}
    for x, y, idx, whole in batches:
        factor = lr_factor(state.step, plan.total_steps, plan.warmup_steps)
        for group, base in zip(optimizer.param_groups, plan.base_lrs):
            group["lr"] = base * factor
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if ddp is None:
            with autocast(device, config.precision):
                feats = model.pooled(x)
            logits = head(feats.float())
        else:
            feats, logits = ddp(x)
            if not len(y):  # a stand-in image: a zero gradient, still part of the step (DDP needs every process)
                _step(optimizer, logits.sum() * 0.0, state, progress, plan)
                continue
        loss = F.cross_entropy(logits, y)
        if config.self_reg:
            assert setup.frozen_train is not None and setup.frozen_logits is not None
            idx = idx.to(device)
            l1, kl = agreement_loss(feats, setup.frozen_train[idx], logits, setup.frozen_logits[idx],
                                    feature_weight=config.sr_feature_weight, logit_weight=config.sr_logit_weight)
            loss = loss + l1 + kl
            sums["sr_feature_loss"] += float(l1.detach()) * len(y)
            sums["sr_logit_loss"] += float(kl.detach()) * len(y)
        if setup.teacher_logits is not None:
            kd = config.distill_weight * distillation_loss(logits, setup.teacher_logits[idx.to(device)],
                                                           temperature=config.distill_temperature)
            loss = loss + kd
            sums["distill_loss"] += float(kd.detach()) * len(y)
        sums["loss"] += float(loss.detach()) * len(y)
        sums["correct"] += float((logits.detach().argmax(1) == y).sum())
        _step(optimizer, loss if ddp is None else loss * share_weight(len(y), whole, distributed.world_size()),
              state, progress, plan)
    if ddp is not None:
        sums = dict(zip(sums, distributed.all_reduce_sum(list(sums.values()))))
    return sums


def _step(optimizer: torch.optim.Optimizer, loss: Tensor, state: _State, progress: Progress | None,
          plan: _Plan) -> None:
    """Back-propagate ``loss``, take the optimizer step, count it and report it."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    state.step += 1
    if progress:
        progress("train", state.step, plan.total_steps)


def _resume(
    saved_checkpoint: tuple[dict[str, Tensor], dict[str, Any]], path: Path, model: Any,
    head: StandardizedHead, optimizer: torch.optim.Optimizer,
    gpa: GaussianPromptAggregator | None, config: TrainConfig, fingerprint: str, init_digest: str,
    device: torch.device,
) -> _State:
    """Load a checkpoint read from ``path`` into the model, head, optimizer, aggregator and torch's RNG."""
    tensors, saved = saved_checkpoint
    _check_resumable(saved, config, fingerprint, init_digest, path)
    _restore(model, head, {k: tensors[k].to(device) for k in _snapshot(model, head)})
    optimizer_from_flat(optimizer, {k: v.to(device) for k, v in tensors.items()}, saved["optimizer"])
    best = {k.removeprefix("best."): v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    if gpa is not None:
        gpa.load_state({k.removeprefix("gpa."): v for k, v in tensors.items() if k.startswith("gpa.")}, device)
    torch.set_rng_state(tensors["rng.torch"])
    return _State(best=best, best_val=saved["best_val"], best_epoch=saved["best_epoch"], epoch=saved["epoch"],
                  step=saved["step"], history=saved["history"], train_seconds=saved["train_seconds"])


def _save(
    path: Path, model: Any, head: StandardizedHead, optimizer: torch.optim.Optimizer,
    gpa: GaussianPromptAggregator | None, state: _State, plan: _Plan, config: TrainConfig, fingerprint: str,
    init_digest: str,
) -> None:
    """Write the checkpoint after epoch ``state.epoch``: weights, best and aggregate, optimizer, RNG, history."""
    tensors = {**{f"best.{k}": v for k, v in state.best.items()}, **_snapshot(model, head),
               "rng.torch": torch.get_rng_state()}
    if gpa is not None:
        tensors |= {f"gpa.{k}": v for k, v in gpa.state().items()}
    optim_tensors, optim_meta = optimizer_to_flat(optimizer)
    meta = {"config": config.to_dict(), "dataset_fingerprint": fingerprint, "init_digest": init_digest,
            "epoch": state.epoch, "step": state.step, "history": state.history, "best_epoch": state.best_epoch,
            "best_val": state.best_val, "train_seconds": state.train_seconds, "optimizer": optim_meta,
            "schedule": {"kind": "warmup-cosine", "step": state.step, "total_steps": plan.total_steps,
                         "warmup_steps": plan.warmup_steps, "base_lrs": plan.base_lrs},
            "shuffle": {"generator_seed": "seed * 100003 + epoch"}}
    save_checkpoint(path, tensors | optim_tensors, meta)


def _finish(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, device: torch.device, setup: PreparedStart,
    state: _State, gpa: GaussianPromptAggregator | None, fingerprint: str, cache: FeatureCache | None,
    progress: Progress | None,
) -> TrainResult:
    """Step 5: keep the best epoch (or the last, or the aggregate), evaluate it, fold the head."""
    model, head = setup.model, setup.head
    metrics = dict(setup.metrics)
    if gpa is not None:  # the aggregate is no single epoch: no best_epoch
        _restore(model, head, gpa.result())
    elif config.keep == "best":
        _restore(model, head, state.best)
        metrics["best_epoch"] = float(state.best_epoch)
    else:
        metrics["best_epoch"] = float(config.epochs)
    for split in ("train", "val", "test"):
        metrics[f"{split}_acc"] = _eval_accuracy(model, head, splits, split, config, device, cache, progress)
    metrics["epochs"] = float(config.epochs)
    metrics["train_seconds"] = state.train_seconds
    weight, bias = head.folded()
    exported = model.export()
    return TrainResult(
        prompt=exported.pop("prompt") if "prompt" in exported else exported.pop("members"),
        head_weight=weight,
        head_bias=bias,
        backbone=backbone.identity,
        geometry=model.geometry,  # type: ignore[arg-type]  (m >= 1 by config)
        metrics=metrics,
        history=state.history,
        config=config,
        dataset_fingerprint=fingerprint,
        split_fingerprints={split: splits.fingerprint(split) for split in ("train", "val", "test")},
        num_classes=splits.num_classes,
        warnings=list(setup.warnings),
        extras=exported,
    )


@torch.no_grad()
def _eval_accuracy(
    model: Any, head: StandardizedHead, splits: TrainSplits, split: str, config: TrainConfig,
    device: torch.device, cache: FeatureCache | None, progress: Progress | None,
) -> float:
    feats, labels = features(model, splits, split, config, device, cache, progress)
    return accuracy(head(feats.to(device)), labels)


def _check_resumable(
    state: dict[str, Any], config: TrainConfig, fingerprint: str, init_digest: str, path: Path
) -> None:
    saved = TrainConfig.from_dict(state["config"]).semantic_dict()
    now = config.semantic_dict()
    diff = sorted(k for k in now if saved.get(k) != now[k])
    hint = f"run without --resume to start over (the checkpoint at {path} will be replaced), or use another --name"
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
        raise UsageError(f"cannot resume: the checkpoint was written with a different configuration ({details})",
                         hint=hint)
    if state.get("dataset_fingerprint") != fingerprint:
        raise UsageError("cannot resume: the checkpoint was written for different data (dataset fingerprint differs)",
                         hint=hint)
    if state.get("init_digest") != init_digest:
        raise UsageError("cannot resume: the initial prompt differs from the checkpoint's (init source changed?)",
                         hint=hint)
