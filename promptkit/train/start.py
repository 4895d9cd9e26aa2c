"""The start of a tuning run: the initial prompt, the probe-initialized head, the frozen targets.

"Linear probing, then fine-tuning" (Kumar et al., ICLR 2022): the head starts from a linear probe
fitted (l2 chosen on val unless given) on the start model's features, in standardized feature
space, so tuning starts from the probe's accuracy rather than from chance. The same pass records
how that start compares with a probe on frozen, prompt-free features (docs/zoo.md#lesson-2 and
#lesson-8) and computes the frozen targets of PromptSRC's self-regulation and the teacher's
logits of distillation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from promptkit import distributed
from promptkit.backbone import Backbone
from promptkit.errors import UsageError
from promptkit.features import FeatureCache, extract_features
from promptkit.inits import PromptSource, init_prompt, init_spec, sample_images
from promptkit.probe import LinearProbe, fit_linear_probe, select_l2
from promptkit.progress import Progress, in_phase
from promptkit.prompted import PromptedViT, prompt_sha256
from promptkit.train.config import TrainConfig
from promptkit.train.head import StandardizedHead
from promptkit.train.result import TrainSplits

__all__ = ["PreparedStart", "accuracy", "check_teacher", "features", "fit_probe", "prepare_start", "start_model"]


@dataclass
class PreparedStart:
    """Everything the tuning loop starts from: the model with its probe-initialized head, and the targets."""

    model: Any  # a TunableModel
    head: StandardizedHead
    init_digest: str
    train_y: Tensor
    frozen_train: Tensor | None  # (N, d) on device, for self-regulation
    frozen_logits: Tensor | None  # (N, C) on device
    metrics: dict[str, float]
    warnings: list[str]
    teacher_logits: Tensor | None = None  # (N, C) on device, for distillation


def features(
    model: Any, splits: TrainSplits, split: str, config: TrainConfig, device: torch.device,
    cache: FeatureCache | None, progress: Progress | None, *, use_prompt: bool = True,
) -> tuple[Tensor, Tensor]:
    """Pooled features and labels of ``split`` under ``model`` (with or without its prompt), through ``cache``.

    Reported as the phase ``features:<split>`` (``:frozen`` without the prompt).

    Shape:
        output: ``(N, d)`` and ``(N,)``.
    """
    phase = f"features:{split}" + ("" if use_prompt else ":frozen")
    kwargs: dict[str, Any] = dict(batch_size=config.eval_batch_size or config.batch_size, device=device,
                                  precision=config.precision, num_workers=config.num_workers,
                                  use_prompt=use_prompt, progress=in_phase(progress, phase))
    dataset = getattr(splits, split)
    if cache is None:
        return extract_features(model, dataset, **kwargs)
    return cache.features(model, dataset, dataset_fingerprint=splits.fingerprint(split), split=split, **kwargs)


def fit_probe(
    train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], num_classes: int, l2: float | None,
    *, standardize: bool = True,
) -> tuple[LinearProbe, float]:
    """The linear probe on ``train`` features, with ``l2`` chosen on ``val`` when not given; and that l2.

    ``standardize=False`` fits on the features as they are (a model whose features are already on
    the scale its head should see, e.g. a stacked ensemble whose member blocks carry sqrt(alpha)).
    """
    if l2 is None:
        l2 = select_l2(train[0], train[1], val[0], val[1], num_classes=num_classes, standardize=standardize)
    return fit_linear_probe(train[0], train[1], num_classes=num_classes, l2=l2, standardize=standardize), l2


def start_model(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, init_source: PromptSource | None,
    progress: Progress | None,
) -> PromptedViT:
    """The model of a run with no ready start model: ``config.init``'s prompt on the backbone (phase ``init``)."""
    geometry = backbone.geometry(config.mode, config.length)
    spec = init_spec(config.init)
    if progress:
        progress("init", 0, 1)

    def make() -> Tensor:
        images = sample_images(splits.train, config.init_images, seed=config.seed) if spec.needs_images else None
        return init_prompt(config.init, backbone=backbone, geometry=geometry, images=images, seed=config.seed,
                           source=init_source, batch_size=config.eval_batch_size or config.batch_size)

    # under torchrun rank 0 makes the initial prompt and sends it: every process starts from the same
    # tokens even where a data-derived init is not bit-reproducible across devices
    prompt0 = distributed.from_writer(lambda: make().cpu()) if distributed.is_active() else make()
    if progress:
        progress("init", 1, 1)
    return PromptedViT(backbone, prompt0, mode=config.mode)


def prepare_start(
    backbone: Backbone, splits: TrainSplits, config: TrainConfig, device: torch.device,
    init_source: PromptSource | None, cache: FeatureCache | None, progress: Progress | None,
    model: Any = None, teacher_logits: Tensor | None = None,
) -> PreparedStart:
    """Initialize the prompt (unless ``model`` is given), extract the start features, fit the head's probe.

    Also the frozen-feature baseline probe (``baseline_probe``, ``probe_on="frozen"`` or
    self-regulation), the self-regulation targets and the checked teacher logits.

    Raises:
        UsageError: teacher logits missing, of the wrong shape, or given without distillation.
    """
    c = splits.num_classes
    t0 = time.perf_counter()
    if model is None:
        model = start_model(backbone, splits, config, init_source, progress)
    model.to(device)
    init_seconds = time.perf_counter() - t0

    def feats(split: str, use_prompt: bool) -> tuple[Tensor, Tensor]:
        return features(model, splits, split, config, device, cache, progress, use_prompt=use_prompt)

    if getattr(model, "prestandardized", False) and (config.self_reg or config.probe_on == "frozen"):
        raise UsageError("a stacked ensemble's head reads its members' features side by side, which the "
                         "frozen features neither match nor regularize",
                         hint="tune it without self-regulation and with probe_on='prompt' (the defaults)")
    metrics: dict[str, float] = {"init_seconds": init_seconds}
    warnings: list[str] = []
    init_train, init_val = feats("train", True), feats("val", True)
    need_frozen = config.self_reg or config.probe_on == "frozen" or config.baseline_probe
    frozen_train = feats("train", False) if need_frozen else None
    frozen_val = feats("val", False) if need_frozen else None

    baseline: LinearProbe | None = None
    if need_frozen:
        assert frozen_train is not None and frozen_val is not None
        baseline, base_l2 = fit_probe(frozen_train, frozen_val, c, config.probe_l2)
        metrics["baseline_probe_l2"] = base_l2
        if config.baseline_probe:
            metrics["probe_train_acc"] = baseline.accuracy(*frozen_train)
            metrics["probe_val_acc"] = baseline.accuracy(*frozen_val)
            metrics["probe_test_acc"] = baseline.accuracy(*feats("test", False))
    if config.probe_on == "frozen":
        assert baseline is not None
        start_probe, metrics["head_probe_l2"] = baseline, metrics["baseline_probe_l2"]
    else:
        start_probe, metrics["head_probe_l2"] = fit_probe(
            init_train, init_val, c, config.probe_l2, standardize=not getattr(model, "prestandardized", False))
    head = StandardizedHead(start_probe.weight, start_probe.bias, start_probe.mean, start_probe.std).to(device)
    model.head = head
    with torch.no_grad():
        metrics["start_val_acc"] = accuracy(head(init_val[0].to(device)), init_val[1])
    if "probe_val_acc" in metrics and metrics["start_val_acc"] < metrics["probe_val_acc"]:
        warnings.append(
            f"prompt + head start below the frozen-feature probe on val ({metrics['start_val_acc']:.3f} < "
            f"{metrics['probe_val_acc']:.3f}): the '{config.init}' init degrades the features "
            "(docs/zoo.md#lesson-8); a data-derived init (kmeans, mean) usually starts closer"
        )
    frozen_t = frozen_logits = None
    if config.self_reg:
        assert frozen_train is not None and baseline is not None
        frozen_t = frozen_train[0].to(device)
        frozen_logits = baseline.logits(frozen_train[0]).to(device)
    init_digest = model.prompt_sha256()
    teacher = None
    if config.distill_weight > 0:
        teacher = check_teacher(teacher_logits, len(splits.train), c)  # type: ignore[arg-type]
        init_digest += ":teacher:" + prompt_sha256(teacher[None])  # resume only with the same teacher
        teacher = teacher.to(device)
    elif teacher_logits is not None:
        raise UsageError("teacher logits were given but distill_weight is 0", hint="set distill_weight > 0")
    return PreparedStart(model, head, init_digest, init_train[1], frozen_t, frozen_logits, metrics, warnings, teacher)


def check_teacher(teacher: Tensor | None, n: int, c: int) -> Tensor:
    """The teacher's logits, finite, ``(n, c)``, detached float32.

    Raises:
        UsageError: missing, of another shape, or not finite.
    """
    if teacher is None:
        raise UsageError("distill_weight > 0 needs the teacher's logits on the training images (teacher_logits)")
    if teacher.shape != (n, c) or not bool(torch.isfinite(teacher).all()):
        raise UsageError(f"teacher logits must be finite and of shape ({n}, {c}), got {tuple(teacher.shape)}")
    return teacher.detach().float()


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy of ``(N, C)`` logits against ``(N,)`` labels; 0 for no labels."""
    return float((logits.argmax(1).cpu() == labels.cpu()).double().mean()) if labels.numel() else 0.0
