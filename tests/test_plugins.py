"""The named-plugin table: canonical names, one duplicate policy, did-you-mean, summaries."""

from __future__ import annotations

import pytest

from promptkit.errors import DatasetNotFoundError, UsageError
from promptkit.plugins import Registry, canonical_name


def _table() -> Registry[object]:
    return Registry("widget", listing="promptkit plugins widgets")


def good_widget() -> None:
    """A widget that works.

    More text that is not the summary.
    """


class TestNames:
    def test_canonical_form(self):
        assert canonical_name("  Shrinkage_HScore ") == "shrinkage-hscore"

    def test_any_spelling_finds_the_entry(self):
        table = _table()
        table.add("My_Widget", good_widget)
        assert table.names() == ["my-widget"]
        assert table["my_widget"] is good_widget and "MY-WIDGET" in table
        assert table.lookup("my widget".replace(" ", "-")) is good_widget

    def test_empty_name_is_refused(self):
        with pytest.raises(ValueError, match="non-empty"):
            _table().add("  ", good_widget)


class TestDuplicates:
    def test_one_policy_for_every_spelling(self):
        table = _table()
        table.add("a-b", good_widget)
        with pytest.raises(ValueError, match="widget 'a-b' is already registered"):
            table.add("A_B", good_widget)
        assert table["a-b"] is good_widget  # nothing replaced


class TestUnknown:
    def test_did_you_mean_and_every_choice(self):
        table = _table()
        for name in ("hgprompt", "uniform", "best-single"):
            table.add(name, good_widget)
        with pytest.raises(UsageError, match="unknown widget 'hgprompd'") as info:
            table.lookup("hgprompd")
        assert "did you mean 'hgprompt'" in info.value.hint
        assert "'best-single', 'hgprompt' or 'uniform'" in info.value.hint
        assert "`promptkit plugins widgets`" in info.value.hint

    def test_the_table_error_type_is_used(self):
        table: Registry[object] = Registry("dataset", error=lambda msg, hint: DatasetNotFoundError(msg, hint=hint))
        with pytest.raises(DatasetNotFoundError):
            table.lookup("nope")


class TestSummaries:
    def test_first_docstring_line_unless_given(self):
        table = _table()
        table.add("good", good_widget)
        table.add("other", good_widget, summary="said here", colour="red")
        assert table.summary("good") == "A widget that works."
        assert table.summary("other") == "said here" and table.meta("other") == {"colour": "red"}


class TestBuiltins:
    def test_every_table_is_filled_on_first_read(self):
        from promptkit.backbone import BACKBONES
        from promptkit.data.catalog import DATASETS
        from promptkit.ensemble import WEIGHT_METHODS
        from promptkit.inits import INITS
        from promptkit.scores import SCORES
        from promptkit.zoo.suite import GENERATORS, TASKS

        assert "zoo-vit" in BACKBONES
        assert {"random", "kmeans", "mean", "max", "sample", "from"} == set(INITS)
        assert {"hscore", "shrinkage-hscore", "logme"} == set(SCORES)
        assert {"hgprompt", "uniform", "hscore-weights", "best-single"} <= set(WEIGHT_METHODS)
        assert set(TASKS) <= set(DATASETS) and {"dtd", "svhn", "cifar100", "eurosat"} <= set(DATASETS)
        assert set(GENERATORS) == set(TASKS)
        from promptkit.runs import COMPOSITIONS, METHODS

        assert {"spot", "random", "spt"} | set(WEIGHT_METHODS) == set(METHODS)
        assert {"average", "aligned", "ensemble", "stack", "distill"} == set(COMPOSITIONS)
        for table in (BACKBONES, INITS, SCORES, WEIGHT_METHODS, DATASETS, METHODS, COMPOSITIONS, GENERATORS):
            # every built-in says what it is (tests register undocumented plugins of their own)
            builtin = [e for e in table.entries() if _defined_in_promptkit(e.value)]
            assert builtin and all(entry.summary for entry in builtin), table.kind

    def test_a_new_weight_method_is_taken_by_name_at_once(self):
        from promptkit.ensemble import WEIGHT_METHODS, ensemble_weights, register_weights, uniform_weights

        register_weights("test-plugin-weights")(uniform_weights)
        try:
            import torch

            feats = [torch.randn(12, 3, generator=torch.Generator().manual_seed(i)) for i in range(2)]
            labels = torch.arange(12) % 3
            assert ensemble_weights("test_plugin_weights", feats, labels).alpha.shape == (2,)
        finally:
            WEIGHT_METHODS.pop("test-plugin-weights")

    def test_a_new_weight_method_is_an_ensemble_method_at_once(self):
        from promptkit.ensemble import WEIGHT_METHODS, register_weights, uniform_weights
        from promptkit.runs import METHODS, get_method, weight_methods

        register_weights("test-plugin-mix")(uniform_weights)
        try:
            assert "test-plugin-mix" in METHODS
            spec = get_method("test_plugin_mix")
            assert spec.uses_weights and spec.needs_sources
            assert "test-plugin-mix" in weight_methods()  # so compositions apply to it
        finally:
            WEIGHT_METHODS.pop("test-plugin-mix")
        assert "test-plugin-mix" not in METHODS

    def test_a_start_strategy_cannot_take_a_weight_methods_name(self):
        from promptkit.runs import register_method

        with pytest.raises(ValueError, match="already registered"):
            register_method("uniform")(lambda run, method, seconds: None)


def _defined_in_promptkit(value: object) -> bool:
    fn = getattr(value, "fn", value)  # method and composition specs hold their function
    return (getattr(fn, "__module__", None) or type(fn).__module__).startswith("promptkit.")

