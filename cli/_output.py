"""Rendering helpers: tables for people on stdout, JSON for scripts on stdout, progress on stderr.

Colour and progress bars appear only on a terminal (rich detects a non-terminal and drops
styles; :func:`progress` returns a no-op when stderr or stdout is not a TTY).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from rich.console import Console

__all__ = ["bar", "err_console", "out_console", "print_json", "progress"]


@lru_cache(maxsize=1)
def _out() -> Console:
    # Off a terminal rich would wrap tables at 80 columns; logs and CI read better unwrapped.
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@lru_cache(maxsize=1)
def _err() -> Console:
    return Console(stderr=True, soft_wrap=True)


def out_console() -> Console:
    return _out() if _out().file is sys.stdout else _fresh_out()


def err_console() -> Console:
    return _err() if _err().file is sys.stderr else _fresh_err()


def _fresh_out() -> Console:  # stdout was swapped (tests, redirection inside one process)
    _out.cache_clear()
    return _out()


def _fresh_err() -> Console:
    _err.cache_clear()
    return _err()


def print_json(obj: Any) -> None:
    """Write JSON, and nothing else, to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def bar(value: float, *, maximum: float = 1.0, width: int = 20) -> str:
    """A text bar of ``value / maximum`` (clipped to [0, 1])."""
    frac = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    full = int(round(frac * width))
    return "█" * full + "·" * (width - full)


@contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(done, total)`` drawing a rich progress bar on stderr, or a no-op off a terminal."""
    if not (enabled and sys.stderr.isatty() and sys.stdout.isatty()):
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console(), transient=True,
    ) as prog:
        task = prog.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update
