"""The registry store: versions, aliases, tags, removal, integrity, atomicity and concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from conftest import make_spec, make_tensors
from promptkit.registry import Registry

from promptkit.errors import (
    AssetNotFoundError,
    DigestMismatchError,
    InvalidAssetError,
    InvalidNameError,
    ReadOnlyError,
    UsageError,
)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (except the lock file) with its bytes."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".lock"}


class TestAddAndLoad:
    def test_versions_number_from_one_and_latest_moves(self, registry):
        m1 = registry.add("dtd", make_tensors(seed=1), make_spec())
        m2 = registry.add("dtd", make_tensors(seed=2), make_spec())
        assert (m1.version, m2.version) == (1, 2)
        assert registry.resolve("dtd").version == 2
        assert registry.resolve("dtd@latest").version == 2
        assert torch.equal(registry.load("dtd:1").prompt, make_tensors(seed=1)["prompt"])

    def test_round_trip_with_head_and_namespace(self, registry):
        tensors = make_tensors(layers=3, num_classes=5)
        m = registry.add("org/deep", tensors, make_spec(layers=3, num_classes=5, metrics={"test_acc": 0.5}))
        asset = registry.load("org/deep:1")
        assert asset.manifest == m
        w, b = asset.head
        assert torch.equal(w, tensors["head.weight"]) and torch.equal(b, tensors["head.bias"])
        assert asset.prompt.shape == (3, 4, 8)

    def test_lone_file_describes_itself(self, registry):
        from promptkit.registry import read_prompt_file

        registry.add("dtd", make_tensors(), make_spec(description="hello"))
        tensors, manifest = read_prompt_file(registry.path_of("dtd"))
        assert manifest.description == "hello" and manifest.name == "dtd" and manifest.version == 1

    def test_digest_reference_and_ambiguity(self, registry):
        m = registry.add("dtd", make_tensors(seed=1), make_spec())
        registry.add("dtd", make_tensors(seed=2), make_spec())
        assert registry.resolve(f"dtd@sha256:{m.sha256[:10]}").version == 1
        with pytest.raises(AssetNotFoundError):
            registry.resolve("dtd@sha256:" + "0" * 12)

    def test_same_content_same_digest(self, registry):
        a = registry.add("a", make_tensors(seed=3), make_spec())
        b = registry.add("b", make_tensors(seed=3), make_spec(description="other"))
        assert a.sha256 == b.sha256

    def test_not_found_lists_what_exists(self, registry):
        registry.add("dtd", make_tensors(), make_spec())
        with pytest.raises(AssetNotFoundError, match="versions of dtd: 1"):
            registry.resolve("dtd:7")
        with pytest.raises(AssetNotFoundError):
            registry.resolve("nothing")
        with pytest.raises(AssetNotFoundError, match="aliases of dtd"):
            registry.resolve("dtd@prod")


class TestRejections:
    """Each rejected input raises a clear error and writes nothing."""

    @pytest.mark.parametrize(
        ("tensors", "spec", "match"),
        [
            ({"prompt": torch.full((1, 4, 8), float("nan"))}, make_spec(), "non-finite"),
            ({"prompt": torch.full((1, 4, 8), float("inf"))}, make_spec(), "non-finite"),
            ({"prompt": torch.zeros(1, 4, 8, dtype=torch.int64)}, make_spec(), "dtype"),
            ({"prompt": torch.zeros(1, 4, 8, dtype=torch.float64)}, make_spec(), "dtype"),
            ({"prompt": torch.zeros(1, 5, 8)}, make_spec(), "shape"),
            ({"prompt": torch.zeros(1, 4, 8), "__metadata__": torch.zeros(1)}, make_spec(), "__metadata__"),
            ({"prompt": torch.zeros(1, 4, 8), "extra": torch.zeros(1)}, make_spec(), "unexpected"),
            ({"other": torch.zeros(1, 4, 8)}, make_spec(), "unexpected"),
            (make_tensors(num_classes=3), make_spec(), "head"),
            (make_tensors(), make_spec(num_classes=3), "head"),
            ({**make_tensors(), "head.weight": torch.zeros(3, 7), "head.bias": torch.zeros(3)},
             make_spec(num_classes=3), "shape"),
        ],
    )
    def test_bad_tensors(self, registry, tensors, spec, match):
        before = _snapshot(registry.root)
        with pytest.raises(InvalidAssetError, match=match):
            registry.add("dtd", tensors, spec)
        assert _snapshot(registry.root) == before

    @pytest.mark.parametrize("name", ["a/b/c", "../x", "x" * 97, "bad\x07", "a..b"])
    def test_bad_names(self, registry, name):
        with pytest.raises(InvalidNameError):
            registry.add(name, make_tensors(), make_spec())
        assert not registry.root.exists()

    def test_manifest_failing_schema(self, registry, tmp_path):
        import json

        from promptkit.registry.manifest import METADATA_KEY
        from safetensors.torch import save_file

        registry.add("dtd", make_tensors(), make_spec())
        good = json.loads(registry.resolve("dtd").model_dump_json())
        before = _snapshot(registry.root)
        for broken in ({**good, "geometry": {"mode": "sideways"}}, {**good, "unknown_field": 1},
                       {**good, "metrics": {"acc": "high"}}, {k: v for k, v in good.items() if k != "backbone"}):
            path = tmp_path / "bad.safetensors"
            save_file(make_tensors(), path, metadata={METADATA_KEY: json.dumps(broken)})
            with pytest.raises(InvalidAssetError, match="schema"):
                registry.import_file(path)
        assert _snapshot(registry.root) == before

    def test_pickle_file_is_never_unpickled(self, registry, tmp_path):
        import pickle

        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        path = tmp_path / "evil.pth"
        path.write_bytes(pickle.dumps({"prompt_embeddings": Evil()}))
        from promptkit.registry.ops import add_path

        with pytest.raises(InvalidAssetError, match="refused"):
            add_path(registry, path, name="evil", backbone="vit", weights_sha256="ab" * 32)
        renamed = tmp_path / "evil.safetensors"
        path.rename(renamed)
        with pytest.raises(InvalidAssetError, match="safetensors"):
            registry.import_file(renamed)
        assert not marker.exists()
        assert not (registry.root / "assets").exists()


class TestAliasesTagsRemoval:
    def test_alias_moves_and_is_dropped_with_its_version(self, registry):
        for seed in range(3):
            registry.add("dtd", make_tensors(seed=seed), make_spec())
        registry.set_alias("dtd:1", "prod")
        assert registry.resolve("dtd@prod").version == 1
        registry.set_alias("dtd:2", "prod")
        assert registry.resolve("dtd@prod").version == 2
        registry.remove("dtd:2")
        with pytest.raises(AssetNotFoundError):
            registry.resolve("dtd@prod")
        with pytest.raises(UsageError):
            registry.set_alias("dtd:1", "latest")

    def test_versions_are_never_reused(self, registry):
        registry.add("dtd", make_tensors(seed=1), make_spec())
        registry.add("dtd", make_tensors(seed=2), make_spec())
        registry.remove("dtd:2")
        assert registry.resolve("dtd").version == 1
        assert registry.add("dtd", make_tensors(seed=3), make_spec()).version == 3

    def test_remove_whole_name(self, registry):
        registry.add("dtd", make_tensors(), make_spec())
        registry.add("dtd", make_tensors(seed=1), make_spec())
        assert registry.remove("dtd") == ["dtd:1", "dtd:2"]
        with pytest.raises(AssetNotFoundError):
            registry.resolve("dtd")

    def test_tags_are_mutable_and_filterable(self, registry):
        registry.add("a", make_tensors(), make_spec(tags={"task": "dtd"}))
        registry.add("b", make_tensors(seed=1), make_spec())
        registry.tag("b:1", {"task": "svhn", "stage": "dev"})
        registry.tag("b:1", remove=["stage"])
        assert registry.resolve("b").tags == {"task": "svhn"}
        assert [e.manifest.name for e in registry.list(tags={"task": "svhn"})] == ["b"]
        assert registry.verify().ok  # tags live in the record, not the immutable file

    def test_list_filters(self, registry):
        registry.add("org/a", make_tensors(), make_spec())
        registry.add("org/b", make_tensors(), make_spec())
        registry.add("c", make_tensors(), make_spec())
        assert {e.manifest.name for e in registry.list(name="org")} == {"org/a", "org/b"}
        assert registry.list(backbone="vit_small") == []
        assert len(registry.list(backbone="vit_tiny_patch16_224")) == 3


class TestExportImport:
    def test_export_then_add_is_byte_identical(self, registry, tmp_path):
        from promptkit.registry.ops import add_path

        registry.add("dtd", make_tensors(num_classes=3), make_spec(num_classes=3))
        registry.tag("dtd:1", {"k": "v"})
        out = registry.export("dtd:1", tmp_path / "out")
        other = Registry(tmp_path / "other", builtin=False)
        m = add_path(other, out)
        assert (m.name, m.version, m.tags) == ("dtd", 1, {"k": "v"})
        assert other.path_of("dtd:1").read_bytes() == registry.path_of("dtd:1").read_bytes()

    def test_import_dedupe(self, registry, tmp_path):
        registry.add("dtd", make_tensors(), make_spec())
        m = registry.import_file(registry.path_of("dtd"), name="dtd", dedupe=True)
        assert m.version == 1 and len(registry.list()) == 1

    def test_vpt_checkpoint(self, registry, tmp_path):
        from promptkit.registry.ops import add_path

        ckpt = {"model": {"enc.transformer.prompt_embeddings": torch.randn(1, 4, 8),
                          "enc.transformer.deep_prompt_embeddings": torch.randn(2, 4, 8),
                          "head.last_layer.weight": torch.randn(5, 8), "head.last_layer.bias": torch.randn(5)}}
        torch.save(ckpt, tmp_path / "vpt.pth")
        m = add_path(registry, tmp_path / "vpt.pth", name="vpt", backbone="vit_tiny_patch16_224",
                     weights_sha256="ab" * 32)
        assert m.geometry.shape == (3, 4, 8) and m.geometry.mode == "deep" and m.head.num_classes == 5
        loaded = registry.load("vpt").prompt
        assert torch.equal(loaded[0], ckpt["model"]["enc.transformer.prompt_embeddings"][0])
        with pytest.raises(UsageError, match="backbone identity"):
            add_path(registry, tmp_path / "vpt.pth", name="vpt2")


class TestIntegrity:
    def test_flipped_byte_fails_verify_and_load_but_not_other_versions(self, registry):
        registry.add("dtd", make_tensors(seed=1), make_spec())
        registry.add("dtd", make_tensors(seed=2), make_spec())
        path = registry.path_of("dtd:1")
        data = bytearray(path.read_bytes())
        data[-5] ^= 0x01  # inside the tensor bytes
        path.write_bytes(bytes(data))
        report = registry.verify()
        assert not report.ok and [i.ref for i in report.issues] == ["dtd:1"]
        with pytest.raises(DigestMismatchError, match="dtd:1"):
            registry.load("dtd:1")
        assert registry.load("dtd:2").prompt.shape == (1, 4, 8)

    def test_broken_record_is_reported_not_fatal(self, registry):
        registry.add("dtd", make_tensors(seed=1), make_spec())
        registry.add("dtd", make_tensors(seed=2), make_spec())
        (registry.path_of("dtd:1").parent / "record.json").write_text("{not json")
        report = registry.verify()
        assert [i.ref for i in report.issues] == ["dtd:1"] and report.checked == 2

    def test_flipped_header_byte_is_caught(self, registry):
        registry.add("dtd", make_tensors(), make_spec())
        path = registry.path_of("dtd:1")
        data = bytearray(path.read_bytes())
        data[40] ^= 0x01  # inside the JSON header
        path.write_bytes(bytes(data))
        assert not registry.verify().ok


class TestBuiltin:
    def test_builtin_is_visible_and_read_only(self, tmp_path):
        builtin = Registry(tmp_path / "builtin", builtin=False)
        builtin.add("zoo/textures", make_tensors(), make_spec())
        reg = Registry(tmp_path / "user", builtin=tmp_path / "builtin")
        entries = reg.list()
        assert [(e.manifest.ref, e.builtin) for e in entries] == [("zoo/textures:1", True)]
        assert reg.load("zoo/textures").prompt.shape == (1, 4, 8)
        with pytest.raises(ReadOnlyError):
            reg.add("zoo/textures", make_tensors(), make_spec())
        with pytest.raises(ReadOnlyError):
            reg.remove("zoo/textures")
        with pytest.raises(ReadOnlyError):
            reg.tag("zoo/textures:1", {"a": "b"})
        assert reg.verify().ok


# -- crash safety and concurrency (processes forked from this one share the imported torch) -------

def _writer(root: str, name: str, count: int, seed: int) -> None:
    reg = Registry(root, builtin=False)
    for i in range(count):
        reg.add(name, make_tensors(seed=seed * 1000 + i), make_spec(seed=seed))


def _importer(root: str, path: str, start) -> None:
    start.wait(60)
    Registry(root, builtin=False).import_file(path, name="me/m", dedupe=True)


def _fork():
    return mp.get_context("fork")


class TestConcurrency:
    def test_parallel_writers_get_distinct_consecutive_versions(self, tmp_path):
        root = str(tmp_path / "reg")
        procs = [_fork().Process(target=_writer, args=(root, "shared", 25, s)) for s in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=300)
            assert p.exitcode == 0
        reg = Registry(root, builtin=False)
        versions = [e.manifest.version for e in reg.list(name="shared")]
        assert versions == list(range(1, 201))
        seeds = sorted(e.manifest.seed for e in reg.list(name="shared"))
        assert seeds == sorted(list(range(8)) * 25)  # none lost
        assert reg.verify().ok

    def test_concurrent_deduplicating_imports_store_one_version(self, tmp_path):
        src = Registry(tmp_path / "src", builtin=False)
        src.add("me/m", make_tensors(), make_spec())
        root = str(tmp_path / "reg")
        Registry(root, builtin=False).add("other", make_tensors(seed=5), make_spec())  # the registry exists
        start = _fork().Event()
        procs = [_fork().Process(target=_importer, args=(root, str(src.path_of("me/m:1")), start)) for _ in range(8)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(timeout=300)
            assert p.exitcode == 0
        reg = Registry(root, builtin=False)
        assert [e.manifest.version for e in reg.list(name="me/m")] == [1]
        assert reg.verify().ok

    def test_writers_killed_at_random_moments_leave_a_clean_registry(self, tmp_path):
        root = str(tmp_path / "reg")
        rng = random.Random(0)
        for batch in range(5):  # 30 writers, 6 at a time
            procs = [_fork().Process(target=_writer, args=(root, f"n{k % 2}", 10_000, batch * 6 + k))
                     for k in range(6)]
            for p in procs:
                p.start()
            for p in procs:
                time.sleep(rng.uniform(0.0, 0.15))
                os.kill(p.pid, signal.SIGKILL)
            for p in procs:
                p.join()
                assert p.exitcode == -signal.SIGKILL
        reg = Registry(root, builtin=False)
        report = reg.verify()
        assert report.ok, report.issues
        before = {n: [e.manifest.version for e in reg.list(name=n)] for n in ("n0", "n1")}
        for n, versions in before.items():
            if versions:
                assert versions == sorted(set(versions))
                reg.load(f"{n}:{versions[-1]}")
        m = reg.add("n0", make_tensors(), make_spec())  # later adds work
        assert m.version == max(before["n0"] or [0]) + 1 or m.version > max(before["n0"] or [0])
        assert reg.verify().ok
        assert not any((Path(root) / ".staging").glob("*"))  # garbage of dead writers is cleaned


class TestCrashPoints:
    """A failure at each step of a write leaves no half-visible version (deterministic companion of SIGKILL)."""

    @pytest.mark.parametrize("step", ["write_atomic", "write_json_atomic", "rename"])
    def test_failure_at_each_step(self, registry, monkeypatch, step):
        from registry_helpers import fail_at

        registry.add("dtd", make_tensors(seed=1), make_spec())
        with fail_at(monkeypatch, step):
            with pytest.raises(RuntimeError, match="injected"):
                registry.add("dtd", make_tensors(seed=2), make_spec())
        assert [e.manifest.version for e in registry.list()] == [1]
        assert registry.verify().ok
        assert registry.add("dtd", make_tensors(seed=3), make_spec()).version == 2
