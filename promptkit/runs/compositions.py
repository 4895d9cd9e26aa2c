"""How ensemble weights become a target model: the registered compositions.

A weight method (``hgprompt``, ``uniform``, ...) gives alpha over the K sources; a composition
turns alpha and the sources into the model that tuning starts from (docs/method.md,
"Compositions"):

- ``average``: P_t = sum_i alpha_i P_i, HGPrompt's target initialization (Zhang et al., AAAI 2026);
- ``aligned``: the same after permuting each source's tokens within each layer to match the
  top-weight source (:mod:`promptkit.ensemble.align`); the permutations go into the lineage;
- ``ensemble``: a :class:`~promptkit.prompted_ensemble.PromptedEnsemble` of the sources that
  carry the weight (:mod:`promptkit.runs.members`), their standardized features mixed by
  alpha, exactly what T(alpha) scores; member prompts and head are tuned jointly; k forwards
  per image, batched;
- ``stack``: the heaviest sources (how many: chosen on the validation images,
  :func:`choose_stack_members`), their standardized features side by side, each scaled by
  sqrt(alpha_i), one head over all k d of them: the head weighs each member's dimensions on its own,
  and alpha acts as the head's prior (an L2 penalty of ``||W_i||^2 / alpha_i`` on member i's block,
  :class:`~promptkit.prompted_ensemble.PromptedEnsemble` with ``combine="stack"``); k forwards per
  image, batched;
- ``distill``: one prompt, started from the tuned ``stack``'s heaviest member (as its tuning left
  it) and tuned with cross-entropy plus a distillation term towards that ``stack``'s logits on
  the training images (Hinton et al., 2015; multi-source prompt distillation as in PANDA, Zhong
  et al., 2022, and MPT, Wang et al., ICLR 2023); the teacher's logits are computed once, with
  batched passes, and the teacher is tuned first when the comparison has not already done so
  (its time is part of the distillation's cost). The result is a plain prompt.

With ``learn_alpha``, alpha is tuned with the prompt(s) and kept on the simplex: for
``ensemble`` inside the ensemble, for ``average`` and ``aligned`` as
P_t = sum_i alpha_i P_i + Delta (:class:`~promptkit.prompted_composed.ComposedPromptViT`).

Compositions register by name with :func:`register_composition` (the built-ins are listed in
:mod:`promptkit.builtins`); a method run is named by a
:class:`Variant` such as ``hgprompt+ensemble`` or ``hgprompt+average+learned``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from promptkit.ensemble.align import aligned_average
from promptkit.ensemble.compose import compose_prompt
from promptkit.ensemble.result import evaluate_weights
from promptkit.errors import UsageError, format_choices
from promptkit.plugins import Registry, canonical_name
from promptkit.runs.members import choose_members
from promptkit.stats import standardization

__all__ = [
    "COMPOSITIONS",
    "DEFAULT_COMPOSITION",
    "DISTILL_TEACHER",
    "DISTILL_TEMPERATURE",
    "DISTILL_WEIGHT",
    "Built",
    "CompositionSpec",
    "Variant",
    "choose_stack_members",
    "compose_aligned",
    "compose_average",
    "compose_distill",
    "compose_ensemble",
    "compose_stack",
    "get_composition",
    "parse_variant",
    "register_composition",
]

DEFAULT_COMPOSITION = "stack"  # the winner of the 12-target suite (BENCHMARKS.md, "Compositions on the suite")
DISTILL_WEIGHT = 1.0  # w in CE + w * T^2 * KL(teacher || student)
DISTILL_TEMPERATURE = 1.0
DISTILL_TEACHER = "stack"  # the composition ``distill`` learns from: the default one, the suite's best


class RunContext(Protocol):
    """What a composition reads from the run (:class:`promptkit.runs.context.MethodRun` provides it)."""

    backbone: Any
    sources: tuple[Any, ...]
    splits: Any
    identity: Any
    geometry: Any
    lam: float
    member_rule: Any

    def features(self, source: Any, phase: str, split: str = "train") -> tuple[Tensor, Tensor]: ...

    def distill_teacher(self, method: str) -> tuple[Tensor, Any]:
        """The tuned ``method+DISTILL_TEACHER`` run's logits on the training images ``(N, C)``, and that run."""
        ...


@dataclass
class Built:
    """What tuning starts from, as a composition built it."""

    prompt: Tensor | None = None  # (L, m, d): a start prompt for the plain tuning path
    model: Any = None  # or a ready model (ensemble, learnable composition)
    teacher: Tensor | None = None  # (N_train, C): distillation targets
    start_score: float | None = None  # shrinkage H-score of the target's train features at the start, if known
    members: list[int] = field(default_factory=list)  # indices of the sources in the model (ensemble, distill)
    member_alpha: Tensor | None = None  # (k,) their renormalized weights
    forwards: int = 1  # backbone forwards per image at inference
    details: dict[str, Any] = field(default_factory=dict)  # JSON-ready, for the lineage


# fn(run, alpha, variant, prepared) -> Built
ComposeFn = Callable[[RunContext, Tensor, "Variant", Any], Built]


@dataclass(frozen=True)
class CompositionSpec:
    """A registered composition."""

    name: str
    fn: ComposeFn
    single_prompt: bool  # the result is one plain prompt (one forward per image)
    learnable: bool  # supports learn_alpha
    summary: str


# name -> composition; the built-ins (below) are listed in promptkit/builtins.py.
COMPOSITIONS: Registry[CompositionSpec] = Registry(
    "composition", home=__name__, listing="promptkit plugins compositions", summarize=lambda spec: spec.summary
)


def register_composition(name: str, *, single_prompt: bool, learnable: bool) -> Callable[[ComposeFn], ComposeFn]:
    """Decorator: register ``fn(run, alpha, variant, prepared) -> Built`` under ``name``.

    The docstring's first line is the composition's summary.

    Args:
        single_prompt: the result is one plain prompt (one forward per image).
        learnable: the composition supports ``learn_alpha``.

    Raises:
        ValueError: the name is taken.
    """

    def deco(fn: ComposeFn) -> ComposeFn:
        key = canonical_name(name)
        summary = ((fn.__doc__ or "").strip().splitlines() or [key])[0].strip()
        COMPOSITIONS.add(key, CompositionSpec(key, fn, single_prompt, learnable, summary))
        return fn

    return deco


def get_composition(name: str) -> CompositionSpec:
    """The composition registered under ``name``.

    Raises:
        UsageError: unknown name; the hint lists the registered ones.
    """
    return COMPOSITIONS.lookup(name)


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: a method, and for weight methods how alpha becomes the model."""

    method: str
    composition: str = "average"
    learn_alpha: bool = False

    @property
    def label(self) -> str:
        """``hgprompt``, ``hgprompt+ensemble``, ``hgprompt+average+learned``, ..."""
        parts = [self.method]
        if self.composition != "average" or self.learn_alpha:
            parts.append(self.composition)
        if self.learn_alpha:
            parts.append("learned")
        return "+".join(parts)


def parse_variant(text: str | Variant, *, weight_methods: set[str] | None = None) -> Variant:
    """``"hgprompt"``, ``"hgprompt+ensemble"`` or ``"hgprompt+ensemble+learned"`` -> :class:`Variant`.

    A method named alone uses ``average`` (its classic definition).

    Raises:
        UsageError: an unknown composition, ``learned`` where the composition cannot learn alpha,
            or a composition on a method that uses no weights (``weight_methods`` when given).
    """
    if isinstance(text, Variant):
        v = text
    else:
        parts = [p.strip().lower().replace("_", "-") for p in str(text).split("+")]
        if not parts[0] or len(parts) > 3 or (len(parts) == 3 and parts[2] != "learned"):
            raise UsageError(f"cannot read {text!r} as a method",
                             hint="write METHOD, METHOD+COMPOSITION or METHOD+COMPOSITION+learned, "
                                  "e.g. hgprompt+ensemble")
        v = Variant(parts[0], parts[1] if len(parts) > 1 else "average", len(parts) == 3)
    spec = get_composition(v.composition)
    if v.learn_alpha and not spec.learnable:
        raise UsageError(f"the {spec.name} composition cannot learn its weights",
                         hint="learned weights work with " + format_choices(sorted(
                             n for n, s in COMPOSITIONS.items() if s.learnable)))
    if weight_methods is not None and v.method not in weight_methods and v.label != v.method:
        raise UsageError(f"{v.method} uses no ensemble weights, so it takes no composition ({v.label})",
                         hint="compositions apply to " + format_choices(sorted(weight_methods)))
    return Variant(v.method, spec.name, v.learn_alpha)


# -- helpers -------------------------------------------------------------------------------------


def _stacked(run: RunContext) -> Tensor:
    return torch.stack([s.prompt.detach().float() for s in run.sources])  # (K, L, m, d)


def _members(run: RunContext, alpha: Tensor) -> tuple[list[int], Tensor]:
    return choose_members(alpha, run.member_rule)


def _member_features(run: RunContext, members: list[int]) -> tuple[list[Tensor], Tensor]:
    """Raw features of the target's training split under each member (through the feature cache), and its labels."""
    pairs = [run.features(run.sources[i], f"features {run.sources[i].ref}") for i in members]
    return [f for f, _ in pairs], pairs[0][1]


def _member_score(prepared: Any, members: list[int], weights: Tensor, lam: float) -> float | None:
    if prepared is None:
        return None
    full = torch.zeros(prepared.num_sources, dtype=torch.float64)
    full[members] = weights.double()
    return evaluate_weights(prepared, full, method="members", lam=lam).transferability


def _member_details(run: RunContext, members: list[int], weights: Tensor) -> dict[str, Any]:
    return {"members": [{"ref": run.sources[i].ref, "weight": float(w)} for i, w in zip(members, weights)]}


# -- the compositions ---------------------------------------------------------------------------


def compose_average(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any) -> Built:
    """P_t = sum_i alpha_i P_i, the paper's target initialization (one prompt)."""
    if variant.learn_alpha:
        from promptkit.prompted_composed import ComposedPromptViT

        model = ComposedPromptViT(run.backbone, _stacked(run), alpha, mode=run.geometry.mode)
        return Built(prompt=model.current_prompt().detach(), model=model)
    return Built(prompt=compose_prompt([s.prompt for s in run.sources], alpha))


def compose_aligned(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any) -> Built:
    """Tokens matched to the top-weight source per layer (optimal assignment), then averaged (one prompt)."""
    prompt, aligned, perms = aligned_average([s.prompt for s in run.sources], alpha)
    details = {"aligned_to": run.sources[int(torch.argmax(alpha))].ref,
               "permutations": {s.ref: p for s, p in zip(run.sources, perms)}}
    if variant.learn_alpha:
        from promptkit.prompted_composed import ComposedPromptViT

        model = ComposedPromptViT(run.backbone, aligned, alpha, mode=run.geometry.mode)
        return Built(prompt=prompt, model=model, details=details)
    return Built(prompt=prompt, details=details)


def compose_ensemble(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any) -> Built:
    """The members that carry the weight, their standardized features mixed by alpha (k forwards, batched)."""
    return _feature_ensemble(run, alpha, variant, prepared, combine="mix")


def compose_stack(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any) -> Built:
    """The heaviest sources (how many: chosen on validation), features side by side, one head (k forwards)."""
    return _feature_ensemble(run, alpha, variant, prepared, combine="stack")


def _feature_ensemble(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any, *, combine: str) -> Built:
    """A :class:`~promptkit.prompted_ensemble.PromptedEnsemble` of the members, their features combined by ``combine``.

    ``mix`` keeps the members of the run's member rule; ``stack`` chooses how many of the
    heaviest sources to keep on the validation images (:func:`choose_stack_members`). The start
    score is T of the members' mixture for ``mix`` (what alpha maximized) and the shrinkage
    H-score of the stacked features themselves for ``stack``.
    """
    from promptkit.prompted_ensemble import PromptedEnsemble

    selection: dict[str, Any] = {}
    if combine == "stack":
        members, weights, selection = choose_stack_members(run, alpha)
    else:
        members, weights = _members(run, alpha)
    feats, labels = _member_features(run, members)
    stats = [standardization(f.double()) for f in feats]
    model = PromptedEnsemble(run.backbone, torch.stack([run.sources[i].prompt.detach().float() for i in members]),
                             weights.float(), torch.stack([m for m, _ in stats]).float(),
                             torch.stack([s for _, s in stats]).float(), mode=run.geometry.mode,
                             learn_alpha=variant.learn_alpha, combine=combine)  # type: ignore[arg-type]
    if combine == "mix":
        score = _member_score(prepared, members, weights, run.lam)
    else:
        score = _stacked_score(feats, stats, weights, labels)
    details = {**_member_details(run, members, weights), "features": combine}
    if selection:
        details["member_selection"] = selection
    return Built(model=model, start_score=score, members=members, member_alpha=weights, forwards=len(members),
                 details=details)


def choose_stack_members(run: RunContext, alpha: Tensor) -> tuple[list[int], Tensor, dict[str, Any]]:
    """The ``stack`` members: the k heaviest sources, k in 1..max_members chosen on the validation images.

    For each k, the head that tuning starts from (a probe on the k members' stacked train
    features, its L2 chosen on validation) is scored by its validation accuracy; the best k wins,
    the smaller on a tie (fewer forwards per image). Only the weights' order matters here, not
    the member rule's cover or minimum weight: a light source can still add dimensions that
    no heavier one has, and the validation images say whether it does. A member rule with
    ``stack_members`` set keeps that many instead, without looking at validation (e.g. a final
    run on train + val that keeps the k an earlier run chose on val).

    Returns:
        ``(indices, weights, selection)``: the chosen sources heaviest first, their renormalized
        weights (sum 1, float64), and for the lineage the rule, each k's validation accuracy
        and the chosen k.
    """
    from promptkit.prompted_ensemble import stack_features
    from promptkit.runs.members import MemberRule
    from promptkit.train.start import fit_probe

    rule = run.member_rule
    top, _ = choose_members(alpha, MemberRule(cover=1.0, max_members=rule.max_members, min_weight=0.0))
    a = alpha.detach().to(torch.float64).cpu()
    if rule.stack_members is not None:
        chosen = top[:rule.stack_members]
        return chosen, a[chosen] / a[chosen].sum(), {"rule": "fixed", "members": len(chosen)}
    train, val = [], []
    for i in top:
        src = run.sources[i]
        f_tr, y_tr = run.features(src, f"features {src.ref}")
        f_va, y_va = run.features(src, f"features {src.ref}:val", split="val")
        mean, std = standardization(f_tr.double())
        train.append((f_tr.double() - mean) / std)
        val.append((f_va.double() - mean) / std)
    by_k: dict[int, float] = {}
    for k in range(1, len(top) + 1):
        w = a[top[:k]] / a[top[:k]].sum()
        z_tr = stack_features(torch.stack(train[:k]), w).float()  # (N_train, k d)
        z_va = stack_features(torch.stack(val[:k]), w).float()  # (N_val, k d)
        probe, _ = fit_probe((z_tr, y_tr), (z_va, y_va), run.splits.num_classes, None, standardize=False)
        by_k[k] = probe.accuracy(z_va, y_va)
    best = max(by_k, key=lambda k: (by_k[k], -k))
    chosen = top[:best]
    weights = a[chosen] / a[chosen].sum()
    return chosen, weights, {"rule": "validation", "val_acc_by_members": {str(k): v for k, v in by_k.items()},
                             "members": best}


def _stacked_score(feats: list[Tensor], stats: list[tuple[Tensor, Tensor]], weights: Tensor, labels: Tensor) -> float:
    """Shrinkage H-score of the members' standardized train features side by side, scaled by sqrt(alpha).

    Shape:
        feats: k tensors ``(N, d)``; weights: ``(k,)``; labels: ``(N,)``.
    """
    from promptkit.prompted_ensemble import stack_features
    from promptkit.scores.shrinkage import shrinkage_hscore

    z = torch.stack([(f.double() - m) / s for f, (m, s) in zip(feats, stats)])  # (k, N, d)
    return float(shrinkage_hscore(stack_features(z, weights), labels))


def compose_distill(run: RunContext, alpha: Tensor, variant: Variant, prepared: Any) -> Built:
    """One prompt distilled from the tuned teacher ensemble (:data:`DISTILL_TEACHER`), started from its heaviest
    member as the teacher's tuning left it (one prompt).

    The student has a member's shape, so it starts as the teacher's own heaviest member, the way a
    distilled student is initialized from its teacher's layers where the shapes allow (Sanh et al.,
    2019, DistilBERT); that member's tuning is part of the teacher's cost, which distillation's
    cost includes. Loss: cross-entropy plus ``DISTILL_WEIGHT * T^2 * KL`` to the teacher's logits
    on the training images (Hinton et al., 2015).
    """
    teacher, ensemble = run.distill_teacher(variant.method)
    top = ensemble.built.members[0]
    start = ensemble.train.prompt[0].detach().float().clone()  # (L, m, d): the heaviest member, tuned
    details = {**_member_details(run, ensemble.built.members, ensemble.built.member_alpha),
               "teacher": ensemble.label, "teacher_val_acc": float(ensemble.train.metrics["val_acc"]),
               "teacher_test_acc": float(ensemble.train.metrics["test_acc"]),
               "start": f"{run.sources[top].ref} as tuned in {ensemble.label}", "start_source": run.sources[top].ref,
               "distill_weight": DISTILL_WEIGHT, "distill_temperature": DISTILL_TEMPERATURE}
    return Built(prompt=start, teacher=teacher, members=list(ensemble.built.members),
                 member_alpha=ensemble.built.member_alpha, details=details)
