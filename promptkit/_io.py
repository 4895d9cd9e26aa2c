"""File-system helpers shared by every layer: where promptkit keeps its files, and durable writes."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

__all__ = ["fsync_dir", "promptkit_home", "write_atomic"]


def promptkit_home() -> Path:
    """``$PROMPTKIT_HOME``, defaulting to ``~/.cache/promptkit`` (registry, caches, runs, datasets live below)."""
    return Path(os.environ.get("PROMPTKIT_HOME") or Path.home() / ".cache" / "promptkit").expanduser()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so that a rename inside it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a part.

    Temp file in the same folder, fsync, rename, fsync of the folder; the temp file is removed
    on any failure.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)
