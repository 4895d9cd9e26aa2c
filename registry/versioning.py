"""Version numbers and index files of a name: the high-water mark, aliases, stale temporary files.

Version numbers are never reused. Each name keeps its ``NEXT_VERSION_FILE`` after its last
version is removed, and the registry keeps a second copy of every name's high-water mark in
``HIGH_WATER_FILE``; the next version is above both and above every version folder present, so
neither a removal nor one corrupted counter makes a number come back.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .layout import HIGH_WATER_FILE, NEXT_VERSION_FILE, VERSIONS_DIR

__all__ = [
    "TMP_SUFFIX",
    "high_water",
    "next_version",
    "parse_aliases",
    "read_counter",
    "remove_stale_tmp",
    "version_number",
    "version_numbers",
]

TMP_SUFFIX = ".tmp"  # promptkit._io.write_atomic writes ".<name>.<uuid hex>.tmp" next to its target
_STALE_TMP = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")
_NUMBER = re.compile(r"^[1-9][0-9]{0,17}$")


def version_number(entry: str) -> int | None:
    """The version number a ``versions/`` entry name spells (``"3"``), or None (``"abc"``, ``"03"``, ``"²"``)."""
    return int(entry) if _NUMBER.match(entry) else None


def version_numbers(name_dir: Path) -> list[int]:
    """Every numbered folder below ``name_dir/versions``, with or without a record, ascending."""
    try:
        entries = os.listdir(name_dir / VERSIONS_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return []
    numbered = ((n, e) for e in entries if (n := version_number(e)) is not None)
    return sorted(n for n, e in numbered if (name_dir / VERSIONS_DIR / e).is_dir())


def read_counter(path: Path) -> int | None:
    """The positive integer in a counter file, or None when it is missing or not one."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, IsADirectoryError):
        return None
    return int(text) if _NUMBER.match(text) else None


def high_water(root: Path) -> dict[str, int]:
    """The registry-wide copy of each name's last assigned version (empty when missing or corrupt)."""
    try:
        data = json.loads((root / HIGH_WATER_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and type(v) is int and v > 0}


def next_version(root: Path, name: str, name_dir: Path) -> int:
    """The number the next version of ``name`` gets: above its counter, the registry's mark and every folder."""
    present = version_numbers(name_dir)
    counter = read_counter(name_dir / NEXT_VERSION_FILE) or 1
    return max(counter, high_water(root).get(name, 0) + 1, *(v + 1 for v in present), 1)


def parse_aliases(text: str) -> dict[str, int] | None:
    """The aliases an ``ALIASES_FILE`` holds, or None when it is not a JSON object of names to versions."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(k, str) and type(v) is int for k, v in data.items()):
        return None
    return data


def remove_stale_tmp(folder: Path) -> None:
    """Delete temporary files that a writer killed inside ``write_atomic`` left in ``folder`` (under the lock)."""
    try:
        entries = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if _STALE_TMP.match(entry):
            try:
                os.unlink(folder / entry)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                pass
