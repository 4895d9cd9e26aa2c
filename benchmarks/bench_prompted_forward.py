"""Prompted-forward throughput against timm's plain forward, on the same backbone and batch.

A prompt of ``m`` tokens lengthens the sequence from ``n`` to ``n + m`` tokens; a ViT's cost is
nearly linear in the sequence length at these sizes, so the best the wrapper can do is a
throughput ratio of about ``n / (n + m)`` (the token-count bound; attention's quadratic term
makes the true optimum slightly lower). The goal is a measured ratio within 5 % of the bound.

Both forwards are timed in one process, interleaved (plain, prompted, plain, ...), and each
side's median over the repeats is reported, so clock drift and load hit both alike. On a
shared CPU machine use ``--threads 1 --clock process`` (this process's CPU time), which other
processes' load disturbs far less than wall-clock time. An ``m = 0`` row is the control: its
ratio shows the wrapper's own overhead plus the measurement noise.

Prints one markdown table row per configuration (and the header with ``--header``):

    python benchmarks/bench_prompted_forward.py --model vit_base_patch16_224 --batch 64 --device cuda \\
        --precision bf16 --length 10 --mode deep --header
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from promptkit.backbone import load_backbone
from promptkit.device import autocast, resolve_device
from promptkit.prompted import PromptedViT

HEADER = (
    "| device | model | batch | precision | mode | m | n | timm img/s | prompted img/s | ratio | bound n/(n+m) "
    "| ratio / bound |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _throughput(fn, x: torch.Tensor, device: torch.device, iters: int, clock) -> float:
    _sync(device)
    t0 = clock()
    for _ in range(iters):
        fn(x)
    _sync(device)
    return iters * x.shape[0] / (clock() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="vit_base_patch16_224")
    ap.add_argument("--img-size", type=int, default=None, help="override the model's input size")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, nargs="+", default=[10], help="prompt lengths m to measure")
    ap.add_argument("--mode", choices=["shallow", "deep"], nargs="+", default=["shallow", "deep"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--iters", type=int, default=10, help="forward passes per timing")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timings per side (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--clock", choices=["wall", "process"], default="wall",
                    help="process: CPU time of this process (CPU device only; robust on a shared machine)")
    ap.add_argument("--header", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    if args.clock == "process" and device.type != "cpu":
        ap.error("--clock process only measures CPU work; use --clock wall on GPUs")
    clock = time.process_time if args.clock == "process" else time.perf_counter
    kwargs = {"img_size": args.img_size} if args.img_size else {}
    torch.manual_seed(0)
    backbone = load_backbone(args.model, pretrained=False, **kwargs)  # throughput does not depend on the weights
    vit = backbone.model.to(device)
    size = backbone.data_config["input_size"][1:]
    x = torch.randn(args.batch, 3, *size, device=device)
    n = backbone.num_prefix_tokens + backbone.num_patches
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    if device.type == "cpu":
        device_name += f" ({torch.get_num_threads()} thr, {args.clock} clock)"

    if args.header:
        print(HEADER)
    for mode in args.mode:
        for m in args.length:
            layers = 1 if mode == "shallow" else backbone.depth
            model = PromptedViT(backbone, 0.02 * torch.randn(layers, m, backbone.embed_dim), mode=mode).to(device)

            def plain(inp: torch.Tensor) -> torch.Tensor:
                with autocast(device, args.precision):
                    return vit(inp)  # num_classes=0: forward_features + pooling, timm's own path

            def prompted(inp: torch.Tensor) -> torch.Tensor:
                with autocast(device, args.precision):
                    return model.pooled(inp)

            with torch.inference_mode():
                for _ in range(args.warmup):
                    plain(x)
                    prompted(x)
                t_plain, t_prompted = [], []
                for _ in range(args.repeats):
                    t_plain.append(_throughput(plain, x, device, args.iters, clock))
                    t_prompted.append(_throughput(prompted, x, device, args.iters, clock))
            a, b = statistics.median(t_plain), statistics.median(t_prompted)
            ratio, bound = b / a, n / (n + m)
            print(f"| {device_name} | {args.model} | {args.batch} | {args.precision} | {mode} | {m} | {n} "
                  f"| {a:.1f} | {b:.1f} | {ratio:.3f} | {bound:.3f} | {ratio / bound:.3f} |", flush=True)


if __name__ == "__main__":
    main()
