"""Ranking benchmark: 11 source prompts on a target's 1,000 labelled images, cold and warm cache.

Reports, measured in one run on the same machine, the time of feature extraction alone
(11 sources x 1,000 images, no cache), of `rank_sources` with an empty cache (cold) and with the
cache it just filled (warm), as ratios to feature extraction. Goals (issue 5): scoring adds
under 10 % to the cold time; a warm re-run takes under 5 % of the cold run.

    python benchmarks/bench_rank.py [--target zoo-textures] [--sources 11] [--threads 2]

Uses the zoo backbone when it is built (`make zoo`), else the same architecture randomly
initialized (timings do not depend on the weights); sources are random deep prompts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from promptkit.backbone import load_backbone
from promptkit.data import load_dataset, transform_for
from promptkit.errors import WeightsError
from promptkit.features import FeatureCache
from promptkit.identity import PromptGeometry
from promptkit.rank import SourcePrompt, rank_sources, source_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="zoo-textures")
    ap.add_argument("--sources", type=int, default=11)
    ap.add_argument("--length", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        bb, kind = load_backbone("zoo-vit"), "pretrained zoo-vit"
    except WeightsError:
        from promptkit.backbone import Backbone
        from promptkit.zoo.arch import ArchConfig, build_vit

        bb, kind = Backbone.from_model(build_vit(ArchConfig()), timm_name="zoo-vit-random"), "random-init zoo-vit"
    splits = load_dataset(args.target, transform=transform_for(bb.data_config))
    geo = PromptGeometry(mode="deep", length=args.length, width=bb.embed_dim, layers=bb.depth)
    g = torch.Generator().manual_seed(0)
    sources = [SourcePrompt(f"bench/s{i}:1", torch.randn(*geo.shape, generator=g) * 0.1, bb.identity, geo)
               for i in range(args.sources)]
    t0 = time.perf_counter()
    for src in sources:
        for split in ("train", "val"):
            source_features(bb, src, splits, split, cache=None, device="cpu")
    extract = time.perf_counter() - t0
    cache = FeatureCache(Path(tempfile.mkdtemp(prefix="pk-rank-bench-")))
    t0 = time.perf_counter()
    cold_result = rank_sources(bb, sources, splits, cache=cache, device="cpu")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    rank_sources(bb, sources, splits, cache=cache, device="cpu")
    warm = time.perf_counter() - t0
    n = cold_result.num_images
    print(f"\n{args.sources} sources x {n} images of {args.target}, {kind} ({bb.embed_dim}-d, depth {bb.depth}), "
          f"deep prompts m={args.length}, {args.threads} threads, CPU\n")
    print("| measurement | seconds | ratio to extraction alone |\n|---|---|---|")
    print(f"| feature extraction alone (no cache) | {extract:.2f} | 1.000 |")
    print(f"| rank, cold cache | {cold:.2f} | {cold / extract:.3f} |")
    print(f"|   of which scoring (3 metrics) | {cold_result.seconds['scores']:.2f} | "
          f"{cold_result.seconds['scores'] / extract:.3f} |")
    print(f"| rank, warm cache | {warm:.2f} | {warm / extract:.3f} (warm/cold {warm / cold:.3f}) |")


if __name__ == "__main__":
    main()
