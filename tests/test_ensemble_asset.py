"""Ensemble assets (k member prompts, alpha, member statistics, a head): stored, moved, shown, evaluated, refused."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_spec, make_tensors
from hub_helpers import HUB_ID, tree
from promptkit.cli.app import app
from promptkit.registry import Manifest, Registry, parse_manifest, read_prompt_file
from promptkit.registry.files import content_digest, read_header, serialize
from promptkit.registry.hub import pull, push
from promptkit.registry.ops import add_path
from promptkit.registry.workflows import load_sources, source_refs
from pydantic import ValidationError
from registry_helpers import make_ensemble
from typer.testing import CliRunner

from promptkit.backbone import BACKBONES, load_backbone, register_backbone
from promptkit.errors import EXIT_USAGE, DigestMismatchError, InvalidAssetError, UsageError
from promptkit.identity import BackboneIdentity

pytest_plugins = ["conftest_hub"]  # fixtures: hf_env, make_hub, hub, hub_any_mode

runner = CliRunner()
REPO = "me/ens"


def cli(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if not k.endswith(".lock")}


def _edit_member(path: Path, j: int, *, k: int) -> None:
    """Change one float32 value of member ``j`` in the file itself; recompute nothing."""
    data = bytearray(path.read_bytes())
    header, _ = read_header(bytes(data), source=str(path))
    (n,) = struct.unpack("<Q", data[:8])
    begin, end = header["members"]["data_offsets"]
    at = 8 + n + begin + j * (end - begin) // k
    (value,) = struct.unpack("<f", data[at:at + 4])
    data[at:at + 4] = struct.pack("<f", value + 0.5)
    path.write_bytes(bytes(data))


def _with_member(spec, j: int, **update):
    """``spec`` with member ``j``'s manifest entry changed (no validation: a forged manifest)."""
    members = list(spec.ensemble.members)
    members[j] = members[j].model_copy(update=update)
    return spec.model_copy(update={"ensemble": spec.ensemble.model_copy(update={"members": members})})


class TestRoundTrip:
    def test_add_then_load_gives_identical_tensors_and_manifest(self, registry):
        tensors, spec = make_ensemble(k=3, task="target", description="three members")
        m = registry.add("ens", tensors, spec)
        assert (m.kind, m.schema_version, m.num_members, m.ref) == ("ensemble", 2, 3, "ens:1")
        asset = registry.load("ens")
        assert asset.kind == "ensemble" and set(asset.tensors) == set(tensors)
        for name, t in tensors.items():
            assert torch.equal(asset.tensors[name], t), name
        assert asset.manifest == m == registry.resolve("ens:1")
        assert [e.ref for e in m.ensemble.members] == ["src-0:1", "src-1:1", "src-2:1"]
        assert torch.equal(asset.members, tensors["members"]) and torch.equal(asset.alpha, tensors["alpha"])
        mean, std = asset.member_stats
        assert torch.equal(mean, tensors["member.mean"]) and torch.equal(std, tensors["member.std"])
        assert torch.equal(asset.head[0], tensors["head.weight"]) and torch.equal(asset.head[1], tensors["head.bias"])
        _, embedded = read_prompt_file(asset.path)  # the lone file describes itself
        assert embedded == m
        record = json.loads((asset.path.parent / "record.json").read_text())["manifest"]
        assert record["kind"] == "ensemble" and record["ensemble"]["members"][2]["task"] == "task2"
        assert registry.verify().ok

    def test_prompt_accessor_says_what_to_use_instead(self, registry):
        registry.add("ens", *make_ensemble())
        registry.add("dtd", make_tensors(), make_spec())
        with pytest.raises(UsageError, match="ens:1 is an ensemble of 2 prompts") as err:
            registry.load("ens").prompt  # noqa: B018
        assert "Asset.members" in err.value.hint and "promptkit ensemble --compose distill" in err.value.hint
        assert "src-0:1" in err.value.hint
        single = registry.load("dtd")
        assert single.kind == "prompt" and single.prompt.shape == (1, 4, 8)
        with pytest.raises(UsageError, match="single prompt"):
            single.members  # noqa: B018

    def test_export_then_add_folder_and_file_is_byte_identical(self, registry, tmp_path):
        original = registry.add("ens", *make_ensemble())
        registry.tag("ens:1", {"stage": "prod"})
        out = registry.export("ens:1", tmp_path / "out")
        stored = registry.path_of("ens:1").read_bytes()
        assert (out / "prompt.safetensors").read_bytes() == stored
        assert json.loads((out / "manifest.json").read_text())["kind"] == "ensemble"
        other = Registry(tmp_path / "other", builtin=False)
        m = add_path(other, out)
        assert (m.ref, m.kind, m.sha256, m.tags) == ("ens:1", "ensemble", original.sha256, {"stage": "prod"})
        assert m.ensemble == original.ensemble and other.path_of("ens:1").read_bytes() == stored
        from_file = add_path(other, out / "prompt.safetensors", name="ens-file")
        assert from_file.sha256 == original.sha256 and other.path_of("ens-file").read_bytes() == stored
        result = cli("add", out, "--name", "ens-cli", "--registry", other.root, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["kind"] == "ensemble"
        assert content_digest(other.load("ens-cli").tensors) == original.sha256
        assert other.verify().ok

    def test_spec_stores_the_same_content_under_another_name(self, registry):
        m = registry.add("ens", *make_ensemble())
        copy = registry.add("copy", registry.load("ens").tensors, m.spec())
        assert copy.sha256 == m.sha256 and copy.ensemble == m.ensemble

    def test_remove_a_version_and_a_name(self, registry):
        registry.add("ens", *make_ensemble(seed=1))
        registry.add("ens", *make_ensemble(seed=2))
        assert registry.remove("ens:1") == ["ens:1"]
        assert registry.load("ens").manifest.version == 2
        assert registry.remove("ens") == ["ens:2"] and registry.list() == []


class TestTampering:
    def test_edited_member_fails_load_verify_and_import(self, registry, tmp_path):
        registry.add("ens", *make_ensemble())
        path = registry.path_of("ens:1")
        _edit_member(path, 1, k=2)
        with pytest.raises(DigestMismatchError, match="ens:1"):
            registry.load("ens")
        report = registry.verify()
        assert [i.ref for i in report.issues] == ["ens:1"] and "file sha256" in report.issues[0].problem
        # Read on its own, the file names the member that changed.
        with pytest.raises(InvalidAssetError, match=r"member 1 \(src-1:1\).*modified"):
            read_prompt_file(path)
        other = Registry(tmp_path / "other", builtin=False)
        with pytest.raises(InvalidAssetError, match="src-1:1"):
            other.import_file(path)
        assert not other.root.exists()

    def test_manifest_member_digest_that_does_not_match_is_refused(self, registry, tmp_path):
        tensors, spec = make_ensemble()
        forged = _with_member(spec, 1, prompt_sha256="0" * 64)
        with pytest.raises(InvalidAssetError, match=r"member 1 \(src-1:1\).*prompt_sha256"):
            registry.add("ens", tensors, forged)
        assert not registry.root.exists()
        good = registry.add("ens", tensors, spec)
        before = _snapshot(registry.root)
        bad = good.model_copy(update={"ensemble": forged.ensemble})  # same tensors, same content digest
        path = tmp_path / "forged.safetensors"
        path.write_bytes(serialize(tensors, bad))
        with pytest.raises(InvalidAssetError, match="src-1:1"):
            registry.import_file(path, name="forged")
        assert _snapshot(registry.root) == before

    def test_record_disagreeing_with_the_file_on_members_fails_verify(self, registry):
        registry.add("ens", *make_ensemble())
        record_path = registry.path_of("ens:1").parent / "record.json"
        record = json.loads(record_path.read_text())
        record["manifest"]["ensemble"]["members"][0]["task"] = "something else"
        record_path.write_text(json.dumps(record))
        report = registry.verify()
        assert not report.ok and "record was modified" in report.issues[0].problem
        # A forger who also recomputes the record's own digest is still caught by the file's manifest.
        from promptkit.registry.integrity import manifest_digest

        record["manifest_sha256"] = manifest_digest(record["manifest"])
        record_path.write_text(json.dumps(record))
        report = registry.verify()
        assert not report.ok and "disagree on 'ensemble'" in report.issues[0].problem


def _scaled_alpha(t, s):
    return {**t, "alpha": t["alpha"] * 1.1}


def _swapped_alpha(t, s):
    return {**t, "alpha": t["alpha"].flip(0)}


def _three_members(t, s):
    return {**t, "members": torch.cat([t["members"], t["members"][:1]])}


def _no_head(t, s):
    return {k: v for k, v in t.items() if not k.startswith("head.")}


def _with_prompt(t, s):
    return {**t, "prompt": t["members"][0]}


def _zero_std(t, s):
    std = t["member.std"].clone()
    std[1, 3] = 0.0
    return {**t, "member.std": std}


def _wide_mean(t, s):
    return {**t, "member.mean": torch.zeros(2, 9)}


def _nan_alpha(t, s):
    return {**t, "alpha": torch.tensor([float("nan"), 1.0])}


def _extra(t, s):
    return {**t, "notes": torch.zeros(1)}


class TestInvalid:
    """Each invalid ensemble raises a clear error and writes nothing."""

    @pytest.mark.parametrize(("edit", "match"), [
        (_scaled_alpha, "sum to 1"),
        (_swapped_alpha, r"'alpha'\[0\].*member 0 \(src-0:1\) weight"),
        (_three_members, r"'members' has shape \(3, 1, 4, 8\).*\(2, 1, 4, 8\)"),
        (_no_head, "missing tensors.*head.weight"),
        (_with_prompt, "holds no 'prompt' tensor"),
        (_zero_std, "'member.std' must be > 0"),
        (_wide_mean, "'member.mean' has shape"),
        (_nan_alpha, "non-finite"),
        (_extra, "unexpected tensors"),
    ])
    def test_bad_tensors(self, registry, edit, match):
        tensors, spec = make_ensemble(alpha=[0.25, 0.75])
        registry.add("other", make_tensors(), make_spec())
        before = _snapshot(registry.root)
        with pytest.raises(InvalidAssetError, match=match):
            registry.add("ens", edit(tensors, spec), spec)
        assert _snapshot(registry.root) == before

    def test_missing_head_says_an_ensemble_needs_one(self, registry):
        tensors, spec = make_ensemble()
        with pytest.raises(InvalidAssetError) as err:
            registry.add("ens", _no_head(tensors, spec), spec)
        assert "head" in err.value.hint

    def test_ensemble_tensors_under_a_prompt_manifest(self, registry, tmp_path):
        tensors, _ = make_ensemble()
        with pytest.raises(InvalidAssetError, match="unexpected tensors") as err:
            registry.add("ens", tensors, make_spec(num_classes=3))
        assert "kind 'ensemble'" in err.value.hint
        m = registry.add("dtd", make_tensors(num_classes=3), make_spec(num_classes=3))
        path = tmp_path / "mislabelled.safetensors"  # an ensemble's tensors in a file whose manifest says prompt
        path.write_bytes(serialize(tensors, m.model_copy(update={"sha256": content_digest(tensors)})))
        with pytest.raises(InvalidAssetError, match="unexpected tensors"):
            registry.import_file(path, name="x")

    def test_manifest_rules(self):
        from promptkit.registry import AssetSpec, EnsembleInfo, EnsembleMember, HeadInfo

        _, spec = make_ensemble()
        base = spec.model_dump()
        with pytest.raises(ValidationError, match="set both or neither"):
            AssetSpec.model_validate({**base, "ensemble": None})
        with pytest.raises(ValidationError, match="set both or neither"):
            AssetSpec.model_validate({**base, "kind": "prompt"})
        with pytest.raises(ValidationError, match="needs its head"):
            AssetSpec.model_validate({**base, "head": None})
        member = dict(ref="a:1", sha256="01" * 32, task=None, weight=1.0, prompt_sha256="02" * 32)
        EnsembleInfo(members=[EnsembleMember(**member)])
        with pytest.raises(ValidationError):
            EnsembleInfo(members=[])
        with pytest.raises(ValidationError, match="sum to 1"):
            EnsembleInfo(members=[EnsembleMember(**{**member, "weight": 0.7})])
        with pytest.raises(ValidationError):
            EnsembleMember(**{**member, "weight": -0.1})
        with pytest.raises(ValidationError):
            EnsembleMember(**{**member, "prompt_sha256": "xyz"})
        assert HeadInfo(num_classes=3, in_features=8) == spec.head

    def test_parse_manifest_refuses_kind_mismatch_and_schema_1_ensembles(self, registry):
        m = registry.add("ens", *make_ensemble())
        data = json.loads(m.model_dump_json())
        for broken, words in (({**data, "kind": "prompt"}, "set both or neither"),
                              ({**data, "ensemble": None}, "set both or neither"),
                              ({**data, "kind": "bundle"}, "kind"),
                              ({**data, "schema_version": 1}, "schema_version 2")):
            with pytest.raises(InvalidAssetError, match="schema") as err:
                parse_manifest(broken, source="x")
            assert words in str(err.value)


class TestSchemaOne:
    @staticmethod
    def _schema_1(manifest: Manifest) -> dict:
        data = json.loads(manifest.model_dump_json())
        assert data["schema_version"] == 2 and data["kind"] == "prompt" and data["ensemble"] is None
        return {k: v for k, v in data.items() if k not in ("kind", "ensemble")} | {"schema_version": 1}

    def test_schema_1_manifest_parses_and_dumps_as_written(self, registry):
        old = self._schema_1(registry.add("dtd", make_tensors(), make_spec()))
        for data in (old, json.dumps(old)):
            parsed = parse_manifest(data, source="old")
            assert (parsed.schema_version, parsed.kind, parsed.ensemble, parsed.num_members) == (1, "prompt", None, 1)
            assert json.loads(parsed.model_dump_json()) == old

    def test_schema_1_file_is_stored_loaded_verified_and_exported_unchanged(self, registry, tmp_path):
        tensors = make_tensors(seed=4)
        old = self._schema_1(registry.add("dtd", make_tensors(), make_spec()))
        manifest = Manifest.model_validate({**old, "sha256": content_digest(tensors), "name": "old"})
        blob = serialize(tensors, manifest)
        path = tmp_path / "old.safetensors"
        path.write_bytes(blob)
        m = registry.import_file(path)
        assert (m.ref, m.schema_version, m.kind) == ("old:1", 1, "prompt")
        assert registry.path_of("old:1").read_bytes() == blob
        asset = registry.load("old")
        assert torch.equal(asset.prompt, tensors["prompt"]) and registry.verify("old").ok
        record = json.loads((asset.path.parent / "record.json").read_text())["manifest"]
        assert "kind" not in record and "ensemble" not in record and record["schema_version"] == 1
        out = registry.export("old", tmp_path / "out")
        assert "kind" not in json.loads((out / "manifest.json").read_text())

    def test_builtin_zoo_collection_loads_and_verifies_unchanged(self, tmp_path):
        import promptkit

        root = Path(promptkit.__file__).resolve().parent / "zoo" / "assets" / "registry"
        if not (root / "assets").is_dir():
            pytest.skip("built-in collection not built (make zoo)")
        before = tree(root)
        reg = Registry(tmp_path / "user", builtin=root)
        entries = reg.list()
        assert entries and all(e.builtin for e in entries)
        for e in entries:
            m = e.manifest
            asset = reg.load(m.ref)
            assert (m.schema_version, asset.kind) == (1, "prompt")
            assert asset.prompt.shape == m.geometry.shape
            record = json.loads((reg.path_of(m.ref).parent / "record.json").read_text())["manifest"]
            assert json.loads(m.model_dump_json()) == record  # dumped exactly as it was written
        report = reg.verify()
        assert report.ok and report.checked == len(entries)
        assert tree(root) == before

    def test_newer_schema_asks_for_an_upgrade(self, registry):
        data = json.loads(registry.add("ens", *make_ensemble()).model_dump_json())
        with pytest.raises(InvalidAssetError, match="newer promptkit") as err:
            parse_manifest({**data, "schema_version": 3}, source="x")
        assert "upgrade" in err.value.hint


class TestHub:
    @pytest.fixture
    def src(self, tmp_path) -> Registry:
        return Registry(tmp_path / "src", builtin=False)

    @pytest.fixture
    def dst(self, tmp_path) -> Registry:
        return Registry(tmp_path / "dst", builtin=False)

    @staticmethod
    def _backbone() -> BackboneIdentity:
        return BackboneIdentity(timm_name="vit_tiny_patch16_224", pretrained_tag="augreg_in21k_ft_in1k",
                                weights_sha256="ab" * 32, hub_id=HUB_ID)

    def test_push_pull_round_trip_byte_for_byte(self, hub_any_mode, src, dst):
        from huggingface_hub import ModelCard

        tensors, spec = make_ensemble(k=2, alpha=[0.625, 0.375], backbone=self._backbone(), task="target")
        original = src.add("ens", tensors, spec)
        push(src, "ens", repo_id=REPO)
        files = hub_any_mode.files(REPO)
        stored = src.path_of("ens:1").read_bytes()
        assert files["prompt.safetensors"] == stored
        assert json.loads(files["manifest.json"])["ensemble"]["members"][0]["ref"] == "src-0:1"
        card = ModelCard(files["README.md"].decode())
        assert "prompt-ensemble" in card.data.tags and card.data.promptkit["kind"] == "ensemble"
        assert "An ensemble of 2 prompts" in card.text and "2 forwards per image" in card.text
        row = next(line for line in card.text.splitlines() if line.startswith("| 1 | `src-1:1`"))
        assert "task1" in row and "0.3750" in row and "local only" in row
        pulled = pull(dst, REPO)
        assert pulled.created and pulled.manifest.kind == "ensemble"
        assert pulled.path.read_bytes() == stored
        asset = dst.load(pulled.manifest.ref)
        for name, t in tensors.items():
            assert torch.equal(asset.tensors[name], t), name
        assert content_digest(asset.tensors) == original.sha256 == pulled.manifest.sha256
        assert pulled.manifest.ensemble == original.ensemble and dst.verify().ok

    def test_pull_json_and_human_output(self, hub, src, tmp_path):
        src.add("ens", *make_ensemble(backbone=self._backbone()))
        push(src, "ens", repo_id=REPO)
        result = cli("pull", REPO, "--registry", tmp_path / "a", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["kind"] == "ensemble"
        result = cli("pull", REPO, "--registry", tmp_path / "b")
        assert result.exit_code == 0 and "an ensemble of 2 prompts" in result.stdout

    def test_pull_refuses_a_forged_member(self, hub, src, dst, tmp_path):
        tensors, spec = make_ensemble(backbone=self._backbone())
        good = src.add("ens", tensors, spec)
        forged = good.model_copy(update={"ensemble": _with_member(spec, 0, prompt_sha256="0" * 64).ensemble})
        hub.commit_files("me/bad", {"prompt.safetensors": serialize(tensors, forged),
                                    "manifest.json": forged.model_dump_json().encode()})
        dst.add("already-here", make_tensors(), make_spec())
        before = _snapshot(dst.root)
        with pytest.raises(InvalidAssetError, match=r"me/bad@.*member 0 \(src-0:1\)"):
            pull(dst, "me/bad")
        assert _snapshot(dst.root) == before


class TestCli:
    @pytest.fixture
    def filled(self, registry) -> Registry:
        registry.add("dtd", make_tensors(), make_spec(task="dtd"))
        registry.add("ens", *make_ensemble(alpha=[0.25, 0.75], task="target"))
        return registry

    def test_list_shows_the_kind(self, filled):
        result = cli("list", "--registry", filled.root, "--json")
        assert result.exit_code == 0, result.output
        assert {d["ref"]: d["kind"] for d in json.loads(result.stdout)} == {"dtd:1": "prompt", "ens:1": "ensemble"}
        table = cli("list", "--registry", filled.root)
        assert table.exit_code == 0 and "ensemble (2)" in table.stdout and "kind" in table.stdout

    def test_show_lists_members_and_composition(self, filled):
        result = cli("show", "ens", "--registry", filled.root)
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "ensemble of 2 prompts" in out and "composition" in out and "alpha fixed" in out
        for ref, task, weight in (("src-0:1", "task0", "0.2500"), ("src-1:1", "task1", "0.7500")):
            line = next(line for line in out.splitlines() if ref in line)
            assert task in line and weight in line
        data = json.loads(cli("show", "ens", "--registry", filled.root, "--json").stdout)
        assert data["kind"] == "ensemble" and [e["weight"] for e in data["ensemble"]["members"]] == [0.25, 0.75]
        assert json.loads(cli("show", "dtd", "--registry", filled.root, "--json").stdout)["kind"] == "prompt"

    def test_verify_export_and_rm(self, filled, tmp_path):
        assert cli("verify", "--registry", filled.root).exit_code == 0
        assert cli("export", "ens", tmp_path / "out", "--registry", filled.root).exit_code == 0
        result = cli("rm", "ens:1", "--yes", "--registry", filled.root)
        assert result.exit_code == 0 and "ens:1" in result.stdout
        assert [e.manifest.ref for e in filled.list()] == ["dtd:1"]

    def test_rank_refuses_an_ensemble_source(self, filled, tmp_path):
        result = cli("rank", "--target", tmp_path, "ens:1", "--registry", filled.root)
        assert result.exit_code == EXIT_USAGE
        assert "ens:1 is an ensemble of 2 prompts" in result.output and "distill" in result.output


    def test_from_init_refuses_an_ensemble(self, filled, tmp_path):
        result = cli("train", "--dataset", tmp_path, "--backbone", "vit_tiny_patch16_224", "--name", "child",
                     "--init", "from:ens:1", "--registry", filled.root)
        assert result.exit_code == EXIT_USAGE
        assert "ens:1 is an ensemble of 2 prompts" in result.output and "distill" in result.output
        assert [e.manifest.ref for e in filled.list()] == ["dtd:1", "ens:1"]


class TestSources:
    def test_named_ensemble_source_is_refused(self, registry):
        registry.add("dtd", make_tensors(), make_spec())
        registry.add("ens", *make_ensemble())
        for call in (lambda: load_sources(registry, ["dtd:1", "ens:1"]), lambda: source_refs(registry, ["ens"])):
            with pytest.raises(UsageError, match="ens:1 is an ensemble of 2 prompts.*source prompt") as err:
                call()
            assert "src-0:1" in err.value.hint and "--compose distill" in err.value.hint

    def test_default_set_leaves_ensembles_out(self, registry):
        registry.add("dtd", make_tensors(), make_spec())
        registry.add("ens", *make_ensemble())
        refs = source_refs(registry)
        assert refs == ["dtd:1"]
        assert [s.ref for s in load_sources(registry, refs)] == ["dtd:1"]


# -- evaluation, on a tiny random ViT and tiny image folders --------------------------------------------

BACKBONE = "test-ensemble-tiny-vit"


@pytest.fixture(scope="module")
def tiny_backbone():
    @register_backbone(BACKBONE)
    def loader(*, weights=None, pretrained=True, **kwargs):
        torch.manual_seed(0)  # same weights, same identity, on every load
        return load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                             embed_dim=32, num_heads=2)

    yield BACKBONE
    BACKBONES.pop(BACKBONE)


def _write_folder(root: Path, *, seed: int, classes=("hstripes", "vstripes", "checks", "plain"), n: int = 6) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for k, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.normal(0.5, 0.25, (32, 32, 3))
                img[:: 2 + k % 3] += 0.4
                Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _write_folder(tmp_path_factory.mktemp("textures"), seed=0)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an accidental download fails at once instead of retrying


def _dataset_info(bb, folder: Path):
    from promptkit.registry import DatasetInfo

    from promptkit.data import load_dataset, transform_for

    splits = load_dataset(str(folder), transform=transform_for(bb.data_config), seed=0)
    return splits, DatasetInfo(name=folder.name, fingerprint=splits.fingerprint(), num_classes=splits.num_classes)


@pytest.mark.usefixtures("offline")
class TestEval:
    def test_one_member_ensemble_matches_its_prompt_with_the_folded_head(self, tiny_backbone, folder, registry):
        from promptkit.registry import AssetSpec, EnsembleInfo, EnsembleMember, HeadInfo

        from promptkit.identity import PromptGeometry
        from promptkit.prompted import PromptedViT, prompt_sha256
        from promptkit.train.evaluate import ensemble_model

        bb = load_backbone(tiny_backbone)
        splits, dataset = _dataset_info(bb, folder)
        g = torch.Generator().manual_seed(3)
        geometry = PromptGeometry(mode="shallow", length=2, width=32, layers=1)
        prompt = torch.randn(1, 2, 32, generator=g)
        mean, std = torch.randn(1, 32, generator=g), torch.rand(1, 32, generator=g) + 0.5
        w, b = torch.randn(4, 32, generator=g), torch.randn(4, generator=g)
        folded_w = w / std[0]  # the same head on raw features: W' = W / std, b' = b - W' mean
        folded_b = b - folded_w @ mean[0]
        head = HeadInfo(num_classes=4, in_features=32, task=folder.name)
        common = dict(backbone=bb.identity, geometry=geometry, dataset=dataset, head=head, task=folder.name)
        member = EnsembleMember(ref="single:1", sha256="01" * 32, task=folder.name, weight=1.0,
                                prompt_sha256=prompt_sha256(prompt, "shallow"))
        registry.add("ens", {"members": prompt[None], "alpha": torch.ones(1), "member.mean": mean,
                             "member.std": std, "head.weight": w, "head.bias": b},
                     AssetSpec(kind="ensemble", ensemble=EnsembleInfo(members=[member]), **common))
        registry.add("single", {"prompt": prompt, "head.weight": folded_w, "head.bias": folded_b},
                     AssetSpec(**common))

        x = torch.rand(5, 3, 32, 32, generator=g)
        ens = ensemble_model(bb, prompt[None], torch.ones(1), (mean, std), identity=bb.identity, geometry=geometry,
                             head=(w, b))
        vit = PromptedViT.from_prompt(bb, prompt, identity=bb.identity, geometry=geometry)
        vit.set_head(folded_w, folded_b)
        with torch.no_grad():
            assert torch.allclose(ens(x), vit(x), atol=1e-4)

        outs = {}
        for ref in ("ens", "single"):
            result = cli("eval", ref, "--dataset", folder, "--device", "cpu", "--json", "--registry", registry.root)
            assert result.exit_code == 0, result.output
            outs[ref] = json.loads(result.stdout)
        assert (outs["ens"]["kind"], outs["ens"]["num_members"], outs["single"]["kind"]) == ("ensemble", 1, "prompt")
        assert outs["ens"]["method"] == outs["single"]["method"] == "head"
        assert outs["ens"]["num_test"] == outs["single"]["num_test"] == len(splits.test) == 24
        assert outs["ens"]["accuracy"] == pytest.approx(outs["single"]["accuracy"])

    def test_ensemble_eval_with_its_head_and_a_probe_elsewhere(self, tiny_backbone, folder, registry, tmp_path):
        from promptkit.registry import AssetSpec

        from promptkit.features import extract_features
        from promptkit.train.evaluate import ensemble_model

        bb = load_backbone(tiny_backbone)
        splits, dataset = _dataset_info(bb, folder)
        tensors, spec = make_ensemble(k=2, length=2, width=32, num_classes=4, backbone=bb.identity, seed=5)
        registry.add("ens", tensors, AssetSpec.model_validate({**spec.model_dump(), "dataset": dataset.model_dump()}))
        stats = (tensors["member.mean"], tensors["member.std"])
        model = ensemble_model(bb, tensors["members"], tensors["alpha"], stats, identity=bb.identity,
                               geometry=spec.geometry)
        feats, labels = extract_features(model, splits.test, device="cpu")
        logits = feats @ tensors["head.weight"].T + tensors["head.bias"]
        expected = float((logits.argmax(1) == labels).double().mean())

        result = cli("eval", "ens", "--dataset", folder, "--device", "cpu", "--json", "--registry", registry.root)
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert (out["kind"], out["num_members"], out["method"]) == ("ensemble", 2, "head")
        assert out["accuracy"] == pytest.approx(expected)
        cached = cli("eval", "ens", "--dataset", folder, "--device", "cpu", "--json", "--registry", registry.root)
        assert json.loads(cached.stdout)["accuracy"] == out["accuracy"]  # read back from the feature cache

        text = cli("eval", "ens", "--dataset", folder, "--device", "cpu", "--registry", registry.root)
        assert text.exit_code == 0 and "ens:1 (an ensemble of 2 prompts)" in text.stdout and "own head" in text.stdout
        other = _write_folder(tmp_path / "other", seed=1, classes=("a", "b", "c"))
        probe = cli("eval", "ens", "--dataset", other, "--device", "cpu", "--json", "--registry", registry.root)
        assert probe.exit_code == 0, probe.output
        assert json.loads(probe.stdout)["method"] == "probe"


class TestStackedEnsembleAsset:
    """An ensemble whose head reads the members' features side by side (``features: stack``)."""

    @staticmethod
    def _stacked(k: int = 2, width: int = 8, num_classes: int = 3):
        from promptkit.registry import AssetSpec

        tensors, spec = make_ensemble(k=k, width=width, num_classes=num_classes)
        tensors["head.weight"] = torch.randn(num_classes, k * width, generator=torch.Generator().manual_seed(9))
        data = spec.model_dump()
        data["ensemble"]["features"] = "stack"
        data["head"]["in_features"] = k * width
        return tensors, AssetSpec.model_validate(data)

    def test_round_trips_with_a_head_over_all_members_features(self, registry):
        tensors, spec = self._stacked()
        m = registry.add("stacked", tensors, spec)
        asset = registry.load("stacked")
        assert (m.ensemble.features, m.head.in_features) == ("stack", 16)
        assert torch.equal(asset.head[0], tensors["head.weight"])
        assert registry.verify().ok

    def test_a_head_of_the_wrong_width_is_refused_and_nothing_is_stored(self, registry):
        tensors, spec = self._stacked()
        data = spec.model_dump()
        data["ensemble"]["features"] = "mix"  # a mixture's head reads d features, this one reads k d
        from promptkit.registry import AssetSpec

        with pytest.raises(InvalidAssetError, match="in_features 16 differs from the prompt width 8"):
            registry.add("stacked", tensors, AssetSpec.model_validate(data))
        tensors2, spec2 = make_ensemble(k=2, width=8)
        data2 = spec2.model_dump()
        data2["ensemble"]["features"] = "stack"
        with pytest.raises(InvalidAssetError, match="the 2 stacked members' width"):
            registry.add("stacked", tensors2, AssetSpec.model_validate(data2))
        assert registry.list() == []

    def test_files_written_before_the_field_read_as_a_mixture(self):
        _, spec = make_ensemble()
        data = spec.model_dump()
        del data["ensemble"]["features"]
        from promptkit.registry import AssetSpec

        assert AssetSpec.model_validate(data).ensemble.features == "mix"
