"""Progress callbacks: one signature for every long-running call.

A :data:`Progress` is ``progress(phase, done, total)``: ``phase`` names what runs
(``"features zoo/textures:1"``, ``"train"``, ``"hgprompt+ensemble: eval:test"``, ...) and
``done`` of ``total`` units (images, steps, files, tasks) are finished. It is called with
``done`` from 0 or 1 up to ``total``; a phase is complete when ``done >= total``; a phase name
may come again later (another split), starting afresh.

A call that runs one phase only (extracting features, verifying files, optimizing weights)
takes the same callback with its phase bound, a :data:`PhaseProgress` ``progress(done, total)``;
the caller names the phase with :func:`in_phase`. A call that runs named phases of its own
inside a larger one reports them under the caller's name with :func:`prefixed`.

For a notebook or a script, :func:`text_progress` turns any ``write(line)`` function (``print``,
a logger's ``info``) into a Progress that writes a line when a phase completes and every few
seconds while it runs; promptkit itself never prints.

This module imports nothing heavy (the CLI imports it for ``--help``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["PhaseProgress", "Progress", "in_phase", "prefixed", "text_progress"]

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: ``done`` of ``total`` units of ``phase`` are finished."""

PhaseProgress = Callable[[int, int], None]
"""``progress(done, total)``: a :data:`Progress` whose phase the caller has bound (:func:`in_phase`)."""


def in_phase(progress: Progress | None, phase: str) -> PhaseProgress | None:
    """``progress`` bound to ``phase``, for a call that runs that one phase (None stays None)."""
    if progress is None:
        return None
    report = progress
    return lambda done, total: report(phase, done, total)


def prefixed(progress: Progress | None, prefix: str) -> Progress | None:
    """``progress`` with ``prefix`` put before every phase name (None stays None).

    Example: ``prefixed(progress, "hgprompt: ")`` reports a training run's ``"train"`` phase
    as ``"hgprompt: train"``.
    """
    if progress is None:
        return None
    report = progress
    return lambda phase, done, total: report(f"{prefix}{phase}", done, total)


def text_progress(write: Callable[[str], object], *, every: float = 10.0) -> Progress:
    """A :data:`Progress` that reports as text lines through ``write``, for logs and notebooks.

    A line ``"<phase>: <done>/<total> (<seconds> s)"`` is written when a phase completes and at
    most every ``every`` seconds while it runs, so a long phase shows where it is and a short
    one costs one line. Nothing is written for ``done < 1``.

    Example:
        >>> from promptkit.progress import text_progress
        >>> result = rank_sources(bb, sources, splits, progress=text_progress(print))  # doctest: +SKIP
    """
    started: dict[str, float] = {}
    last: dict[str, float] = {}

    def update(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        begin = started.setdefault(phase, now)
        finished = total > 0 and done >= total
        if done < 1 or (not finished and now - last.get(phase, begin) < every):
            return
        last[phase] = now
        write(f"{phase}: {done}/{total} ({now - begin:.1f} s)")
        if finished:  # a phase name reused later (another split) starts its clock afresh
            started.pop(phase, None)
            last.pop(phase, None)

    return update
