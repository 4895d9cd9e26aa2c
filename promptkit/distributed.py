"""Several processes, one run: torchrun's process group, who writes, and collectives in dataset order.

``torchrun --nproc_per_node N -m promptkit train|rank|ensemble ...`` starts N copies of the same
command. torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_from_env` joins the process group from them (NCCL when the run
computes on CUDA, gloo on the CPU). Without those variables, or with ``WORLD_SIZE=1``, nothing
here does anything and every call takes the single-process path unchanged.

What the rest of promptkit asks of this module, at a few seams:

- :func:`batch_block` and :func:`gather_rows`: feature passes split the dataset's batches into
  one contiguous block per process and gather the rows back in rank order, which is dataset
  order; every process then holds the features a single process would have computed (the same
  batches, so on the CPU the same values bit for bit);
- :func:`from_writer`: a value read or computed by rank 0 alone (a feature-cache entry, a
  checkpoint), sent to every process, errors included, so that all processes take the same branch;
- :func:`all_reduce_sum`, :func:`wrap_ddp`: training's per-epoch sums and PyTorch's
  DistributedDataParallel over the tunable parameters;
- :func:`is_writer`: only rank 0 writes (registry, feature cache, checkpoints, output);
- :func:`is_peer_failure`: a collective that failed because another process stopped.

Importing this module is cheap (torch.distributed is imported inside the functions).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
from torch import Tensor

from promptkit.errors import PromptkitError, UsageError

__all__ = [
    "ENV_VARS",
    "all_reduce_sum",
    "barrier",
    "batch_block",
    "block_of",
    "from_writer",
    "gather_rows",
    "init_from_env",
    "is_active",
    "is_peer_failure",
    "is_writer",
    "local_rank",
    "rank",
    "requested",
    "shutdown",
    "world_size",
    "wrap_ddp",
]

ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun sets for each process (and what a hand-made launch must set)."""

T = TypeVar("T")

# Messages of a collective whose peer went away (gloo's TCP transport, the TCP store, NCCL's watchdog).
_PEER_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "connection refused",
              "socket timeout", "timed out", "nccl communicator was aborted", "remote worker")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise UsageError(f"{name}={value!r} is not an integer", hint="launch with torchrun, which sets it") from None


def requested() -> bool:
    """True when the environment asks for several processes (``WORLD_SIZE`` > 1)."""
    return _env_int("WORLD_SIZE", 1) > 1


def is_active() -> bool:
    """True inside an initialized process group of more than one process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 without a process group; ``RANK`` before it is joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def world_size() -> int:
    """The number of processes of the run (1 without a process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 when unset)."""
    return _env_int("LOCAL_RANK", 0)


def is_writer() -> bool:
    """True for the one process that writes files and output: global rank 0 (always, in a single process)."""
    return not is_active() or rank() == 0


def init_from_env(device: str | torch.device = "auto", *, timeout_s: float | None = None) -> bool:
    """Join the process group torchrun's environment describes; False (and nothing done) for one process.

    The backend follows where the run computes: NCCL when ``device`` resolves to CUDA (each
    process takes the GPU of its ``LOCAL_RANK``), gloo on the CPU.

    Args:
        device: the command's ``--device`` (``auto``, ``cpu``, ``cuda``); a CUDA index is refused
            under several processes, since each process uses GPU ``LOCAL_RANK``.
        timeout_s: how long a collective may wait for the others (``PROMPTKIT_DIST_TIMEOUT``
            seconds, else torch's default).

    Raises:
        UsageError: a variable torchrun sets is missing or not a number, an explicit CUDA index,
            an MPS device, or fewer GPUs on this machine than processes on it.
    """
    import torch.distributed as dist

    if not requested():
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    missing = [name for name in ENV_VARS if not os.environ.get(name, "").strip()]
    if missing:
        raise UsageError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set",
                         hint="start several processes with torchrun --nproc_per_node N -m promptkit ...")
    from promptkit.device import resolve_device

    spec = str(device).strip().lower()
    dev = resolve_device(device)
    if dev.type == "mps":
        raise UsageError("several processes on MPS are not supported", hint="use --device cpu or one process")
    backend = "gloo"
    if dev.type == "cuda":
        if ":" in spec:
            raise UsageError(f"--device {spec} under torchrun: each process uses the GPU of its LOCAL_RANK",
                             hint="use --device auto or cuda; CUDA_VISIBLE_DEVICES chooses the GPUs")
        if local_rank() >= torch.cuda.device_count():
            raise UsageError(f"LOCAL_RANK {local_rank()} but {torch.cuda.device_count()} GPU(s) on this machine",
                             hint="set --nproc_per_node to at most the number of GPUs")
        torch.cuda.set_device(local_rank())
        backend = "nccl"
    if timeout_s is None and os.environ.get("PROMPTKIT_DIST_TIMEOUT", "").strip():
        text = os.environ["PROMPTKIT_DIST_TIMEOUT"]
        try:
            timeout_s = float(text)
        except ValueError:
            raise UsageError(f"PROMPTKIT_DIST_TIMEOUT={text!r} is not a number of seconds",
                             hint="e.g. PROMPTKIT_DIST_TIMEOUT=600, or unset it for torch's default") from None
    kwargs: dict[str, Any] = {} if timeout_s is None else {"timeout": timedelta(seconds=timeout_s)}
    dist.init_process_group(backend, **kwargs)
    return True


def shutdown() -> None:
    """Leave the process group (nothing without one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (nothing in a single process)."""
    import torch.distributed as dist

    if is_active():
        dist.barrier()


def _comm_device() -> torch.device:
    """Where collective tensors live: the process's GPU under NCCL, else the CPU."""
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def batch_block(n_items: int, batch_size: int) -> range:
    """The items this process computes of a pass over ``n_items`` in batches of ``batch_size``.

    The batches of the single-process pass are cut into one contiguous block per process (block
    sizes differ by at most one batch), so each batch holds the same items as in one process and
    the blocks in rank order are the dataset's order. Without a process group: every item.
    """
    if not is_active():
        return range(n_items)
    return block_of(n_items, batch_size, rank(), world_size())


def block_of(n_items: int, batch_size: int, rank: int, world_size: int) -> range:
    """Process ``rank``'s block of :func:`batch_block` among ``world_size`` processes."""
    n_batches = -(-n_items // batch_size)
    first, last = (rank * n_batches) // world_size, ((rank + 1) * n_batches) // world_size
    return range(min(first * batch_size, n_items), min(last * batch_size, n_items))


def gather_rows(rows: Tensor) -> Tensor:
    """Every process's ``rows`` stacked in rank order, on the CPU, on every process.

    Shape:
        - rows: ``(n_r, *S)``, ``n_r`` may differ per process (0 included)
        - output: ``(sum_r n_r, *S)``
    """
    import torch.distributed as dist

    if not is_active():
        return rows
    dev = _comm_device()
    local = rows.detach().to(dev).contiguous()
    counts = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(world_size())]
    dist.all_gather(counts, torch.tensor([local.shape[0]], dtype=torch.int64, device=dev))
    sizes = [int(c.item()) for c in counts]
    longest = max(sizes)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=dev)
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)]).cpu()


def from_writer(compute: Callable[[], T]) -> T:
    """``compute()`` run by rank 0 alone and its value sent to every process.

    A :class:`~promptkit.errors.PromptkitError` raised by ``compute`` on rank 0 is raised there, and
    on the other processes as a :class:`~promptkit.errors.PromptkitError` with its message, hint and
    exit code, so that all of them stop alike. Without a process group, ``compute()`` itself.
    """
    import torch.distributed as dist

    if not is_active():
        return compute()
    box: list[Any] = [None]
    failure: PromptkitError | None = None
    if is_writer():
        try:
            box[0] = ("ok", compute())
        except PromptkitError as err:
            failure = err  # sent as plain values: not every error class rebuilds from its pickled args
            box[0] = ("error", (err.message, err.hint, err.exit_code))
    dist.broadcast_object_list(box, src=0)  # under NCCL through the current GPU (set by init_from_env)
    kind, value = box[0]
    if kind == "error":
        if failure is not None:
            raise failure
        relayed = PromptkitError(value[0], hint=value[1])
        relayed.exit_code = value[2]
        raise relayed
    return value


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """The element-wise sum of ``values`` over every process (the values themselves in one process)."""
    import torch.distributed as dist

    if not is_active():
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def wrap_ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` under PyTorch's DistributedDataParallel: gradients of its tunable parameters are averaged.

    Frozen parameters (the backbone) take no part in the gradient reduction; every parameter and
    buffer is sent from rank 0 once, when wrapped. Buffers are not re-sent on each forward: none is
    trained, and all processes built them alike.
    """
    from torch.nn.parallel import DistributedDataParallel

    ids = None
    if device.type == "cuda":
        ids = [device.index if device.index is not None else torch.cuda.current_device()]
    import inspect

    # torch >= 2.14 names the per-forward buffer sync forward_sync_buffers (broadcast_buffers is deprecated)
    sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters \
        else "broadcast_buffers"
    return DistributedDataParallel(module, device_ids=ids, **{sync: False})


def is_peer_failure(err: BaseException) -> bool:
    """True for an error of a collective whose peer process stopped or could not be reached."""
    import torch.distributed as dist

    if isinstance(err, PromptkitError):
        return False
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    if isinstance(err, (RuntimeError, ConnectionError, TimeoutError)):
        text = str(err).lower()
        return any(marker in text for marker in _PEER_LOST)
    return False
