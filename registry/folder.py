"""One registry folder on disk: where a name's versions live, and reading them (no locking, no writes).

The layout is :mod:`.layout`'s; :class:`~promptkit.registry.store.Registry` writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

from promptkit.errors import AssetNotFoundError, IntegrityError

from .layout import ALIASES_FILE, ASSETS_DIR, NO_NAMESPACE, RECORD_FILE, VERSIONS_DIR
from .manifest import Manifest, parse_manifest
from .versioning import parse_aliases, version_number

__all__ = ["StoreFolder", "VersionRecord"]


class VersionRecord(BaseModel):
    """``record.json``: the authoritative manifest of a version, its digest and the digest of its file.

    ``manifest_sha256`` (sha256 of the manifest's canonical JSON) is absent from records written
    before it existed; those are checked without it.
    """

    manifest: Manifest
    file_sha256: str
    file_size: int
    manifest_sha256: str | None = None


class StoreFolder:
    """One registry folder (the user's, writable; or the built-in collection, read-only)."""

    def __init__(self, root: Path, *, readonly: bool) -> None:
        self.root = root
        self.readonly = readonly

    # -- paths ---------------------------------------------------------------
    def name_dir(self, name: str) -> Path:
        ns, _, base = name.rpartition("/")
        return self.root / ASSETS_DIR / (ns or NO_NAMESPACE) / base

    def version_dir(self, name: str, version: int) -> Path:
        return self.name_dir(name) / VERSIONS_DIR / str(version)

    # -- reading -------------------------------------------------------------
    def versions(self, name: str) -> list[int]:
        """Committed versions of ``name``, ascending (a folder without a record is not committed)."""
        vdir = os.path.join(self.name_dir(name), VERSIONS_DIR)  # plain strings: this runs per version in `list`
        try:
            names = os.listdir(vdir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        numbered = ((n, v) for v in names if (n := version_number(v)) is not None)
        return sorted(n for n, v in numbered if os.path.isfile(os.path.join(vdir, v, RECORD_FILE)))

    def has_version(self, name: str, version: int) -> bool:
        return (self.version_dir(name, version) / RECORD_FILE).is_file()

    def names(self) -> list[str]:
        """Names with at least one committed version (a name whose versions were all removed is absent)."""
        return [name for name in self.name_folders() if self.versions(name)]

    def name_folders(self) -> list[str]:
        """Every name that has a folder, including names whose versions were all removed."""
        base = self.root / ASSETS_DIR
        out: list[str] = []
        if not base.is_dir():
            return out
        for ns in sorted(os.listdir(base)):
            if not (base / ns).is_dir():
                continue
            for n in sorted(os.listdir(base / ns)):
                if (base / ns / n).is_dir():
                    out.append(n if ns == NO_NAMESPACE else f"{ns}/{n}")
        return out

    def record(self, name: str, version: int) -> dict:
        path = self.version_dir(name, version) / RECORD_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise AssetNotFoundError(f"{name}:{version}") from None
        except ValueError:
            raise IntegrityError(
                f"{name}:{version}: unreadable record {path}", hint="run `promptkit verify`"
            ) from None

    def manifest(self, name: str, version: int) -> Manifest:
        path = os.path.join(self.name_dir(name), VERSIONS_DIR, str(version), RECORD_FILE)
        try:
            with open(path, "rb") as fh:
                return VersionRecord.model_validate_json(fh.read()).manifest  # one pass of pydantic-core's parser
        except FileNotFoundError:
            raise AssetNotFoundError(f"{name}:{version}") from None
        except ValueError:
            return parse_manifest(self.record(name, version).get("manifest"), source=f"{name}:{version}")

    def aliases(self, name: str) -> dict[str, int]:
        """The name's aliases; a corrupt aliases file reads as none (``verify`` reports it)."""
        try:
            text = (self.name_dir(name) / ALIASES_FILE).read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            return {}
        return parse_aliases(text) or {}
