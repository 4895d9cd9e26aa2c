"""Commands under torchrun: join the process group, keep every process but rank 0 silent, fail together.

``torchrun --nproc_per_node N -m promptkit train|rank|ensemble ...`` runs the same command in N
processes. :func:`distributed_command` wraps such a command (inside :func:`handle_errors`):

- it joins the process group from torchrun's environment (:func:`promptkit.distributed.init_from_env`;
  nothing at all in a single process);
- processes other than rank 0 write nothing to stdout or stderr (tables, JSON, progress, warnings);
  rank 0 alone stores, writes caches and checkpoints (the commands and the core ask
  :func:`promptkit.distributed.is_writer`);
- errors: rank 0 reports its own as usual; a collective that fails because another process stopped
  becomes one :class:`~promptkit.errors.DistributedError` line. Other processes report only what
  rank 0 cannot see: crashes and OS errors (prefixed with their rank), and promptkit's own errors
  from the first process of another machine; every process exits non-zero;
- at the end every process waits for the others, so a failure after the others finished (rank 0
  storing the result) still ends every process with a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from promptkit.errors import EXIT_ERROR, PromptkitError

from ._errors import print_error

__all__ = ["distributed_command", "writer"]

F = TypeVar("F", bound=Callable[..., Any])


def writer() -> bool:
    """True in a single process and on rank 0 of a torchrun run: the process that stores and prints."""
    from promptkit.distributed import is_writer

    return is_writer()


def distributed_command(fn: F) -> F:
    """Run command ``fn`` as one process of a torchrun run (its ``device`` argument picks the backend)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from promptkit import distributed

        if not distributed.requested():
            return fn(*args, **kwargs)
        streams = sys.stdout, sys.stderr
        try:
            distributed.init_from_env(kwargs.get("device", "auto"))
            if not distributed.is_writer():
                sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (closed below)
            result = fn(*args, **kwargs)
            distributed.barrier()  # a process that failed after the others finished fails them all
            return result
        except BaseException as err:
            _restore(streams)
            raise _reported(err, distributed) from None
        finally:
            _restore(streams)
            distributed.shutdown()

    return wrapper  # type: ignore[return-value]


def _restore(streams: tuple[Any, Any]) -> None:
    if sys.stdout is not streams[0]:
        devnull = sys.stdout
        sys.stdout, sys.stderr = streams
        devnull.close()


def _reported(err: BaseException, distributed: Any) -> BaseException:
    """What the command raises for ``err`` on this process: rank 0's error, or a quiet non-zero exit."""
    from promptkit.errors import DistributedError

    if isinstance(err, (typer.Exit, SystemExit)):
        return err
    rank, world = distributed.rank(), distributed.world_size()
    lost = distributed.is_peer_failure(err)
    if rank == 0:
        if lost:
            return DistributedError(rank, world, _cause(err))
        return err  # handle_errors reports it, as in one process
    if os.environ.get("PROMPTKIT_DEBUG", "") not in ("", "0"):
        return err
    if isinstance(err, KeyboardInterrupt):
        return typer.Exit(130)
    if lost:
        return typer.Exit(EXIT_ERROR)  # the process that stopped, or rank 0, says why
    if isinstance(err, PromptkitError):
        # the same arguments give every process the same error: rank 0 reports it, and the first
        # process of each other machine, whose files and devices rank 0 cannot see
        if distributed.local_rank() == 0:
            print_error(f"rank {rank} of {world}: {err.message}", err.hint)
        return typer.Exit(err.exit_code)
    if isinstance(err, (OSError, MemoryError)):
        print_error(f"rank {rank} of {world}: {err or type(err).__name__}")
    else:
        print_error(f"rank {rank} of {world}: unexpected {type(err).__name__}: {err}",
                    "this is a bug in promptkit; rerun with PROMPTKIT_DEBUG=1 for the traceback and report it")
    return typer.Exit(EXIT_ERROR)


def _cause(err: BaseException) -> str:
    """The first line of a collective's error, without the source location gloo puts first."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text.split(". ")[0][:160]
