"""Pretrain the zoo backbone: a small timm VisionTransformer on the letter-scene pretext.

The run is time-budgeted and restartable: it fixes its number of steps after timing the first
few (or takes ``steps``), writes a checkpoint every few minutes, and resumes from it after a
kill. Every batch is drawn from ``(seed, step)`` and the model from ``seed``, so a resumed run
follows the same trajectory as an uninterrupted one (bit-identical when the thread count is
the same). Progress goes to ``log.jsonl`` in the output folder as JSON lines.

Outputs in ``out``: ``backbone.safetensors`` (the ViT trunk, no heads), ``heads.safetensors``
(the pretext heads, for inspection), ``record.json`` (architecture, pretext, recipe, seed, time
taken, final pretext accuracy per head, weights digest) and ``log.jsonl``. The architecture and its
loading are runtime code (:mod:`promptkit.zoo.arch`); this module only trains it.

Usage: ``python -m zoobuild.pretrain --out DIR --minutes 55 --seed 0`` (``--smoke`` for a
~30 s run).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from promptkit.errors import UsageError
from promptkit.progress import PhaseProgress
from promptkit.zoo.arch import PRETRAINED_CFG, RECORD_FILE, WEIGHTS_FILE, ArchConfig, build_vit, normalize
from zoobuild.pretext import IGNORE, PRETEXT_HEADS, pretext_batch

__all__ = ["PretextModel", "Recipe", "pretrain", "smoke_config"]

HEADS_FILE = "heads.safetensors"
LOG_FILE = "log.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
MAX_WEIGHT_BYTES = 5 * 1024 * 1024  # the size limit; float16 is used only if float32 exceeds it


@dataclass(frozen=True)
class Recipe:
    """How the pretext is trained."""

    # time and steps
    minutes: float = 55.0  # training budget, summed over resumes
    steps: int | None = None  # fixed total steps (reproducible); None: estimated after timing `timing_steps`
    timing_steps: int = 50  # steps timed to turn the budget into a step count (more: robust to a busy machine)
    # optimisation
    batch_size: int = 128
    lr: float = 1e-3  # AdamW peak
    weight_decay: float = 0.05
    warmup_steps: int = 300  # linear warm-up (at most a tenth of the run), then cosine to min_lr_ratio * lr
    min_lr_ratio: float = 0.02
    grad_clip: float = 1.0
    patch_loss_weight: float = 1.0  # weight of the per-patch objectness loss against each global head
    # bookkeeping
    checkpoint_minutes: float = 3.0
    eval_every: int = 250  # steps between pretext-val evaluations (logged)
    val_size: int = 512
    threads: int | None = None  # torch threads; None leaves torch's setting
    seed: int = 0


class PretextModel(nn.Module):
    """The ViT plus one linear head per pretext head (global heads on the pooled token, the
    patch head on every patch token)."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit
        d = int(vit.embed_dim)
        self.heads = nn.ModuleDict({name: nn.Linear(d, h.num_classes) for name, h in PRETEXT_HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens = self.vit.forward_features(x)  # (B, 1 + P, D)
        pooled = self.vit.forward_head(tokens, pre_logits=True)  # (B, D)
        patches = tokens[:, self.vit.num_prefix_tokens :]  # (B, P, D)
        return {
            name: head(patches).squeeze(-1) if PRETEXT_HEADS[name].kind == "patch" else head(pooled)
            for name, head in self.heads.items()
        }


def _losses(out: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], recipe: Recipe) -> dict[str, torch.Tensor]:
    losses = {}
    for name, h in PRETEXT_HEADS.items():
        if h.kind == "patch":
            losses[name] = recipe.patch_loss_weight * nn.functional.binary_cross_entropy_with_logits(
                out[name], targets[name]
            )
        elif bool((targets[name] != IGNORE).any()):
            losses[name] = nn.functional.cross_entropy(out[name], targets[name], ignore_index=IGNORE)
    return losses


@torch.no_grad()
def _evaluate(model: PretextModel, val: tuple[torch.Tensor, dict[str, torch.Tensor]]) -> dict[str, float]:
    model.eval()
    images, targets = val
    outs = [model(normalize(images[i : i + 256])) for i in range(0, images.shape[0], 256)]
    acc = {}
    for name, h in PRETEXT_HEADS.items():
        logits = torch.cat([o[name] for o in outs])
        if h.kind == "patch":
            acc[name] = float(((logits > 0).float() == targets[name]).float().mean())
        else:
            keep = targets[name] != IGNORE
            acc[name] = float((logits[keep].argmax(-1) == targets[name][keep]).float().mean())
    model.train()
    return acc


def _draw(recipe: Recipe, step: int, threads: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    # Drawing is many small elementwise kernels, which run faster on one thread than on two
    # (thread start-up dominates, worse on a shared machine); the model gets its threads back.
    torch.set_num_threads(1)
    try:
        return pretext_batch(recipe.batch_size, seed=recipe.seed, step=step)
    finally:
        torch.set_num_threads(threads)


def _lr(step: int, total: int, recipe: Recipe) -> float:
    # warm-up: warmup_steps, or a tenth of a shorter run. A budgeted run learns its total only
    # after the timing steps and warms up over warmup_steps until then, so rerunning it with
    # --steps <its total_steps> retraces it exactly when total_steps >= 10 * warmup_steps.
    warm = max(1, min(recipe.warmup_steps, total // 10))
    if step < warm:
        return recipe.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    floor = recipe.lr * recipe.min_lr_ratio
    return floor + (recipe.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # no weight decay on biases, norms, tokens and position embeddings (the usual ViT recipe)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "token" in name or "pos_embed" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.999))


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@dataclass
class _State:
    step: int = 0
    total_steps: int | None = None
    elapsed_s: float = 0.0  # training time over all sessions
    sessions: int = 0
    last_eval: dict[str, float] = field(default_factory=dict)


def _log(out: Path, record: dict[str, Any]) -> None:
    with open(out / LOG_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")


def pretrain(
    out: str | os.PathLike[str],
    *,
    arch: ArchConfig = ArchConfig(),
    recipe: Recipe = Recipe(),
    progress: PhaseProgress | None = None,
) -> dict[str, Any]:
    """Pretrain (or resume pretraining) the zoo backbone into ``out``.

    Args:
        out: output folder; a checkpoint found there is resumed if its arch and recipe match.
        arch: the ViT.
        recipe: the training recipe and budget.
        progress: called with ``(step, total_steps)`` after each step once the total is known.

    Returns:
        The record written to ``record.json``.

    Raises:
        UsageError: a checkpoint in ``out`` was made with another arch or recipe.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    model, opt, state, config = _start(out, arch, recipe)
    val = pretext_batch(recipe.val_size, seed=recipe.seed, step=-1)  # step -1: never a training batch
    _log(out, {"event": "start", "session": state.sessions, "step": state.step, "threads": torch.get_num_threads()})
    _train(out, model, opt, state, config, recipe, val, progress)
    _checkpoint(out / CHECKPOINT_FILE, config, model, opt, state)
    final = _evaluate(model, val)
    trunk, dtype = _save_weights(out, model, arch)
    record = _record(out, arch, recipe, state, trunk, dtype, final)
    (out / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    _log(out, {"event": "done", "step": state.step, **{f"acc_{k}": v for k, v in final.items()}})
    return record


def _start(
    out: Path, arch: ArchConfig, recipe: Recipe
) -> tuple[PretextModel, torch.optim.Optimizer, _State, dict[str, Any]]:
    """The model, optimizer and state of a new session: fresh, or resumed from the checkpoint in ``out``.

    Also returns the configuration a checkpoint must match to be resumed.
    """
    model = PretextModel(build_vit(arch, seed=recipe.seed))
    # heads get their own init stream so that they do not shift the trunk's
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed + 1)
        for head in model.heads.values():
            head.reset_parameters()
    opt = _optimizer(model, recipe)
    state = _State()
    ckpt = out / CHECKPOINT_FILE
    # what decides the trajectory; the budget, threads and bookkeeping may change between sessions
    bookkeeping = {"minutes": None, "threads": None, "checkpoint_minutes": None, "eval_every": None}
    config = {"arch": asdict(arch), "recipe": {**asdict(recipe), **bookkeeping}}
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        if saved["config"] != config:
            raise UsageError(
                f"{ckpt} was made with another configuration",
                hint="pass the same arch and recipe (seed, steps, ...) or choose another --out",
            )
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state = _State(**saved["state"])
    if recipe.steps is not None:
        state.total_steps = recipe.steps
    state.sessions += 1
    return model, opt, state, config


def _train(
    out: Path,
    model: PretextModel,
    opt: torch.optim.Optimizer,
    state: _State,
    config: dict[str, Any],
    recipe: Recipe,
    val: tuple[torch.Tensor, dict[str, torch.Tensor]],
    progress: PhaseProgress | None,
) -> None:
    """The training loop of one session: until the total steps or the time budget, logging, evaluating and
    checkpointing on the way (``state`` is updated in place)."""
    budget_s = recipe.minutes * 60.0
    session_start = time.perf_counter()
    base_elapsed = state.elapsed_s
    last_ckpt = session_start
    timing_start: float | None = None
    threads = torch.get_num_threads()
    model.train()
    while state.total_steps is None or state.step < state.total_steps:
        if state.elapsed_s >= budget_s:
            break
        lr, loss, losses = _optimize(model, opt, recipe, state.step, state.total_steps, threads)
        state.step += 1
        now = time.perf_counter()
        state.elapsed_s = base_elapsed + (now - session_start)
        timing_start = _plan_steps(out, state, recipe, budget_s, now, timing_start)
        if state.step % 25 == 0 or state.step == state.total_steps:
            pace = state.step * recipe.batch_size / max(state.elapsed_s, 1e-9)
            entry = {"step": state.step, "lr": lr, "loss": round(loss.item(), 4)}
            entry.update({f"loss_{k}": round(v.item(), 4) for k, v in losses.items()})
            _log(out, {**entry, "elapsed_s": round(state.elapsed_s, 1), "img_per_s": round(pace, 1)})
        if state.step % recipe.eval_every == 0:
            state.last_eval = _evaluate(model, val)
            _log(out, {"event": "eval", "step": state.step, **state.last_eval})
        if now - last_ckpt >= recipe.checkpoint_minutes * 60.0:
            _checkpoint(out / CHECKPOINT_FILE, config, model, opt, state)
            last_ckpt = now
            _log(out, {"event": "checkpoint", "step": state.step})
        if progress is not None and state.total_steps is not None:
            progress(state.step, state.total_steps)


def _optimize(
    model: PretextModel, opt: torch.optim.Optimizer, recipe: Recipe, step: int, total: int | None, threads: int
) -> tuple[float, torch.Tensor, dict[str, torch.Tensor]]:
    """One optimizer step on the batch of ``step``; returns the learning rate, the loss and the loss of each head."""
    images, targets = _draw(recipe, step, threads)
    lr = _lr(step, total or 10**9, recipe)
    for group in opt.param_groups:
        group["lr"] = lr
    losses = _losses(model(normalize(images)), targets, recipe)
    loss = sum(losses.values())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    opt.step()
    return lr, loss, losses


def _plan_steps(
    out: Path, state: _State, recipe: Recipe, budget_s: float, now: float, timing_start: float | None
) -> float | None:
    """Turn the time budget into a step count once the pace is known (first steps excluded: warm-up of kernels).

    Timing starts after step 2 and lasts ``recipe.timing_steps`` steps; returns the timing start.
    """
    if state.total_steps is not None:
        return timing_start
    if state.step == 2:
        return now
    if timing_start is not None and state.step == 2 + recipe.timing_steps:
        per_step = (now - timing_start) / recipe.timing_steps
        remaining = max(0.0, budget_s - state.elapsed_s) * 0.97  # leave time for evals and checkpoints
        state.total_steps = state.step + int(remaining / per_step)
        _log(out, {"event": "total_steps", "total_steps": state.total_steps, "sec_per_step": per_step})
    return timing_start


def _checkpoint(
    ckpt: Path, config: dict[str, Any], model: PretextModel, opt: torch.optim.Optimizer, state: _State
) -> None:
    _atomic_save({"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                  "state": asdict(state)}, ckpt)  # fmt: skip


def _save_weights(out: Path, model: PretextModel, arch: ArchConfig) -> tuple[dict[str, torch.Tensor], str]:
    """Write the trunk (float16 only if float32 exceeds the size limit) and the heads.

    Returns the trunk as saved and its dtype.
    """
    from safetensors.torch import save_file

    trunk = {k: v.detach().contiguous() for k, v in model.vit.state_dict().items()}
    dtype = "float32"
    if sum(v.numel() * 4 for v in trunk.values()) > MAX_WEIGHT_BYTES:
        trunk = {k: v.half() for k, v in trunk.items()}
        dtype = "float16"
    save_file(trunk, str(out / WEIGHTS_FILE), metadata={"format": "pt", "zoo_arch": json.dumps(asdict(arch))})
    save_file({k: v.detach().contiguous() for k, v in model.heads.state_dict().items()}, str(out / HEADS_FILE))
    return trunk, dtype


def _record(
    out: Path,
    arch: ArchConfig,
    recipe: Recipe,
    state: _State,
    trunk: dict[str, torch.Tensor],
    dtype: str,
    final: dict[str, float],
) -> dict[str, Any]:
    """The content of ``record.json``: architecture, pretext, recipe, progress and final pretext accuracy."""
    from promptkit.backbone import state_dict_sha256

    return {
        "backbone": {
            "class": "timm.models.vision_transformer.VisionTransformer",
            "kwargs": arch.timm_kwargs(),
            "pretrained_cfg": PRETRAINED_CFG,
            "parameters": sum(v.numel() for v in trunk.values()),
            "weights_file": WEIGHTS_FILE,
            "weights_dtype": dtype,
            "weights_bytes": (out / WEIGHTS_FILE).stat().st_size,
            "weights_sha256": state_dict_sha256({k: v.float() for k, v in trunk.items()}),
        },
        "pretext": {
            "module": "zoobuild.pretext",
            "description": "letter scenes: 1-4 capital letters and up to 2 unlabelled shapes on flat, gradient, "
            "noise, texture or grating backgrounds",
            "heads": {
                n: {"num_classes": h.num_classes, "kind": h.kind, "factor": h.factor} for n, h in PRETEXT_HEADS.items()
            },  # fmt: skip
        },
        "recipe": {**asdict(recipe), "optimizer": "AdamW", "schedule": "linear warm-up, cosine"},
        "seed": recipe.seed,
        "steps": state.step,
        "total_steps": state.total_steps,
        "completed": state.total_steps is not None and state.step >= state.total_steps,
        "images_seen": state.step * recipe.batch_size,
        "train_minutes": round(state.elapsed_s / 60.0, 2),
        "sessions": state.sessions,
        "threads": torch.get_num_threads(),
        "final_pretext_accuracy": final,
        "versions": {"torch": torch.__version__, "timm": _timm_version(), "python": platform.python_version()},
    }


def _timm_version() -> str:
    import timm

    return str(timm.__version__)


def smoke_config(recipe: Recipe = Recipe(), *, steps: int | None = None) -> tuple[ArchConfig, Recipe]:
    """The ``--smoke`` run: a tiny ViT for about 25 s of training (or ``steps`` steps), for tests and CI."""
    arch = ArchConfig(embed_dim=64, depth=2, num_heads=2)
    recipe = replace(recipe, minutes=0.4, steps=steps, batch_size=32, warmup_steps=10, eval_every=20, val_size=64,
                     checkpoint_minutes=0.1, timing_steps=5)  # fmt: skip
    return arch, recipe


def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Pretrain the zoo backbone on the letter-scene pretext.")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=55.0)
    ap.add_argument("--steps", type=int, default=None, help="fixed total steps (reproduces a run exactly)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=ArchConfig.embed_dim)
    ap.add_argument("--depth", type=int, default=ArchConfig.depth)
    ap.add_argument("--heads", type=int, default=ArchConfig.num_heads)
    ap.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    ap.add_argument("--lr", type=float, default=Recipe.lr)
    ap.add_argument("--smoke", action="store_true", help="a ~30 s run of a tiny model for tests and CI")
    args = ap.parse_args()
    arch = ArchConfig(embed_dim=args.width, depth=args.depth, num_heads=args.heads)
    recipe = Recipe(minutes=args.minutes, steps=args.steps, seed=args.seed, threads=args.threads,
                    batch_size=args.batch_size, lr=args.lr)  # fmt: skip
    if args.smoke:
        arch, recipe = smoke_config(recipe, steps=args.steps)  # --steps still applies (a shorter smoke)

    last = [0.0]

    def show(step: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or step == total:
            last[0] = now
            print(f"step {step}/{total}", flush=True)

    record = pretrain(args.out, arch=arch, recipe=recipe, progress=show)
    print(json.dumps({k: record[k] for k in ("steps", "train_minutes", "final_pretext_accuracy")}, indent=2))


if __name__ == "__main__":
    _main()
