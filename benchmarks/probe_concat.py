"""One prompt holding the ``stack`` members' tokens side by side, measured as an untuned linear probe.

A question before building a composition: would a single prompt of ``k m`` tokens per layer (the
members' tokens concatenated, one forward per image at about ``(n + k m) / (n + m)`` of a single
prompt's cost) keep more of what the ``stack`` found than its heaviest member alone, which is
where ``distill`` starts? For each target (leave-one-out over the embedded zoo, as in
``bench_ensemble_suite.py``) this tunes ``hgprompt+stack`` once, then fits the same linear probe
(L2 chosen on validation) on the features of four prompts and reports their test accuracy:

- ``top``: the heaviest member as stored;
- ``concat``: the members as stored, concatenated along the token axis;
- ``tuned top``: the heaviest member as the stack's tuning left it (``distill``'s start);
- ``tuned concat``: the tuned members, concatenated.

No prompt is tuned after the stack. Targets where the stack kept one member are skipped.

    python benchmarks/probe_concat.py [--targets zoo-objects,zoo-digits] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ensemble_suite import _target_world  # noqa: E402


def probe_accuracies(prompt, like, bb, splits, cache) -> tuple[float, float]:  # -> (val acc, test acc)
    """A linear probe on ``prompt``'s features (``like``'s identity, the length of ``prompt``)."""
    from promptkit.rank import source_features
    from promptkit.train.start import fit_probe

    geometry = like.geometry.model_copy(update={"length": int(prompt.shape[1])})
    src = dataclasses.replace(like, prompt=prompt, ref=f"{like.ref}+probe", geometry=geometry)
    feats = {s: source_features(bb, src, splits, s, cache=cache, device="cpu") for s in ("train", "val", "test")}
    probe, _ = fit_probe(feats["train"], feats["val"], splits.num_classes, None)
    return probe.accuracy(*feats["val"]), probe.accuracy(*feats["test"])


def measure(target: str, seed: int) -> dict | None:
    """The four probes' accuracies on ``target`` (``None`` where the stack kept one member)."""
    import torch
    from promptkit.cli.ensemble_cmd import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_HEAD_LR, DEFAULT_LR

    from promptkit.runs import compare
    from promptkit.train import TrainConfig

    bb, sources, splits, cache = _target_world(target)
    tune = TrainConfig(epochs=DEFAULT_EPOCHS, lr=DEFAULT_LR, head_lr=DEFAULT_HEAD_LR, optimizer="adamw",
                       batch_size=DEFAULT_BATCH_SIZE, seed=seed, device="cpu")  # the suite's tuning
    (stack,) = compare(["hgprompt+stack"], bb, sources, splits, lam=0.0, steps=300, tune=tune, cache=cache)
    members = list(stack.built.members)
    if len(members) < 2:
        return None
    top = sources[members[0]]
    tuned = stack.train.prompt.float()  # (k, L, m, d)
    stored = torch.cat([sources[i].prompt.float() for i in members], dim=1)
    return {
        "target": target, "seed": seed, "members": [sources[i].ref for i in members],
        "stack_test": stack.test_acc,
        "top": probe_accuracies(top.prompt.float(), top, bb, splits, cache),
        "concat": probe_accuracies(stored, top, bb, splits, None),
        "tuned_top": probe_accuracies(tuned[0], top, bb, splits, None),
        "tuned_concat": probe_accuracies(torch.cat(list(tuned), dim=1), top, bb, splits, None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=None, help="comma-separated zoo targets (default: all 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()

    import torch

    from promptkit.zoo.suite import TASKS

    torch.set_num_threads(args.threads)
    rows = []
    for target in args.targets.split(",") if args.targets else sorted(TASKS):
        t0 = time.perf_counter()
        row = measure(target, args.seed)
        if row is None:
            note = "one member, skipped"
        else:
            note = f"tuned concat - tuned top {100 * (row['tuned_concat'][1] - row['tuned_top'][1]):+.1f} pt"
        print(f"[probe-concat] {target} ({time.perf_counter() - t0:.0f} s): {note}", file=sys.stderr, flush=True)
        if row is not None:
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| target | k | stack (tuned) | top | concat | concat - top | tuned top | tuned concat "
          "| tuned concat - tuned top |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d0 = 100 * (r["concat"][1] - r["top"][1])
        d1 = 100 * (r["tuned_concat"][1] - r["tuned_top"][1])
        print(f"| {r['target'].removeprefix('zoo-')} | {len(r['members'])} | {r['stack_test']:.3f} "
              f"| {r['top'][1]:.3f} | {r['concat'][1]:.3f} | {d0:+.1f} | {r['tuned_top'][1]:.3f} "
              f"| {r['tuned_concat'][1]:.3f} | {d1:+.1f} |")
    if rows:
        n = len(rows)
        m0 = sum(100 * (r["concat"][1] - r["top"][1]) for r in rows) / n
        m1 = sum(100 * (r["tuned_concat"][1] - r["tuned_top"][1]) for r in rows) / n
        print(f"| **mean** ({n} targets) | | | | | **{m0:+.2f}** | | | **{m1:+.2f}** |")


if __name__ == "__main__":
    main()
