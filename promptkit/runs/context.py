"""What the method runs of one comparison share: inputs, checked once, and features once extracted.

:func:`make_run` checks the options and the sources (every source fits the backbone, all share
one geometry) before any feature is extracted, so a refused source costs nothing. The
:class:`MethodRun` it returns is what the start strategies (:mod:`promptkit.runs.starts`) and
the compositions (:mod:`promptkit.runs.compositions`) read: backbone, sources, splits, options,
the source features (extracted once, through the feature cache) and the finished runs; it runs
a variant it lacks (a distillation's teacher) with the executor it was given
(:func:`promptkit.runs.execute.execute_variant`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.ensemble.compose import check_sources
from promptkit.ensemble.objective import SourceFeatures, prepare_sources
from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache
from promptkit.identity import BackboneIdentity, PromptGeometry, check_compatible
from promptkit.progress import PhaseProgress, Progress, in_phase
from promptkit.rank import SourcePrompt, source_features
from promptkit.runs.compositions import Variant
from promptkit.runs.members import MemberRule
from promptkit.runs.outcome import MethodResult
from promptkit.train import TrainConfig, TrainSplits

__all__ = ["Executor", "MethodRun", "check_ensemble_sources", "make_run", "source_features_of"]

Executor = Callable[["MethodRun", Variant], MethodResult]
"""``execute(run, variant) -> MethodResult``: runs one variant and records it in ``run.done``."""


@dataclass
class MethodRun:
    """What the methods of one comparison share: inputs, and the source features once extracted."""

    backbone: Backbone
    sources: tuple[SourcePrompt, ...]
    splits: TrainSplits
    identity: BackboneIdentity
    geometry: PromptGeometry
    lam: float
    steps: int
    tune: TrainConfig
    cache: FeatureCache | None
    spot_epochs: int
    progress: Progress | None
    execute: Executor
    member_rule: MemberRule = field(default_factory=MemberRule)
    prepared: SourceFeatures | None = None
    done: dict[Variant, MethodResult] = field(default_factory=dict)  # finished runs, for teachers
    teachers: dict[Variant, Tensor] = field(default_factory=dict)

    def result(self, variant: Variant) -> MethodResult:
        """``variant``'s finished run; run first when the comparison has not run it yet."""
        return self.done.get(variant) or self.execute(self, variant)

    def distill_teacher(self, method: str) -> tuple[Tensor, MethodResult]:
        """The tuned ``method+DISTILL_TEACHER`` run's logits on the training images, computed once (tuned first
        if needed), and that run."""
        from promptkit.prompted_ensemble import PromptedEnsemble
        from promptkit.runs.compositions import DISTILL_TEACHER

        variant = Variant(method, DISTILL_TEACHER)
        result = self.result(variant)
        if variant not in self.teachers:
            t = result.train
            model = PromptedEnsemble(self.backbone, t.prompt, t.extras["alpha"], t.extras["member.mean"],
                                     t.extras["member.std"], mode=self.geometry.mode,
                                     combine=result.built.model.combine)
            feats, _ = source_features_of(model, self, "train", f"{variant.label}: teacher")
            self.teachers[variant] = (feats @ t.head_weight.T + t.head_bias).float()
        return self.teachers[variant], result

    def report(self, phase: str) -> PhaseProgress | None:
        """The run's progress callback bound to ``phase`` (None without one)."""
        return in_phase(self.progress, phase)

    def features(self, source: SourcePrompt, phase: str, split: str = "train") -> tuple[Tensor, Tensor]:
        """Pooled features of the target's ``split`` under ``source``'s prompt (cached)."""
        return source_features(self.backbone, source, self.splits, split, cache=self.cache,  # type: ignore[arg-type]
                               batch_size=self.tune.eval_batch_size or self.tune.batch_size,
                               device=self.tune.device, precision=self.tune.precision,
                               num_workers=self.tune.num_workers, progress=self.report(phase))

    def source_features(self) -> SourceFeatures:
        """The K sources' target-train features, prepared for the weight methods; extracted once."""
        if self.prepared is None:
            feats, labels = [], None
            for src in self.sources:
                f, labels = self.features(src, f"features {src.ref}")
                feats.append(f)
            self.prepared = prepare_sources(feats, labels)  # type: ignore[arg-type]  (K >= 1 checked)
        return self.prepared


def check_ensemble_sources(
    backbone: Backbone, sources: Sequence[SourcePrompt]
) -> tuple[BackboneIdentity, PromptGeometry]:
    """Refuse sources that cannot be combined on ``backbone``, naming the first offending one.

    Returns:
        The backbone identity and the sources' common geometry.

    Raises:
        UsageError: no sources.
        IncompatibleError: a source was tuned on another backbone, its geometry does not fit
            this backbone, or it differs from the first source's.
    """
    _, geometry = check_sources([(s.ref, s.identity, s.geometry) for s in sources])
    fit = backbone.geometry(geometry.mode, geometry.length)
    for src in sources:
        check_compatible(f"source {src.ref}", (backbone.identity, fit), (src.identity, src.geometry))
        if tuple(src.prompt.shape) != geometry.shape:
            raise IncompatibleError(f"source {src.ref}: prompt tensor shape", str(geometry.shape),
                                    str(tuple(src.prompt.shape)))
    return backbone.identity, geometry


def make_run(
    backbone: Backbone, sources: Sequence[SourcePrompt], splits: TrainSplits, *, needs_sources: bool, lam: float,
    steps: int, tune: TrainConfig | None, cache: FeatureCache | None, device: str | None, spot_epochs: int,
    progress: Progress | None, execute: Executor,
) -> MethodRun:
    """Check the options and the sources, before any work, and set up the comparison's shared state.

    Every method of a comparison tunes a prompt of the sources' geometry (``tune``'s mode and
    length are replaced by it); without sources, ``tune``'s geometry on this backbone.

    Raises:
        UsageError: bad options, or no sources when a method needs them.
        IncompatibleError: sources that cannot be combined (:func:`check_ensemble_sources`).
    """
    tune = tune or TrainConfig()
    if device is not None:
        tune = tune.replace(device=device)
    if spot_epochs < 1:
        raise UsageError(f"spot_epochs must be >= 1, got {spot_epochs}")
    if not (math.isfinite(lam) and lam >= 0):
        raise UsageError(f"lam must be a finite number >= 0, got {lam}", hint="try 0, 0.01 or 0.1")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UsageError(f"steps must be an integer >= 0, got {steps!r}")
    sources = tuple(sources)
    if sources:
        identity, geometry = check_ensemble_sources(backbone, sources)
        tune = tune.replace(mode=geometry.mode, length=geometry.length)
    elif needs_sources:
        raise UsageError("no source prompts given", hint="pass source references, or use --method random or spt")
    else:
        identity, geometry = backbone.identity, backbone.geometry(tune.mode, tune.length)
    return MethodRun(backbone, sources, splits, identity, geometry, lam, steps, tune, cache, spot_epochs, progress,
                     execute)


def source_features_of(model: Any, run: MethodRun, split: str, phase: str) -> tuple[Tensor, Tensor]:
    """Pooled features of the target's ``split`` under any tunable model, through the run's cache."""
    from promptkit.features import extract_features

    dataset = run.splits.split(split)  # type: ignore[attr-defined]
    kw: dict[str, Any] = dict(batch_size=run.tune.eval_batch_size or run.tune.batch_size, device=run.tune.device,
                              precision=run.tune.precision, num_workers=run.tune.num_workers,
                              progress=run.report(phase))
    if run.cache is None:
        return extract_features(model, dataset, **kw)
    return run.cache.features(model, dataset, dataset_fingerprint=run.splits.fingerprint(split), split=split, **kw)
