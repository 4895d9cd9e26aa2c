"""One process against several under torchrun: ranking's feature passes and prompt tuning, on one machine.

Runs each configuration as its own ``torchrun --nproc_per_node N`` launch of this script
(``--worker``), one after the other, and reports, per configuration: the wall time of the whole
launch (process start, imports and the process group included), the seconds of ranking
``--sources`` built-in sources on the target's 1,000 labelled images without the cache, and of
tuning a prompt (``--epochs`` epochs, batch ``--batch-size``: set-up passes, then epochs), each
measured inside the processes after they joined, plus the ratios to the first configuration.

    python benchmarks/bench_distributed.py [--target zoo-digits] [--sources 3] [--epochs 2] \\
        [--batch-size 64] [--configs 1x2,2x1,1x1]

A configuration ``PxT`` is P processes of T threads each (``OMP_NUM_THREADS``): on a machine of C
cores, ``1xC`` against ``2x(C/2)`` compares the same cores used by one process or split over two.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def _worker(args: argparse.Namespace) -> None:
    from promptkit.registry import Registry
    from promptkit.registry.sources import select_sources
    from promptkit.registry.workflows import load_sources

    from promptkit import distributed
    from promptkit.backbone import load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.rank import rank_sources
    from promptkit.train import TrainConfig, train_prompt

    distributed.init_from_env("cpu")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    reg = Registry()
    sources = load_sources(reg, select_sources(reg, args.target)[: args.sources])
    bb = load_backbone("zoo-vit")
    splits = load_dataset(args.target, transform=transform_for(bb.data_config))
    distributed.barrier()
    t0 = time.perf_counter()
    rank_sources(bb, sources, splits, cache=None, batch_size=128, device="cpu")
    distributed.barrier()
    t1 = time.perf_counter()
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer="adamw", lr=0.01, head_lr=0.001,
                         device="cpu", num_workers=0, baseline_probe=False)
    result = train_prompt(bb, splits, config)
    distributed.barrier()
    t2 = time.perf_counter()
    if distributed.is_writer():
        Path(args.out).write_text(json.dumps({
            "rank_s": t1 - t0, "tune_s": t2 - t1, "epochs_s": result.metrics["train_seconds"],
            "test_acc": result.metrics["test_acc"]}))
    distributed.shutdown()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(procs: int, threads: int, args: argparse.Namespace, out: Path) -> dict[str, float]:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    cmd = [torchrun, "--nproc_per_node", str(procs), "--master_port", str(_port()), __file__, "--worker",
           "--out", str(out), "--target", args.target, "--sources", str(args.sources), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return {"wall_s": time.perf_counter() - t0, **json.loads(out.read_text())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="zoo-digits")
    ap.add_argument("--sources", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--configs", default="1x2,2x1,1x1", help="PxT: P processes of T threads, comma-separated")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(args.configs.split(",")):
            procs, threads = (int(v) for v in spec.split("x"))
            rows.append((spec, _launch(procs, threads, args, Path(tmp) / f"{i}.json")))
    base = rows[0][1]
    print(f"{args.target}: rank {args.sources} sources on 1,000 images; tune {args.epochs} epochs, batch "
          f"{args.batch_size}; {os.cpu_count()} CPUs; ratios to {rows[0][0]}")
    print(f"{'procs x threads':>16} {'wall s':>8} {'rank s':>8} {'tune s':>8} {'epochs s':>9} "
          f"{'rank x':>7} {'tune x':>7} {'test acc':>9}")
    for spec, r in rows:
        print(f"{spec:>16} {r['wall_s']:8.1f} {r['rank_s']:8.1f} {r['tune_s']:8.1f} {r['epochs_s']:9.1f} "
              f"{base['rank_s'] / r['rank_s']:7.2f} {base['tune_s'] / r['tune_s']:7.2f} {r['test_acc']:9.3f}")


if __name__ == "__main__":
    main()
