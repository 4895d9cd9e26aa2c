"""Rendering helpers: tables for people on stdout, JSON for scripts on stdout, progress on stderr.

Colour and progress bars appear only on a terminal (rich detects a non-terminal and drops
styles; off a terminal, progress is a few plain log lines on stderr instead of bars).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.text import Text

from promptkit.progress import PhaseProgress, Progress

__all__ = ["bar", "err_console", "fitted_table", "labelled", "out_console", "phase_progress", "print_json", "progress"]


@lru_cache(maxsize=4)
def _out(columns: str | None = None) -> Console:
    # Off a terminal rich would wrap tables at 80 columns; logs and CI read better unwrapped, so
    # the width is 200 there unless COLUMNS says otherwise (a terminal, or COLUMNS, sets it).
    # emoji=False: names like "features:train:" must not become emoji codes (":train:" is one).
    # markup=False: names, tags, descriptions and messages are printed as text, never as rich markup
    # ("stage=[red]x[/red]" stays literal, "[/]" cannot break a table); styles are rich Text objects.
    width = None if sys.stdout.isatty() or _columns(columns) else 200
    return Console(soft_wrap=True, width=width, emoji=False, markup=False)


def _columns(value: str | None) -> int | None:
    """COLUMNS as a usable width, else None."""
    return int(value) if value and value.isdigit() and int(value) >= 20 else None


@lru_cache(maxsize=1)
def _err() -> Console:
    return Console(stderr=True, soft_wrap=True, emoji=False, markup=False)


def out_console() -> Console:
    columns = os.environ.get("COLUMNS")
    return _out(columns) if _out(columns).file is sys.stdout else _fresh_out(columns)


def err_console() -> Console:
    return _err() if _err().file is sys.stderr else _fresh_err()


def _fresh_out(columns: str | None) -> Console:  # stdout was swapped (tests, redirection inside one process)
    _out.cache_clear()
    return _out(columns)


def _fresh_err() -> Console:
    _err.cache_clear()
    return _err()


def labelled(label: str, style: str, text: str) -> Text:
    """``label`` in ``style``, a space, then ``text`` as plain text (whatever brackets it holds)."""
    return Text.assemble((label, style), " ", text)


def print_json(obj: Any) -> None:
    """Write JSON, and nothing else, to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def bar(value: float, *, maximum: float = 1.0, width: int = 20) -> str:
    """A text bar of ``value / maximum`` (clipped to [0, 1])."""
    frac = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    full = int(round(frac * width))
    return "█" * full + "·" * (width - full)


def fitted_table(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], *,
                 drop_order: Sequence[str], ref_column: int = 0, console: Console | None = None
                 ) -> tuple[Any, list[str]]:
    """A table that fits the console's width without cutting its reference column.

    The reference column never wraps and is never shortened, and no header is cut; while the table
    is too wide, columns are left out in ``drop_order`` (cells fold only if nothing is left to leave
    out; a reference wider than the console makes the table wider, never shorter).

    Args:
        columns: ``(header, justify)`` per column.
        rows: one cell per column (str or rich Text).
        drop_order: headers to leave out first when space is short.
        ref_column: the index of the column that is never cut (the references).

    Returns:
        ``(table, hidden)``: the table and the headers left out.
    """
    from rich.measure import Measurement
    from rich.table import Table

    console = console or out_console()
    hidden: list[str] = []
    pending = [h for h in drop_order if h in {c[0] for c in columns}]
    ref_width = max([len(columns[ref_column][0]), *(len(str(r[ref_column])) for r in rows)])
    while True:
        keep = [i for i, (h, _) in enumerate(columns) if h not in hidden]
        table = Table(title=title, title_justify="left")
        for i in keep:
            header, justify = columns[i]
            if i == ref_column:
                table.add_column(header, justify=justify, no_wrap=True, min_width=ref_width)
            else:
                table.add_column(header, justify=justify, overflow="fold", min_width=len(header))
        for row in rows:
            table.add_row(*(row[i] for i in keep))
        natural = Measurement.get(console, console.options.update_width(10**5), table).maximum
        if not pending or natural <= console.width:
            return table, hidden
        hidden.append(pending.pop(0))


@contextmanager
def phase_progress(enabled: bool = True) -> Iterator[Progress]:
    """A ``callback(phase, done, total)``: one rich bar per phase on a terminal, log lines elsewhere.

    Off a terminal (CI logs, ``| tee``, notebooks) each phase writes a plain line to stderr when
    it completes and every 10 s while it runs, so long runs show where they are without
    control codes and short phases cost one line.
    """
    if not enabled:
        yield lambda phase, done, total: None
        return
    if not sys.stderr.isatty():
        yield _phase_log()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console(), transient=True) as prog:  # fmt: skip
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = prog.add_task(phase, total=total)
            prog.update(tasks[phase], completed=done, total=total)

        yield update


def _phase_log(every: float = 10.0) -> Progress:
    """Plain lines on stderr: one when a phase completes, and one every ``every`` seconds while it runs."""
    from promptkit.progress import text_progress

    return text_progress(lambda line: err_console().print(line, highlight=False, markup=False), every=every)


@contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[PhaseProgress]:
    """A ``callback(done, total)`` for one phase named ``description`` (see :func:`phase_progress`)."""
    with phase_progress(enabled) as update:
        yield lambda done, total: update(description, done, total)
