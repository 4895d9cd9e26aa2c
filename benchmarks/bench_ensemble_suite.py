"""HGPrompt and its compositions against the baselines on the 12-task embedded suite, leave-one-out, over seeds.

For every target task and seed, the other 11 built-in source prompts feed
:func:`promptkit.runs.compare`, which runs random, spt, uniform, hscore-weights,
best-single, spot and hgprompt (composed by averaging), then hgprompt with each other
composition (aligned, ensemble, distill, and learned weights for ensemble and average) on the
same splits with the same tuning config and seed. The report gives test accuracy (mean and std
over seeds) per row and target and averaged, tuning seconds and forwards per image per row, and the
Spearman correlation between HGPrompt's weights and each source's single-source transfer
accuracy (from ``runs/zoo/evidence.json``, see ``scripts/build_zoo.py``), per target and
averaged; the HGPrompt paper reports 0.808. It also learns alpha for a few values of lambda
(cheap: cached features) to show how the regularizer moves that correlation.

Every (target, seed) pair is saved as it finishes, so a killed run resumes where it stopped:

    python benchmarks/bench_ensemble_suite.py run [--seeds 0,1,2] [--jobs 2] [--epochs 3]
    python benchmarks/bench_ensemble_suite.py report [--json]
    python benchmarks/bench_ensemble_suite.py gap [--json]

``gap`` measures the composition gap (docs/method.md, "The composition gap") on every target: the
shrinkage H-score of the
alpha-mixture of source features (what alpha maximizes) against that of the target's features
under the composed prompt sum_i alpha_i P_i (what tuning starts from), next to the best single
source's score.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

METHODS = ("random", "spt", "uniform", "hscore-weights", "best-single", "spot", "hgprompt", "hgprompt+aligned",
           "hgprompt+ensemble", "hgprompt+stack", "hgprompt+distill", "hgprompt+ensemble+learned",
           "hgprompt+stack+learned", "hgprompt+average+learned")
LAMBDAS = (0.0, 0.001, 0.01, 0.1)
OUT = Path("runs/bench-compositions")
EVIDENCE = Path("runs/zoo/evidence.json")
CACHE = Path("runs/zoo/feature-cache")


def _log(msg: str) -> None:
    print(f"[ensemble-suite {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _target_world(target: str):  # -> (backbone, sources, splits, cache)
    """The shipped backbone, the other 11 built-in prompts (latest versions), the target's splits, the cache."""
    from promptkit.registry import Registry
    from promptkit.registry.workflows import load_sources, source_refs

    from promptkit.backbone import load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.features import FeatureCache
    from promptkit.zoo.backbone import ZOO_COLLECTION_DIR

    bb = load_backbone("zoo-vit")
    reg = Registry(ZOO_COLLECTION_DIR)
    sources = load_sources(reg, source_refs(reg, exclude_tasks=[target]))
    splits = load_dataset(target, transform=transform_for(bb.data_config))
    return bb, sources, splits, FeatureCache(CACHE)


def _prepared_train(bb, sources, splits, cache):  # -> promptkit.ensemble.objective.SourceFeatures
    """Each source's features on the target's training split (cached), prepared for the weight objective."""
    from promptkit.ensemble.objective import prepare_sources
    from promptkit.rank import source_features

    feats, labels = [], None
    for src in sources:
        f, labels = source_features(bb, src, splits, "train", cache=cache, device="cpu")
        feats.append(f)
    return prepare_sources(feats, labels)  # type: ignore[arg-type]


def run_pair(target: str, seed: int, opts: dict[str, Any]) -> dict[str, Any]:
    """All methods on one target with one seed (the 11 other built-in prompts as sources)."""
    from promptkit.ensemble.weights import hgprompt_weights
    from promptkit.runs import compare
    from promptkit.train import TrainConfig

    bb, sources, splits, cache = _target_world(target)
    tune = TrainConfig(
        epochs=opts["epochs"], lr=opts["lr"], head_lr=opts["head_lr"], optimizer="adamw",
        batch_size=opts["batch_size"], seed=seed, device="cpu",
    )  # fmt: skip
    t0 = time.perf_counter()
    results = compare(
        opts.get("methods") or METHODS,
        bb,
        sources,
        splits,
        lam=opts["lam"],
        steps=opts["steps"],
        tune=tune,
        cache=cache,
        spot_epochs=opts["spot_epochs"],
    )
    seconds = time.perf_counter() - t0
    prepared = _prepared_train(bb, sources, splits, cache)
    sweep = {
        str(lam): [float(a) for a in hgprompt_weights(prepared, lam=lam, steps=opts["steps"]).alpha] for lam in LAMBDAS
    }
    return {
        "target": target,
        "seed": seed,
        "options": opts,
        "seconds": seconds,
        "sources": [{"ref": s.ref, "task": s.task} for s in sources],
        "methods": {
            r.label: {
                "test_acc": r.test_acc,
                "val_acc": float(r.train.metrics["val_acc"]),
                "alpha": None if r.alpha is None else [float(a) for a in r.alpha],
                "learned_alpha": None if r.learned_alpha is None else [float(a) for a in r.learned_alpha],
                "members": [] if r.built is None else [r.sources[i].ref for i in r.built.members],
                "member_selection": None if r.built is None else r.built.details.get("member_selection"),
                "forwards": r.forwards,
                "start_score": r.composed_hscore,
                "transferability": r.transferability,
                "seconds": r.seconds,
            }
            for r in results
        },
        "alpha_by_lambda": sweep,
    }


def cmd_run(args: argparse.Namespace) -> None:
    from promptkit.zoo.suite import TASKS

    targets = args.targets.split(",") if args.targets else sorted(TASKS)
    seeds = [int(s) for s in args.seeds.split(",")]
    opts = {
        "epochs": args.epochs,
        "lr": args.lr,
        "head_lr": args.head_lr,
        "batch_size": args.batch_size,
        "lam": args.lam,
        "steps": args.steps,
        "spot_epochs": args.spot_epochs,
    }
    if args.methods:
        opts["methods"] = [m.strip() for m in args.methods.split(",") if m.strip()]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    todo = [(t, s) for s in seeds for t in targets if not (out / f"{t}-s{s}.json").is_file()]
    _log(f"{len(todo)} (target, seed) pairs to run, {args.jobs} at a time")
    threads = max(1, args.threads // args.jobs)
    with ProcessPoolExecutor(
        max_workers=args.jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    ) as pool:
        futures = {pool.submit(run_pair, t, s, opts): (t, s) for t, s in todo}
        for fut in as_completed(futures):
            t, s = futures[fut]
            res = fut.result()
            path = out / f"{t}-s{s}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(res, indent=1))
            os.replace(tmp, path)
            accs = ", ".join(f"{m} {v['test_acc']:.3f}" for m, v in res["methods"].items())
            _log(f"{t} seed {s} ({res['seconds']:.0f} s): {accs}")


def summarize(results: list[dict[str, Any]], evidence: dict[str, Any]) -> dict[str, Any]:
    from promptkit.stats import mean_std, spearman

    rows = [m for m in METHODS if any(m in r["methods"] for r in results)]  # the rows that were run
    by_target: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_target.setdefault(r["target"], []).append(r)
    table: dict[str, Any] = {}
    for target, runs in sorted(by_target.items()):
        row: dict[str, Any] = {"seeds": len(runs)}
        for m in rows:
            row[m] = mean_std([r["methods"][m]["test_acc"] for r in runs if m in r["methods"]])
        transfer = evidence.get(f"transfer:{target}")
        if transfer:
            acc = {x["ref"]: x["transfer_acc"] for x in transfer["rows"]}
            refs = [s["ref"] for s in runs[0]["sources"]]
            if all(ref in acc for ref in refs) and all("hgprompt" in r["methods"] for r in runs):
                accs = [acc[ref] for ref in refs]
                row["rho_hgprompt"] = mean_std([spearman(r["methods"]["hgprompt"]["alpha"], accs) for r in runs])[0]
                row["rho_by_lambda"] = {
                    lam: mean_std([spearman(r["alpha_by_lambda"][lam], accs) for r in runs])[0]
                    for lam in runs[0]["alpha_by_lambda"]
                }
        table[target] = row
    avg = {m: sum(row[m][0] for row in table.values()) / len(table) for m in rows} if table else {}
    rhos = [row["rho_hgprompt"] for row in table.values() if "rho_hgprompt" in row]
    wins = {m: sum(max(rows, key=lambda k, row=row: row[k][0]) == m for row in table.values()) for m in rows}
    lam_keys = next((list(row["rho_by_lambda"]) for row in table.values() if "rho_by_lambda" in row), [])
    rho_lam = {
        lam: sum(row["rho_by_lambda"][lam] for row in table.values() if "rho_by_lambda" in row)
        / max(1, sum("rho_by_lambda" in row for row in table.values()))
        for lam in lam_keys
    }
    tune = {m: [r["methods"][m]["seconds"]["tune"] + r["methods"][m]["seconds"].get("teacher", 0.0)
                for r in results if m in r["methods"]] for m in rows}
    tune_mean = {m: sum(v) / len(v) for m, v in tune.items() if v}
    forwards = {m: max([r["methods"][m].get("forwards", 1) for r in results if m in r["methods"]] or [1])
                for m in rows}
    members = {m: [len(r["methods"][m].get("members", [])) for r in results if m in r["methods"]] for m in rows}
    return {
        "rows": rows,
        "tune_seconds": tune_mean,
        "forwards": forwards,
        "mean_members": {m: sum(v) / len(v) for m, v in members.items() if v and any(v)},
        "per_target": table,
        "mean": avg,
        "wins": wins,
        "rho_hgprompt_mean": sum(rhos) / len(rhos) if rhos else None,
        "rho_by_lambda_mean": rho_lam,
        "options": results[0]["options"] if results else {},
    }


def markdown(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    lines = [
        "| target | seeds | " + " | ".join(rows) + " | rho(alpha, transfer) |",
        "|---" * (len(rows) + 3) + "|",
    ]
    for target, row in summary["per_target"].items():
        cells = []
        best = max(row[m][0] for m in rows)
        for m in rows:
            mean, std = row[m]
            cell = f"{mean:.3f} ± {std:.3f}"
            cells.append(f"**{cell}**" if mean == best else cell)
        lines.append(f"| {target.removeprefix('zoo-')} | {row['seeds']} | " + " | ".join(cells)
                     + f" | {_rho(row.get('rho_hgprompt'))} |")  # fmt: skip
    mean = summary["mean"]
    rho = summary["rho_hgprompt_mean"]
    lines.append("| **mean** | | " + " | ".join(f"**{mean[m]:.3f}**" for m in rows) + f" | **{_rho(rho)}** |")
    lines.append("| best on (targets) | | " + " | ".join(str(summary["wins"][m]) for m in rows) + " | |")
    tune = summary["tune_seconds"]
    ref = "random" if "random" in tune else "best-single"
    if ref in tune:
        lines += ["", f"| row | mean test acc | vs best-single | tuning s per run | x {ref} | forwards per image |",
                  "|---|---|---|---|---|---|"]
        bs = mean.get("best-single", 0.0)
        for m in rows:
            if m in tune:
                fw = summary["forwards"].get(m, 1)
                k = summary.get("mean_members", {}).get(m)
                fw_text = f"{fw} (mean {k:.2f} members)" if k and ("+ensemble" in m or "+stack" in m) else str(fw)
                lines.append(f"| {m} | {mean[m]:.3f} | {100 * (mean[m] - bs):+.1f} pt | {tune[m]:.1f} "
                             f"| {tune[m] / tune[ref]:.2f} | {fw_text} |")
    if summary["rho_by_lambda_mean"]:
        lines += [
            "",
            "Mean Spearman of HGPrompt's weights with transfer accuracy, by lambda: "
            + ", ".join(f"lambda {k}: {v:+.3f}" for k, v in summary["rho_by_lambda_mean"].items())
            + ".",
        ]
    return "\n".join(lines)


def _rho(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.3f}"


def cmd_report(args: argparse.Namespace) -> None:
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]
    if not results:
        sys.exit(f"error: no results in {args.out}; run: python benchmarks/bench_ensemble_suite.py run")
    evidence = json.loads(EVIDENCE.read_text()) if EVIDENCE.is_file() else {}
    summary = summarize(results, evidence)
    print(json.dumps(summary, indent=2) if args.json else markdown(summary))


def gap_row(target: str, steps: int) -> dict[str, Any]:
    """Mixture score, composed-prompt score and best single score for one target (train split, lambda 0)."""
    from promptkit.ensemble import compose_prompt, prepare_sources
    from promptkit.ensemble.weights import hgprompt_weights
    from promptkit.rank import SourcePrompt, source_features

    bb, sources, splits, cache = _target_world(target)
    prepared = _prepared_train(bb, sources, splits, cache)
    weights = hgprompt_weights(prepared, lam=0.0, steps=steps)
    composed = SourcePrompt(ref="hgprompt-start", prompt=compose_prompt([s.prompt for s in sources], weights.alpha),
                            identity=bb.identity, geometry=sources[0].geometry)
    f_comp, y = source_features(bb, composed, splits, "train", cache=cache, device="cpu")
    composed_score = float(prepare_sources([f_comp], y).source_scores[0])
    scores = [float(x) for x in prepared.source_scores]
    order = sorted(range(len(sources)), key=lambda i: -float(weights.alpha[i]))
    return {
        "target": target,
        "alpha_top": [(sources[i].task, float(weights.alpha[i])) for i in order[:3]],
        "mixture": float(weights.transferability),
        "composed": composed_score,
        "best_single": max(scores),
        "best_single_task": sources[scores.index(max(scores))].task,
    }


def cmd_gap(args: argparse.Namespace) -> None:
    import torch

    from promptkit.zoo.suite import TASKS

    torch.set_num_threads(args.threads)
    rows = []
    for target in sorted(TASKS):
        rows.append(gap_row(target, args.steps))
        _log(f"gap {target}: mixture {rows[-1]['mixture']:.3f}, composed {rows[-1]['composed']:.3f}")
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| target | alpha (top 2) | mixture score | composed-prompt score | best single score (source) |")
    print("|---|---|---|---|---|")
    for r in rows:
        top = ", ".join(f"{t.removeprefix('zoo-')} {a:.2f}" for t, a in r["alpha_top"][:2])
        print(f"| {r['target'].removeprefix('zoo-')} | {top} | {r['mixture']:.3f} | {r['composed']:.3f} "
              f"| {r['best_single']:.3f} ({r['best_single_task'].removeprefix('zoo-')}) |")


def main() -> None:
    from promptkit.cli.ensemble_cmd import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_HEAD_LR, DEFAULT_LR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--targets", default=None, help="comma-separated (default: all 12)")
    run.add_argument("--seeds", default="0,1,2")
    run.add_argument("--jobs", type=int, default=2)
    run.add_argument("--threads", type=int, default=2)
    # Defaults: `promptkit ensemble`'s, so that the table shows what a user gets.
    run.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    run.add_argument("--lr", type=float, default=DEFAULT_LR)
    run.add_argument("--head-lr", type=float, default=DEFAULT_HEAD_LR)
    run.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    run.add_argument("--lam", type=float, default=0.0)
    run.add_argument("--steps", type=int, default=300)
    run.add_argument("--spot-epochs", type=int, default=1)
    run.add_argument("--out", type=Path, default=OUT, help="one JSON per (target, seed)")
    run.add_argument("--methods", default=None, help="comma-separated rows to run (default: every row)")
    rep = sub.add_parser("report")
    rep.add_argument("--out", type=Path, default=OUT)
    rep.add_argument("--json", action="store_true")
    gap = sub.add_parser("gap")
    gap.add_argument("--steps", type=int, default=300)
    gap.add_argument("--threads", type=int, default=2)
    gap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    {"run": cmd_run, "report": cmd_report, "gap": cmd_gap}[args.cmd](args)


if __name__ == "__main__":
    main()
