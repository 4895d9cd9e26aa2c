"""From K source prompts to a tuned target prompt: weights, composition, tuning (METHOD.md 5-6).

One method run, top to bottom:

1. check that every source fits the backbone and that all share one geometry (before any
   feature is extracted: a refused source costs nothing);
2. start: ensemble methods (``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``)
   extract the target's training features under each source (through the feature cache),
   learn or compute weights alpha, and compose P_t = sum_i alpha_i P_i; ``spot`` (Vu et al.,
   ACL 2022) briefly tunes a prompt on the target and starts from the most similar source;
   ``random`` (VPT) and ``spt`` (k-means, Wang et al., ICML 2024) start from a registered init;
3. measure the shrinkage H-score of the target's features under the start prompt, next to the
   mixture's T: alpha is learned on mixed *features* but applied to prompt *parameters*
   (METHOD.md 5.5, "mind the gap");
4. tune the start prompt and a linear head on the target with
   :func:`promptkit.train.train_prompt` (prompt init ``from`` the start prompt).

:func:`compare` runs several methods on the same splits with the same seed, sharing the
source features. Methods register by name with :func:`register_method`.

Not implemented: keeping alpha learnable while tuning (P_t = sum_i alpha_i P_i + Delta). The
training loop owns one prompt parameter; a learnable alpha would need its own optimizer group
and a second code path through the loop and its checkpoints, for an option the paper leaves
unspecified. Tuning starts from the composed prompt instead.
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
from promptkit.ensemble.objective import SourceFeatures, prepare_sources
from promptkit.ensemble.result import AlphaResult
from promptkit.errors import IncompatibleError, UsageError, format_choices
from promptkit.features import FeatureCache
from promptkit.identity import BackboneIdentity, PromptGeometry, check_compatible
from promptkit.inits import PromptSource
from promptkit.rank import SourcePrompt, source_features
from promptkit.train import TrainConfig, TrainResult, TrainSplits, train_prompt

__all__ = [
    "METHODS",
    "MethodResult",
    "MethodSpec",
    "Start",
    "check_ensemble_sources",
    "compare",
    "get_method",
    "register_method",
    "run_method",
]

# progress(phase, done, total); phases: "features <ref>", "<method>: weights", "<method>: <train phase>", ...
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Start:
    """Where a method's tuning starts: a given prompt (composed or chosen), or a registered init."""

    init: str  # TrainConfig.init of the tuning run: "random", "kmeans", or "from:<method>" with ``prompt``
    prompt: Tensor | None = None  # (L, m, d): the start prompt for a "from" init
    weights: AlphaResult | None = None  # ensemble weights and their scores, for weight methods
    alpha: Tensor | None = None  # (K,) float64: the weights the start prompt was composed with
    details: dict[str, Any] = field(default_factory=dict)  # method-specific, JSON-ready


@dataclass
class MethodResult:
    """One method's outcome on one target.

    Attributes:
        method: the registered name.
        sources: the K sources, in input order (empty for methods that use none).
        start: how tuning started (alpha, ensemble weights and their scores, details).
        composed_hscore: shrinkage H-score of the target's training features under the start
            prompt, standardized as the mixture's (None for ``random`` and ``spt``); compare
            with ``transferability``, the score of the alpha-mixture of features.
        train: the tuned prompt, folded head, metrics (``test_acc``, ...) and history.
        seconds: wall time per phase: ``features``, ``weights``, ``spot``, ``compose``,
            ``tune``, ``total`` (features read from memory in a comparison cost 0 here).
    """

    method: str
    sources: tuple[SourcePrompt, ...]
    start: Start
    composed_hscore: float | None
    train: TrainResult
    seconds: dict[str, float]

    @property
    def alpha(self) -> Tensor | None:
        """(K,) weights the start prompt was composed with; None for ``random`` and ``spt``."""
        return self.start.alpha

    @property
    def weights(self) -> AlphaResult | None:
        return self.start.weights

    @property
    def transferability(self) -> float | None:
        """T: shrinkage H-score of the alpha-mixture of source features (weight methods only)."""
        return None if self.weights is None else self.weights.transferability

    @property
    def regularizer(self) -> float | None:
        """R: gradient-variance mismatch across sources at alpha (weight methods only)."""
        return None if self.weights is None else self.weights.regularizer

    @property
    def test_acc(self) -> float:
        return float(self.train.metrics["test_acc"])

    @property
    def warnings(self) -> list[str]:
        """Cautions for a person (the CLI prints them): tuning's, then the composition gap's.

        Composing prompts averages their *parameters*, while the weights were chosen on the
        mixture of their *features* (METHOD.md 5.5, "mind the gap"). When the composed start
        prompt scores below the best single source on the target, the composition lost part of
        what the weights found, and starting from that source alone may be better.
        """
        out = list(self.train.warnings)
        w = self.weights
        if w is not None and self.composed_hscore is not None and self.composed_hscore < w.best_source_score:
            best = self.sources[int(torch.argmax(w.source_scores))].ref
            out.append(
                f"the composed start prompt scores {self.composed_hscore:.3f} (shrinkage H-score) on the target, "
                f"below the best single source {best} ({w.best_source_score:.3f}) and the weighted feature "
                f"mixture ({w.transferability:.3f}): averaging prompt parameters loses part of what the weights "
                "found (METHOD.md 5.5), so the best single source may be the better start (--compare best-single)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (no tensors)."""
        alpha = None if self.alpha is None else [float(a) for a in self.alpha]
        return {
            "method": self.method,
            "sources": [{"ref": s.ref, "sha256": s.sha256, "task": s.task,
                         "weight": None if alpha is None else alpha[i]} for i, s in enumerate(self.sources)],
            "alpha": alpha,
            "weights": None if self.weights is None else self.weights.to_dict(),
            "transferability": self.transferability,
            "regularizer": self.regularizer,
            "composed_hscore": self.composed_hscore,
            "warnings": self.warnings,
            "init": self.start.init,
            "details": self.start.details,
            "metrics": dict(self.train.metrics),
            "seconds": dict(self.seconds),
            "config": self.train.config.to_dict(),
            "dataset_fingerprint": self.train.dataset_fingerprint,
        }


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
    prepared: SourceFeatures | None = None

    def report(self, phase: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else (lambda done, total: progress(phase, done, total))

    def features(self, source: SourcePrompt, phase: str) -> tuple[Tensor, Tensor]:
        """Pooled features of the target's training split under ``source``'s prompt (cached)."""
        return source_features(self.backbone, source, self.splits, "train", cache=self.cache,  # type: ignore[arg-type]
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


def _execute(run: _Run, spec: MethodSpec) -> MethodResult:
    seconds = {"features": 0.0, "weights": 0.0, "spot": 0.0, "compose": 0.0, "tune": 0.0}
    t_start = time.perf_counter()
    start = spec.fn(run, spec.name, seconds)
    composed = None
    init_source = None
    if start.prompt is not None:
        t0 = time.perf_counter()
        same = [i for i, s in enumerate(run.sources) if torch.equal(s.prompt, start.prompt)]
        if same and run.prepared is not None:  # a source itself (one source, best-single): its score is known
            composed = float(run.prepared.source_scores[same[0]])
        else:
            src = SourcePrompt(ref=f"{spec.name}-start", prompt=start.prompt, identity=run.identity,
                               geometry=run.geometry)
            composed = _hscore(*run.features(src, f"{spec.name}: start features"))
        seconds["compose"] = time.perf_counter() - t0
        init_source = PromptSource(start.prompt, run.identity, run.geometry)
    t0 = time.perf_counter()
    config = run.tune.replace(init=start.init)
    progress = run.progress
    result = train_prompt(run.backbone, run.splits, config, init_source=init_source, cache=run.cache,
                          progress=None if progress is None else
                          (lambda phase, done, total: progress(f"{spec.name}: {phase}", done, total)))
    seconds["tune"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    sources = run.sources if spec.needs_sources else ()
    return MethodResult(spec.name, sources, start, composed, result, seconds)


def run_method(
    method: str,
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
    progress: Progress | None = None,
) -> MethodResult:
    """Build and tune a target prompt from source prompts by one method.

    Args:
        method: ``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``, ``spot``,
            ``random`` or ``spt`` (see :data:`METHODS`).
        backbone: the frozen backbone all sources were tuned on.
        sources: the source prompts, already loaded and verified (``random`` and ``spt`` do not
            use them, but take their geometry when given).
        splits: the target's train / val / test splits.
        lam: HGPrompt's regularizer weight (0: transferability alone); recorded by all weight methods.
        steps: HGPrompt's optimization steps on the cached features.
        tune: how to tune the start prompt and head; its ``mode`` and ``length`` are replaced
            by the sources' geometry, its ``init`` by the method's. Default :class:`TrainConfig`.
        cache: feature cache for the source features and the tuning's feature passes.
        device: overrides ``tune.device``.
        spot_epochs: epochs of SPoT's brief target tuning.
        progress: ``callback(phase, done, total)``.

    Returns:
        The weights, the start prompt's H-score next to the mixture's T, the tuned prompt and
        head with their metrics, and the seconds per phase.

    Raises:
        UsageError: unknown method, no sources for a method that needs them, bad options.
        IncompatibleError: a source that cannot be combined (another backbone, another
            geometry); raised before any feature is extracted, naming the source.
    """
    return compare([method], backbone, sources, splits, lam=lam, steps=steps, tune=tune, cache=cache, device=device,
                   spot_epochs=spot_epochs, progress=progress)[0]


def compare(
    methods: Sequence[str],
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
    progress: Progress | None = None,
) -> list[MethodResult]:
    """Run several methods on the same splits with the same tuning config and seed.

    The source features are extracted once and shared. Names are checked, and sources
    checked for compatibility, before any work. Arguments as :func:`run_method`.

    Returns:
        One result per distinct method, in the order given.
    """
    specs: list[MethodSpec] = []
    for name in methods:
        spec = get_method(name)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise UsageError("no ensemble method given", hint=f"choose from {format_choices(sorted(METHODS))}")
    run = _make_run(backbone, sources, splits, needs_sources=any(s.needs_sources for s in specs), lam=lam,
                    steps=steps, tune=tune, cache=cache, device=device, spot_epochs=spot_epochs, progress=progress)
    return [_execute(run, spec) for spec in specs]
