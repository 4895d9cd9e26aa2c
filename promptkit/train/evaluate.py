"""Test accuracy of a prompt on a target task (docs/method.md#evaluation).

With the prompt's own head when that head was trained on this task (same classes, same test
images, same transform: the test-split fingerprint, or the whole-task fingerprint, matches);
otherwise with a linear probe fit on the task's training features under the prompt (l2 chosen
on val), which is the single-source transfer accuracy of docs/method.md#evaluation.

An ensemble of prompts (:class:`~promptkit.prompted_ensemble.PromptedEnsemble`: k members whose
standardized features are mixed by alpha) is evaluated the same way on its mixed features:
pass its members as ``prompt`` with ``alpha`` and ``member_stats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import torch
from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.device import resolve_device
from promptkit.features import FeatureCache, extract_features
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.probe import fit_linear_probe, select_l2
from promptkit.prompted import PromptedViT
from promptkit.train.result import TrainSplits

if TYPE_CHECKING:
    from promptkit.prompted_ensemble import PromptedEnsemble

__all__ = ["EvalResult", "ensemble_model", "evaluate", "head_applies"]


@dataclass(frozen=True)
class EvalResult:
    """Outcome of :func:`evaluate`.

    Attributes:
        accuracy: test accuracy.
        method: ``"head"`` (the prompt's own head) or ``"probe"`` (a probe fit here).
        num_test: test images.
        dataset_fingerprint: the task's whole fingerprint.
        test_fingerprint: the test split's fingerprint.
        val_accuracy: the probe's val accuracy (``None`` with the stored head).
        probe_l2: the probe's l2 (``None`` with the stored head).
    """

    accuracy: float
    method: Literal["head", "probe"]
    num_test: int
    dataset_fingerprint: str
    test_fingerprint: str
    val_accuracy: float | None = None
    probe_l2: float | None = None


def head_applies(head_fingerprints: Mapping[str, str] | None, splits: TrainSplits) -> bool:
    """Whether a head trained on the task with these fingerprints classifies ``splits``' classes.

    Args:
        head_fingerprints: ``{"all": whole-task fingerprint, "test": test-split fingerprint}``
            recorded when the head was trained (either key may be missing).
    """
    if not head_fingerprints:
        return False
    return head_fingerprints.get("all") == splits.fingerprint() or (
        "test" in head_fingerprints and head_fingerprints["test"] == splits.fingerprint("test")
    )


def ensemble_model(
    backbone: Backbone,
    members: Tensor,
    alpha: Tensor,
    member_stats: tuple[Tensor, Tensor],
    *,
    identity: BackboneIdentity,
    geometry: PromptGeometry,
    head: tuple[Tensor, Tensor] | None = None,
    combine: str = "mix",
) -> PromptedEnsemble:
    """Wrap ``backbone`` with a stored ensemble, checking that it was made for this backbone.

    Args:
        backbone: the frozen backbone.
        members: the member prompts.
        alpha: their weights, on the simplex.
        member_stats: each member's feature ``(mean, std)``.
        identity: the backbone identity recorded with the ensemble.
        geometry: the members' geometry.
        head: ``(W, b)`` of the linear head on the combined features, installed as ``model.head``.
        combine: how the members' features combine, ``"mix"`` or ``"stack"`` (the manifest's
            ``ensemble.features``; see :class:`~promptkit.prompted_ensemble.PromptedEnsemble`).

    Shape:
        - members: ``(k, L, m, d)``; alpha: ``(k,)``; mean, std: ``(k, d)``; W: ``(C, d)``; b: ``(C,)``

    Raises:
        IncompatibleError: ``identity`` is not ``backbone.identity``, or ``geometry`` does not fit
            the backbone or the members' shape.
    """
    from torch import nn

    from promptkit.errors import IncompatibleError
    from promptkit.identity import check_compatible
    from promptkit.prompted_ensemble import PromptedEnsemble

    check_compatible("ensemble", (backbone.identity, geometry), (identity, geometry))
    fit = backbone.geometry(geometry.mode, geometry.length)
    if geometry != fit:
        raise IncompatibleError("ensemble member geometry", fit.short(), geometry.short(),
                                hint=f"this backbone takes {geometry.mode} prompts of shape {fit.shape}")
    if members.ndim != 4 or tuple(members.shape[1:]) != geometry.shape:
        raise IncompatibleError("ensemble members shape", f"(k, {', '.join(map(str, geometry.shape))})",
                                str(tuple(members.shape)))
    mean, std = member_stats
    model = PromptedEnsemble(backbone, members.float(), alpha.float(), mean.float(), std.float(), mode=geometry.mode,
                             combine=combine)  # type: ignore[arg-type]
    if head is not None:
        w, b = head
        ref = model.members
        linear = nn.Linear(w.shape[1], w.shape[0], device=ref.device, dtype=torch.float32)
        with torch.no_grad():
            linear.weight.copy_(w.float())
            linear.bias.copy_(b.float())
        model.head = linear
    return model


def evaluate(
    backbone: Backbone,
    prompt: Tensor | None,
    splits: TrainSplits,
    *,
    prompt_backbone: BackboneIdentity | None = None,
    geometry: PromptGeometry | None = None,
    head: tuple[Tensor, Tensor] | None = None,
    head_fingerprints: Mapping[str, str] | None = None,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    num_workers: int | None = None,
    l2: float | None = None,
    cache: FeatureCache | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    alpha: Tensor | None = None,
    member_stats: tuple[Tensor, Tensor] | None = None,
    combine: str = "mix",
) -> EvalResult:
    """Test accuracy of ``prompt`` (or of the frozen backbone, ``prompt=None``, or of an ensemble) on a task.

    Args:
        backbone: the frozen backbone.
        prompt: ``(L, m, d)`` prompt tokens, or ``None`` for no prompt; with ``alpha`` an
            ensemble's members ``(k, L, m, d)``.
        splits: the task (train / val / test, fingerprints).
        prompt_backbone: the identity recorded with the prompt; checked against ``backbone``.
        geometry: the prompt's geometry (required with a prompt).
        head: the prompt's folded head ``(W (C, d), b (C,))``, if it has one.
        head_fingerprints: the task fingerprints recorded with the head (see :func:`head_applies`).
        batch_size, device, precision, num_workers: how features are computed.
        l2: probe penalty; ``None`` chooses it on val.
        cache: feature cache; ``None`` computes without caching.
        progress: ``callback(phase, done, total)`` with phases ``features:<split>``.
        alpha, member_stats: an ensemble's weights ``(k,)`` and member feature ``(mean, std)``,
            ``(k, d)`` each: then the features are the members' mixture (:func:`ensemble_model`)
            and ``head`` is the head on it.
        combine: for an ensemble, how its members' features combine (``"mix"`` or ``"stack"``).

    Raises:
        IncompatibleError: the prompt was made for another backbone or does not fit it.
        UsageError: a prompt without its geometry; ``alpha`` without ``member_stats`` or members.
    """
    from promptkit.errors import UsageError

    dev = resolve_device(device)
    backbone.model.to(dev)
    if (alpha is None) != (member_stats is None) or (alpha is not None and prompt is None):
        raise UsageError("evaluate() of an ensemble needs its members (as prompt), alpha and member_stats")
    model = _prompted_model(backbone, prompt, prompt_backbone=prompt_backbone, geometry=geometry, alpha=alpha,
                            member_stats=member_stats, combine=combine)
    feats = _split_features(model, splits, batch_size=batch_size, device=dev, precision=precision,
                            num_workers=num_workers, cache=cache, progress=progress)
    task = _TaskFields(num_test=len(splits.test), dataset_fingerprint=splits.fingerprint(),  # type: ignore[arg-type]
                       test_fingerprint=splits.fingerprint("test"))
    if head is not None and head_applies(head_fingerprints, splits):
        return _head_result(head, feats("test"), task)
    return _probe_result(feats, splits, l2, task)


class _TaskFields(TypedDict):
    """The task's fields of an :class:`EvalResult`, whichever way it is evaluated."""

    num_test: int
    dataset_fingerprint: str
    test_fingerprint: str


def _prompted_model(
    backbone: Backbone,
    prompt: Tensor | None,
    *,
    prompt_backbone: BackboneIdentity | None,
    geometry: PromptGeometry | None,
    alpha: Tensor | None,
    member_stats: tuple[Tensor, Tensor] | None,
    combine: str = "mix",
) -> PromptedViT | PromptedEnsemble:
    """The model whose features are evaluated: the bare backbone, the prompted one, or the ensemble.

    Raises:
        IncompatibleError: the prompt was made for another backbone or does not fit it.
        UsageError: a prompt (or ensemble members) without its geometry.
    """
    from promptkit.errors import UsageError

    if prompt is None:
        return PromptedViT(backbone)
    if alpha is not None and member_stats is not None:
        if geometry is None:
            raise UsageError("evaluate() needs the ensemble members' geometry")
        return ensemble_model(backbone, prompt, alpha, member_stats, identity=prompt_backbone or backbone.identity,
                              geometry=geometry, combine=combine)
    if geometry is None:
        raise UsageError("evaluate() needs the prompt's geometry")
    return PromptedViT.from_prompt(backbone, prompt, identity=prompt_backbone or backbone.identity,
                                   geometry=geometry)


def _split_features(
    model: PromptedViT | PromptedEnsemble,
    splits: TrainSplits,
    *,
    batch_size: int,
    device: torch.device,
    precision: str,
    num_workers: int | None,
    cache: FeatureCache | None,
    progress: Callable[[str, int, int], None] | None,
) -> Callable[[str], tuple[Tensor, Tensor]]:
    """A function of a split's name giving its ``(features, labels)`` under ``model`` (from ``cache`` if given)."""

    def feats(split: str) -> tuple[Tensor, Tensor]:
        cb = (lambda d, t: progress(f"features:{split}", d, t)) if progress else None
        kw = dict(batch_size=batch_size, device=device, precision=precision, num_workers=num_workers, progress=cb)
        ds = getattr(splits, split)
        if cache is None:
            return extract_features(model, ds, **kw)
        return cache.features(model, ds, dataset_fingerprint=splits.fingerprint(split), split=split, **kw)

    return feats


def _head_result(head: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], task: _TaskFields) -> EvalResult:
    """Test accuracy of the prompt's own head ``(W, b)`` on the test ``(features, labels)``."""
    test_f, test_y = test
    w, b = head
    logits = test_f @ w.float().T + b.float()
    acc = float((logits.argmax(1) == test_y).double().mean()) if test_y.numel() else 0.0
    return EvalResult(accuracy=acc, method="head", **task)


def _probe_result(
    feats: Callable[[str], tuple[Tensor, Tensor]], splits: TrainSplits, l2: float | None, task: _TaskFields
) -> EvalResult:
    """Test accuracy of a linear probe fit on the train features (``l2`` chosen on val when ``None``)."""
    train, val, test = feats("train"), feats("val"), feats("test")
    c = splits.num_classes
    if l2 is None:
        l2 = select_l2(train[0], train[1], val[0], val[1], num_classes=c)
    probe = fit_linear_probe(train[0], train[1], num_classes=c, l2=l2)
    return EvalResult(accuracy=probe.accuracy(*test), method="probe", val_accuracy=probe.accuracy(*val),
                      probe_l2=l2, **task)
