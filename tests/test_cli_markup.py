"""User and remote text is printed as text, never read as rich markup (tags, descriptions, names, messages)."""

from __future__ import annotations

import json

import pytest
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Registry
from typer.testing import CliRunner

runner = CliRunner()

MARKUP = ["[red]x[/red]", "[/]", "[link=https://evil.example]click[/link]", "[bold", "x[/x]y", ":smile:"]


@pytest.fixture
def reg(tmp_path) -> Registry:
    reg = Registry(tmp_path / "reg", builtin=False)
    reg.add("me/p", make_tensors(seed=1), make_spec(task="dtd"))
    return reg


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("text", MARKUP)
def test_tag_values_print_literally(reg, text):
    result = run("tag", "me/p", f"stage={text}", "--registry", reg.root)
    assert result.exit_code == 0, result.output
    assert f"stage={text}" in result.stdout
    shown = run("show", "me/p", "--registry", reg.root)
    assert shown.exit_code == 0, shown.output
    assert f"stage={text}" in shown.stdout


@pytest.mark.parametrize("text", MARKUP)
def test_descriptions_print_literally_and_never_break_show(reg, tmp_path, text):
    reg.export("me/p", tmp_path / "out")
    added = run("add", tmp_path / "out", "--name", "me/d", "--description", f"before {text} after",
                "--registry", reg.root)
    assert added.exit_code == 0, added.output
    for _ in range(2):  # every later show works too
        shown = run("show", "me/d", "--registry", reg.root)
        assert shown.exit_code == 0, shown.output
        assert f"before {text} after" in shown.stdout
    assert json.loads(run("show", "me/d", "--json", "--registry", reg.root).stdout)["description"] == (
        f"before {text} after")


def test_list_prints_aliases_and_tasks_literally(reg):
    reg.tag("me/p:1", {"note": "[red]x[/red]"})
    result = run("list", "--registry", reg.root)
    assert result.exit_code == 0 and "me/p:1" in result.stdout


@pytest.mark.parametrize("ref", ["[bold]x[/]", "me/[red]p", "[/]"])
def test_error_messages_quote_input_literally(reg, ref):
    result = run("show", ref, "--registry", reg.root)
    assert result.exit_code != 0
    assert ref in result.stderr and result.stderr.count("\n") <= 2


def test_verify_failures_print_problems_literally(reg):
    reg.add("me/q", make_tensors(seed=2), make_spec(task="[red]t[/red]"))
    path = reg.path_of("me/q:1")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run("verify", "--registry", reg.root)
    assert result.exit_code == 4 and "FAIL me/q:1" in result.stderr
