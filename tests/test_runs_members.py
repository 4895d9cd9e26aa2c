"""choose_members: the sources an ensemble keeps."""

from __future__ import annotations

import pytest
import torch

from promptkit.errors import UsageError
from promptkit.runs.members import MemberRule, choose_members


def _a(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


class TestChooseMembers:
    def test_keeps_the_heaviest_until_the_cover_is_reached(self):
        kept, w = choose_members(_a(0.1, 0.6, 0.25, 0.05))
        assert kept == [1, 2, 0]  # 0.6 + 0.25 = 0.85 < 0.9, so the 0.1 joins
        assert float(w.sum()) == pytest.approx(1.0) and w[0] == pytest.approx(0.6 / 0.95)

    def test_one_dominant_source_is_kept_alone(self):
        kept, w = choose_members(_a(0.02, 0.95, 0.03))
        assert kept == [1] and w.tolist() == [1.0]

    def test_caps_the_number_of_members(self):
        kept, _ = choose_members(torch.full((8,), 1 / 8, dtype=torch.float64))
        assert kept == [0, 1, 2]  # ties: the earlier source first
        kept, _ = choose_members(torch.full((8,), 1 / 8, dtype=torch.float64), MemberRule(max_members=5))
        assert len(kept) == 5

    def test_light_sources_are_never_kept(self):
        kept, _ = choose_members(_a(0.5, 0.3, 0.04, 0.04, 0.04, 0.04, 0.04))
        assert kept == [0, 1]

    def test_bad_weights_and_rules_are_refused(self):
        with pytest.raises(UsageError, match="non-negative"):
            choose_members(_a(0.5, -0.1))
        with pytest.raises(UsageError, match="cover"):
            MemberRule(cover=0)
