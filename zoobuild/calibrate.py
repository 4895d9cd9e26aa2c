"""Calibration of the suite: is each task learnable, and is there room above a frozen probe?

For every task: chance, a linear probe on raw pixels, a linear probe on a randomly initialized
ViT of the zoo's architecture (cls token and average-pooled patch tokens), a small CNN trained
from scratch on the 800 training images (the "learnable" check of docs/zoo.md#lesson-4), and,
when a backbone is given, the same linear probe on its frozen features. Probes use
:func:`promptkit.probe.fit_linear_probe` with the penalty chosen on the val split.

Run ``python -m zoobuild.calibrate`` (from the repository root) for a markdown table (``--help`` for options).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from promptkit.probe import fit_linear_probe, select_l2
from promptkit.progress import PhaseProgress
from promptkit.zoo.arch import normalize
from promptkit.zoo.suite import TASKS, generate

__all__ = ["CalibrationRow", "calibrate", "markdown", "probe_columns", "small_cnn_accuracy", "vit_features"]


@torch.no_grad()
def vit_features(model: nn.Module, images: torch.Tensor, *, batch: int = 250) -> dict[str, torch.Tensor]:
    """Frozen features of a timm ViT: the cls token and the mean of the patch tokens (after the final norm).

    Shape:
        images: ``(N, 3, H, W)`` uint8; returns ``{"cls": (N, D), "avg": (N, D)}``.
    """
    model.eval()
    cls, avg = [], []
    for i in range(0, images.shape[0], batch):
        tokens = model.forward_features(normalize(images[i : i + batch]))  # (B, prefix + patches, D)
        prefix = int(getattr(model, "num_prefix_tokens", 1))
        cls.append(tokens[:, 0])
        avg.append(tokens[:, prefix:].mean(dim=1))
    return {"cls": torch.cat(cls), "avg": torch.cat(avg)}


def _probe(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
           test: tuple[torch.Tensor, torch.Tensor], num_classes: int) -> float:  # fmt: skip
    l2 = select_l2(*train, *val, grid=(1e-3, 1e-2, 1e-1), num_classes=num_classes)
    return fit_linear_probe(*train, l2=l2, num_classes=num_classes).accuracy(*test)


def probe_columns(
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
) -> dict[str, float]:
    """Linear-probe test accuracy for each kind of feature ``features`` returns.

    Args:
        features: images -> named feature matrices.
        splits: ``train``, ``val`` and ``test`` as ``(images, labels)``.
        num_classes: number of labels.
    """
    feats = {s: features(x) for s, (x, _) in splits.items()}
    out = {}
    for kind in feats["train"]:
        out[kind] = _probe(
            *((feats[s][kind], splits[s][1]) for s in ("train", "val", "test")), num_classes=num_classes
        )
    return out


class _SmallCNN(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        self.body = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def small_cnn_accuracy(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    *,
    epochs: int = 15,
    seed: int = 0,
) -> float:
    """Test accuracy of a 3-layer CNN (16-32-64 channels) trained from scratch (AdamW, one-cycle, batch 64).

    Not a ceiling: a cheap check that the labels can be learned from 800 images at all.
    """
    torch.manual_seed(seed)
    model = _SmallCNN(num_classes)
    x, y = normalize(train[0]), train[1]
    steps = epochs * ((x.shape[0] + 63) // 64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(normalize(test[0][i : i + 500])).argmax(1) for i in range(0, test[0].shape[0], 500)])
    return float((pred == test[1]).float().mean())


@dataclass
class CalibrationRow:
    """Accuracies of one task (test split), keyed by column name."""

    task: str
    chance: float
    columns: dict[str, float] = field(default_factory=dict)


def calibrate(
    tasks: Sequence[str] | None = None,
    *,
    backbones: dict[str, nn.Module] | None = None,
    cnn_epochs: int = 15,
    test_size: int | None = None,
    seed: int = 0,
    progress: PhaseProgress | None = None,
) -> list[CalibrationRow]:
    """Measure the calibration columns for each task.

    Args:
        tasks: task names (all of :data:`TASKS` when None).
        backbones: named frozen ViTs whose cls and avg probes become columns ``<name>-cls`` and
            ``<name>-avg`` (e.g. ``{"random": vit_random, "pretrained": vit_zoo}``).
        cnn_epochs: epochs of the small CNN; 0 leaves that column out.
        test_size: images in the test split (the suite's 1,000 when None).
        seed: dataset seed.
        progress: called with ``(tasks done, tasks total)``.
    """
    names = list(TASKS) if tasks is None else list(tasks)
    rows = []
    for i, name in enumerate(names):
        spec = TASKS[name]
        splits = {
            "train": generate(name, "train", seed=seed),
            "val": generate(name, "val", seed=seed),
            "test": generate(name, "test", seed=seed, n=test_size),
        }
        row = CalibrationRow(name, 1.0 / spec.num_classes)
        row.columns["pixels"] = probe_columns(lambda x: {"": normalize(x).flatten(1)}, splits, spec.num_classes)[""]
        for label, model in (backbones or {}).items():
            for kind, acc in probe_columns(lambda x, m=model: vit_features(m, x), splits, spec.num_classes).items():
                row.columns[f"{label}-{kind}"] = acc
        if cnn_epochs:
            row.columns["cnn"] = small_cnn_accuracy(
                splits["train"], splits["test"], spec.num_classes, epochs=cnn_epochs, seed=seed
            )
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(names))
    return rows


def markdown(rows: Sequence[CalibrationRow]) -> str:
    """The rows as a markdown table (accuracies with two decimals)."""
    cols = list(dict.fromkeys(c for r in rows for c in r.columns))
    lines = ["| task | chance | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in rows:
        vals = " | ".join(f"{r.columns[c]:.2f}" if c in r.columns else "" for c in cols)
        lines.append(f"| {r.task} | {r.chance:.2f} | {vals} |")
    return "\n".join(lines)


def _main() -> None:
    import argparse

    from promptkit.zoo.arch import ArchConfig, build_vit, load_zoo_vit

    ap = argparse.ArgumentParser(description="Calibration table of the zoo suite (markdown on stdout).")
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--weights", default=None, help="a zoobuild.pretrain output folder: adds pretrained columns")
    ap.add_argument("--cnn-epochs", type=int, default=15)
    ap.add_argument("--test-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    backbones: dict[str, nn.Module] = {}
    if args.weights:
        pretrained = load_zoo_vit(args.weights)
        backbones["random"] = build_vit(ArchConfig(**pretrained.zoo_arch), seed=args.seed)
        backbones["pretrained"] = pretrained
    else:
        backbones["random"] = build_vit(ArchConfig(), seed=args.seed)
    rows = calibrate(
        args.tasks,
        backbones=backbones,
        cnn_epochs=args.cnn_epochs,
        test_size=args.test_size,
        seed=args.seed,
        progress=lambda i, n: print(f"[{i}/{n}]", flush=True),
    )
    print(markdown(rows))


if __name__ == "__main__":
    _main()
