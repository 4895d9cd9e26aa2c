"""Durable file-system primitives: atomic writes (temp file, fsync, rename) and directory fsync."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from promptkit._io import fsync_dir, write_atomic

__all__ = ["fsync_dir", "remove_tree", "write_atomic", "write_json_atomic"]


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def remove_tree(path: Path, trash: Path) -> None:
    """Make ``path`` disappear atomically (rename into ``trash``), then delete it."""
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / uuid.uuid4().hex
    os.rename(path, target)
    fsync_dir(path.parent)
    shutil.rmtree(target, ignore_errors=True)
