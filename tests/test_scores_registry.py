"""The score table: lookup by name, registration, score_all."""

from __future__ import annotations

import pytest
import torch

from promptkit.errors import UsageError
from promptkit.scores import SCORES, get_score, hscore, is_differentiable, logme, register_score, score_all
from promptkit.scores import shrinkage_hscore as shrink


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(30) % 3
    return torch.randn(30, 4, generator=g, dtype=torch.float64) + y[:, None], y


class TestGetScore:
    def test_builtin_names(self) -> None:
        assert sorted(SCORES) == ["hscore", "logme", "shrinkage-hscore"]
        assert get_score("hscore") is hscore and get_score("logme") is logme

    def test_underscores_and_case_are_accepted(self) -> None:
        assert get_score("shrinkage_hscore") is shrink
        assert get_score("Shrinkage-HScore") is shrink

    def test_unknown_name_lists_valid_names(self) -> None:
        with pytest.raises(UsageError, match="unknown score 'h-score'") as info:
            get_score("h-score")
        assert "'hscore', 'logme' or 'shrinkage-hscore'" in info.value.hint


class TestIsDifferentiable:
    def test_flags(self) -> None:
        assert is_differentiable("hscore") and is_differentiable("shrinkage_hscore")
        assert not is_differentiable("logme")

    def test_unknown_name(self) -> None:
        with pytest.raises(UsageError):
            is_differentiable("nope")


class TestRegisterScore:
    def test_registers_and_refuses_duplicates(self) -> None:
        try:

            @register_score("Test_Mean", differentiable=True)
            def _mean(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return features.mean()

            assert get_score("test-mean") is _mean and is_differentiable("test-mean")
            with pytest.raises(ValueError, match="registered twice"):
                register_score("test-mean", differentiable=False)(_mean)
        finally:
            SCORES.pop("test-mean", None)


class TestScoreAll:
    def test_all_scores_as_floats(self) -> None:
        f, y = _data()
        out = score_all(f, y)
        assert list(out) == ["hscore", "logme", "shrinkage-hscore"]
        assert all(type(v) is float for v in out.values())
        assert out["hscore"] == pytest.approx(float(hscore(f, y)))

    def test_requested_order_and_bad_name_first(self) -> None:
        f, y = _data()
        assert list(score_all(f, y, ["logme", "hscore"])) == ["logme", "hscore"]
        with pytest.raises(UsageError):
            score_all(f, y, ["hscore", "bogus"])
