"""DataLoaders for prompt tuning and feature extraction, on any device.

Worker processes decode images in parallel and ``pin_memory`` speeds host-to-GPU copies when
the target device is CUDA; shuffling draws from a ``torch.Generator`` seeded by the caller, so
the batch order is the same on every run and device.
"""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset

from promptkit.data.datasets import TensorImageDataset

__all__ = ["default_num_workers", "make_loader"]


def default_num_workers(dataset: Dataset, device: torch.device) -> int:
    """Workers to use when the caller does not say.

    0 for in-memory datasets (indexing a tensor is cheaper than passing batches between
    processes) and on machines with at most 2 cores (workers would compete with the model).
    Otherwise up to 8 on CUDA (the GPU waits for decoding) and up to half the cores elsewhere
    (the model's own CPU threads need the rest).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(dataset, TensorImageDataset) or cores <= 2:
        return 0
    if device.type == "cuda":
        return min(8, cores - 1)
    return min(4, cores // 2)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    device: str | torch.device,
    num_workers: int | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader suited to ``device``.

    Args:
        dataset: any map-style dataset, e.g. a split of :class:`~promptkit.data.splits.Splits`.
        batch_size: examples per batch.
        shuffle: reshuffle each epoch (training); ``False`` keeps dataset order (features, eval).
        seed: seeds the shuffling generator, and through it the workers' RNGs (torch gives
            each worker ``base_seed + worker_id`` for ``random``, numpy and torch), so random
            transforms in workers are reproducible too.
        device: where batches will be used; pinned memory only for CUDA.
        num_workers: worker processes; ``None`` picks :func:`default_num_workers`.
        drop_last: drop the last incomplete batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device)
    workers = default_num_workers(dataset, dev) if num_workers is None else num_workers
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        pin_memory=dev.type == "cuda",
        persistent_workers=workers > 0,  # keep decoders alive across epochs
        drop_last=drop_last,
    )
