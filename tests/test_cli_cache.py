"""`promptkit cache` and shell completion (issue 15, item 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from promptkit.cli.app import app
from typer.testing import CliRunner

from promptkit.caches import cache_areas
from promptkit.errors import EXIT_USAGE

runner = CliRunner()


def _fill(home: Path) -> None:
    (home / "cache" / "features" / "ab").mkdir(parents=True)
    (home / "cache" / "features" / "ab" / "x.safetensors").write_bytes(b"0" * 2048)
    (home / "runs" / "me__x").mkdir(parents=True)
    (home / "runs" / "me__x" / "checkpoint.safetensors").write_bytes(b"0" * 100)
    (home / "registry").mkdir()
    (home / "registry" / "keep").write_text("never touched")


def test_cache_lists_sizes_and_cleans_one_area(_isolated_home):
    _fill(_isolated_home)
    data = json.loads(runner.invoke(app, ["cache", "--json", "--runs"]).stdout)
    assert {a["area"]: (a["files"], a["bytes"]) for a in data["areas"]} == {"features": (1, 2048), "runs": (1, 100)}
    assert [r["name"] for r in data["runs"]] == ["me__x"]
    shown = runner.invoke(app, ["cache"])
    assert "features" in shown.stdout and "2.0 KiB" in shown.stdout
    cleaned = runner.invoke(app, ["cache", "--clean", "features", "--yes"])
    assert cleaned.exit_code == 0 and "cleaned features: 1 files, 2.0 KiB freed" in cleaned.stdout
    assert [a.files for a in cache_areas()] == [0, 1] and (_isolated_home / "registry" / "keep").exists()


def test_cache_clean_needs_confirmation_and_a_known_area(_isolated_home):
    _fill(_isolated_home)
    refused = runner.invoke(app, ["cache", "--clean", "all"])
    assert refused.exit_code == EXIT_USAGE and "--yes" in refused.stderr
    unknown = runner.invoke(app, ["cache", "--clean", "registry", "--yes"])
    assert unknown.exit_code == EXIT_USAGE and "features, runs or all" in unknown.stderr
    assert runner.invoke(app, ["cache", "--clean", "all", "--yes"]).exit_code == 0
    assert [a.files for a in cache_areas()] == [0, 0] and (_isolated_home / "registry" / "keep").exists()


def test_feature_cache_area_is_where_the_feature_cache_writes():
    from promptkit.features import default_cache_dir

    assert cache_areas()[0].path == default_cache_dir()


def test_shell_completion_is_on():
    script = Path(sys.executable).parent / "promptkit"
    # the shell is detected from the parent process: run it from bash, as a user would
    shown = subprocess.run(["bash", "-c", f"'{script}' --show-completion; exit $?"], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0 and "_promptkit_completion" in shown.stdout
    env = {**os.environ, "_PROMPTKIT_COMPLETE": "complete_bash", "COMP_WORDS": "promptkit ra", "COMP_CWORD": "1"}
    completed = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert completed.stdout.split() == ["rank"]
