"""Test accuracy of a prompt on a target task (METHOD.md section 7).

With the prompt's own head when that head was trained on this task (same classes, same test
images, same transform: the test-split fingerprint, or the whole-task fingerprint, matches);
otherwise with a linear probe fit on the task's training features under the prompt (l2 chosen
on val), which is the single-source transfer accuracy of METHOD.md section 7.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from promptkit.backbone import Backbone
from promptkit.device import resolve_device
from promptkit.features import FeatureCache, extract_features
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.probe import fit_linear_probe, select_l2
from promptkit.prompted import PromptedViT
from promptkit.train.loop import TrainSplits

__all__ = ["EvalResult", "evaluate", "head_applies"]


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
) -> EvalResult:
    """Test accuracy of ``prompt`` (or of the frozen backbone, ``prompt=None``) on a task.

    Args:
        backbone: the frozen backbone.
        prompt: ``(L, m, d)`` prompt tokens, or ``None`` for no prompt.
        splits: the task (train / val / test, fingerprints).
        prompt_backbone: the identity recorded with the prompt; checked against ``backbone``.
        geometry: the prompt's geometry (required with a prompt).
        head: the prompt's folded head ``(W (C, d), b (C,))``, if it has one.
        head_fingerprints: the task fingerprints recorded with the head (see :func:`head_applies`).
        batch_size, device, precision, num_workers: how features are computed.
        l2: probe penalty; ``None`` chooses it on val.
        cache: feature cache; ``None`` computes without caching.
        progress: ``callback(phase, done, total)`` with phases ``features:<split>``.

    Raises:
        IncompatibleError: the prompt was made for another backbone or does not fit it.
        UsageError: a prompt without its geometry.
    """
    from promptkit.errors import UsageError

    dev = resolve_device(device)
    backbone.model.to(dev)
    if prompt is None:
        model = PromptedViT(backbone)
    else:
        if geometry is None:
            raise UsageError("evaluate() needs the prompt's geometry")
        model = PromptedViT.from_prompt(backbone, prompt, identity=prompt_backbone or backbone.identity,
                                        geometry=geometry)

    def feats(split: str) -> tuple[Tensor, Tensor]:
        cb = (lambda d, t: progress(f"features:{split}", d, t)) if progress else None
        kw = dict(batch_size=batch_size, device=dev, precision=precision, num_workers=num_workers, progress=cb)
        ds = getattr(splits, split)
        if cache is None:
            return extract_features(model, ds, **kw)
        return cache.features(model, ds, dataset_fingerprint=splits.fingerprint(split), split=split, **kw)

    common = dict(num_test=len(splits.test), dataset_fingerprint=splits.fingerprint(),  # type: ignore[arg-type]
                  test_fingerprint=splits.fingerprint("test"))
    if head is not None and head_applies(head_fingerprints, splits):
        test_f, test_y = feats("test")
        w, b = head
        logits = test_f @ w.float().T + b.float()
        acc = float((logits.argmax(1) == test_y).double().mean()) if test_y.numel() else 0.0
        return EvalResult(accuracy=acc, method="head", **common)  # type: ignore[arg-type]
    train, val, test = feats("train"), feats("val"), feats("test")
    c = splits.num_classes
    if l2 is None:
        l2 = select_l2(train[0], train[1], val[0], val[1], num_classes=c)
    probe = fit_linear_probe(train[0], train[1], num_classes=c, l2=l2)
    return EvalResult(accuracy=probe.accuracy(*test), method="probe", val_accuracy=probe.accuracy(*val),
                      probe_l2=l2, **common)  # type: ignore[arg-type]
