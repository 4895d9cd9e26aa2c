"""rank_sources: scores per compatible source, skipped sources, transfer accuracy and Spearman, cache use."""

from __future__ import annotations

import math

import pytest
import torch
from rank_helpers import source_world

from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache
from promptkit.rank import SourcePrompt, rank_sources
from promptkit.scores import shrinkage_hscore


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return source_world(tmp_path_factory.mktemp("data"))


class TestRankSources:
    def test_rows_sorted_by_primary_and_scores_match(self, setup, tmp_path):
        bb, splits, sources = setup
        result = rank_sources(bb, sources, splits, cache=FeatureCache(tmp_path), device="cpu")
        primary = [r.scores["shrinkage-hscore"] for r in result.rows]
        assert primary == sorted(primary, reverse=True) and len(primary) == 3
        assert set(result.rows[0].scores) == {"shrinkage-hscore", "hscore", "logme"}
        assert result.num_images == len(splits.train) + len(splits.val)
        # the score is the shrinkage H-score of the features under that prompt (independent recomputation)
        from promptkit.features import extract_features
        from promptkit.prompted import PromptedViT

        src = next(s for s in sources if s.ref == result.rows[0].ref)
        model = PromptedViT.from_prompt(bb, src.prompt, identity=src.identity, geometry=src.geometry)
        f_tr, y_tr = extract_features(model, splits.train, device="cpu")
        f_va, y_va = extract_features(model, splits.val, device="cpu")
        expected = float(shrinkage_hscore(torch.cat([f_tr, f_va]).double(), torch.cat([y_tr, y_va])))
        assert result.rows[0].scores["shrinkage-hscore"] == pytest.approx(expected, rel=1e-6)

    def test_with_accuracy_and_spearman(self, setup, tmp_path):
        bb, splits, sources = setup
        result = rank_sources(bb, sources, splits, metrics=["hscore", "shrinkage-hscore"], with_accuracy=True,
                              cache=FeatureCache(tmp_path), device="cpu")
        assert all(0.0 <= r.transfer_acc <= 1.0 for r in result.rows)
        assert set(result.spearman) == {"hscore", "shrinkage-hscore"}
        accs = {r.transfer_acc for r in result.rows}
        for v in result.spearman.values():  # undefined (nan) only when every source reaches the same accuracy
            assert (-1.0 <= v <= 1.0) if len(accs) > 1 else math.isnan(v)

    def test_warm_cache_reads_features(self, setup, tmp_path):
        bb, splits, sources = setup
        cache = FeatureCache(tmp_path)
        cold = rank_sources(bb, sources, splits, cache=cache, device="cpu")
        files = sorted(p.name for p in tmp_path.rglob("*.safetensors"))
        assert len(files) == 2 * len(sources)  # train and val per source
        warm = rank_sources(bb, sources, splits, cache=cache, device="cpu")
        assert [r.scores for r in warm.rows] == [r.scores for r in cold.rows]

    def test_incompatible_sources_are_skipped_with_reason(self, setup):
        bb, splits, sources = setup
        other = sources[0].identity.model_copy(update={"weights_sha256": "cd" * 32})
        alien = SourcePrompt("alien:1", sources[0].prompt, other, sources[0].geometry)
        result = rank_sources(bb, [*sources, alien], splits, device="cpu")
        assert [s.ref for s in result.skipped] == ["alien:1"] and "tuned on" in result.skipped[0].reason
        with pytest.raises(IncompatibleError):
            rank_sources(bb, [alien], splits, device="cpu")

    def test_unknown_metric(self, setup):
        bb, splits, sources = setup
        with pytest.raises(UsageError, match="accuracy") as info:
            rank_sources(bb, sources, splits, metrics=["accuracy"], device="cpu")
        assert "shrinkage-hscore" in info.value.hint
