"""From K source prompts to a tuned target model: weights, composition, tuning (docs/method.md).

One method run, top to bottom:

1. check that every source fits the backbone and that all share one geometry (before any
   feature is extracted: a refused source costs nothing);
2. start: ensemble methods (``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``)
   extract the target's training features under each source (through the feature cache),
   learn or compute weights alpha, and a composition (:mod:`promptkit.ensemble.compositions`:
   ``average``, ``aligned``, ``ensemble``, ``distill``) turns them into the start model;
   ``spot`` (Vu et al., ACL 2022) briefly tunes a prompt on the target and starts from the most
   similar source; ``random`` (VPT) and ``spt`` (k-means, Wang et al., ICML 2024) start from a
   registered init;
3. measure the shrinkage H-score of the target's features at the start, next to the mixture's
   T: alpha is learned on mixed *features*, and averaging prompt *parameters* loses part of what
   it found (docs/method.md, "The composition gap");
4. tune the start model and a linear head on the target with
   :func:`promptkit.train.train_prompt`.

:func:`compare` runs several variants (``hgprompt``, ``hgprompt+ensemble``,
``hgprompt+average+learned``, ...) on the same splits with the same seed, sharing the source
features. Methods register by name with :func:`register_method`, compositions with
:func:`~promptkit.ensemble.compositions.register_composition`.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.ensemble import weights as _weights  # noqa: F401  (registers "hgprompt" with the weight methods)
from promptkit.ensemble._registry import get_weight_method
from promptkit.ensemble.baselines import spot_rank
from promptkit.ensemble.compose import check_sources, compose_prompt
from promptkit.ensemble.compositions import (
    DISTILL_TEMPERATURE,
    DISTILL_WEIGHT,
    Built,
    Variant,
    get_composition,
    parse_variant,
)
from promptkit.ensemble.members import MemberRule
from promptkit.ensemble.objective import SourceFeatures, prepare_sources
from promptkit.ensemble.outcome import MethodResult, Start
from promptkit.errors import IncompatibleError, UsageError, format_choices
from promptkit.features import FeatureCache
from promptkit.identity import BackboneIdentity, PromptGeometry, check_compatible
from promptkit.inits import PromptSource
from promptkit.rank import SourcePrompt, source_features
from promptkit.train import TrainConfig, TrainSplits, train_prompt

__all__ = [
    "METHODS",
    "MethodResult",
    "MethodSpec",
    "Start",
    "Variant",
    "check_ensemble_sources",
    "compare",
    "get_method",
    "register_method",
    "run_method",
    "weight_methods",
]

# progress(phase, done, total); phases: "features <ref>", "<method>: weights", "<method>: <train phase>", ...
Progress = Callable[[str, int, int], None]


@dataclass
class _Run:
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
    member_rule: MemberRule = field(default_factory=MemberRule)
    prepared: SourceFeatures | None = None
    done: dict[Variant, MethodResult] = field(default_factory=dict)  # finished runs, for teachers
    teachers: dict[Variant, Tensor] = field(default_factory=dict)

    def ensemble_teacher(self, method: str) -> tuple[Tensor, MethodResult]:
        """The tuned ``method+ensemble``'s logits on the training images, computed once (tuned first if needed)."""
        variant = Variant(method, "ensemble")
        result = self.done.get(variant) or _execute(self, variant)
        if variant not in self.teachers:
            from promptkit.prompted_ensemble import PromptedEnsemble

            t = result.train
            model = PromptedEnsemble(self.backbone, t.prompt, t.extras["alpha"], t.extras["member.mean"],
                                     t.extras["member.std"], mode=self.geometry.mode)
            feats, _ = source_features_of(model, self, "train", f"{variant.label}: teacher")
            self.teachers[variant] = (feats @ t.head_weight.T + t.head_bias).float()
        return self.teachers[variant], result

    def report(self, phase: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else (lambda done, total: progress(phase, done, total))

    def features(self, source: SourcePrompt, phase: str, split: str = "train") -> tuple[Tensor, Tensor]:
        """Pooled features of the target's ``split`` under ``source``'s prompt (cached)."""
        return source_features(self.backbone, source, self.splits, split, cache=self.cache,  # type: ignore[arg-type]
                               batch_size=self.tune.eval_batch_size or self.tune.batch_size,
                               device=self.tune.device, precision=self.tune.precision, progress=self.report(phase))

    def source_features(self) -> SourceFeatures:
        """The K sources' target-train features, prepared for the weight methods; extracted once."""
        if self.prepared is None:
            feats, labels = [], None
            for src in self.sources:
                f, labels = self.features(src, f"features {src.ref}")
                feats.append(f)
            self.prepared = prepare_sources(feats, labels)  # type: ignore[arg-type]  (K >= 1 checked)
        return self.prepared


StartFn = Callable[[_Run, str, dict[str, float]], Start]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: how it finds its start prompt."""

    name: str
    fn: StartFn
    needs_sources: bool
    summary: str

    @property
    def uses_weights(self) -> bool:
        """It learns or computes weights alpha over the sources, so a composition applies."""
        return self.fn is _weighted_start


def weight_methods() -> set[str]:
    """The registered methods that produce weights (compositions apply to them)."""
    return {name for name, spec in METHODS.items() if spec.uses_weights}


METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, *, needs_sources: bool = True, summary: str = "") -> Callable[[StartFn], StartFn]:
    """Register ``fn(run, method, seconds) -> Start`` under ``name`` (``seconds`` collects phase times)."""

    def deco(fn: StartFn) -> StartFn:
        if name in METHODS:
            raise ValueError(f"ensemble method {name!r} is registered twice")
        METHODS[name] = MethodSpec(name, fn, needs_sources, summary or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name`` (``_`` and ``-`` are interchangeable).

    Raises:
        UsageError: unknown name; the hint lists the registered ones.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in METHODS:
        raise UsageError(f"unknown ensemble method {name!r}", hint=f"choose {format_choices(sorted(METHODS))}")
    return METHODS[key]


def _accepted(fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    # Weight methods differ in options (only hgprompt optimizes: steps, progress); pass each
    # what its signature takes rather than keeping a table of names.
    params = inspect.signature(fn).parameters
    return {k: v for k, v in options.items() if k in params}


def _weighted_start(run: _Run, method: str, seconds: dict[str, float]) -> Start:
    """Weights alpha on the target-train features under each source, then P_t = sum_i alpha_i P_i."""
    fn = get_weight_method(method)
    t0 = time.perf_counter()
    prepared = run.source_features()
    t1 = time.perf_counter()
    options = {"lam": run.lam, "steps": run.steps, "progress": run.report(f"{method}: weights")}
    weights = fn(prepared, **_accepted(fn, options))
    prompt = compose_prompt([s.prompt for s in run.sources], weights.alpha)
    seconds["features"], seconds["weights"] = t1 - t0, time.perf_counter() - t1
    details: dict[str, Any] = {}
    top = int(torch.argmax(weights.alpha))
    if float(weights.alpha[top]) == 1.0:  # all weight on one source: name it
        details["chosen"] = run.sources[top].ref
    return Start(init=f"from:{method}", prompt=prompt, weights=weights, alpha=weights.alpha, details=details)


for _name, _summary in (
    ("hgprompt", "HGPrompt: weights maximizing the mixture's transferability minus lam x gradient mismatch"),
    ("uniform", "equal weights 1/K"),
    ("hscore-weights", "weights proportional to each source's own shrinkage H-score"),
    ("best-single", "the source with the highest own shrinkage H-score"),
):
    register_method(_name, summary=_summary)(_weighted_start)


@register_method("random", needs_sources=False)
def _random_start(run: _Run, method: str, seconds: dict[str, float]) -> Start:
    """VPT: a random prompt (Jia et al., ECCV 2022), no sources."""
    return Start(init="random")


@register_method("spt", needs_sources=False)
def _spt_start(run: _Run, method: str, seconds: dict[str, float]) -> Start:
    """SPT: k-means centroids of the target's tokens (Wang et al., ICML 2024), no sources."""
    return Start(init="kmeans")


@register_method("spot")
def _spot_start(run: _Run, method: str, seconds: dict[str, float]) -> Start:
    """SPoT: the source most similar to a briefly tuned target prompt (Vu et al., ACL 2022)."""
    t0 = time.perf_counter()
    # The brief run keeps its last epoch: keeping the best could keep the random start itself,
    # which says nothing about the target.
    brief = run.tune.replace(init="random", epochs=run.spot_epochs, warmup_epochs=0, keep="last",
                             baseline_probe=False, gpa_mu=None, gpa_sigma=None)
    probe = train_prompt(run.backbone, run.splits, brief, cache=run.cache,
                         progress=None if run.progress is None else
                         (lambda phase, done, total: run.progress(f"{method}: brief {phase}", done, total)))  # type: ignore[misc]
    ranking = spot_rank(probe.prompt, [s.prompt for s in run.sources])
    top = ranking.order[0]
    alpha = torch.zeros(len(run.sources), dtype=torch.float64)
    alpha[top] = 1.0
    seconds["spot"] = time.perf_counter() - t0
    details = {"chosen": run.sources[top].ref, "similarities": [float(s) for s in ranking.similarities],
               "brief_epochs": run.spot_epochs, "brief_val_acc": float(probe.metrics["val_acc"])}
    return Start(init=f"from:{method}", prompt=run.sources[top].prompt.detach().float().clone(), alpha=alpha,
                 details=details)


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
    layers = 1 if geometry.mode == "shallow" else backbone.depth
    fit = PromptGeometry(mode=geometry.mode, length=geometry.length, width=backbone.embed_dim, layers=layers)
    for src in sources:
        check_compatible(f"source {src.ref}", (backbone.identity, fit), (src.identity, src.geometry))
        if tuple(src.prompt.shape) != geometry.shape:
            raise IncompatibleError(f"source {src.ref}: prompt tensor shape", str(geometry.shape),
                                    str(tuple(src.prompt.shape)))
    return backbone.identity, geometry


def _make_run(
    backbone: Backbone, sources: Sequence[SourcePrompt], splits: TrainSplits, *, needs_sources: bool, lam: float,
    steps: int, tune: TrainConfig | None, cache: FeatureCache | None, device: str | None, spot_epochs: int,
    progress: Progress | None,
) -> _Run:
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
        # Every method of a comparison tunes a prompt of the sources' geometry.
        tune = tune.replace(mode=geometry.mode, length=geometry.length)
    elif needs_sources:
        raise UsageError("no source prompts given", hint="pass source references, or use --method random or spt")
    else:
        layers = 1 if tune.mode == "shallow" else backbone.depth
        identity = backbone.identity
        geometry = PromptGeometry(mode=tune.mode, length=tune.length, width=backbone.embed_dim, layers=layers)
    return _Run(backbone, sources, splits, identity, geometry, lam, steps, tune, cache, spot_epochs, progress)


def _hscore(features: Tensor, labels: Tensor) -> float:
    # Standardized, exactly as each source enters the mixture, so that it compares with T.
    return float(prepare_sources([features], labels).source_scores[0])


def _execute(run: _Run, variant: Variant) -> MethodResult:
    spec = get_method(variant.method)
    seconds = {"features": 0.0, "weights": 0.0, "spot": 0.0, "compose": 0.0, "tune": 0.0}
    t_start = time.perf_counter()
    start = spec.fn(run, spec.name, seconds)
    built: Built | None = None
    config = run.tune.replace(init=start.init)
    if start.weights is not None and start.alpha is not None:  # a weight method: compose as asked
        t0 = time.perf_counter()
        built = get_composition(variant.composition).fn(run, start.alpha, variant, run.prepared)
        seconds["compose"] = time.perf_counter() - t0
        if built.teacher is not None:  # the teacher's own tuning is part of what distillation costs
            teacher_run = run.done.get(Variant(variant.method, "ensemble"))
            seconds["teacher"] = 0.0 if teacher_run is None else teacher_run.seconds["total"]
        if built.teacher is not None:
            config = config.replace(distill_weight=DISTILL_WEIGHT, distill_temperature=DISTILL_TEMPERATURE)
    elif start.prompt is not None:
        built = Built(prompt=start.prompt)
    composed = built.start_score if built is not None else None
    init_source = None
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
    if built is not None and built.prompt is not None and built.model is None:
        init_source = PromptSource(built.prompt, run.identity, run.geometry)
    t0 = time.perf_counter()
    progress = run.progress
    result = train_prompt(run.backbone, run.splits, config, init_source=init_source, cache=run.cache,
                          model=None if built is None else built.model,
                          teacher_logits=None if built is None else built.teacher,
                          progress=None if progress is None else
                          (lambda phase, done, total: progress(f"{variant.label}: {phase}", done, total)))
    seconds["tune"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    sources = run.sources if spec.needs_sources else ()
    out = MethodResult(spec.name, sources, start, composed, result, seconds, variant, built)
    run.done[variant] = out
    return out


def source_features_of(model: Any, run: _Run, split: str, phase: str) -> tuple[Tensor, Tensor]:
    """Pooled features of the target's ``split`` under any tunable model, through the run's cache."""
    from promptkit.features import extract_features

    dataset = run.splits.split(split)  # type: ignore[attr-defined]
    kw: dict[str, Any] = dict(batch_size=run.tune.eval_batch_size or run.tune.batch_size, device=run.tune.device,
                              precision=run.tune.precision, progress=run.report(phase))
    if run.cache is None:
        return extract_features(model, dataset, **kw)
    return run.cache.features(model, dataset, dataset_fingerprint=run.splits.fingerprint(split), split=split, **kw)


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
            ``random`` or ``spt`` (see :data:`METHODS`), optionally with a composition for the
            weight methods: ``hgprompt+ensemble``, ``hgprompt+distill``, ``hgprompt+aligned``,
            ``hgprompt+average+learned`` (see :mod:`promptkit.ensemble.compositions`); a method
            alone composes by ``average``.
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
            :class:`~promptkit.ensemble.members.MemberRule`).
        progress: ``callback(phase, done, total)``.

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
    run = _make_run(backbone, sources, splits, needs_sources=any(get_method(v.method).needs_sources for v in variants),
                    lam=lam, steps=steps, tune=tune, cache=cache, device=device, spot_epochs=spot_epochs,
                    progress=progress)
    if member_rule is not None:
        run.member_rule = member_rule
    return [run.done.get(v) or _execute(run, v) for v in variants]
