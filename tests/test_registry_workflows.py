"""Tests for promptkit.registry.workflows: storing what the core returns (a training result) as an asset."""

from __future__ import annotations

import pytest
import torch
from promptkit.registry import Lineage, LineageSource
from promptkit.registry.workflows import store_training_result
from rank_helpers import colour_folder, tiny_backbone
from registry_helpers import make_ensemble

from promptkit.data import load_dataset, transform_for
from promptkit.errors import UsageError
from promptkit.train import TrainConfig, train_prompt


def test_a_tuned_prompt_is_stored_with_its_record_and_lineage(registry, tmp_path):
    """What `promptkit train` stores, from a notebook: prompt, head, metrics, config, history, dataset."""
    bb = tiny_backbone()
    splits = load_dataset(colour_folder(tmp_path / "colours"), transform=transform_for(bb.data_config))
    result = train_prompt(bb, splits, TrainConfig(length=2, epochs=1, batch_size=8, device="cpu"))
    lineage = Lineage(method="from", sources=[LineageSource(ref="src/a:1", sha256="ab" * 32, task="a")])
    m = store_training_result(registry, "me/colours", result, splits, lineage=lineage, description="notebook run",
                              training={"note": "kept"})
    assert (m.ref, m.kind, m.task, m.init, m.description) == ("me/colours:1", "prompt", "colours", "random",
                                                              "notebook run")
    assert m.metrics == result.metrics and m.head.num_classes == 3 and m.dataset.sizes == splits.sizes
    assert m.training["epochs"] == 1 and m.training["history"] == result.history and m.training["note"] == "kept"
    assert m.training["dataset_seed"] == splits.seed and m.lineage.sources[0].ref == "src/a:1"
    asset = registry.load("me/colours")
    assert torch.equal(asset.prompt, result.prompt)
    assert torch.equal(asset.tensors["head.weight"], result.head_weight)
    again = store_training_result(registry, "me/colours", result, splits)
    assert again.ref == "me/colours:2"


class TestStoreResult:
    """A tuning result of kind "ensemble" becomes an ensemble asset, one of kind "prompt" a prompt."""

    @staticmethod
    def _result(tensors, spec, *, ensemble: bool):
        from promptkit.train import TrainConfig, TrainResult

        extras = {k: tensors[k] for k in ("alpha", "member.mean", "member.std")} if ensemble else {}
        return TrainResult(
            prompt=tensors["members"] if ensemble else tensors["members"][0], head_weight=tensors["head.weight"],
            head_bias=tensors["head.bias"], backbone=spec.backbone, geometry=spec.geometry,
            metrics={"test_acc": 0.5}, history=[], config=TrainConfig(), dataset_fingerprint="12" * 32,
            split_fingerprints={"test": "34" * 32}, num_classes=3, extras=extras,
        )

    @staticmethod
    def _splits():
        from types import SimpleNamespace

        return SimpleNamespace(name="target", source=None, sizes={"train": 12, "test": 6}, seed=0)

    def test_ensemble_result_is_stored_with_its_members(self, registry):
        tensors, spec = make_ensemble(k=2, alpha=[0.4, 0.6])
        result = self._result(tensors, spec, ensemble=True)
        assert result.kind == "ensemble"
        sources = [("zoo/count:2", "0a" * 32, "count"), ("zoo/digits:1", "0b" * 32, None)]
        m = store_training_result(registry, "ens", result, self._splits(), members=sources,
                                  composition="ensemble", learned_alpha=True, init="hgprompt+ensemble")
        assert (m.kind, m.init, m.task, m.head.num_classes, m.ensemble.learned_alpha) == (
            "ensemble", "hgprompt+ensemble", "target", 3, True)
        assert [(e.ref, e.sha256, e.task) for e in m.ensemble.members] == sources
        assert [e.weight for e in m.ensemble.members] == pytest.approx([0.4, 0.6])
        assert [e.prompt_sha256 for e in m.ensemble.members] == [e.prompt_sha256 for e in spec.ensemble.members]
        asset = registry.load("ens")
        assert set(asset.tensors) == set(tensors)
        for name, t in tensors.items():
            assert torch.equal(asset.tensors[name], t), name

    def test_ensemble_result_needs_its_members_sources(self, registry):
        tensors, spec = make_ensemble(k=2)
        result = self._result(tensors, spec, ensemble=True)
        for members in (None, [("a:1", "0a" * 32, None)]):
            with pytest.raises(UsageError, match="ensemble of 2 members needs the source"):
                store_training_result(registry, "ens", result, self._splits(), members=members)
        assert not registry.root.exists()

    def test_prompt_result_is_stored_as_before(self, registry):
        tensors, spec = make_ensemble(k=2)
        m = store_training_result(registry, "one", self._result(tensors, spec, ensemble=False), self._splits())
        assert (m.kind, m.ensemble, m.schema_version) == ("prompt", None, 2)
        assert torch.equal(registry.load("one").prompt, tensors["members"][0])
