"""HGPrompt's learned weights: simplex, informative sources, edge cases, and the objective it optimizes."""

from __future__ import annotations

import pytest
import torch

import promptkit.ensemble.weights as weights_module
from promptkit.ensemble import (
    WEIGHT_METHODS,
    ensemble_weights,
    get_weight_method,
    hgprompt_weights,
    learn_alpha,
    mix_features,
    prepare_sources,
)
from promptkit.errors import UsageError
from promptkit.scores import shrinkage_hscore


def _sources(seed: int, signals: list[float], *, n: int = 200, d: int = 16, c: int = 4, noise: float = 1.0):
    """Sources that see the same class means with strength s_i, each with its own noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    means = torch.randn(c, d, generator=g, dtype=torch.float64)
    f = torch.stack([s * means[y] + noise * torch.randn(n, d, generator=g, dtype=torch.float64) for s in signals])
    return f, y


class TestLearnAlpha:
    def test_weights_are_on_the_simplex(self) -> None:
        f, y = _sources(0, [1.0, 0.5, 0.2, 0.0])
        for lam in (0.0, 0.05):
            alpha = learn_alpha(f, y, lam=lam, steps=60).alpha
            assert alpha.shape == (4,) and alpha.dtype == torch.float64
            assert bool((alpha >= 0).all())
            assert float(alpha.sum()) == pytest.approx(1.0, abs=1e-12)

    @pytest.mark.parametrize("lam", [0.0, 0.01])
    def test_most_weight_on_the_one_informative_source(self, lam: float) -> None:
        f, y = _sources(1, [0.0, 1.0, 0.0, 0.0])
        result = learn_alpha(f, y, lam=lam, steps=150)
        assert int(result.alpha.argmax()) == 1
        assert float(result.alpha[1]) > 0.5

    def test_lambda_zero_optimizes_transferability_alone(self) -> None:
        # Adam on T / (C - 1) through the reference shrinkage H-score of the mixture, by autograd.
        f, y = _sources(2, [1.0, 0.6, 0.1], n=120, d=10)
        src = prepare_sources(f, y)
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w], lr=0.05)
        for _ in range(40):
            opt.zero_grad()
            (-shrinkage_hscore(mix_features(src.features, torch.softmax(w, 0)), y) / 3).backward()
            opt.step()
        reference = torch.softmax(w.detach(), 0)
        result = learn_alpha(f, y, lam=0.0, steps=40, precision="float64")
        assert torch.allclose(result.alpha, reference, atol=1e-8)
        assert result.regularizer > 0  # R was not optimized: lam = 0 ignores it

    def test_identical_sources_get_equal_weights(self) -> None:
        f, y = _sources(3, [1.0])
        same = f.expand(4, -1, -1)
        for lam in (0.0, 0.1):
            alpha = learn_alpha(same, y, lam=lam, steps=30).alpha
            assert torch.allclose(alpha, torch.full((4,), 0.25, dtype=torch.float64), atol=1e-6)

    def test_one_source_gets_all_the_weight(self) -> None:
        f, y = _sources(4, [1.0])
        result = learn_alpha(f, y, lam=0.1)
        assert result.alpha.tolist() == [1.0]
        assert result.history == ()
        assert result.regularizer == 0.0
        assert result.transferability == pytest.approx(float(result.source_scores[0]))

    def test_method_sanity_check(self) -> None:
        # docs/method.md#hgprompt-step-4: class signal 2, 1 and 0.5 and two pure-noise sources. lambda = 0
        # puts most weight on the strongest and the mixture beats the best single source;
        # a large lambda pulls alpha towards uniform.
        f, y = _sources(5, [2.0, 1.0, 0.5, 0.0, 0.0], n=200, d=16, c=4, noise=2.0)
        free = learn_alpha(f, y, lam=0.0)
        assert int(free.alpha.argmax()) == 0 and float(free.alpha[0]) > 0.5
        assert free.alpha[0] > free.alpha[1] > free.alpha[2] > max(free.alpha[3], free.alpha[4])
        assert free.transferability > free.best_source_score
        pulled = learn_alpha(f, y, lam=1.0)
        uniform = torch.full((5,), 0.2, dtype=torch.float64)
        assert (pulled.alpha - uniform).abs().max() < (free.alpha - uniform).abs().max()
        assert pulled.regularizer < free.regularizer

    def test_objective_improves_over_the_steps(self) -> None:
        f, y = _sources(6, [1.0, 0.3, 0.0])
        result = learn_alpha(f, y, lam=0.01, steps=50)
        assert len(result.history) == 50
        assert result.history[-1] > result.history[0]
        assert result.objective == pytest.approx(result.history[-1], abs=1e-3)

    def test_float32_steps_give_the_float64_weights(self) -> None:
        f, y = _sources(7, [1.0, 0.5, 0.0], n=150, d=20)
        a32 = learn_alpha(f, y, lam=0.01, steps=50).alpha
        a64 = learn_alpha(f, y, lam=0.01, steps=50, precision="float64").alpha
        assert torch.allclose(a32, a64, atol=1e-4)

    def test_is_deterministic(self) -> None:
        f, y = _sources(8, [1.0, 0.5, 0.0])
        assert torch.equal(learn_alpha(f, y, lam=0.01, steps=20).alpha, learn_alpha(f, y, lam=0.01, steps=20).alpha)

    def test_fully_shrunk_sources_stay_uniform(self) -> None:
        # Isotropic noise with d close to N: the uniform mixture is shrunk completely (a = 1),
        # so T = 0 with zero gradient; the weights must stay put, not turn NaN or drift.
        g = torch.Generator().manual_seed(0)
        f = torch.randn(2, 30, 25, generator=g, dtype=torch.float64)
        result = learn_alpha(f, torch.arange(30) % 2, lam=0.0, steps=20)
        assert result.alpha.tolist() == [0.5, 0.5]
        assert result.transferability == 0.0
        assert result.history == (0.0,) * 20

    def test_copies_of_a_source_share_its_weight_equally(self, monkeypatch: pytest.MonkeyPatch) -> None:
        f, y = _sources(17, [1.0, 0.3])
        copies = torch.stack([f[0], f[1], f[0], f[0]])
        alpha = learn_alpha(copies, y, lam=0.01, steps=60).alpha
        assert alpha[0] == alpha[2] == alpha[3]
        # Same trajectory as one weight per copy in exact arithmetic (float64 stands in for it).
        shared = learn_alpha(copies, y, lam=0.01, steps=60, precision="float64").alpha
        monkeypatch.setattr(weights_module, "_duplicate_split", lambda f: torch.eye(f.shape[0], dtype=torch.float64))
        separate = learn_alpha(copies, y, lam=0.01, steps=60, precision="float64").alpha
        assert torch.allclose(shared, separate, atol=1e-6)
        assert torch.allclose(alpha, shared, atol=1e-4)

    def test_reports_progress(self) -> None:
        f, y = _sources(10, [1.0, 0.0])
        calls: list[tuple[int, int]] = []
        learn_alpha(f, y, lam=0.0, steps=5, progress=lambda i, n: calls.append((i, n)))
        assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    @pytest.mark.parametrize(
        "options",
        [{"lam": -0.1}, {"lam": float("nan")}, {"lam": 0.0, "steps": -1}, {"lam": 0.0, "lr": 0.0},
         {"lam": 0.0, "precision": "float16"}],
    )
    def test_refuses_bad_options(self, options: dict) -> None:
        f, y = _sources(11, [1.0, 0.0])
        with pytest.raises(UsageError):
            learn_alpha(f, y, **options)


class TestHgpromptWeights:
    def test_direct_and_pairwise_steps_agree(self, monkeypatch: pytest.MonkeyPatch) -> None:
        f, y = _sources(12, [1.0, 0.5, 0.2, 0.0], n=100, d=12)
        src = prepare_sources(f, y)
        pairwise = hgprompt_weights(src, lam=0.05, steps=30, precision="float64")
        monkeypatch.setattr(weights_module, "fits", lambda *args, **kwargs: False)
        direct = hgprompt_weights(src, lam=0.05, steps=30, precision="float64")
        assert torch.allclose(pairwise.alpha, direct.alpha, atol=1e-10)

    def test_records_method_and_lambda(self) -> None:
        f, y = _sources(13, [1.0, 0.0])
        result = hgprompt_weights(prepare_sources(f, y), lam=0.02, steps=3)
        assert (result.method, result.lam, result.num_classes) == ("hgprompt", 0.02, 4)


class TestEnsembleWeights:
    def test_lists_every_method(self) -> None:
        assert {"hgprompt", "uniform", "hscore-weights", "best-single"} <= set(WEIGHT_METHODS)

    def test_dispatches_by_name_on_raw_or_prepared_sources(self) -> None:
        f, y = _sources(14, [1.0, 0.5, 0.0])
        raw = ensemble_weights("hgprompt", f, y, lam=0.0, steps=10)
        prepared = ensemble_weights("hgprompt", prepare_sources(f, y), lam=0.0, steps=10)
        assert torch.equal(raw.alpha, learn_alpha(f, y, lam=0.0, steps=10).alpha)
        assert torch.equal(raw.alpha, prepared.alpha)

    def test_accepts_underscores(self) -> None:
        assert get_weight_method("best_single") is get_weight_method("best-single")

    def test_unknown_method_lists_the_choices(self) -> None:
        f, y = _sources(15, [1.0, 0.0])
        with pytest.raises(UsageError) as info:
            ensemble_weights("panda", f, y)
        assert "'hgprompt'" in info.value.hint and "'uniform'" in info.value.hint

    def test_labels_are_required_once(self) -> None:
        f, y = _sources(16, [1.0, 0.0])
        with pytest.raises(UsageError, match="required"):
            ensemble_weights("uniform", f)
        with pytest.raises(UsageError, match="already hold"):
            ensemble_weights("uniform", prepare_sources(f, y), y)
