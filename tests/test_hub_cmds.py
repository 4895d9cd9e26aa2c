"""`promptkit push` and `promptkit pull` as a user runs them, against the loopback Hub emulator."""

from __future__ import annotations

import json

import pytest
from hub_helpers import add_prompt
from promptkit.cli.app import app
from promptkit.registry import Registry
from typer.testing import CliRunner

from promptkit.errors import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE

pytest_plugins = ["conftest_hub"]  # fixtures: hf_env, make_hub, hub, hub_any_mode

runner = CliRunner()
REPO = "me/dtd-hg"
SECRET = "hf_CliSecretToken0123456789"


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def src(tmp_path) -> Registry:
    reg = Registry(tmp_path / "src", builtin=False)
    add_prompt(reg)
    return reg


class TestPush:
    def test_json_output_is_pure_json(self, hub_any_mode, src):
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["ref"], data["tag"], data["revision"], data["repo_id"]) == ("dtd-hg:1", "v1", "main", REPO)
        assert hub_any_mode.refs(REPO)["tags"]["v1"] == data["commit_sha"]
        assert data["url"] == f"{hub_any_mode.endpoint}/{REPO}"

    def test_human_output_and_options(self, hub, src):
        result = run("push", "dtd-hg:1", "--repo-id", REPO, "--registry", src.root, "--private",
                     "--revision", "dev", "--message", "from the CLI")
        assert result.exit_code == 0, result.output
        assert f"pushed dtd-hg:1 to {hub.endpoint}/{REPO} (dev @" in result.stdout and "tag v1" in result.stdout
        repo = hub.repos[REPO]
        assert repo.private and repo.commits[repo.branches["dev"]].message == "from the CLI"

    def test_create_pr(self, hub, src):
        run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root)
        add_prompt(src, seed=1)
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--create-pr")
        assert result.exit_code == 0, result.output
        assert "opened pull request" in result.stdout and "/discussions/1" in result.stdout

    def test_create_pr_with_revision_is_a_usage_error(self, hub, src):
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--create-pr", "--revision", "dev")
        assert result.exit_code == EXIT_USAGE and "pull request always targets main" in result.stderr

    def test_missing_local_version(self, hub, src):
        result = run("push", "dtd-hg:9", "--repo-id", REPO, "--registry", src.root)
        assert result.exit_code == EXIT_NOT_FOUND and not hub.log

    def test_401_one_line_with_next_step_and_no_token(self, make_hub, src):
        make_hub(tokens={SECRET: "write"}, reflect_auth=True)
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root,
                     env={"HF_TOKEN": "hf_not_the_right_one_000"})
        assert result.exit_code == EXIT_ERROR
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error:") and "401" in lines[0]
        assert lines[1].startswith("hint:") and "hf auth login" in lines[1] and len(lines) == 2
        assert "hf_not_the_right_one_000" not in result.output and "Traceback" not in result.output

    def test_hf_token_from_environment(self, make_hub, src):
        make_hub(tokens={SECRET: "write"})
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--json", env={"HF_TOKEN": SECRET})
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output

    def test_offline(self, hub, src):
        result = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, env={"HF_HUB_OFFLINE": "1"})
        assert result.exit_code == EXIT_ERROR and "HF_HUB_OFFLINE" in result.stderr and not hub.log


class TestPull:
    def test_round_trip_json(self, hub, src, tmp_path):
        pushed = json.loads(run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--json").stdout)
        dst = tmp_path / "dst"
        result = run("pull", REPO, "--registry", dst, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["ref"] == "me/dtd-hg:1" and data["created"] is True
        assert data["origin"]["repo_id"] == REPO and data["origin"]["commit_sha"] == pushed["commit_sha"]
        assert data["sha256"] == pushed["sha256"]
        again = json.loads(run("pull", f"{REPO}@v1", "--registry", dst, "--json").stdout)
        assert again["ref"] == "me/dtd-hg:1" and again["created"] is False

    def test_human_output_and_local_name(self, hub, src, tmp_path):
        run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root)
        result = run("pull", f"{REPO}@v1", "--name", "mine", "--registry", tmp_path / "dst")
        assert result.exit_code == 0, result.output
        assert f"pulled {REPO}@v1 (commit" in result.stdout and "as mine:1" in result.stdout
        result = run("pull", f"{REPO}@v1", "--name", "mine", "--registry", tmp_path / "dst")
        assert "already stored as mine:1" in result.stdout

    def test_quiet_prints_only_the_local_reference(self, hub, src, tmp_path):
        pushed = run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root, "--quiet")
        assert pushed.exit_code == 0, pushed.output
        assert pushed.stdout.strip().startswith("http") and "\n" not in pushed.stdout.strip()
        result = run("pull", REPO, "--registry", tmp_path / "dst", "--quiet")
        assert result.exit_code == 0, result.output
        assert result.stdout == "me/dtd-hg:1\n"
        assert Registry(tmp_path / "dst", builtin=False).load(result.stdout.strip()).manifest.ref == "me/dtd-hg:1"

    def test_registry_from_environment(self, hub, src, tmp_path):
        run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root)
        result = run("pull", REPO, env={"PROMPTKIT_REGISTRY": str(tmp_path / "env-reg")})
        assert result.exit_code == 0, result.output
        assert Registry(tmp_path / "env-reg", builtin=False).resolve(REPO).origin.repo_id == REPO

    @pytest.mark.parametrize("spec, words", [("me/nothing", "repository me/nothing not found"),
                                             (f"{REPO}@nope", "revision 'nope' not found")])
    def test_not_found_exit_code(self, hub, src, tmp_path, spec, words):
        run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root)
        result = run("pull", spec, "--registry", tmp_path / "dst")
        assert result.exit_code == EXIT_NOT_FOUND
        assert words in result.stderr and "hint:" in result.stderr and "Traceback" not in result.output

    def test_invalid_spec(self, hub, tmp_path):
        result = run("pull", "not-a-repo-id", "--registry", tmp_path / "dst")
        assert result.exit_code == EXIT_USAGE and "namespace/name" in result.stderr

    def test_malformed_content_refused(self, hub, tmp_path):
        hub.commit_files("me/bad", {"prompt.safetensors": b"\x80\x04not safetensors", "manifest.json": b"{}"})
        result = run("pull", "me/bad", "--registry", tmp_path / "dst")
        assert result.exit_code != 0 and "error:" in result.stderr
        assert not (tmp_path / "dst").exists()

    def test_offline_from_cache(self, hub, src, tmp_path):
        run("push", "dtd-hg", "--repo-id", REPO, "--registry", src.root)
        assert run("pull", REPO, "--registry", tmp_path / "a").exit_code == 0
        seen = len(hub.log)
        result = run("pull", REPO, "--registry", tmp_path / "b", "--json", env={"HF_HUB_OFFLINE": "1"})
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["created"] is True and len(hub.log) == seen
        result = run("pull", "me/other", "--registry", tmp_path / "b", env={"HF_HUB_OFFLINE": "1"})
        assert result.exit_code == EXIT_ERROR and "HF_HUB_OFFLINE is set" in result.stderr
