"""Registry benchmark: a registry of N versions (default 10,000 = 100 names x 100 versions).

Reports the time of `promptkit list --json` (a subprocess, as a user runs it, and the library
call alone), of loading one version by reference, and of `verify`. Loading is also timed on a
registry of 10 versions: equal times show that resolving a reference does not scan the registry.

    python benchmarks/bench_registry.py [--names 100] [--versions 100] [--root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from promptkit.registry import AssetSpec, Registry

from promptkit.identity import BackboneIdentity, PromptGeometry


def _fill(reg: Registry, names: int, versions: int) -> int:
    spec = AssetSpec(
        backbone=BackboneIdentity(timm_name="vit_base_patch16_224", weights_sha256="ab" * 32),
        geometry=PromptGeometry(mode="shallow", length=10, width=768, layers=1),
        metrics={"test_acc": 0.5}, tags={"bench": "yes"},
    )
    g = torch.Generator().manual_seed(0)
    have = len(reg.list())
    todo = names * versions - have
    for i in range(have, names * versions):
        reg.add(f"bench/p{i % names:03d}", {"prompt": torch.randn(1, 10, 768, generator=g)}, spec)
        if (i - have + 1) % 1000 == 0:
            print(f"  added {i - have + 1}/{todo}", file=sys.stderr)
    return max(todo, 0)


def _time(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", type=int, default=100)
    ap.add_argument("--versions", type=int, default=100)
    ap.add_argument("--root", type=Path, default=None, help="reuse/fill this registry folder")
    args = ap.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="pk-bench-")) / "reg"
    big = Registry(root, builtin=False)
    t = time.perf_counter()
    added = _fill(big, args.names, args.versions)
    fill_s = time.perf_counter() - t
    small = Registry(Path(tempfile.mkdtemp(prefix="pk-bench-small-")) / "reg", builtin=False)
    _fill(small, 1, 10)
    n = args.names * args.versions
    ref = f"bench/p{args.names // 2:03d}:{args.versions // 2}"
    cli = [sys.executable, "-m", "promptkit.cli", "list", "--json", "--registry", str(root)]
    rows = [
        ("fill (add, one at a time)", fill_s, f"{added / fill_s:.0f} adds/s" if added else "reused a registry"),
        ("`promptkit list --json` (subprocess)", _time(lambda: subprocess.run(cli, capture_output=True, check=True),
                                                       3), ""),
        ("Registry.list()", _time(lambda: big.list(), 3), ""),
        (f"Registry.load('{ref}')", _time(lambda: big.load(ref), 20), ""),
        ("Registry.load on a 10-version registry", _time(lambda: small.load("bench/p000:5"), 20), ""),
        ("Registry.resolve(name@sha256:prefix)", _time(lambda: big.resolve(
            f"bench/p000@sha256:{big.resolve('bench/p000:1').sha256[:8]}"), 5), "scans one name's versions"),
        ("Registry.verify() (re-hash everything)", _time(lambda: big.verify(), 1), ""),
    ]
    print(f"\nRegistry of {n:,} versions ({args.names} names x {args.versions}), prompt 1x10x768 float32\n")
    print("| operation | time (s) | note |\n|---|---|---|")
    for name, secs, note in rows:
        print(f"| {name} | {secs:.4f} | {note} |")


if __name__ == "__main__":
    main()
