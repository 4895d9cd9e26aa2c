"""Integrity checks of stored versions: what `promptkit verify` reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from promptkit.digest import file_sha256
from promptkit.errors import IntegrityError, InvalidAssetError

from .files import read_prompt_file
from .manifest import parse_manifest

__all__ = ["VerifyIssue", "VerifyReport", "check_version"]

# What the record may never disagree with the file on (tags and origin are the record's own).
_CONTENT_FIELDS = ("sha256", "kind", "backbone", "geometry", "head", "ensemble")


@dataclass(frozen=True)
class VerifyIssue:
    ref: str
    problem: str


@dataclass
class VerifyReport:
    checked: int = 0
    issues: list[VerifyIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def check_version(ref: str, record_path: Path, file_path: Path) -> str | None:
    """The problem with one stored version, or None: file digest, file validity, record/file agreement."""
    try:
        record = json.loads(record_path.read_text())
        manifest = parse_manifest(record["manifest"], source=ref)
        if not file_path.is_file():
            return "stored file is missing"
        actual = file_sha256(file_path)
        if actual != record["file_sha256"]:
            return f"file sha256 {actual[:12]}... differs from the recorded {record['file_sha256'][:12]}..."
        _, embedded = read_prompt_file(file_path)
        for f in _CONTENT_FIELDS:
            if getattr(embedded, f) != getattr(manifest, f):
                return f"record and file disagree on {f!r}"
    except (IntegrityError, InvalidAssetError, KeyError, OSError, ValueError) as err:
        return str(err)
    return None
