"""Version numbers are never reused (registry/versioning.py): removal, corrupt counters, stale temporary files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_spec, make_tensors
from promptkit.registry import Registry
from promptkit.registry.versioning import version_number

from promptkit.errors import AssetNotFoundError


def _name_dir(reg: Registry, name: str) -> Path:
    return reg._user.name_dir(name)


@pytest.mark.parametrize("ref", ["me/m:1", "me/m"])
def test_removing_the_last_version_keeps_the_number_taken(registry, ref):
    registry.add("me/m", make_tensors(seed=1), make_spec())
    registry.remove(ref)
    with pytest.raises(AssetNotFoundError):
        registry.resolve("me/m")
    with pytest.raises(AssetNotFoundError):
        registry.resolve("me/m:1")
    assert registry.list() == [] and registry.list(name="me/m") == []
    assert registry.verify().ok  # an emptied name is not a problem
    assert registry.add("me/m", make_tensors(seed=2), make_spec()).version == 2
    with pytest.raises(AssetNotFoundError):
        registry.resolve("me/m:1")


@pytest.mark.parametrize("garbage", ["garbage\n", "0\n", "1\n", "-5\n", "", "\xff"])
def test_a_corrupt_or_lowered_counter_does_not_reuse(registry, garbage):
    for seed in range(3):
        registry.add("me/m", make_tensors(seed=seed), make_spec())
    registry.remove("me/m")
    (_name_dir(registry, "me/m") / "next_version").write_text(garbage)
    assert registry.add("me/m", make_tensors(seed=9), make_spec()).version == 4


def test_a_deleted_name_folder_does_not_reuse(registry):
    import shutil

    registry.add("me/m", make_tensors(seed=1), make_spec())
    registry.remove("me/m")
    shutil.rmtree(_name_dir(registry, "me/m"))  # the registry-wide high-water mark still knows
    assert registry.add("me/m", make_tensors(seed=2), make_spec()).version == 2


def test_counter_lower_than_present_versions(registry):
    registry.add("me/m", make_tensors(seed=1), make_spec())
    registry.add("me/m", make_tensors(seed=2), make_spec())
    (_name_dir(registry, "me/m") / "next_version").write_text("1\n")
    issues = registry.verify().issues
    assert [i.ref for i in issues] == ["me/m"] and "below version 2" in issues[0].problem
    assert registry.add("me/m", make_tensors(seed=3), make_spec()).version == 3
    assert registry.verify().ok


def test_stale_tmp_files_are_cleaned_by_the_next_writer(registry):
    registry.add("me/m", make_tensors(seed=1), make_spec())
    ndir = _name_dir(registry, "me/m")
    stale = [ndir / f".next_version.{'a' * 32}.tmp", registry.root / f".high-water.json.{'b' * 32}.tmp",
             registry._user.version_dir("me/m", 1) / f".record.json.{'c' * 32}.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    keep = ndir / "notes.tmp"  # not a write_atomic temp file: left alone
    keep.write_bytes(b"mine")
    registry.add("me/m", make_tensors(seed=2), make_spec())
    registry.tag("me/m:1", {"k": "v"})
    assert not any(p.exists() for p in stale)
    assert keep.read_bytes() == b"mine"


@pytest.mark.parametrize(("entry", "number"), [("3", 3), ("12", 12), ("0", None), ("03", None), ("abc", None),
                                               ("\u00b2", None), ("\u0661", None), ("-1", None), ("1.0", None)])
def test_version_number(entry, number):
    assert version_number(entry) == number
