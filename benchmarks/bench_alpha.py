"""HGPrompt alpha benchmark: learning ensemble weights on cached features.

Random features with a planted class signal: K sources (default 11), N target samples (1,000),
d dimensions (768), C classes (10); every source sees the same class means, source i with
strength s_i spread from 0 to 0.5, on top of its own correlated (low-rank plus isotropic)
noise. Reports the time to prepare the sources (standardize, per-source statistics, each
source's own score), to learn alpha (default 300 Adam steps, including the per-pair
precomputation), the precomputation alone, the cost of one step, and, for comparison, one step
of the naive route (autograd through ``shrinkage_hscore`` of the mixed features, float64).

    python benchmarks/bench_alpha.py [--sources 11] [--samples 1000] [--dim 768] [--classes 10]
        [--steps 300] [--precision float32|float64|both] [--lam 0.01] [--naive-steps 2] [--threads T]

Prints one markdown table row per precision (header first).
"""

from __future__ import annotations

import argparse
import time

import torch

from promptkit.ensemble import hgprompt_weights, mix_features, prepare_sources
from promptkit.ensemble.pairwise import PairwiseMixture, fits
from promptkit.scores import shrinkage_hscore


def _features(k: int, n: int, d: int, c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    rank = 32
    means = torch.randn(c, d, generator=g)  # (C, d) class means, shared by the sources
    feats = []
    for s in torch.linspace(0.0, 0.5, k):
        mixing = torch.randn(rank, d, generator=g) / rank**0.5  # (r, d) correlated noise
        noise = torch.randn(n, rank, generator=g) @ mixing + torch.randn(n, d, generator=g)
        feats.append(float(s) * means[y] + noise)
    return torch.stack(feats), y  # (K, N, d), (N,)


def _naive_step_seconds(features: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    w = torch.zeros(features.shape[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    t = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        (-shrinkage_hscore(mix_features(features, torch.softmax(w, 0)), y)).backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=11)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--precision", choices=["float32", "float64", "both"], default="float32")
    ap.add_argument("--naive-steps", type=int, default=2, help="0 skips the naive comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    features, y = _features(args.sources, args.samples, args.dim, args.classes, args.seed)
    t = time.perf_counter()
    sources = prepare_sources(features, y)
    _ = sources.source_scores
    prepare_s = time.perf_counter() - t
    naive = _naive_step_seconds(sources.features, y, args.naive_steps) if args.naive_steps > 0 else float("nan")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| K | N | d | C | precision | steps | prepare (s) | learn alpha (s) | of which precompute (s) "
          "| per step (ms) | naive step, float64 (ms) | T mixture | best single T | max alpha |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    precisions = ["float32", "float64"] if args.precision == "both" else [args.precision]
    alphas = {}
    for precision in precisions:
        dtype = getattr(torch, precision)
        t = time.perf_counter()
        PairwiseMixture(sources, dtype) if fits(sources, dtype) else None  # what hgprompt_weights builds
        pre_s = time.perf_counter() - t
        t = time.perf_counter()
        result = hgprompt_weights(sources, lam=args.lam, steps=args.steps, precision=precision)
        learn_s = time.perf_counter() - t
        alphas[precision] = result.alpha
        step_ms = 1e3 * (learn_s - pre_s) / max(args.steps, 1)
        print(
            f"| {args.sources} | {args.samples} | {args.dim} | {args.classes} | {precision} | {args.steps} "
            f"| {prepare_s:.2f} | {learn_s:.2f} | {pre_s:.2f} | {step_ms:.1f} | {1e3 * naive:.0f} "
            f"| {result.transferability:.3f} | {result.best_source_score:.3f} | {float(result.alpha.max()):.3f} |"
        )
    if len(alphas) == 2:
        diff = float((alphas["float32"] - alphas["float64"]).abs().max())
        print(f"\nmax |alpha(float32) - alpha(float64)| = {diff:.2e}")


if __name__ == "__main__":
    main()
