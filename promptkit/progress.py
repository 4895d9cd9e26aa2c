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

This module imports nothing heavy (the CLI imports it for ``--help``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PhaseProgress", "Progress", "in_phase", "prefixed"]

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
