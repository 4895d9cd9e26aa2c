"""`promptkit train`: tune a prompt + linear head on a dataset and store it as a registry asset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ._distributed import distributed_command, writer
from ._errors import handle_errors
from ._options import (
    BackboneOpt,
    BatchOpt,
    DataRootOpt,
    DataSeedOpt,
    DatasetOpt,
    DeviceOpt,
    JsonOpt,
    PrecisionOpt,
    QuietOpt,
    RegistryOpt,
    WeightsOpt,
    WorkersOpt,
    deprecated_spelling,
    open_registry,
)
from ._output import err_console, labelled, out_console, phase_progress, print_json

__all__ = ["register", "train_command"]

ModeOpt = Annotated[str, typer.Option("--mode", help="shallow (one set of tokens) or deep (one per block).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue NAME's interrupted run from its checkpoint.")]
InitOpt = Annotated[str, typer.Option(
    "--init", help="A registered init (`promptkit plugins inits` lists them: random, SPT's kmeans, mean, max, "
                   "sample) or from:<ref> (copy a stored prompt).")]
CheckpointDirOpt = Annotated[Path | None, typer.Option(
    "--checkpoint-dir", help="Where the run's checkpoint lives [default: $PROMPTKIT_HOME/runs/NAME].")]


def _run_dir(name: str) -> Path:
    from promptkit._io import promptkit_home

    return promptkit_home() / "runs" / name.replace("/", "__")


@handle_errors
@distributed_command
def train_command(
    dataset: DatasetOpt,
    backbone: BackboneOpt,
    name: Annotated[str, typer.Option("--name", "-n", help="Registry name to store the result under.")],
    weights: WeightsOpt = None,
    mode: ModeOpt = "shallow",
    length: Annotated[int, typer.Option("--length", "-l", help="Prompt tokens per layer.")] = 10,
    init: InitOpt = "random",
    init_images: Annotated[int, typer.Option("--init-images", help="Training images sampled for SPT inits.")] = 64,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 100,
    lr: Annotated[float, typer.Option("--lr", help="Prompt learning rate.")] = 0.01,
    head_lr: Annotated[float, typer.Option("--head-lr", help="Head learning rate.")] = 0.001,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw, or sgd (momentum 0.9).")] = "adamw",
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="On prompt and head weight.")] = 1e-4,
    warmup_epochs: Annotated[int | None, typer.Option("--warmup-epochs", help="[default: 10% of epochs].")] = None,
    batch_size: BatchOpt = 64,
    keep: Annotated[str, typer.Option("--keep", help="best (highest val accuracy, start included) or last.")] = "best",
    seed: Annotated[int, typer.Option("--seed", help="Seeds the init and the shuffling.")] = 0,
    data_seed: DataSeedOpt = 0,
    self_reg: Annotated[bool, typer.Option("--self-reg", help="PromptSRC agreement with the frozen model.")] = False,
    gpa_mu: Annotated[float | None, typer.Option("--gpa-mu", help="Gaussian prompt aggregation: mean epoch.")] = None,
    gpa_sigma: Annotated[float | None, typer.Option("--gpa-sigma", help="... and its std in epochs.")] = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    num_workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    checkpoint_dir: CheckpointDirOpt = None,
    root: DataRootOpt = None,
    description: Annotated[str, typer.Option("--description", help="Free text for the manifest.")] = "",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    old_length: Annotated[int | None, typer.Option("-m", hidden=True, help="Deprecated: use -l/--length.")] = None,
) -> None:
    """Tune a visual prompt and a linear head on DATASET (VPT, head started from a linear probe).

    Validates each epoch, reports test accuracy at the end next to a frozen-feature probe,
    checkpoints each epoch (--resume continues), and stores prompt, head, metrics and the full
    configuration as the next version of NAME.
    """
    from promptkit.registry.refs import validate_name
    from promptkit.registry.workflows import store_training_result

    from promptkit.backbone import load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.features import FeatureCache
    from promptkit.inits import init_spec
    from promptkit.train import TrainConfig, train_prompt

    length = deprecated_spelling(length, old_length, old="-m", new="-l/--length", default=10,
                                 why="-m means --message in every command")
    config = TrainConfig(
        mode=mode, length=length, init=init, init_images=init_images, optimizer=optimizer, lr=lr, head_lr=head_lr,
        weight_decay=weight_decay, epochs=epochs, warmup_epochs=warmup_epochs, batch_size=batch_size, keep=keep,
        self_reg=self_reg, gpa_mu=gpa_mu, gpa_sigma=gpa_sigma, seed=seed, device=device, precision=precision,
        num_workers=num_workers,
    )
    validate_name(name)
    from promptkit.device import autocast, resolve_device

    autocast(resolve_device(device), precision)  # an unknown device fails before anything loads
    reg = open_registry(registry, create=True)
    # unknown init names fail before anything heavy loads
    source, lineage = _init_source(reg, init) if init_spec(init).needs_source else (None, None)
    bb = load_backbone(backbone, weights=weights)
    splits = load_dataset(dataset, root=root, transform=transform_for(bb.data_config), seed=data_seed)
    run_dir = checkpoint_dir or _run_dir(name)
    show = not quiet and not json_out and writer()  # under torchrun rank 0 alone shows, checkpoints and stores
    with phase_progress(show) as progress:
        result = train_prompt(bb, splits, config, init_source=source, checkpoint_dir=run_dir, resume=resume,
                              cache=None if no_cache else FeatureCache(), progress=progress,
                              on_epoch=_epoch_printer(epochs, show=show))
    if not writer():
        return
    manifest = store_training_result(reg, name, result, splits, lineage=lineage, description=description)
    for warning in result.warnings:
        err_console().print(labelled("warning:", "yellow", str(warning)), highlight=False)
    _render(manifest, result, json_out=json_out, quiet=quiet, run_dir=run_dir)


def _epoch_printer(epochs: int, *, show: bool) -> Callable[[dict[str, float]], None]:
    """The per-epoch line on stderr (terminal or log): epoch, loss, train and val accuracy; none unless ``show``."""

    def on_epoch(record: dict[str, float]) -> None:
        if show:
            err_console().print(
                f"epoch {int(record['epoch'])}/{epochs}  loss {record['train_loss']:.4f}  "
                f"train {record['train_acc']:.3f}  val {record['val_acc']:.3f}", highlight=False)

    return on_epoch


def _init_source(reg: Any, init: str) -> tuple[Any, Any]:
    from promptkit.registry import Lineage, LineageSource

    from promptkit.inits import PromptSource

    ref = init.split(":", 1)[1] if ":" in init else ""
    if not ref:
        from promptkit.errors import UsageError

        raise UsageError("--init from:<ref> needs a reference", hint="e.g. --init from:zoo/textures:1")
    asset = reg.load(ref)
    m = asset.manifest
    source = PromptSource(asset.prompt, m.backbone, m.geometry)
    lineage = Lineage(method="from", sources=[LineageSource(ref=m.ref, sha256=m.sha256, task=m.task)])
    return source, lineage


def _render(manifest: Any, result: Any, *, json_out: bool, quiet: bool, run_dir: Path) -> None:
    m = result.metrics
    if json_out:
        counts = {k: int(v) for k, v in m.items() if "epoch" in k and v == int(v)}  # best_epoch 10, not 10.0
        print_json({"ref": manifest.ref, "sha256": manifest.sha256, "metrics": m | counts, "warnings": result.warnings,
                    "checkpoint_dir": str(run_dir), "config": result.config.to_dict()})
        return
    if quiet:
        out_console().print(manifest.ref, highlight=False)
        return
    from rich.table import Table

    table = Table(title=f"stored {manifest.ref}  ({result.geometry.short()}, init {result.config.init})",
                  title_justify="left")
    for col in ("", "train", "val", "test"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("prompt + head", *(f"{m[f'{s}_acc']:.4f}" for s in ("train", "val", "test")))
    if "probe_test_acc" in m:
        table.add_row("probe, frozen features", *(f"{m[f'probe_{s}_acc']:.4f}" for s in ("train", "val", "test")))
    out_console().print(table)
    best = f"best epoch {int(m['best_epoch'])}, " if "best_epoch" in m else ""
    out_console().print(f"{best}start val {m['start_val_acc']:.4f}; init {m['init_seconds']:.1f} s, "
                        f"training {m['train_seconds']:.1f} s", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
