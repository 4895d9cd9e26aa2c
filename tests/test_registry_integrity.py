"""Integrity (registry/integrity.py): the whole record is covered, and verify checks every index file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_spec, make_tensors
from promptkit.registry import Registry

from promptkit.errors import IntegrityError, UsageError


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def _record_path(reg: Registry, ref: str) -> Path:
    return reg.path_of(ref).parent / "record.json"


def _edit_record(reg: Registry, ref: str, **fields) -> None:
    path = _record_path(reg, ref)
    record = json.loads(path.read_text())
    record["manifest"].update(fields)
    path.write_text(json.dumps(record, indent=2))


@pytest.mark.parametrize("fields", [
    {"metrics": {"test_acc": 0.99}}, {"version": 7}, {"name": "other"}, {"description": "forged"},
    {"tags": {"stage": "prod"}}, {"created_at": "2001-01-01T00:00:00Z"},
])
def test_an_edited_record_fails_load_verify_and_tag(registry, fields):
    registry.add("me/m", make_tensors(), make_spec(metrics={"test_acc": 0.5}))
    _edit_record(registry, "me/m:1", **fields)
    before = _snapshot(registry.root)
    with pytest.raises(IntegrityError, match="record was modified"):
        registry.load("me/m:1")
    with pytest.raises(IntegrityError, match="record was modified"):
        registry.tag("me/m:1", {"k": "v"})  # tag never re-signs a forged record
    report = registry.verify()
    assert not report.ok and report.issues[0].ref == "me/m:1"
    assert _snapshot(registry.root) == before


def test_tag_keeps_the_record_verifiable(registry):
    registry.add("me/m", make_tensors(), make_spec())
    registry.tag("me/m:1", {"stage": "dev"})
    assert registry.load("me/m:1").manifest.tags == {"stage": "dev"}
    assert registry.verify().ok


def test_a_record_without_digest_still_loads_and_verifies(registry):
    registry.add("me/m", make_tensors(), make_spec())
    path = _record_path(registry, "me/m:1")
    record = json.loads(path.read_text())
    del record["manifest_sha256"]  # as written before the digest existed
    path.write_text(json.dumps(record, indent=2))
    assert registry.load("me/m:1").manifest.version == 1
    assert registry.verify().ok


def test_a_record_naming_another_version_is_reported(registry):
    registry.add("me/m", make_tensors(), make_spec())
    path = _record_path(registry, "me/m:1")
    record = json.loads(path.read_text())
    record.pop("manifest_sha256")
    record["manifest"]["version"] = 7
    path.write_text(json.dumps(record))
    assert "not the folder's me/m:1" in registry.verify().issues[0].problem


def test_a_deleted_record_is_reported(registry):
    registry.add("me/m", make_tensors(seed=1), make_spec())
    registry.add("me/m", make_tensors(seed=2), make_spec())
    _record_path(registry, "me/m:2").unlink()
    issues = registry.verify().issues
    assert [(i.ref, i.problem) for i in issues] == [("me/m:2", "version folder has no record.json (deleted?)")]
    assert registry.add("me/m", make_tensors(seed=3), make_spec()).version == 3  # 2 is not reused either


@pytest.mark.parametrize("text", [b"{not json", b"[]", b'{"prod": "1"}', b'{"prod": 1.5}', b"\xff\xfe"])
def test_a_corrupt_aliases_file_is_reported_and_does_not_crash(registry, text):
    registry.add("me/m", make_tensors(), make_spec())
    registry.set_alias("me/m:1", "prod")
    (registry._user.name_dir("me/m") / "aliases.json").write_bytes(text)
    assert [e.aliases for e in registry.list()] == [("latest",)]
    assert registry.resolve("me/m").version == 1
    report = registry.verify()
    assert [i.ref for i in report.issues] == ["me/m"] and "aliases.json" in report.issues[0].problem
    registry.set_alias("me/m:1", "prod")  # the next writer repairs it
    assert registry.verify().ok


def test_a_dangling_alias_is_reported(registry):
    registry.add("me/m", make_tensors(), make_spec())
    (registry._user.name_dir("me/m") / "aliases.json").write_text('{"prod": 5}')
    assert [(i.ref, i.problem) for i in registry.verify().issues] == [
        ("me/m@prod", "alias points at version 5, which does not exist")]


@pytest.mark.parametrize("stray", ["versions/abc/", "versions/03/", "versions/\u00b2/", "versions/7", "junk.txt"])
def test_stray_entries_are_reported_and_crash_nothing(registry, stray):
    registry.add("me/m", make_tensors(), make_spec())
    path = registry._user.name_dir("me/m") / stray.rstrip("/")
    if stray.endswith("/"):
        path.mkdir()
    else:
        path.write_text("x")
    assert [e.manifest.version for e in registry.list()] == [1]
    issues = registry.verify().issues
    assert len(issues) == 1 and "stray entry" in issues[0].problem
    assert registry.add("me/m", make_tensors(seed=1), make_spec()).version == 2


def test_a_registry_path_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(UsageError, match=f"registry {path} is not a folder"):
        Registry(path, builtin=False)
    assert Registry(tmp_path / "missing", builtin=False).list() == []  # a missing folder reads as empty
    assert not (tmp_path / "missing").exists()


def test_the_builtin_collection_verifies_clean(tmp_path):
    import promptkit

    builtin = Path(promptkit.__file__).resolve().parent / "zoo" / "assets" / "registry"
    before = _snapshot(builtin)
    env = {**os.environ, "PROMPTKIT_HOME": str(tmp_path)}
    env.pop("PROMPTKIT_REGISTRY", None)
    env.pop("PROMPTKIT_NO_BUILTIN", None)
    exe = Path(sys.executable).parent / "promptkit"
    out = subprocess.run([str(exe), "verify"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _snapshot(builtin) == before
    shutil.rmtree(tmp_path, ignore_errors=True)
