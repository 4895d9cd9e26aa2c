"""What promptkit keeps besides the registry, how big it is, and how to clean it.

Two areas grow with use: the feature cache (``$PROMPTKIT_HOME/cache/features``: pooled
features per prompt, dataset split and backbone, read again by ``rank`` and ``ensemble``) and
the run folders (``$PROMPTKIT_HOME/runs/<name>``: ``train``'s per-epoch checkpoints, which
``--resume`` reads). Both are safe to delete: features are recomputed on the next use, and a
removed run can no longer be resumed. The registry and datasets are never touched here.

>>> from promptkit.caches import cache_areas, clean_area
>>> [(a.name, a.bytes) for a in cache_areas()]     # doctest: +SKIP
>>> clean_area("features")                          # doctest: +SKIP

This module imports nothing heavy (``promptkit cache`` runs without torch).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from promptkit._io import promptkit_home
from promptkit.errors import UsageError

__all__ = ["AREAS", "CacheArea", "cache_areas", "clean_area", "run_folders"]

AREAS = ("features", "runs")


@dataclass(frozen=True)
class CacheArea:
    """A folder promptkit keeps, with its number of files and total size in bytes."""

    name: str
    path: Path
    files: int
    bytes: int


def _area_path(name: str) -> Path:
    if name == "features":
        return promptkit_home() / "cache" / "features"  # promptkit.features.default_cache_dir
    if name == "runs":
        return promptkit_home() / "runs"
    raise UsageError(f"unknown cache area {name!r}", hint="choose " + ", ".join(AREAS) + " or all")


def _size(path: Path) -> tuple[int, int]:
    """``(files, bytes)`` under ``path``, links not followed (a missing folder is empty)."""
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            files += 1
            size += st.st_size
    return files, size


def cache_areas() -> list[CacheArea]:
    """The feature cache and the run folders, each with its file count and size."""
    return [CacheArea(name, _area_path(name), *_size(_area_path(name))) for name in AREAS]


def run_folders() -> list[CacheArea]:
    """One entry per run folder (``train --checkpoint-dir`` default), largest first."""
    root = _area_path("runs")
    if not root.is_dir():
        return []
    out = [CacheArea(p.name, p, *_size(p)) for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    return sorted(out, key=lambda a: -a.bytes)


def clean_area(name: str) -> CacheArea:
    """Delete everything in one area (``features`` or ``runs``); returns what it held before.

    The folder itself stays (empty); symbolic links inside are removed, never followed.

    Raises:
        UsageError: an unknown area name.
    """
    path = _area_path(name)
    before = CacheArea(name, path, *_size(path))
    if path.is_dir():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return before
