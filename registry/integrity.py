"""Integrity checks of stored versions and of a name's index files: what `promptkit verify` reports."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit.digest import file_sha256
from promptkit.errors import IntegrityError, InvalidAssetError

from .files import read_prompt_file
from .layout import ALIASES_FILE, NEXT_VERSION_FILE, RECORD_FILE, VERSIONS_DIR
from .manifest import parse_manifest
from .versioning import TMP_SUFFIX, parse_aliases, read_counter, version_number

__all__ = ["VerifyIssue", "VerifyReport", "check_manifest_digest", "check_name", "check_version", "manifest_digest"]

# What the record may never disagree with the file on (tags and origin are the record's own).
_CONTENT_FIELDS = ("sha256", "kind", "backbone", "geometry", "head", "ensemble")
_NAME_ENTRIES = (ALIASES_FILE, NEXT_VERSION_FILE, VERSIONS_DIR)  # what a name's folder may hold


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


def manifest_digest(manifest: Any) -> str:
    """sha256 of a record's manifest as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def check_manifest_digest(ref: str, record: dict) -> None:
    """Raise IntegrityError when the record's manifest differs from its ``manifest_sha256``.

    A record without the field (written before it existed, e.g. the built-in collection) passes.
    """
    expected = record.get("manifest_sha256")
    if expected is None:
        return
    actual = manifest_digest(record.get("manifest"))
    if actual != expected:
        raise IntegrityError(
            f"{ref}: record was modified (manifest sha256 {actual[:12]}... differs from the recorded "
            f"{str(expected)[:12]}...)",
            hint="restore the version from a backup or remove it with `promptkit rm`",
        )


def check_version(ref: str, record_path: Path, file_path: Path) -> str | None:
    """The problem with one stored version, or None: record digest, file digest, file validity, agreement."""
    name, _, number = ref.rpartition(":")
    try:
        record = json.loads(record_path.read_text())
        if not isinstance(record, dict):
            return "record is not a JSON object"
        check_manifest_digest(ref, record)
        manifest = parse_manifest(record["manifest"], source=ref)
        if manifest.name != name or str(manifest.version) != number:
            return f"record names {manifest.name}:{manifest.version}, not the folder's {ref}"
        if not file_path.is_file():
            return "stored file is missing"
        actual = file_sha256(file_path)
        if actual != record["file_sha256"]:
            return f"file sha256 {actual[:12]}... differs from the recorded {record['file_sha256'][:12]}..."
        _, embedded = read_prompt_file(file_path)
        for f in _CONTENT_FIELDS:
            if getattr(embedded, f) != getattr(manifest, f):
                return f"record and file disagree on {f!r}"
    except (IntegrityError, InvalidAssetError, KeyError, OSError, ValueError, TypeError) as err:
        return str(err)
    return None


def check_name(name: str, name_dir: Path, versions: list[int]) -> list[VerifyIssue]:
    """Problems with a name's index files and entries (``versions`` are its committed versions).

    Reports version folders without a record, stray entries, an unreadable or dangling aliases file
    and a counter that is unreadable or lowered below a version. A name whose versions were all
    removed (its folder and counter kept) is not a problem.
    """
    issues: list[VerifyIssue] = []
    for entry in sorted(os.listdir(name_dir)):
        if entry not in _NAME_ENTRIES and not entry.endswith(TMP_SUFFIX):
            issues.append(VerifyIssue(name, f"stray entry {entry!r} in {name_dir}"))
    vroot = name_dir / VERSIONS_DIR
    if vroot.is_dir():
        for entry in sorted(os.listdir(vroot)):
            n = version_number(entry)
            if n is None or not (vroot / entry).is_dir():
                issues.append(VerifyIssue(name, f"stray entry {VERSIONS_DIR}/{entry!r} (not a version folder)"))
            elif not (vroot / entry / RECORD_FILE).is_file():
                issues.append(VerifyIssue(f"{name}:{n}", f"version folder has no {RECORD_FILE} (deleted?)"))
    issues.extend(_check_aliases(name, name_dir / ALIASES_FILE, versions))
    counter_path = name_dir / NEXT_VERSION_FILE
    if counter_path.exists():  # missing: a writer killed before its first counter write; the next one writes it
        counter = read_counter(counter_path)
        if counter is None:
            issues.append(VerifyIssue(name, f"{NEXT_VERSION_FILE} is not a positive integer"))
        elif versions and counter < versions[-1]:
            # Writers only raise it, after the commit: equal to the last version is a writer killed in between.
            issues.append(VerifyIssue(name, f"{NEXT_VERSION_FILE} is {counter}, below version {versions[-1]}"))
    return issues


def _check_aliases(name: str, path: Path, versions: list[int]) -> list[VerifyIssue]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        return [VerifyIssue(name, f"unreadable {ALIASES_FILE} ({err})")]
    aliases = parse_aliases(text)
    if aliases is None:
        return [VerifyIssue(name, f"{ALIASES_FILE} is not a JSON object of alias names to version numbers")]
    return [
        VerifyIssue(f"{name}@{alias}", f"alias points at version {target}, which does not exist")
        for alias, target in sorted(aliases.items()) if target not in versions
    ]
