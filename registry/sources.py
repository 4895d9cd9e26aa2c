"""Which stored prompts are the sources for a target: what ``promptkit rank`` and ``promptkit ensemble`` combine.

>>> from promptkit.registry import Registry
>>> from promptkit.registry.sources import select_sources
>>> refs = select_sources(Registry(), "zoo-textures")   # every latest prompt not tuned on zoo-textures

Loading them (verified) is :func:`promptkit.registry.workflows.load_sources`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .store import Registry
from .workflows import source_refs

__all__ = ["select_sources"]


def select_sources(
    reg: Registry, target: str, refs: Sequence[str] | None = None, *, include_target: bool = False
) -> list[str]:
    """The exact references (``name:version``) of the source prompts to use for ``target``.

    Named ``refs`` are resolved and all kept, in order, without duplicates. Without them, the
    sources are the latest version of every prompt in the registry (ensembles left out), except
    those tuned on the target's own task unless ``include_target``.

    Args:
        reg: the registry to read.
        target: the target task: a catalog name (``promptkit datasets``) or an image folder, whose
            name is then the task.
        refs: references to use (``name``, ``name:3``, ``name@alias``) [default: every latest prompt].
        include_target: keep sources tuned on the target's task in the default set.

    Returns:
        The exact references, possibly empty (a registry without prompts).

    Raises:
        UsageError: a named reference is an ensemble, not one prompt, or is malformed.
        AssetNotFoundError: a named reference is not in the registry.
    """
    if refs:
        return source_refs(reg, refs)
    return source_refs(reg, exclude_tasks=() if include_target else (_task_of(target),))


def _task_of(target: str) -> str:
    """The task a target names: its catalog entry's name, else (an image folder) the folder's name."""
    from promptkit.data.catalog import get_dataset_entry
    from promptkit.errors import DatasetNotFoundError

    try:
        return get_dataset_entry(target).name
    except DatasetNotFoundError:  # a folder path: its name is the task
        return Path(target).name
