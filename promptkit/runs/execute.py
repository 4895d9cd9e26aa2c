"""From K source prompts to a tuned target model: weights, composition, tuning (docs/method.md).

One method run, top to bottom:

1. check that every source fits the backbone and that all share one geometry (before any
   feature is extracted: a refused source costs nothing; :func:`promptkit.runs.context.make_run`);
2. start (:mod:`promptkit.runs.starts`): ensemble methods (``hgprompt``, ``uniform``,
   ``hscore-weights``, ``best-single``) extract the target's training features under each
   source (through the feature cache), learn or compute weights alpha, and a composition
   (:mod:`promptkit.runs.compositions`: ``average``, ``aligned``, ``ensemble``, ``distill``)
   turns them into the start model; ``spot`` (Vu et al., ACL 2022) briefly tunes a prompt on
   the target and starts from the most similar source; ``random`` (VPT) and ``spt`` (k-means,
   Wang et al., ICML 2024) start from a registered init;
3. measure the shrinkage H-score of the target's features at the start, next to the mixture's
   T: alpha is learned on mixed *features*, and averaging prompt *parameters* loses part of what
   it found (docs/method.md, "The composition gap");
4. tune the start model and a linear head on the target with
   :func:`promptkit.train.train_prompt`.

:func:`compare` runs several variants (``hgprompt``, ``hgprompt+ensemble``,
``hgprompt+average+learned``, ...) on the same splits with the same seed, sharing the source
features. Every weight method is a method; other start strategies register by name with
:func:`~promptkit.runs.methods.register_method`, compositions with
:func:`~promptkit.runs.compositions.register_composition`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.ensemble.objective import prepare_sources
from promptkit.errors import UsageError, format_choices
from promptkit.features import FeatureCache
from promptkit.inits import PromptSource
from promptkit.progress import Progress, prefixed
from promptkit.rank import SourcePrompt
from promptkit.runs.compositions import (
    DISTILL_TEACHER,
    DISTILL_TEMPERATURE,
    DISTILL_WEIGHT,
    Built,
    Variant,
    get_composition,
    parse_variant,
)
from promptkit.runs.context import MethodRun, make_run
from promptkit.runs.members import MemberRule
from promptkit.runs.methods import METHODS, get_method, weight_methods
from promptkit.runs.outcome import MethodResult, Start
from promptkit.train import TrainConfig, TrainSplits, train_prompt

__all__ = ["compare", "execute_variant", "run_method"]


def _hscore(features: Tensor, labels: Tensor) -> float:
    # Standardized, exactly as each source enters the mixture, so that it compares with T.
    return float(prepare_sources([features], labels).source_scores[0])


def _compose(run: MethodRun, variant: Variant, start: Start, seconds: dict[str, float]) -> tuple[Built | None,
                                                                                                    TrainConfig]:
    """What tuning starts from, and its config: a weight method's start composed as asked, or the start prompt."""
    config = run.tune.replace(init=start.init)
    if start.weights is not None and start.alpha is not None:  # a weight method: compose as asked
        t0 = time.perf_counter()
        built = get_composition(variant.composition).fn(run, start.alpha, variant, run.prepared)
        seconds["compose"] = time.perf_counter() - t0
        if built.teacher is not None:  # the teacher's own tuning is part of what distillation costs
            teacher_run = run.done.get(Variant(variant.method, DISTILL_TEACHER))
            seconds["teacher"] = 0.0 if teacher_run is None else teacher_run.seconds["total"]
            config = config.replace(distill_weight=DISTILL_WEIGHT, distill_temperature=DISTILL_TEMPERATURE)
        return built, config
    return (Built(prompt=start.prompt) if start.prompt is not None else None), config


def _start_score(run: MethodRun, variant: Variant, built: Built | None, seconds: dict[str, float]) -> float | None:
    """Shrinkage H-score of the target's training features at the start (None without a start prompt)."""
    composed = built.start_score if built is not None else None
    if built is not None and built.prompt is not None and composed is None:
        t0 = time.perf_counter()
        same = [i for i, s in enumerate(run.sources) if torch.equal(s.prompt, built.prompt)]
        if same and run.prepared is not None:  # a source itself (one source, best-single): its score is known
            composed = float(run.prepared.source_scores[same[0]])
        else:
            src = SourcePrompt(ref=f"{variant.label}-start", prompt=built.prompt, identity=run.identity,
                               geometry=run.geometry)
            composed = _hscore(*run.features(src, f"{variant.label}: start features"))
        seconds["compose"] += time.perf_counter() - t0
    return composed


def execute_variant(run: MethodRun, variant: Variant) -> MethodResult:
    """Run one variant on ``run``'s target: start, compose, score the start, tune (recorded in ``run.done``)."""
    spec = get_method(variant.method)
    seconds = {"features": 0.0, "weights": 0.0, "spot": 0.0, "compose": 0.0, "tune": 0.0}
    t_start = time.perf_counter()
    start = spec.fn(run, spec.name, seconds)
    built, config = _compose(run, variant, start, seconds)
    composed = _start_score(run, variant, built, seconds)
    init_source = None
    if built is not None and built.prompt is not None and built.model is None:
        init_source = PromptSource(built.prompt, run.identity, run.geometry)
    t0 = time.perf_counter()
    result = train_prompt(run.backbone, run.splits, config, init_source=init_source, cache=run.cache,
                          model=None if built is None else built.model,
                          teacher_logits=None if built is None else built.teacher,
                          progress=prefixed(run.progress, f"{variant.label}: "))
    seconds["tune"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    sources = run.sources if spec.needs_sources else ()
    out = MethodResult(spec.name, sources, start, composed, result, seconds, variant, built)
    run.done[variant] = out
    return out


def run_method(
    method: str | Variant,
    backbone: Backbone,
    sources: Sequence[SourcePrompt],
    splits: TrainSplits,
    *,
    lam: float = 0.0,
    steps: int = 300,
    tune: TrainConfig | None = None,
    cache: FeatureCache | None = None,
    device: str | None = None,
    spot_epochs: int = 3,
    member_rule: MemberRule | None = None,
    progress: Progress | None = None,
) -> MethodResult:
    """Build and tune a target model from source prompts by one method and composition.

    Args:
        method: ``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``, ``spot``,
            ``random`` or ``spt`` (see :data:`~promptkit.runs.methods.METHODS`), optionally with
            a composition for the weight methods: ``hgprompt+ensemble``, ``hgprompt+distill``,
            ``hgprompt+aligned``, ``hgprompt+average+learned`` (see
            :mod:`promptkit.runs.compositions`); a method alone composes by ``average``.
        backbone: the frozen backbone all sources were tuned on.
        sources: the source prompts, already loaded and verified (``random`` and ``spt`` do not
            use them, but take their geometry when given).
        splits: the target's train / val / test splits.
        lam: HGPrompt's regularizer weight (0: transferability alone); recorded by all weight methods.
        steps: HGPrompt's optimization steps on the cached features.
        tune: how to tune the start model and head; its ``mode`` and ``length`` are replaced
            by the sources' geometry, its ``init`` by the method's. Default :class:`TrainConfig`.
        cache: feature cache for the source features and the tuning's feature passes.
        device: overrides ``tune.device``.
        spot_epochs: epochs of SPoT's brief target tuning.
        member_rule: which sources an ``ensemble`` or ``distill`` keeps (default
            :class:`~promptkit.runs.members.MemberRule`).
        progress: ``callback(phase, done, total)`` (:data:`promptkit.progress.Progress`).

    Returns:
        The weights, the start's H-score next to the mixture's T, the tuned model and head with
        their metrics, and the seconds per phase.

    Raises:
        UsageError: unknown method or composition, no sources for a method that needs them,
            bad options.
        IncompatibleError: a source that cannot be combined (another backbone, another
            geometry); raised before any feature is extracted, naming the source.
    """
    return compare([method], backbone, sources, splits, lam=lam, steps=steps, tune=tune, cache=cache, device=device,
                   spot_epochs=spot_epochs, member_rule=member_rule, progress=progress)[0]


def compare(
    methods: Sequence[str | Variant],
    backbone: Backbone,
    sources: Sequence[SourcePrompt],
    splits: TrainSplits,
    *,
    lam: float = 0.0,
    steps: int = 300,
    tune: TrainConfig | None = None,
    cache: FeatureCache | None = None,
    device: str | None = None,
    spot_epochs: int = 3,
    member_rule: MemberRule | None = None,
    progress: Progress | None = None,
) -> list[MethodResult]:
    """Run several variants on the same splits with the same tuning config and seed.

    The source features are extracted once and shared. Names are checked, and sources
    checked for compatibility, before any work. Arguments as :func:`run_method`.

    Returns:
        One result per distinct variant, in the order given.
    """
    variants: list[Variant] = []
    for name in methods:
        variant = parse_variant(name, weight_methods=weight_methods())
        variant = Variant(get_method(variant.method).name, variant.composition, variant.learn_alpha)
        if variant not in variants:
            variants.append(variant)
    if not variants:
        raise UsageError("no ensemble method given", hint=f"choose from {format_choices(sorted(METHODS))}")
    run = make_run(backbone, sources, splits, needs_sources=any(get_method(v.method).needs_sources for v in variants),
                   lam=lam, steps=steps, tune=tune, cache=cache, device=device, spot_epochs=spot_epochs,
                   progress=progress, execute=execute_variant)
    if member_rule is not None:
        run.member_rule = member_rule
    return [run.result(v) for v in variants]
