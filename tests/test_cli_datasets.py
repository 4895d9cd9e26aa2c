"""`promptkit datasets` (cli/datasets.py) through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import typer
from fixtures.data_layouts import write_svhn
from promptkit.cli.datasets import datasets_command
from typer.testing import CliRunner

from promptkit.errors import EXIT_NOT_FOUND


@pytest.fixture
def app():
    app = typer.Typer()
    app.command()(datasets_command)  # a one-command app: the command is the root
    return app


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_DATA", raising=False)


class TestDatasetsCommand:
    def test_json_lists_the_catalog_with_presence(self, app, tmp_path):
        write_svhn(tmp_path)
        result = CliRunner().invoke(app, ["--json", "--root", str(tmp_path)])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["root"] == str(tmp_path)
        rows = {row["name"]: row for row in data["datasets"]}
        assert rows["svhn"]["present"] is True and rows["dtd"]["present"] is False
        assert (rows["dtd"]["group"], rows["dtd"]["num_classes"], rows["dtd"]["downloadable"]) == ("natural", 47, True)

    def test_root_from_promptkit_data(self, app, tmp_path, monkeypatch):
        monkeypatch.setenv("PROMPTKIT_DATA", str(tmp_path))
        result = CliRunner().invoke(app, ["--json"])
        assert json.loads(result.stdout)["root"] == str(tmp_path)

    def test_table_for_people(self, app, tmp_path):
        result = CliRunner().invoke(app, ["--root", str(tmp_path)])
        assert result.exit_code == 0
        assert "cifar100" in result.stdout and "eurosat" in result.stdout and "--download" in result.stdout

    def test_download_of_an_unknown_name_exits_not_found_with_a_hint(self, app, tmp_path):
        result = CliRunner().invoke(app, ["--download", "dtdd", "--root", str(tmp_path)])
        assert result.exit_code == EXIT_NOT_FOUND
        assert "'dtd'" in result.output

    def test_download_calls_the_catalog(self, app, tmp_path, monkeypatch):
        import promptkit.data

        seen = []
        monkeypatch.setattr(promptkit.data, "download_dataset", lambda name, root: seen.append((name, root)) or root)
        result = CliRunner().invoke(app, ["--download", "svhn", "--root", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
        assert seen == [("svhn", tmp_path)] and json.loads(result.stdout)["downloaded"] == "svhn"
