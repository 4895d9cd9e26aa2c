"""`promptkit plugins` (cli/plugins_cmd.py) through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import typer
from promptkit.cli.plugins_cmd import plugins_command
from typer.testing import CliRunner

from promptkit.errors import EXIT_USAGE


@pytest.fixture
def app():
    app = typer.Typer()
    app.command()(plugins_command)  # a one-command app: the command is the root
    return app


class TestPluginsCommand:
    def test_json_lists_every_table_with_its_builtins(self, app):
        result = CliRunner().invoke(app, ["--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert {"backbones", "inits", "scores", "weights", "methods", "compositions", "datasets",
                "zoo-generators"} == set(data)
        names = {table: {row["name"] for row in rows} for table, rows in data.items()}
        assert "kmeans" in names["inits"] and "shrinkage-hscore" in names["scores"]
        assert {"hgprompt", "spot", "random", "spt"} <= names["methods"]
        assert {"average", "aligned", "ensemble", "stack", "distill"} == names["compositions"]
        assert all(row["summary"] for row in data["compositions"])

    def test_a_weight_method_registered_in_python_is_listed_as_a_method(self, app):
        from promptkit.ensemble import WEIGHT_METHODS, register_weights, uniform_weights

        register_weights("test-listed-mix")(uniform_weights)
        try:
            result = CliRunner().invoke(app, ["methods", "--json"])
        finally:
            WEIGHT_METHODS.pop("test-listed-mix")
        assert result.exit_code == 0, result.output
        assert "test-listed-mix" in {row["name"] for row in json.loads(result.stdout)["methods"]}

    def test_an_unknown_table_is_a_usage_error_naming_the_tables(self, app):
        result = CliRunner().invoke(app, ["method"])
        assert result.exit_code == EXIT_USAGE
        assert "unknown plugin table 'method'" in result.output and "'methods'" in result.output
