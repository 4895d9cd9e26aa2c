"""Rank source prompts by transferability to a target task (docs/method.md#scores and #evaluation).

For every source prompt ``P_i``, the frozen backbone runs on the target's labelled images with
``P_i`` inserted; the pooled features are scored by each metric (H-score, shrinkage H-score,
LogME). With ``with_accuracy``, a linear probe on those features measures the single-source
transfer accuracy on the target's test split, and the Spearman rank correlation between each
metric and that accuracy says how well the metric ranks.

Features go through :class:`~promptkit.features.FeatureCache`, so a second ranking of the same
sources on the same target reads features instead of recomputing them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.data import Splits
from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.probe import probe_accuracy
from promptkit.progress import PhaseProgress, Progress, in_phase
from promptkit.prompted import PromptedViT
from promptkit.scores import get_score
from promptkit.stats import spearman

__all__ = [
    "DEFAULT_METRICS",
    "RankResult",
    "RankRow",
    "Skipped",
    "SourcePrompt",
    "partition_compatible",
    "rank_sources",
    "source_features",
]

DEFAULT_METRICS = ("shrinkage-hscore", "hscore", "logme")
# Stage progress: callback(stage, done, total); stage is "source <k>/<n> <ref>: features:<split>".


@dataclass(frozen=True)
class SourcePrompt:
    """A source prompt as the core needs it (the registry loads it; the core never imports the registry)."""

    ref: str  # exact reference, e.g. "zoo/textures:1"
    prompt: Tensor  # (L, m, d)
    identity: BackboneIdentity
    geometry: PromptGeometry
    sha256: str = ""  # content digest of the stored asset
    task: str | None = None


@dataclass(frozen=True)
class RankRow:
    ref: str
    task: str | None
    scores: dict[str, float]
    transfer_acc: float | None = None


@dataclass(frozen=True)
class Skipped:
    ref: str
    reason: str


@dataclass
class RankResult:
    """Sources ordered by ``primary`` (best first), what was skipped and, optionally, how well each metric ranks."""

    target: str
    primary: str
    metrics: tuple[str, ...]
    num_images: int
    rows: list[RankRow]
    skipped: list[Skipped] = field(default_factory=list)
    spearman: dict[str, float] | None = None  # metric -> Spearman(metric, transfer accuracy)
    seconds: dict[str, float] = field(default_factory=dict)  # features, scores, accuracy

    def top(self, k: int) -> list[RankRow]:
        return self.rows[:k]


def partition_compatible(backbone: Backbone, sources: Sequence[SourcePrompt]) -> tuple[list[SourcePrompt],
                                                                                        list[Skipped]]:
    """Split sources into those this backbone can run and those it cannot, with the reason."""
    ok, skipped = [], []
    expected_layers = {"shallow": 1, "deep": backbone.depth}
    for src in sources:
        if not src.identity.same_backbone(backbone.identity):
            skipped.append(Skipped(src.ref, f"tuned on {src.identity.short()}, target backbone is "
                                            f"{backbone.identity.short()}"))
        elif src.geometry.width != backbone.embed_dim or src.geometry.layers != expected_layers[src.geometry.mode]:
            skipped.append(Skipped(src.ref, f"geometry {src.geometry.short()} does not fit this backbone"))
        else:
            ok.append(src)
    return ok, skipped


def source_features(
    backbone: Backbone,
    source: SourcePrompt | None,
    target: Splits,
    split: str,
    *,
    cache: FeatureCache | None,
    batch_size: int = 128,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int | None = None,
    progress: PhaseProgress | None = None,
) -> tuple[Tensor, Tensor]:
    """Pooled features of ``target``'s ``split`` under one source prompt (``None``: the frozen backbone).

    Shape:
        - features: ``(N, d)`` float32; labels: ``(N,)`` int64
    """
    if source is None:
        model = PromptedViT(backbone)
    else:
        model = PromptedViT.from_prompt(backbone, source.prompt, identity=source.identity, geometry=source.geometry)
    dataset = target.split(split)
    kw = dict(batch_size=batch_size, device=device, precision=precision, num_workers=num_workers, progress=progress)
    if cache is None:
        from promptkit.features import extract_features

        return extract_features(model, dataset, **kw)
    return cache.features(model, dataset, dataset_fingerprint=target.fingerprint(split), split=split, **kw)


def rank_sources(
    backbone: Backbone,
    sources: Sequence[SourcePrompt],
    target: Splits,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    with_accuracy: bool = False,
    cache: FeatureCache | None = None,
    batch_size: int = 128,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int | None = None,
    progress: Progress | None = None,
) -> RankResult:
    """Score every compatible source on the target's labelled images (train + val, the VTAB-1k 1,000).

    Args:
        backbone: the frozen backbone every source must have been tuned on.
        sources: candidate prompts; incompatible ones are returned in ``skipped``.
        target: the target task's splits.
        metrics: score names (first = the ranking order); see :data:`promptkit.scores.SCORES`.
        with_accuracy: also fit a linear probe per source on train + val features and report its
            test accuracy, and the Spearman correlation of each metric with it.
        batch_size, device, precision, num_workers: how features are computed (``num_workers``
            None: a default for the dataset and device).

    Raises:
        UsageError: no compatible source, or an unknown metric.
    """
    if not metrics:
        raise UsageError("no metric given", hint="use e.g. --metric shrinkage-hscore")
    fns = {m: get_score(m) for m in metrics}  # unknown names fail before any work
    usable, skipped = partition_compatible(backbone, sources)
    if not usable:
        reasons = "; ".join(f"{s.ref}: {s.reason}" for s in skipped[:3]) or "no sources given"
        raise IncompatibleError("source backbone", backbone.identity.short(), reasons,
                                hint="rank sources tuned on the target's backbone (see `promptkit list --backbone`)")
    seconds = {"features": 0.0, "scores": 0.0, "accuracy": 0.0}
    rows: list[RankRow] = []
    for k, src in enumerate(usable, 1):
        t0 = time.perf_counter()
        phase = f"source {k}/{len(usable)} {src.ref}: features"
        feats, labels = _labelled_features(backbone, src, target, cache=cache, batch_size=batch_size,
                                           device=device, precision=precision, num_workers=num_workers,
                                           progress=progress, phase=phase)
        t1 = time.perf_counter()
        scores = {m: float(fn(feats.double(), labels)) for m, fn in fns.items()}
        t2 = time.perf_counter()
        acc = None
        if with_accuracy:
            test_f, test_y = source_features(backbone, src, target, "test", cache=cache, batch_size=batch_size,
                                             device=device, precision=precision, num_workers=num_workers,
                                             progress=in_phase(progress, f"{phase}:test"))
            t2b = time.perf_counter()
            seconds["features"] += t2b - t2
            acc = probe_accuracy(feats, labels, test_f, test_y, num_classes=target.num_classes)
            seconds["accuracy"] += time.perf_counter() - t2b
        seconds["features"] += t1 - t0
        seconds["scores"] += t2 - t1
        rows.append(RankRow(src.ref, src.task, scores, acc))
    primary = metrics[0]
    rows.sort(key=lambda r: -r.scores[primary])
    rho = None
    if with_accuracy and len(rows) >= 2:
        accs = [r.transfer_acc for r in rows]
        rho = {m: spearman([r.scores[m] for r in rows], accs) for m in metrics}
    return RankResult(target=target.name, primary=primary, metrics=tuple(metrics), rows=rows, skipped=skipped,
                      spearman=rho, seconds=seconds, num_images=len(target.train) + len(target.val))


def _labelled_features(backbone, src, target, *, progress: Progress | None, phase: str,
                       **kw) -> tuple[Tensor, Tensor]:
    """Features of train and val (cached separately), concatenated: the target's 1,000 labelled images.

    Progress phases are ``<phase>:train`` and ``<phase>:val``.
    """
    parts = [source_features(backbone, src, target, split, progress=in_phase(progress, f"{phase}:{split}"), **kw)
             for split in ("train", "val")]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
