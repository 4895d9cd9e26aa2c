"""Generation speed of the embedded zoo: images per second for each suite task and the pretext.

Each task's 1,000-image test split is drawn ``--repeats`` times (the best time counts, after one
warm-up draw that also builds the template banks); the pretext draws batches of 128.

    python benchmarks/bench_zoo_generation.py [--threads 1] [--repeats 2] [--tasks zoo-count ...]

Prints a markdown table: task, group, images/s, milliseconds per image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from promptkit.zoo.suite import TASKS, generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the pretext is build tooling (zoobuild/, not installed)
from zoobuild.pretext import pretext_batch  # noqa: E402


def _best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tasks", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}\n")
    print("| task | group | images/s | ms/image |")
    print("|---|---|---|---|")
    for name in args.tasks or list(TASKS):
        generate(name, "val", n=50)  # warm-up
        n = 1000
        sec = _best_seconds(lambda name=name: generate(name, "test"), args.repeats)
        print(f"| {name} | {TASKS[name].group} | {n / sec:,.0f} | {1000 * sec / n:.2f} |", flush=True)
    pretext_batch(32, seed=0, step=0)
    sec = _best_seconds(lambda: [pretext_batch(128, seed=0, step=s) for s in range(8)], args.repeats)
    print(f"| pretext (batches of 128) | - | {1024 / sec:,.0f} | {1000 * sec / 1024:.2f} |")


if __name__ == "__main__":
    main()
