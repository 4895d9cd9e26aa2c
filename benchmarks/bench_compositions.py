"""What the compositions cost: batched ensemble inference, and a distillation epoch, against plain prompts.

Two ratios, each measured in one run with the two sides interleaved (so machine load hits both):

1. inference: a k-member :class:`~promptkit.prompted_ensemble.PromptedEnsemble` forward (the
   members stacked along the batch, as many sequences a pass as its default allows on this
   device) against k single prompted forwards of the same batch; goal: at most 1.1 x k single
   forwards. Also, interleaved with them: the same ensemble with all k B sequences in one pass,
   and one prompt's forward of the batch repeated k times (k B images in one pass), what a
   pass of that many sequences costs on the machine whatever the prompts;
2. tuning: an epoch of distillation (cross-entropy plus KL to precomputed teacher logits) against
   an epoch of plain prompt tuning, same data, batch and start; goal: at most 1.5 x.

On the shipped zoo-vit with the built-in prompts (version 2, deep, 8 tokens) and zoo-objects::

    python benchmarks/bench_compositions.py [--threads 1] [--batch 64] [--members 2 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _log(msg: str) -> None:
    print(f"[compositions {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def inference(bb, sources, images, *, members: int, repeats: int) -> dict[str, float]:
    import torch

    from promptkit.prompted import PromptedViT
    from promptkit.prompted_ensemble import PromptedEnsemble

    prompts = torch.stack([s.prompt.float() for s in sources[:members]])
    d = bb.embed_dim

    def ensemble(max_sequences: int | None) -> PromptedEnsemble:
        return PromptedEnsemble(bb, prompts, torch.full((members,), 1 / members), torch.zeros(members, d),
                                torch.ones(members, d), mode=sources[0].geometry.mode, max_sequences=max_sequences)

    ens, one_pass = ensemble(None), ensemble(members * images.shape[0])  # the default cap; no cap
    singles = [PromptedViT(bb, p, mode=sources[0].geometry.mode) for p in prompts]
    repeated = images.repeat(members, 1, 1, 1)  # (k B, 3, H, W)
    runs = {"ensemble": lambda: ens.pooled(images), "ensemble_one_pass": lambda: one_pass.pooled(images),
            "single": lambda: singles[0].pooled(images), "one_prompt_kB": lambda: singles[0].pooled(repeated)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for fn in runs.values():  # warm-up
            fn()
        for _ in range(repeats):  # interleaved, so that load hits every side alike
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    e, o, s, w = (min(times[n]) for n in ("ensemble", "ensemble_one_pass", "single", "one_prompt_kB"))
    return {"members": members, "max_sequences": ens.max_sequences_for(images), "ensemble_s": e,
            "ensemble_one_pass_s": o, "single_s": s, "ratio_to_single": e / s, "ratio_to_k_singles": e / (members * s),
            "one_pass_to_k_singles": o / (members * s), "one_prompt_kB_s": w,
            "one_prompt_kB_to_k_singles": w / (members * s), "one_pass_to_one_prompt_kB": o / w}


def tuning(bb, sources, splits, *, epochs: int, repeats: int, batch: int) -> dict[str, float]:
    import torch

    from promptkit.inits import PromptSource
    from promptkit.train import TrainConfig, train_prompt

    src = sources[0]
    init = PromptSource(src.prompt, src.identity, src.geometry)
    base = TrainConfig(mode=src.geometry.mode, length=src.geometry.length, init="from:bench", epochs=epochs,
                       optimizer="adamw", lr=0.01, head_lr=0.001, batch_size=batch, baseline_probe=False,
                       device="cpu", seed=0)
    n, c = len(splits.train), splits.num_classes
    teacher = torch.randn(n, c, generator=torch.Generator().manual_seed(0))
    plain, distill = [], []
    for _ in range(repeats):
        r = train_prompt(bb, splits, base, init_source=init)
        plain.append(r.metrics["train_seconds"] / epochs)
        r = train_prompt(bb, splits, base.replace(distill_weight=1.0), init_source=init, teacher_logits=teacher)
        distill.append(r.metrics["train_seconds"] / epochs)
    p, q = min(plain), min(distill)
    return {"epochs": epochs, "plain_epoch_s": p, "distill_epoch_s": q, "ratio": q / p}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--members", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tune-repeats", type=int, default=2)
    ap.add_argument("--target", default="zoo-objects")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch
    from promptkit.registry import Registry
    from promptkit.registry.workflows import load_sources, source_refs

    from promptkit.backbone import load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.zoo.backbone import ZOO_COLLECTION_DIR

    torch.set_num_threads(args.threads)
    bb = load_backbone("zoo-vit")
    reg = Registry(ZOO_COLLECTION_DIR)
    sources = load_sources(reg, source_refs(reg, exclude_tasks=[args.target]))
    splits = load_dataset(args.target, transform=transform_for(bb.data_config))
    images = torch.stack([splits.train[i][0] for i in range(args.batch)])
    rows = []
    for k in args.members:
        rows.append(inference(bb, sources, images, members=k, repeats=args.repeats))
        _log(f"inference k={k}: {rows[-1]['ratio_to_k_singles']:.3f} of k single forwards")
    tune = tuning(bb, sources, splits, epochs=2, repeats=args.tune_repeats, batch=args.batch)
    _log(f"distillation epoch: {tune['ratio']:.3f} of a plain epoch")
    if args.json:
        print(json.dumps({"inference": rows, "tuning": tune, "threads": args.threads, "batch": args.batch}, indent=2))
        return
    print("| members k | single forward (s) | ensemble forward (s) | ratio to k singles (goal <= 1.1) "
          "| ensemble in one pass (s) | its ratio to k singles | one prompt, k B images (s) | its ratio to k singles "
          "| one pass / one prompt k B |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['members']} | {r['single_s']:.4f} | {r['ensemble_s']:.4f} | {r['ratio_to_k_singles']:.3f} "
              f"| {r['ensemble_one_pass_s']:.4f} | {r['one_pass_to_k_singles']:.3f} | {r['one_prompt_kB_s']:.4f} "
              f"| {r['one_prompt_kB_to_k_singles']:.3f} | {r['one_pass_to_one_prompt_kB']:.3f} |")
    print(f"\nensemble forward: at most {rows[0]['max_sequences']} sequences a pass (the default on this device); "
          "in one pass: all k B sequences at once")
    print("\n| epoch | seconds | ratio (goal <= 1.5) |\n|---|---|---|")
    print(f"| plain tuning | {tune['plain_epoch_s']:.2f} | 1.000 |")
    print(f"| distillation (CE + KL to teacher logits) | {tune['distill_epoch_s']:.2f} | {tune['ratio']:.3f} |")


if __name__ == "__main__":
    main()
