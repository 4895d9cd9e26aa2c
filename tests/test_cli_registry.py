"""The registry commands as a user runs them: exit codes, stdout holding only JSON with --json."""

from __future__ import annotations

import json

import pytest
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Registry
from typer.testing import CliRunner

from promptkit.errors import EXIT_INTEGRITY, EXIT_NOT_FOUND, EXIT_USAGE

runner = CliRunner()


@pytest.fixture
def filled(tmp_path):
    reg = Registry(tmp_path / "reg", builtin=False)
    reg.add("dtd", make_tensors(seed=1), make_spec(metrics={"test_acc": 0.5}, task="dtd"))
    reg.add("dtd", make_tensors(seed=2), make_spec(task="dtd"))
    reg.add("org/svhn", make_tensors(seed=3), make_spec(task="svhn", tags={"group": "natural"}))
    return reg


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


class TestListShow:
    def test_list_json_is_pure_json(self, filled):
        result = run("list", "--registry", filled.root, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [d["ref"] for d in data] == ["dtd:1", "dtd:2", "org/svhn:1"]
        assert data[1]["aliases"] == ["latest"]
        assert {d["kind"] for d in data} == {"prompt"} and {d["schema_version"] for d in data} == {2}

    def test_ls_alias_and_filters(self, filled):
        result = run("ls", "--registry", filled.root, "--tag", "group=natural", "--quiet")
        assert result.stdout.split() == ["org/svhn:1"]
        result = run("list", "--registry", filled.root, "--name", "dtd", "--json")
        assert len(json.loads(result.stdout)) == 2

    def test_list_no_match_says_so_without_an_empty_table(self, filled):
        result = run("list", "--registry", filled.root, "--name", "nobody/")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "no prompts match" in result.stderr

    def test_registry_from_environment(self, filled):
        result = run("list", "--json", env={"PROMPTKIT_REGISTRY": str(filled.root)})
        assert len(json.loads(result.stdout)) == 3

    def test_show(self, filled):
        result = run("show", "dtd:1", "--registry", filled.root, "--json")
        data = json.loads(result.stdout)
        assert data["version"] == 1 and data["metrics"] == {"test_acc": 0.5}
        result = run("show", "dtd", "--registry", filled.root)
        assert result.exit_code == 0 and "dtd:2" in result.stdout

    def test_not_found_exit_code_and_hint(self, filled):
        result = run("show", "nope", "--registry", filled.root)
        assert result.exit_code == EXIT_NOT_FOUND
        assert "no asset matches 'nope'" in result.stderr and "promptkit list" in result.stderr
        assert "Traceback" not in result.output

    def test_bad_reference_is_a_usage_error(self, filled):
        result = run("show", "a/b/c", "--registry", filled.root)
        assert result.exit_code == EXIT_USAGE
        assert "name:3" in result.stderr


class TestWrites:
    def test_add_file_tag_alias_rm(self, filled, tmp_path):
        from safetensors.torch import save_file

        path = tmp_path / "bare.safetensors"
        save_file({"prompt": make_tensors(seed=9)["prompt"]}, path)
        result = run("add", path, "--name", "bare", "--like", "dtd:1", "--tag", "k=v", "--registry", filled.root,
                     "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ref"] == "bare:1"
        assert run("tag", "bare:1", "x=y", "--registry", filled.root).exit_code == 0
        assert run("alias", "dtd:1", "prod", "--registry", filled.root).exit_code == 0
        assert filled.resolve("dtd@prod").version == 1
        assert filled.resolve("bare").tags == {"k": "v", "x": "y"}
        result = run("rm", "dtd:1", "--registry", filled.root)  # no TTY, no --yes: refuse
        assert result.exit_code == EXIT_USAGE and "--yes" in result.stderr
        assert run("rm", "dtd:1", "--yes", "--registry", filled.root).exit_code == 0
        assert [e.manifest.ref for e in filled.list(name="dtd")] == ["dtd:2"]

    def test_add_bare_without_identity_is_refused(self, filled, tmp_path):
        from safetensors.torch import save_file

        path = tmp_path / "bare.safetensors"
        save_file({"prompt": make_tensors()["prompt"]}, path)
        result = run("add", path, "--name", "bare", "--registry", filled.root)
        assert result.exit_code == EXIT_USAGE and "--backbone" in result.stderr

    def test_export_and_add_folder(self, filled, tmp_path):
        assert run("export", "dtd:2", tmp_path / "exp", "--registry", filled.root).exit_code == 0
        other = tmp_path / "other"
        result = run("add", tmp_path / "exp", "--registry", other, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ref"] == "dtd:1"

    def test_verify_exit_codes(self, filled):
        result = run("verify", "--registry", filled.root, "--json")
        assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
        path = filled.path_of("dtd:1")
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
        result = run("verify", "--registry", filled.root, "--json")
        assert result.exit_code == EXIT_INTEGRITY
        assert json.loads(result.stdout)["issues"][0]["ref"] == "dtd:1"
        result = run("show", "dtd:1", "--registry", filled.root)  # metadata still readable
        assert result.exit_code == 0


def test_debug_shows_traceback(filled):
    result = run("show", "nope", "--registry", filled.root, env={"PROMPTKIT_DEBUG": "1"})
    assert result.exit_code != 0 and result.exception is not None
