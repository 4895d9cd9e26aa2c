"""PNG charts for `rank --plot` (scores per source) and `show --plot` (a training curve).

matplotlib is optional (``pip install promptkit[plot]``): asking for a plot without it is a usage
error raised before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PLOT_HINT", "plot_rank", "plot_training_curve", "require_matplotlib"]

PLOT_HINT = "install the plotting extra: pip install promptkit[plot]"


def require_matplotlib() -> None:
    """Fail early, with the install command, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from promptkit.errors import UsageError

        raise UsageError("--plot needs matplotlib, which is not installed", hint=PLOT_HINT) from None


def _pyplot() -> Any:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_rank(result: Any, rows: list[Any], path: Path) -> Path:
    """Horizontal bars of the primary score per source, best on top; transfer accuracy when measured."""
    plt = _pyplot()
    refs = [r.ref for r in rows][::-1]
    scores = [r.scores[result.primary] for r in rows][::-1]
    has_acc = any(r.transfer_acc is not None for r in rows)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(9 if has_acc else 6, 0.35 * len(refs) + 1.4),
                             sharey=True, squeeze=False)
    axes[0][0].barh(refs, scores, color="tab:blue")
    axes[0][0].set_xlabel(result.primary)
    axes[0][0].set_xlim(min(scores) - 0.05 * (max(scores) - min(scores) or 1.0), max(scores))
    if has_acc:
        axes[0][1].barh(refs, [r.transfer_acc for r in rows][::-1], color="tab:green")
        axes[0][1].set_xlabel("single-source transfer accuracy")
    axes[0][0].tick_params(axis="y", labelsize=8)
    fig.suptitle(f"transferability to {result.target}")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_training_curve(ref: str, history: list[dict[str, float]], path: Path) -> Path:
    """Training loss (left axis) and train/validation accuracy (right axis) per epoch."""
    plt = _pyplot()
    epochs = [int(h["epoch"]) for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    loss = [h.get("train_loss", float("nan")) for h in history]
    ax.plot(epochs, loss, color="tab:red", marker="o", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    acc = ax.twinx()
    for key, colour in (("train_acc", "tab:blue"), ("val_acc", "tab:green")):
        acc.plot(epochs, [h.get(key, float("nan")) for h in history], color=colour, marker=".",
                 label=key.replace("_acc", " acc"))
    acc.set_ylabel("accuracy")
    lines = ax.get_legend_handles_labels()
    more = acc.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    ax.set_title(f"training curve of {ref}")
    fig.tight_layout()
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
