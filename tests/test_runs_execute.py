"""run_method / compare: weights, composition and tuning end to end on a tiny backbone and image folder."""

from __future__ import annotations

import json

import pytest
import torch
from rank_helpers import source_world

from promptkit.ensemble import compose_prompt, learn_alpha, prepare_sources
from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache, extract_features
from promptkit.identity import PromptGeometry
from promptkit.prompted import PromptedViT
from promptkit.rank import SourcePrompt
from promptkit.runs import METHODS, MethodResult, check_ensemble_sources, compare, get_method, run_method
from promptkit.runs import context as pipeline_module
from promptkit.train import TrainConfig

WEIGHT_METHODS = ("hgprompt", "uniform", "hscore-weights", "best-single")
# device="cpu": the tests compare against features extracted on the CPU; on a CUDA machine "auto"
# would extract the pipeline's on the GPU, whose float rounding moves alpha by more than 1e-6.
TUNE = TrainConfig(epochs=1, optimizer="adamw", lr=1e-3, baseline_probe=False, device="cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return source_world(tmp_path_factory.mktemp("data"), digests=True)


@pytest.fixture(scope="module")
def weighted(world, tmp_path_factory):
    """Every weight method, run once through compare (source features shared)."""
    bb, splits, sources = world
    cache = FeatureCache(tmp_path_factory.mktemp("cache"))
    return {r.method: r for r in compare(WEIGHT_METHODS, bb, sources, splits, steps=60, tune=TUNE, cache=cache)}


def _train_features(bb, splits, prompt, geometry):
    model = PromptedViT.from_prompt(bb, prompt, identity=bb.identity, geometry=geometry)
    return extract_features(model, splits.train, device="cpu")


class TestRunMethod:
    @pytest.mark.parametrize("method", WEIGHT_METHODS)
    def test_weights_on_the_simplex_and_the_start_is_their_composition(self, world, weighted, method):
        _, _, sources = world
        r = weighted[method]
        assert r.alpha.shape == (3,) and bool((r.alpha >= 0).all())
        assert float(r.alpha.sum()) == pytest.approx(1.0, abs=1e-12)
        expected = compose_prompt([s.prompt for s in sources], r.alpha)
        assert torch.allclose(r.start.prompt, expected)
        assert r.train.config.init == f"from:{method}" and 0.0 <= r.test_acc <= 1.0
        assert r.composed_hscore is not None and r.transferability is not None

    def test_alpha_is_learned_on_the_target_train_features_under_each_source(self, world, weighted):
        bb, splits, sources = world
        feats = [_train_features(bb, splits, s.prompt, s.geometry) for s in sources]
        expected = learn_alpha([f for f, _ in feats], feats[0][1], lam=0.0, steps=60)
        assert torch.allclose(weighted["hgprompt"].alpha, expected.alpha, atol=1e-6)

    def test_composed_hscore_is_measured_under_the_composed_prompt(self, world, weighted):
        bb, splits, sources = world
        r = weighted["uniform"]
        f, y = _train_features(bb, splits, r.start.prompt, sources[0].geometry)
        assert r.composed_hscore == pytest.approx(float(prepare_sources([f], y).source_scores[0]), rel=1e-5)

    def test_best_single_starts_from_the_top_scored_source(self, world, weighted):
        _, _, sources = world
        r = weighted["best-single"]
        top = int(torch.argmax(r.weights.source_scores))
        assert torch.equal(r.start.prompt, sources[top].prompt) and r.start.details["chosen"] == sources[top].ref
        assert r.composed_hscore == pytest.approx(float(r.weights.source_scores[top]))

    def test_composition_gap_is_a_warning_naming_the_best_source(self, world, weighted):
        import dataclasses

        _, _, sources = world
        r = weighted["uniform"]
        best = r.weights.best_source_score
        top = sources[int(torch.argmax(r.weights.source_scores))].ref
        lost = dataclasses.replace(r, composed_hscore=best - 0.5)
        gap = [w for w in lost.warnings if "composed start prompt" in w]
        assert len(gap) == 1 and top in gap[0] and f"{best:.3f}" in gap[0] and "best-single" in gap[0]
        assert lost.to_dict()["warnings"] == lost.warnings
        kept = dataclasses.replace(r, composed_hscore=best + 0.5)
        assert not [w for w in kept.warnings if "composed start prompt" in w]
        # best-single starts from the best source itself: never a gap
        assert not [w for w in weighted["best-single"].warnings if "composed start prompt" in w]

    def test_informative_source_gets_most_weight(self, world, monkeypatch):
        """Features under source 1 carry the class; under sources 0 and 2 they are noise."""
        bb, splits, sources = world
        labels = splits.train.labels
        g = torch.Generator().manual_seed(3)
        signal = torch.nn.functional.one_hot(labels, 8).double() * 3.0
        synthetic = {s.ref: torch.randn(len(labels), 8, generator=g, dtype=torch.float64) for s in sources}
        synthetic[sources[1].ref] = synthetic[sources[1].ref] + signal
        real = pipeline_module.source_features

        def fake(backbone, source, target, split, **kw):
            if source is not None and source.ref in synthetic and split == "train":
                return synthetic[source.ref].float(), labels
            return real(backbone, source, target, split, **kw)

        monkeypatch.setattr(pipeline_module, "source_features", fake)
        r = run_method("hgprompt", bb, sources, splits, steps=200, tune=TUNE)
        assert int(torch.argmax(r.alpha)) == 1 and float(r.alpha[1]) > 0.8
        uniform_t = run_method("uniform", bb, sources, splits, tune=TUNE).transferability
        assert r.transferability > uniform_t

    def test_lambda_zero_is_pure_transferability(self, world, weighted):
        r = weighted["hgprompt"]
        c = r.weights.num_classes
        assert r.weights.lam == 0.0
        assert r.weights.objective == pytest.approx(r.transferability / (c - 1), rel=1e-12)
        # maximizing T alone from uniform weights can only raise T above the uniform mixture's
        assert r.transferability >= weighted["uniform"].transferability - 1e-9

    def test_lambda_enters_the_objective(self, world):
        bb, splits, sources = world
        r = run_method("uniform", bb, sources, splits, lam=0.5, tune=TUNE)
        w = r.weights
        assert w.objective == pytest.approx(w.transferability / (w.num_classes - 1) - 0.5 * w.regularizer, rel=1e-9)

    def test_one_source_gives_that_source(self, world):
        bb, splits, sources = world
        r = run_method("hgprompt", bb, sources[1:2], splits, tune=TUNE)
        assert r.alpha.tolist() == [1.0]
        assert torch.equal(r.start.prompt, sources[1].prompt)
        assert r.composed_hscore == pytest.approx(float(r.weights.source_scores[0]))

    def test_identical_sources_get_equal_weights(self, world):
        bb, splits, sources = world
        twin = SourcePrompt("twin:1", sources[0].prompt.clone(), sources[0].identity, sources[0].geometry)
        r = run_method("hgprompt", bb, [sources[0], twin, sources[2]], splits, steps=60, tune=TUNE)
        assert float(r.alpha[0]) == float(r.alpha[1])

    def test_random_and_spt_use_no_source_but_its_geometry(self, world):
        bb, splits, sources = world
        long = SourcePrompt("long:1", torch.zeros(1, 3, bb.embed_dim), sources[0].identity,
                            sources[0].geometry.model_copy(update={"length": 3}))
        results = compare(["random", "spt"], bb, [long], splits, tune=TUNE)
        assert [r.train.config.init for r in results] == ["random", "kmeans"]
        for r in results:
            assert r.alpha is None and r.composed_hscore is None and r.sources == ()
            assert r.train.prompt.shape == (1, 3, bb.embed_dim)

    def test_spot_starts_from_the_most_similar_source(self, world):
        bb, splits, sources = world
        r = run_method("spot", bb, sources, splits, tune=TUNE, spot_epochs=1)
        sims = torch.tensor(r.start.details["similarities"])
        top = int(torch.argmax(sims))
        assert r.alpha.tolist() == [1.0 if i == top else 0.0 for i in range(3)]
        assert torch.equal(r.start.prompt, sources[top].prompt) and r.start.details["chosen"] == sources[top].ref
        assert r.seconds["spot"] > 0 and r.weights is None

    def test_result_is_json_ready(self, weighted):
        data = json.loads(json.dumps(weighted["hgprompt"].to_dict()))
        assert data["method"] == "hgprompt" and len(data["sources"]) == 3
        assert [s["weight"] for s in data["sources"]] == data["alpha"]
        assert set(data["seconds"]) >= {"features", "weights", "compose", "tune", "total"}


class TestRefusals:
    def _no_cache_files(self, path):
        return not any(path.rglob("*.safetensors"))

    def test_other_backbone_refused_before_any_feature(self, world, tmp_path):
        bb, splits, sources = world
        other = sources[0].identity.model_copy(update={"weights_sha256": "cd" * 32})
        alien = SourcePrompt("alien:1", sources[0].prompt, other, sources[0].geometry)
        with pytest.raises(IncompatibleError, match="alien:1"):
            run_method("hgprompt", bb, [*sources, alien], splits, tune=TUNE, cache=FeatureCache(tmp_path))
        assert self._no_cache_files(tmp_path)

    def test_other_geometry_refused_before_any_feature(self, world, tmp_path):
        bb, splits, sources = world
        geo = sources[0].geometry.model_copy(update={"length": 3})
        odd = SourcePrompt("odd:1", torch.zeros(1, 3, bb.embed_dim), sources[0].identity, geo)
        with pytest.raises(IncompatibleError, match="odd:1"):
            compare(["uniform", "random"], bb, [*sources, odd], splits, tune=TUNE, cache=FeatureCache(tmp_path))
        assert self._no_cache_files(tmp_path)

    def test_geometry_that_does_not_fit_the_backbone(self, world):
        bb, _, sources = world
        wide = PromptGeometry(mode="shallow", length=2, width=bb.embed_dim + 1, layers=1)
        src = SourcePrompt("wide:1", torch.zeros(1, 2, bb.embed_dim + 1), sources[0].identity, wide)
        with pytest.raises(IncompatibleError, match="wide:1"):
            check_ensemble_sources(bb, [src])

    def test_bad_names_and_options_fail_before_work(self, world, tmp_path):
        bb, splits, sources = world
        with pytest.raises(UsageError, match="unknown ensemble method"):
            compare(["hgprompt", "nope"], bb, sources, splits, cache=FeatureCache(tmp_path))
        with pytest.raises(UsageError, match="lam"):
            run_method("hgprompt", bb, sources, splits, lam=-1.0, cache=FeatureCache(tmp_path))
        with pytest.raises(UsageError, match="no source"):
            run_method("uniform", bb, [], splits)
        assert self._no_cache_files(tmp_path)


class TestRegistry:
    def test_every_method_the_docs_name_is_registered(self):
        assert set(METHODS) == {"hgprompt", "uniform", "hscore-weights", "best-single", "random", "spt", "spot"}
        assert get_method("best_single").name == "best-single"
        assert all(METHODS[m].needs_sources for m in ("hgprompt", "spot")) and not METHODS["random"].needs_sources

    def test_compare_runs_each_method_once_on_the_same_data_and_seed(self, world, monkeypatch):
        bb, splits, sources = world
        calls = []
        real = pipeline_module.source_features

        def counting(backbone, source, target, split, **kw):
            calls.append(source.ref if source is not None else None)
            return real(backbone, source, target, split, **kw)

        monkeypatch.setattr(pipeline_module, "source_features", counting)
        results = compare(["uniform", "hscore-weights", "uniform"], bb, sources, splits, tune=TUNE.replace(seed=4))
        assert [r.method for r in results] == ["uniform", "hscore-weights"]
        assert all(isinstance(r, MethodResult) for r in results)
        assert {r.train.config.seed for r in results} == {4}
        assert len({r.train.dataset_fingerprint for r in results}) == 1
        assert sorted(c for c in calls if c in {s.ref for s in sources}) == sorted(s.ref for s in sources)
