"""VPT prompt tuning with a linear head (Jia et al., ECCV 2022), the way ZOO.md found it works.

One run, top to bottom:

1. initialize the prompt (:mod:`promptkit.inits`), seeded;
2. extract pooled features of the train / val splits under the initial prompt (and without a
   prompt, for the baseline and for self-regulation), through the feature cache;
3. fit the linear probe (l2 chosen on val unless given) and start the head from it, in
   standardized feature space ("linear probing, then fine-tuning"; Kumar et al., ICLR 2022);
   record how the start compares with a probe on frozen features (ZOO.md, lessons 2 and 8);
4. tune prompt + head with SGD or AdamW under a cosine schedule with linear warm-up, optionally
   with PromptSRC's self-regulation (Khattak et al., ICCV 2023); validate after each epoch,
   checkpoint after each epoch;
5. keep the best-validation epoch (epoch 0, the probe start, included), or the last, or the
   Gaussian aggregate over epochs; report train / val / test accuracy of that prompt with its
   head folded into a plain ``W x + b``.

Determinism: the only randomness is the init generator, the per-epoch shuffling generator
(seeded from ``(seed, epoch)``) and torch's global RNG (seeded, and saved in checkpoints, for
random transforms); on the CPU the same seed gives bit-identical prompts, and a resumed run
ends with the same prompt as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from promptkit.backbone import Backbone
from promptkit.device import autocast, loader_kwargs, resolve_device
from promptkit.errors import UsageError
from promptkit.features import FeatureCache, extract_features
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.inits import PromptSource, init_prompt, init_spec, sample_images
from promptkit.probe import LinearProbe, fit_linear_probe, select_l2
from promptkit.prompted import PromptedViT, prompt_sha256
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
from promptkit.train.selfreg import GaussianPromptAggregator, agreement_loss

__all__ = ["TrainProgress", "TrainResult", "TrainSplits", "TunableModel", "train_prompt"]

# progress(phase, done, total); phases: "init", "features:<split>[:frozen]", "train", "eval:<split>"
TrainProgress = Callable[[str, int, int], None]


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


class _Indexed(Dataset):
    """Items ``(image, label, index)``: the index looks up precomputed frozen targets."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        x, y = self.base[i]
        return x, y, i


class TunableModel(Protocol):
    """What the loop tunes: :class:`PromptedViT` and its composed variant, or a :class:`PromptedEnsemble`."""

    head: Any

    def pooled(self, x: Tensor, *, use_prompt: bool = True) -> Tensor: ...

    def prompt_sha256(self) -> str: ...

    def tunable(self) -> dict[str, torch.nn.Parameter]: ...

    def prompt_groups(self, lr: float, weight_decay: float) -> list[dict]: ...

    def export(self) -> dict[str, Tensor]: ...


@dataclass
class _Setup:
    model: Any  # a TunableModel
    head: StandardizedHead
    init_digest: str
    train_y: Tensor
    frozen_train: Tensor | None  # (N, d) on device, for self-regulation
    frozen_logits: Tensor | None  # (N, C) on device
    metrics: dict[str, float]
    warnings: list[str]
    teacher_logits: Tensor | None = None  # (N, C) on device, for distillation


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def train_prompt(
    backbone: Backbone,
    splits: TrainSplits,
    config: TrainConfig,
    *,
    init_source: PromptSource | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    cache: FeatureCache | None = None,
    progress: TrainProgress | None = None,
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
        setup = _setup(backbone, splits, config, device, init_source, cache, progress, model, teacher_logits)
        return _tune(backbone, splits, config, device, setup, ckpt_path, resume, cache, progress, on_epoch)


def _features(
    model: Any, splits: TrainSplits, split: str, config: TrainConfig, device: torch.device,
    cache: FeatureCache | None, progress: TrainProgress | None, *, use_prompt: bool = True,
) -> tuple[Tensor, Tensor]:
    phase = f"features:{split}" + ("" if use_prompt else ":frozen")
    cb = (lambda done, total: progress(phase, done, total)) if progress else None
    kwargs: dict[str, Any] = dict(batch_size=config.eval_batch_size or config.batch_size, device=device,
                                  precision=config.precision, num_workers=config.num_workers,
                                  use_prompt=use_prompt, progress=cb)
    dataset = getattr(splits, split)
    if cache is None:
        return extract_features(model, dataset, **kwargs)
    return cache.features(model, dataset, dataset_fingerprint=splits.fingerprint(split), split=split, **kwargs)


def _fit_probe(
    train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], num_classes: int, l2: float | None
) -> tuple[LinearProbe, float]:
    if l2 is None:
        l2 = select_l2(train[0], train[1], val[0], val[1], num_classes=num_classes)
    return fit_linear_probe(train[0], train[1], num_classes=num_classes, l2=l2), l2


def _start_model(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, init_source: PromptSource | None,
    progress: TrainProgress | None,
) -> PromptedViT:
    geometry = backbone.geometry(config.mode, config.length)
    spec = init_spec(config.init)
    if progress:
        progress("init", 0, 1)
    images = sample_images(splits.train, config.init_images, seed=config.seed) if spec.needs_images else None
    prompt0 = init_prompt(config.init, backbone=backbone, geometry=geometry, images=images, seed=config.seed,
                          source=init_source, batch_size=config.eval_batch_size or config.batch_size)
    if progress:
        progress("init", 1, 1)
    return PromptedViT(backbone, prompt0, mode=config.mode)


def _setup(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, device: torch.device,
    init_source: PromptSource | None, cache: FeatureCache | None, progress: TrainProgress | None,
    model: Any = None, teacher_logits: Tensor | None = None,
) -> _Setup:
    c = splits.num_classes
    t0 = time.perf_counter()
    if model is None:
        model = _start_model(backbone, splits, config, init_source, progress)
    model.to(device)
    init_seconds = time.perf_counter() - t0

    def feats(split: str, use_prompt: bool) -> tuple[Tensor, Tensor]:
        return _features(model, splits, split, config, device, cache, progress, use_prompt=use_prompt)

    metrics: dict[str, float] = {"init_seconds": init_seconds}
    warnings: list[str] = []
    init_train, init_val = feats("train", True), feats("val", True)
    need_frozen = config.self_reg or config.probe_on == "frozen" or config.baseline_probe
    frozen_train = feats("train", False) if need_frozen else None
    frozen_val = feats("val", False) if need_frozen else None

    baseline: LinearProbe | None = None
    if need_frozen:
        assert frozen_train is not None and frozen_val is not None
        baseline, base_l2 = _fit_probe(frozen_train, frozen_val, c, config.probe_l2)
        metrics["baseline_probe_l2"] = base_l2
        if config.baseline_probe:
            metrics["probe_train_acc"] = baseline.accuracy(*frozen_train)
            metrics["probe_val_acc"] = baseline.accuracy(*frozen_val)
            metrics["probe_test_acc"] = baseline.accuracy(*feats("test", False))
    if config.probe_on == "frozen":
        assert baseline is not None
        start_probe, metrics["head_probe_l2"] = baseline, metrics["baseline_probe_l2"]
    else:
        start_probe, metrics["head_probe_l2"] = _fit_probe(init_train, init_val, c, config.probe_l2)
    head = StandardizedHead(start_probe.weight, start_probe.bias, start_probe.mean, start_probe.std).to(device)
    model.head = head
    with torch.no_grad():
        metrics["start_val_acc"] = _accuracy(head(init_val[0].to(device)), init_val[1])
    if "probe_val_acc" in metrics and metrics["start_val_acc"] < metrics["probe_val_acc"]:
        warnings.append(
            f"prompt + head start below the frozen-feature probe on val ({metrics['start_val_acc']:.3f} < "
            f"{metrics['probe_val_acc']:.3f}): the '{config.init}' init degrades the features "
            "(ZOO.md lesson 8); a data-derived init (kmeans, mean) usually starts closer"
        )
    frozen_t = frozen_logits = None
    if config.self_reg:
        assert frozen_train is not None and baseline is not None
        frozen_t = frozen_train[0].to(device)
        frozen_logits = baseline.logits(frozen_train[0]).to(device)
    init_digest = model.prompt_sha256()
    teacher = None
    if config.distill_weight > 0:
        teacher = _check_teacher(teacher_logits, len(splits.train), c)  # type: ignore[arg-type]
        init_digest += ":teacher:" + prompt_sha256(teacher[None])  # resume only with the same teacher
        teacher = teacher.to(device)
    elif teacher_logits is not None:
        raise UsageError("teacher logits were given but distill_weight is 0", hint="set distill_weight > 0")
    return _Setup(model, head, init_digest, init_train[1], frozen_t, frozen_logits, metrics, warnings, teacher)


def _check_teacher(teacher: Tensor | None, n: int, c: int) -> Tensor:
    if teacher is None:
        raise UsageError("distill_weight > 0 needs the teacher's logits on the training images (teacher_logits)")
    if teacher.shape != (n, c) or not bool(torch.isfinite(teacher).all()):
        raise UsageError(f"teacher logits must be finite and of shape ({n}, {c}), got {tuple(teacher.shape)}")
    return teacher.detach().float()


def _accuracy(logits: Tensor, labels: Tensor) -> float:
    return float((logits.argmax(1).cpu() == labels.cpu()).double().mean()) if labels.numel() else 0.0


def _optimizer(model: Any, head: StandardizedHead, config: TrainConfig) -> torch.optim.Optimizer:
    groups = [
        *model.prompt_groups(config.lr, config.weight_decay),
        {"params": [head.weight], "lr": config.effective_head_lr, "weight_decay": config.weight_decay},
        {"params": [head.bias], "lr": config.effective_head_lr, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 (VPT's WarmupCosineSchedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


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
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, device: torch.device, setup: _Setup,
    ckpt_path: Path | None, resume: bool, cache: FeatureCache | None, progress: TrainProgress | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> TrainResult:
    model, head = setup.model, setup.head
    train_set = splits.train
    n = len(train_set)  # type: ignore[arg-type]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = config.effective_warmup_epochs * steps_per_epoch
    optimizer = _optimizer(model, head, config)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    gpa = GaussianPromptAggregator(config.epochs, config.gpa_mu, config.gpa_sigma) if config.gpa else None  # type: ignore[arg-type]
    fingerprint = splits.fingerprint()

    start_epoch, step, history, train_seconds = 0, 0, [], 0.0
    best_epoch, best_val, best = 0, setup.metrics["start_val_acc"], _snapshot(model, head)
    if resume and ckpt_path is not None and ckpt_path.is_file():
        tensors, state = load_checkpoint(ckpt_path)
        _check_resumable(state, config, fingerprint, setup.init_digest, ckpt_path)
        _restore(model, head, {k: tensors[k].to(device) for k in _snapshot(model, head)})
        optimizer_from_flat(optimizer, {k: v.to(device) for k, v in tensors.items()}, state["optimizer"])
        best = {k.removeprefix("best."): v.to(device) for k, v in tensors.items() if k.startswith("best.")}
        if gpa is not None:
            gpa.load_state({k.removeprefix("gpa."): v for k, v in tensors.items() if k.startswith("gpa.")}, device)
        torch.set_rng_state(tensors["rng.torch"])
        start_epoch, step, history = state["epoch"], state["step"], state["history"]
        best_epoch, best_val, train_seconds = state["best_epoch"], state["best_val"], state["train_seconds"]

    loader_opts = loader_kwargs(device, config.num_workers, train_set)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))).tolist()
        loader = DataLoader(_Indexed(train_set), batch_size=config.batch_size, sampler=order, **loader_opts)
        model.train()
        sums = {"loss": 0.0, "correct": 0.0, "sr_feature_loss": 0.0, "sr_logit_loss": 0.0, "distill_loss": 0.0}
        for x, y, idx in loader:
            factor = _lr_factor(step, total_steps, warmup_steps)
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * factor
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, config.precision):
                feats = model.pooled(x)
            logits = head(feats.float())
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
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            sums["loss"] += float(loss.detach()) * len(y)
            sums["correct"] += float((logits.detach().argmax(1) == y).sum())
            if progress:
                progress("train", step, total_steps)
        val_acc = _eval_accuracy(model, head, splits, "val", config, device, None, progress)
        record = {"epoch": float(epoch), "lr": base_lrs[0] * _lr_factor(step - 1, total_steps, warmup_steps),
                  "train_loss": sums["loss"] / n, "train_acc": sums["correct"] / n, "val_acc": val_acc}
        if config.self_reg:
            record |= {"sr_feature_loss": sums["sr_feature_loss"] / n, "sr_logit_loss": sums["sr_logit_loss"] / n}
        if setup.teacher_logits is not None:
            record["distill_loss"] = sums["distill_loss"] / n
        history.append(record)
        if gpa is not None:
            gpa.update(epoch, _snapshot(model, head))
        if val_acc > best_val:  # strictly better: ties keep the earlier (cheaper-to-reach) epoch
            best_epoch, best_val, best = epoch, val_acc, _snapshot(model, head)
        train_seconds += time.perf_counter() - t0
        if ckpt_path is not None:
            tensors = {**{f"best.{k}": v for k, v in best.items()}, **_snapshot(model, head),
                       "rng.torch": torch.get_rng_state()}
            if gpa is not None:
                tensors |= {f"gpa.{k}": v for k, v in gpa.state().items()}
            optim_tensors, optim_meta = optimizer_to_flat(optimizer)
            state = {"config": config.to_dict(), "dataset_fingerprint": fingerprint, "init_digest": setup.init_digest,
                     "epoch": epoch, "step": step, "history": history, "best_epoch": best_epoch, "best_val": best_val,
                     "train_seconds": train_seconds, "optimizer": optim_meta, "schedule": {
                         "kind": "warmup-cosine", "step": step, "total_steps": total_steps,
                         "warmup_steps": warmup_steps, "base_lrs": base_lrs},
                     "shuffle": {"generator_seed": "seed * 100003 + epoch"}}
            save_checkpoint(ckpt_path, tensors | optim_tensors, state)
        if on_epoch is not None:
            on_epoch(record)

    metrics = dict(setup.metrics)
    if gpa is not None:  # the aggregate is no single epoch: no best_epoch
        _restore(model, head, gpa.result())
    elif config.keep == "best":
        _restore(model, head, best)
        metrics["best_epoch"] = float(best_epoch)
    else:
        metrics["best_epoch"] = float(config.epochs)
    for split in ("train", "val", "test"):
        metrics[f"{split}_acc"] = _eval_accuracy(model, head, splits, split, config, device, cache, progress)
    metrics["epochs"] = float(config.epochs)
    metrics["train_seconds"] = train_seconds
    weight, bias = head.folded()
    exported = model.export()
    return TrainResult(
        prompt=exported.pop("prompt") if "prompt" in exported else exported.pop("members"),
        head_weight=weight,
        head_bias=bias,
        backbone=backbone.identity,
        geometry=model.geometry,  # type: ignore[arg-type]  (m >= 1 by config)
        metrics=metrics,
        history=history,
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
    device: torch.device, cache: FeatureCache | None, progress: TrainProgress | None,
) -> float:
    feats, labels = _features(model, splits, split, config, device, cache, progress)
    return _accuracy(head(feats.to(device)), labels)


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
