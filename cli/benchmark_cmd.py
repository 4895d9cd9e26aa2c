"""`promptkit benchmark`: the HGPrompt paper's protocol over VTAB-1k (or FGVC), end to end, and its table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import handle_errors
from ._options import (
    BackboneOpt,
    BatchOpt,
    DataRootOpt,
    DeviceOpt,
    JsonOpt,
    PrecisionOpt,
    RegistryOpt,
    WeightsOpt,
    WorkersOpt,
)
from ._output import err_console, out_console, phase_progress, print_json

__all__ = ["DEFAULT_METHODS", "benchmark_command", "register"]

# HGPrompt (default composition) and the baselines the paper compares with; `promptkit ensemble --help` lists more.
DEFAULT_METHODS = "random,spt,uniform,best-single,spot,hgprompt+stack"
PAPER_BACKBONE = "vit_base_patch16_224.augreg_in21k"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@handle_errors
def benchmark_command(
    suite: Annotated[str, typer.Argument(help="vtab-1k (19 tasks) or fgvc (5 tasks).")] = "vtab-1k",
    root: DataRootOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run folder: source prompts, one JSON per (task, seed), <out>/table.md and <out>/table.json; "
                      "an existing one is resumed [default: runs/benchmark/SUITE].")] = None,
    tasks: Annotated[str | None, typer.Option(
        "--tasks", help="Comma-separated tasks to run [default: every task of the suite].")] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds of the target runs.")] = "0,1,2",
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated rows of the table.")] = DEFAULT_METHODS,
    protocol: Annotated[str, typer.Option(
        "--protocol", help="paper: choose on train800/val200, then train on train800val200 and test; "
                           "select: report the first run (half the cost).")] = "paper",
    sources: Annotated[str, typer.Option(
        "--sources", help="tune: tune one source prompt per task (saved in the run folder); registry: the latest "
                          "stored prompt of each task for this backbone, tuning the missing ones.")] = "tune",
    backbone: BackboneOpt = PAPER_BACKBONE,
    weights: WeightsOpt = None,
    registry: RegistryOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    epochs: Annotated[int, typer.Option("--epochs", help="Tuning epochs of every method on each target.")] = 100,
    source_epochs: Annotated[int, typer.Option("--source-epochs", help="Tuning epochs of each source prompt.")] = 100,
    mode: Annotated[str, typer.Option("--mode", help="Prompt depth: deep or shallow.")] = "deep",
    length: Annotated[int, typer.Option("--length", help="Prompt tokens per layer.")] = 10,
    lr: Annotated[float, typer.Option("--lr", help="Prompt learning rate (AdamW).")] = 1e-2,
    head_lr: Annotated[float, typer.Option("--head-lr", help="Head learning rate.")] = 1e-3,
    batch_size: BatchOpt = 64,
    probe_l2: Annotated[float | None, typer.Option(
        "--probe-l2", help="L2 of the starting linear probe [default: chosen on val].")] = None,
    lam: Annotated[float, typer.Option("--lam", help="HGPrompt's regularizer weight.")] = 0.0,
    steps: Annotated[int, typer.Option("--steps", help="HGPrompt's weight optimization steps.")] = 300,
    num_workers: WorkersOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Reproduce the HGPrompt paper's table: a source prompt per task, then per target the ensemble of the other
    tasks' prompts against the baselines, over seeds. Resumable: run the same command again after a kill.

    The table (the papers' column order, the group means and the average) is printed on stdout and written
    to <out>/table.md and <out>/table.json; progress goes to stderr.
    """
    from promptkit.backbone import load_backbone
    from promptkit.benchmark import run_benchmark
    from promptkit.benchmark.run import check_tasks
    from promptkit.features import FeatureCache
    from promptkit.train import TrainConfig

    if sources not in ("tune", "registry"):
        from promptkit.errors import UsageError

        raise UsageError(f"unknown --sources {sources!r}", hint="choose tune or registry")
    tune = TrainConfig(mode=mode, length=length, optimizer="adamw", lr=lr, head_lr=head_lr,  # type: ignore[arg-type]
                       epochs=epochs, batch_size=batch_size, probe_l2=probe_l2, device=device,
                       precision=precision, num_workers=num_workers,  # type: ignore[arg-type]
                       baseline_probe=False)  # the table reports the methods only: no frozen-feature probe per run
    config = _config(suite, tasks, seeds, methods, protocol, tune, source_epochs=source_epochs, lam=lam, steps=steps,
                     root=root)
    check_tasks(config)  # a missing task or a bad list line stops here, before the backbone loads
    bb = load_backbone(backbone, weights=weights)
    given = _registry_sources(registry, config.tasks, bb) if sources == "registry" else {}
    folder = out if out is not None else Path("runs") / "benchmark" / config.suite.name
    with phase_progress(True) as progress:
        result = run_benchmark(bb, config, folder, sources=given, cache=FeatureCache(), progress=progress)
    _report(result, folder, json_out=json_out)


def _config(suite: str, tasks: str | None, seeds: str, methods: str, protocol: str, tune: Any, *,
            source_epochs: int, lam: float, steps: int, root: Path | None) -> Any:  # -> BenchmarkConfig
    from promptkit.benchmark import BenchmarkConfig, get_suite
    from promptkit.errors import UsageError

    chosen = get_suite(suite)
    try:
        seed_list = tuple(int(s) for s in _csv(seeds))
    except ValueError:
        raise UsageError(f"--seeds {seeds!r} is not a comma-separated list of integers", hint="e.g. --seeds 0,1,2"
                         ) from None
    names = tuple(chosen.task(t).dataset for t in _csv(tasks)) if tasks else tuple(t.dataset for t in chosen.tasks)
    return BenchmarkConfig(suite=chosen, tasks=names, seeds=seed_list, methods=tuple(_csv(methods)),
                           protocol=protocol, tune=tune, source_tune=tune.replace(epochs=source_epochs),
                           lam=lam, steps=steps, root=root)


def _report(result: Any, folder: Path, *, json_out: bool) -> None:
    err = err_console()
    err.print(f"{len(result.ran)} (task, seed) runs computed, {len(result.resumed)} resumed from {folder / 'runs'}; "
              f"{len(result.tuned_sources)} source prompts tuned", highlight=False)
    err.print(f"table written to {result.markdown_path} and {result.json_path}", highlight=False)
    if json_out:
        print_json({"table": result.table, "markdown_path": str(result.markdown_path),
                    "json_path": str(result.json_path), "ran": result.ran, "resumed": result.resumed,
                    "tuned_sources": result.tuned_sources})
    else:
        out_console().print(result.markdown, highlight=False, markup=False, soft_wrap=True)


def _registry_sources(registry: Path | None, names: tuple[str, ...], bb: Any) -> dict[str, Any]:
    from promptkit.registry.sources import sources_by_task

    from ._options import open_registry

    found = sources_by_task(open_registry(registry), names, weights_sha256=bb.identity.weights_sha256)
    missing = [n for n in names if n not in found]
    if missing:
        err_console().print(f"no stored prompt for {', '.join(missing)} on this backbone: tuning them",
                            highlight=False)
    return found


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark_command)
