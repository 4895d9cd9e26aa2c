"""Tests for promptkit.registry.sources: which stored prompts are a target's sources."""

from __future__ import annotations

import pytest
from conftest import make_spec, make_tensors
from promptkit.registry.sources import select_sources
from registry_helpers import make_ensemble

from promptkit.errors import AssetNotFoundError, UsageError


@pytest.fixture
def stored(registry):
    """Prompts tuned on zoo-textures (two versions), zoo-digits and a folder task `colours`, plus an ensemble."""
    for name, task, seed in (("me/tex", "zoo-textures", 0), ("me/tex", "zoo-textures", 1),
                             ("me/digits", "zoo-digits", 2), ("me/colours", "colours", 3)):
        registry.add(name, make_tensors(seed=seed), make_spec(task=task))
    tensors, spec = make_ensemble(k=2)
    registry.add("me/ens", tensors, spec.model_copy(update={"task": "zoo-digits"}))
    return registry


def test_default_is_every_latest_prompt_not_tuned_on_the_target(stored):
    assert select_sources(stored, "zoo-textures") == ["me/colours:1", "me/digits:1"]
    assert select_sources(stored, "zoo-digits") == ["me/colours:1", "me/tex:2"]  # the ensemble is no source


def test_a_folder_names_the_task_by_its_name(stored, tmp_path):
    folder = tmp_path / "colours"
    folder.mkdir()
    assert select_sources(stored, str(folder)) == ["me/digits:1", "me/tex:2"]


def test_include_target_keeps_the_targets_own_prompts(stored):
    assert select_sources(stored, "zoo-textures", include_target=True) == ["me/colours:1", "me/digits:1", "me/tex:2"]


def test_named_references_are_resolved_in_order_without_duplicates(stored):
    refs = ["me/tex:1", "me/digits", "me/tex:1", "me/tex"]
    # named sources are kept even when tuned on the target: the user asked for them
    assert select_sources(stored, "zoo-textures", refs) == ["me/tex:1", "me/digits:1", "me/tex:2"]


def test_named_ensemble_and_unknown_names_are_refused(stored):
    with pytest.raises(UsageError, match="ensemble"):
        select_sources(stored, "zoo-textures", ["me/ens"])
    with pytest.raises(AssetNotFoundError):
        select_sources(stored, "zoo-textures", ["me/nothing"])


def test_an_empty_registry_has_no_sources(registry):
    assert select_sources(registry, "zoo-textures") == []
