"""The training images each process takes under torchrun: its share of every global batch.

A single process visits the training set in a seeded random order (seed and epoch,
:func:`promptkit.train.schedule.epoch_seed`) in batches of ``batch_size``. Under ``W`` processes
the order and the global batches are the same -- every process draws the same permutation from
the same seed, so nothing is sent -- and process ``r`` takes the ``r``-th of ``W`` contiguous
slices of each global batch. The global batch size is the configured one: per-process batches
hold ``batch_size // W`` images, and when ``W`` does not divide a batch the first
``batch_size % W`` processes take one image more (a short last batch is split the same way; a
process left with none runs one stand-in image whose loss counts zero, since every process must
take part in every optimizer step).

Gradients stay those of the whole global batch: each process weighs its mean loss by its share of
the batch (:func:`share_weight`) before DistributedDataParallel averages over processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["GlobalBatchShards", "share_weight", "slice_bounds"]


def slice_bounds(batch_len: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of process ``rank``'s slice of a global batch of ``batch_len`` images."""
    q, extra = divmod(batch_len, world_size)
    start = rank * q + min(rank, extra)
    return start, start + q + (1 if rank < extra else 0)


def share_weight(local: int, global_batch: int, world_size: int) -> float:
    """The factor on a process's mean loss that makes DDP's average the global batch's mean.

    DDP averages gradients over ``world_size`` processes; ``mean_r * local_r * W / global`` averaged
    over processes is ``sum_r(local_r * mean_r) / global``, the mean over the global batch.
    """
    return local * world_size / global_batch


class GlobalBatchShards(Sampler[list[int]]):
    """Batches of dataset indices for one process: its slice of each global batch of one epoch.

    Deterministic for ``(seed, epoch)`` (given as ``generator_seed``): the same on every process
    and in every run. Also yields a process's empty slices (a short last batch), since every
    process must take part in every optimizer step.

    Args:
        n: training images.
        batch_size: the global batch size.
        generator_seed: seeds the epoch's permutation (as in a single process).
        rank: this process's rank; world_size: the number of processes.
    """

    def __init__(self, n: int, batch_size: int, generator_seed: int, *, rank: int, world_size: int) -> None:
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.order = torch.randperm(n, generator=torch.Generator().manual_seed(generator_seed)).tolist()

    def global_batches(self) -> Iterator[list[int]]:
        """The single-process batches of the epoch, in order."""
        for i in range(0, self.n, self.batch_size):
            yield self.order[i:i + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            start, stop = slice_bounds(len(batch), self.rank, self.world_size)
            yield batch[start:stop]

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)
