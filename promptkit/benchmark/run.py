"""The HGPrompt paper's protocol over a suite, end to end, resumable: sources, leave-one-out ensembles, the table.

HGPrompt (Zhang et al., AAAI 2026, arXiv 2504.12311) tunes one source prompt per task and, for
each target task, ensembles the prompts of the *other* tasks, comparing with baselines over
seeds. :func:`run_benchmark` does exactly that on a suite (:mod:`promptkit.benchmark.suites`):

1. a source prompt per task: given (e.g. from the registry), or tuned on the task's select
   splits (train800 / val200) and saved as ``<out>/sources/<task>.safetensors``;
2. for each seed and target: every method (:func:`promptkit.runs.compare`) with the other
   tasks' prompts as sources. With ``protocol="paper"`` (VTAB-1k's, as VPT, NOAH and SSF run
   it) each method is tuned on train800 and chosen on val200 (the best epoch and the head's
   l2), then tuned again on train800val200 for that many epochs and tested; with
   ``"select"`` the first run's test accuracy is reported (half the cost);
3. the table (:mod:`promptkit.benchmark.table`) in the papers' column order with the group means
   and the average, written as ``<out>/table.md`` and ``<out>/table.json``.

Each (target, seed) is written to ``<out>/runs/<task>-s<seed>.json`` when it finishes, each
source prompt when it is tuned, so a killed run resumes where it stopped. ``<out>/benchmark.json``
records the options; resuming with other options is refused (seeds may be added).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit._io import write_atomic
from promptkit.backbone import Backbone
from promptkit.benchmark.suites import Suite
from promptkit.benchmark.table import build_table, table_markdown
from promptkit.data import load_dataset, transform_for
from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache
from promptkit.progress import Progress, prefixed
from promptkit.rank import SourcePrompt
from promptkit.runs import MemberRule, MethodResult, compare, run_method
from promptkit.train import TrainConfig, train_prompt

__all__ = ["PROTOCOLS", "BenchmarkConfig", "BenchmarkResult", "check_tasks", "run_benchmark"]

PROTOCOLS = ("paper", "select")
OPTIONS_FILE = "benchmark.json"


@dataclass(frozen=True)
class BenchmarkConfig:
    """What one benchmark run computes (the device and precision travel in the two TrainConfigs).

    Attributes:
        suite: the suite, for the column order and groups.
        tasks: catalog names of the tasks run (each is a target, and a source for the others).
        seeds: seeds of the target runs (the source prompts are tuned once, with ``source_tune.seed``).
        methods: rows of the table, as :func:`promptkit.runs.compare` names them.
        protocol: ``"paper"`` (select on train800 / val200, then train on train800val200) or ``"select"``.
        tune: how every method tunes its target model (the seed is replaced per run).
        source_tune: how the source prompts are tuned (its mode and length fix the geometry).
        lam, steps, spot_epochs: as :func:`promptkit.runs.compare` takes them.
        root: where the catalog datasets are (``None``: the catalog's default root).
    """

    suite: Suite
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    protocol: str
    tune: TrainConfig
    source_tune: TrainConfig
    lam: float = 0.0
    steps: int = 300
    spot_epochs: int = 1
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise UsageError(f"unknown protocol {self.protocol!r}", hint=f"choose {' or '.join(PROTOCOLS)}")
        if len(self.tasks) < 2:
            raise UsageError(f"{len(self.tasks)} task(s) given; the leave-one-out protocol needs at least 2",
                             hint="each target is ensembled from the other tasks' prompts: give two tasks or more")
        if not self.seeds or not self.methods:
            raise UsageError("no seeds or no methods given", hint="e.g. --seeds 0,1,2 --methods hgprompt,best-single")

    def options(self, backbone: Backbone) -> dict[str, Any]:
        """What decides the results (the record in ``benchmark.json``): not the seeds, device or worker count."""
        return {
            "suite": self.suite.name, "tasks": list(self.tasks), "methods": list(self.methods),
            "protocol": self.protocol, "tune": self.tune.replace(seed=0).semantic_dict(),
            "source_tune": self.source_tune.semantic_dict(), "lam": self.lam, "steps": self.steps,
            "spot_epochs": self.spot_epochs, "backbone": backbone.identity.timm_name,
            "weights_sha256": backbone.identity.weights_sha256,
        }  # fmt: skip


@dataclass
class BenchmarkResult:
    """The table and where it was written, with what this call computed and what it found done."""

    table: dict[str, Any]
    markdown: str
    markdown_path: Path
    json_path: Path
    ran: list[str] = field(default_factory=list)  # "<task> seed <s>" computed now
    resumed: list[str] = field(default_factory=list)  # found finished in <out>/runs
    tuned_sources: list[str] = field(default_factory=list)


def check_tasks(config: BenchmarkConfig) -> None:
    """Read every task's split lists (not its images) now, so that a missing task or a bad line stops the run
    before hours of tuning start.

    Raises:
        DatasetNotFoundError: a task not under the root (the hint says where it is expected).
        ListFileError: a bad line in a list, naming the file and line.
    """
    for dataset in config.tasks:
        load_dataset(dataset, root=config.root)


def _short(dataset: str) -> str:
    return dataset.rsplit("/", 1)[-1]


def _check_options(out: Path, options: dict[str, Any]) -> None:
    path = out / OPTIONS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        diff = sorted(k for k in set(saved) | set(options) if saved.get(k) != options.get(k))
        if diff:
            raise UsageError(
                f"{out} holds a benchmark run with other options ({', '.join(diff)} differ)",
                hint="resume with the same options (seeds may be added), or write to another --out folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(options, indent=1, sort_keys=True).encode())


def _source_file(out: Path, dataset: str) -> Path:
    return out / "sources" / f"{_short(dataset)}.safetensors"


def _load_saved_source(path: Path, dataset: str, backbone: Backbone, mode: str) -> SourcePrompt:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, prompt = f.metadata() or {}, f.get_tensor("prompt")
    if meta.get("weights_sha256") != backbone.identity.weights_sha256:
        raise UsageError(f"{path} was tuned on other backbone weights than {backbone.identity.short()}",
                         hint="write to another --out folder, or remove the sources/ folder to tune again")
    return SourcePrompt(ref=f"benchmark/{_short(dataset)}", prompt=prompt, identity=backbone.identity,
                        geometry=backbone.geometry(mode, int(prompt.shape[1])), task=dataset)  # type: ignore[arg-type]


def _tune_source(backbone: Backbone, dataset: str, config: BenchmarkConfig, path: Path,
                 progress: Progress | None) -> SourcePrompt:
    """Tune ``dataset``'s source prompt on its select splits and save it (prompt only; the head is not needed)."""
    from safetensors.torch import save_file

    splits = load_dataset(dataset, root=config.root, transform=transform_for(backbone.data_config))
    result = train_prompt(backbone, splits, config.source_tune, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"prompt": result.prompt.contiguous()}, str(tmp), metadata={
        "task": dataset, "weights_sha256": backbone.identity.weights_sha256, "mode": result.geometry.mode,
        "val_acc": f"{result.metrics['val_acc']:.6f}", "test_acc": f"{result.metrics['test_acc']:.6f}"})
    tmp.replace(path)
    return SourcePrompt(ref=f"benchmark/{_short(dataset)}", prompt=result.prompt, identity=backbone.identity,
                        geometry=result.geometry, task=dataset)


def _check_given(given: Mapping[str, SourcePrompt], config: BenchmarkConfig, backbone: Backbone) -> None:
    """Given sources must have the geometry the tuned ones will have, and this backbone's weights."""
    mode, length = config.source_tune.mode, config.source_tune.length
    for dataset, src in given.items():
        if src.identity.weights_sha256 != backbone.identity.weights_sha256:
            raise IncompatibleError(f"backbone weights of {src.ref} (the source for {dataset})",
                                    backbone.identity.short(), src.identity.short(),
                                    hint="give sources tuned on this backbone, or --sources tune")
        if (src.geometry.mode, src.geometry.length) != (mode, length):
            raise IncompatibleError(f"prompt geometry of {src.ref} (the source for {dataset})",
                                    f"{mode} x {length}", f"{src.geometry.mode} x {src.geometry.length}",
                                    hint=f"tune with --mode {src.geometry.mode} --length {src.geometry.length}, "
                                         "or --sources tune")


def _sources(backbone: Backbone, config: BenchmarkConfig, out: Path, given: Mapping[str, SourcePrompt],
             progress: Progress | None, tuned: list[str]) -> dict[str, SourcePrompt]:
    found: dict[str, SourcePrompt] = {}
    for k, dataset in enumerate(config.tasks, start=1):
        path = _source_file(out, dataset)
        if dataset in given:
            found[dataset] = given[dataset]
        elif path.is_file():
            found[dataset] = _load_saved_source(path, dataset, backbone, config.source_tune.mode)
        else:
            phase = prefixed(progress, f"source {k}/{len(config.tasks)} {_short(dataset)}: ")
            found[dataset] = _tune_source(backbone, dataset, config, path, phase)
            tuned.append(dataset)
        if progress is not None:
            progress("sources", k, len(config.tasks))
    return found


def _final(result: MethodResult, target: str, backbone: Backbone, sources: Sequence[SourcePrompt],
           config: BenchmarkConfig, seed: int, cache: FeatureCache | None, progress: Progress | None) -> MethodResult:
    """The same method again on train800val200, with the epochs and head l2 chosen on val200.

    The schedule (warm-up, cosine) is fitted to the chosen number of epochs, and the last epoch is
    reported: val200 is part of the training data now, so it cannot choose any more (``stack``
    keeps the number of members it chose on val200).
    """
    splits = load_dataset(target, root=config.root, transform=transform_for(backbone.data_config), stage="final")
    chosen = result.train.metrics
    selected = (result.built.details.get("member_selection") or {}) if result.built is not None else {}
    rule = MemberRule(stack_members=selected["members"]) if "members" in selected else None  # stack's k, from val200
    tune = config.tune.replace(seed=seed, epochs=max(1, int(chosen.get("best_epoch", config.tune.epochs))),
                               keep="last", probe_l2=chosen.get("head_probe_l2"))
    return run_method(result.variant or result.method, backbone, sources, splits, lam=config.lam, steps=config.steps,
                      tune=tune, cache=cache, spot_epochs=config.spot_epochs, member_rule=rule, progress=progress)


def _pair(backbone: Backbone, target: str, seed: int, sources: dict[str, SourcePrompt], config: BenchmarkConfig,
          cache: FeatureCache | None, progress: Progress | None) -> dict[str, Any]:
    """Every method on one target with one seed, the other tasks' prompts as sources."""
    t0 = time.perf_counter()
    others = [sources[t] for t in config.tasks if t != target]
    splits = load_dataset(target, root=config.root, transform=transform_for(backbone.data_config))
    tune = config.tune.replace(seed=seed)
    chosen = compare(list(config.methods), backbone, others, splits, lam=config.lam, steps=config.steps, tune=tune,
                     cache=cache, spot_epochs=config.spot_epochs, progress=prefixed(progress, "select: "))
    rows: dict[str, Any] = {}
    for r in chosen:
        row = {"select_val_acc": float(r.train.metrics["val_acc"]), "select_test_acc": r.test_acc,
               "best_epoch": int(r.train.metrics.get("best_epoch", tune.epochs)), "seconds": r.seconds["total"],
               "test_acc": r.test_acc}  # fmt: skip
        if config.protocol == "paper":
            final = _final(r, target, backbone, others, config, seed, cache, prefixed(progress, f"final {r.label}: "))
            row.update(test_acc=final.test_acc, final_epochs=int(final.train.config.epochs),
                       seconds=row["seconds"] + final.seconds["total"])
        rows[r.label] = row
    return {"target": target, "seed": seed, "protocol": config.protocol, "sources": [s.ref for s in others],
            "methods": rows, "seconds": time.perf_counter() - t0}


def run_benchmark(
    backbone: Backbone,
    config: BenchmarkConfig,
    out: str | Path,
    *,
    sources: Mapping[str, SourcePrompt] | None = None,
    cache: FeatureCache | None = None,
    progress: Progress | None = None,
) -> BenchmarkResult:
    """Run (or resume) the protocol of the module docstring and write the table.

    Args:
        backbone: the frozen backbone every prompt is tuned on.
        config: the suite, tasks, seeds, methods, protocol and tuning settings.
        out: the run folder (created); a folder of an earlier run with the same options resumes it.
        sources: source prompts to use instead of tuning, keyed by catalog name (the others are tuned).
        cache: feature cache shared by all runs.
        progress: ``callback(phase, done, total)``; phases ``sources``, ``pairs`` (targets x seeds
            done) and each run's own, prefixed with ``"<task> seed <s>: "``.

    Returns:
        The table (JSON-ready and Markdown) and the paths it was written to.

    Raises:
        UsageError: bad options, or an ``out`` folder of a run with other options.
        IncompatibleError: a given source of another backbone or another geometry than the tuned ones.
        DatasetNotFoundError, DatasetError: a task missing or unusable (before any tuning).
    """
    out = Path(out)
    check_tasks(config)
    _check_given(sources or {}, config, backbone)
    _check_options(out, config.options(backbone))
    result = BenchmarkResult(table={}, markdown="", markdown_path=out / "table.md", json_path=out / "table.json")
    found = _sources(backbone, config, out, sources or {}, progress, result.tuned_sources)
    pairs = [(t, s) for s in config.seeds for t in config.tasks]
    records = []
    for k, (target, seed) in enumerate(pairs, start=1):
        path = out / "runs" / f"{_short(target)}-s{seed}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            result.resumed.append(f"{_short(target)} seed {seed}")
        else:
            record = _pair(backbone, target, seed, found, config, cache,
                           prefixed(progress, f"{_short(target)} seed {seed} ({k}/{len(pairs)}): "))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps(record, indent=1).encode())
            result.ran.append(f"{_short(target)} seed {seed}")
        records.append(record)
        if progress is not None:
            progress("pairs", k, len(pairs))
    labels = list(records[0]["methods"]) if records else list(config.methods)
    result.table = build_table(config.suite, records, labels)
    result.markdown = table_markdown(result.table)
    write_atomic(result.json_path, json.dumps(result.table, indent=1).encode())
    write_atomic(result.markdown_path, (result.markdown + "\n").encode())
    return result
