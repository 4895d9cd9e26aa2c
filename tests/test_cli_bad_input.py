"""Bad input, command by command: every case is one ``error:`` line (and a hint) on stderr, a non-zero exit,
nothing on stdout and no traceback; none of them reaches the "unexpected error" safety net.

Each case is a command line with placeholders filled in per test: ``{reg}`` a registry holding
``me/p:1``, ``{file}`` a plain file, ``{fifo}`` a named pipe, ``{bare}`` a bare prompt
``.safetensors``, ``{garbage}`` a ``.safetensors`` of random bytes, ``{txt}`` a text file,
``{listjson}`` an exported folder whose ``manifest.json`` is ``[]``, ``{empty}`` an empty folder,
``{out}`` a fresh folder path and ``{missing}`` a path that does not exist. The Hub is never
reached: ``HF_HUB_OFFLINE=1`` for every case.
"""

from __future__ import annotations

import os

import pytest
import torch
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Registry
from safetensors.torch import save_file
from typer.testing import CliRunner

runner = CliRunner()

LONG = "v" * 300
R = ("--registry", "{reg}")
T = ("train", "-d", "{empty}", "-b", "vit_tiny_patch16_224", "-n", "me/t")  # a train command line, before options
A = ("add", "{bare}", "--name", "me/x", "--like", "me/p")  # an add command line, before options

# (id, argv): every command, every kind of option (choice, number, path, key=value, name, reference, repo spec)
CASES: list[tuple[str, tuple[str, ...]]] = [
    ("unknown-command", ("bogus",)),
    ("unknown-global-option", ("--bogus",)),
    ("unknown-option", ("list", "--nope", *R)),
    # add
    ("add-missing-path", ("add", "{missing}", "--name", "me/x", *R)),
    ("add-no-path", ("add", *R)),
    ("add-fifo", ("add", "{fifo}", "--name", "me/x", "--like", "me/p", *R)),
    ("add-text-file", ("add", "{txt}", "--name", "me/x", *R)),
    ("add-garbage-safetensors", ("add", "{garbage}", "--name", "me/x", "--like", "me/p", *R)),
    ("add-export-manifest-list", ("add", "{listjson}", *R)),
    ("add-empty-folder", ("add", "{empty}", *R)),
    ("add-bare-without-name", ("add", "{bare}", *R)),
    ("add-bare-without-backbone", ("add", "{bare}", "--name", "me/x", *R)),
    ("add-name-with-space", ("add", "{bare}", "--name", "bad name", "--like", "me/p", *R)),
    ("add-name-two-slashes", ("add", "{bare}", "--name", "a/b/c", "--like", "me/p", *R)),
    ("add-name-dotdot", ("add", "{bare}", "--name", "../x", "--like", "me/p", *R)),
    ("add-name-empty", ("add", "{bare}", "--name", "", "--like", "me/p", *R)),
    ("add-name-markup", ("add", "{bare}", "--name", "[red]x[/red]", "--like", "me/p", *R)),
    ("add-name-too-long", ("add", "{bare}", "--name", "n" * 200, "--like", "me/p", *R)),
    ("add-tag-no-equals", A + ("--tag", "novalue", *R)),
    ("add-tag-empty-key", A + ("--tag", "=v", *R)),
    ("add-tag-bad-key", A + ("--tag", "bad key=1", *R)),
    ("add-tag-300-chars", A + ("--tag", f"k={LONG}", *R)),
    ("add-tag-newline", A + ("--tag", "k=a\nb", *R)),
    ("add-mode-choice", A + ("--mode", "bogus", *R)),
    ("add-like-missing", ("add", "{bare}", "--name", "me/x", "--like", "nobody", *R)),
    ("add-like-version-zero", ("add", "{bare}", "--name", "me/x", "--like", "me/p:0", *R)),
    ("add-weights-sha-not-hex", ("add", "{bare}", "--name", "me/x", "--backbone", "vit_tiny_patch16_224",
                                 "--weights-sha256", "nothex", *R)),
    ("add-registry-is-file", A + ("--registry", "{file}")),
    ("add-max-bytes-not-number", A + (*R, "ENV:PROMPTKIT_MAX_PROMPT_BYTES=lots")),
    ("add-max-bytes-zero", A + (*R, "ENV:PROMPTKIT_MAX_PROMPT_BYTES=0")),
    ("add-over-max-bytes", A + (*R, "ENV:PROMPTKIT_MAX_PROMPT_BYTES=8")),
    ("add-json-unknown-option", ("add", "{bare}", "--json", "--bogus", *R)),
    # list
    ("list-registry-is-file", ("list", "--registry", "{file}")),
    ("ls-registry-is-file", ("ls", "--registry", "{file}")),
    ("list-json-registry-is-file", ("list", "--json", "--registry", "{file}")),
    ("list-tag-no-equals", ("list", "--tag", "novalue", *R)),
    ("list-tag-empty-key", ("list", "--tag", "=x", *R)),
    ("list-flag-with-value", ("list", "--latest=3", *R)),
    ("list-extra-argument", ("list", "extra", *R)),
    ("list-registry-env-is-file", ("list", "ENV:PROMPTKIT_REGISTRY={file}")),
    # show
    ("show-superscript-version", ("show", "x/y:\u00b2", *R)),
    ("show-arabic-digit-version", ("show", "me/p:\u0663", *R)),
    ("show-missing-name", ("show", "nobody", *R)),
    ("show-version-zero", ("show", "me/p:0", *R)),
    ("show-version-negative", ("show", "me/p:-1", *R)),
    ("show-version-missing", ("show", "me/p:99", *R)),
    ("show-version-huge", ("show", "me/p:" + "9" * 40, *R)),
    ("show-digest-not-hex", ("show", "me/p@sha256:zzzzzz", *R)),
    ("show-digest-too-short", ("show", "me/p@sha256:ab", *R)),
    ("show-digest-unknown", ("show", "me/p@sha256:" + "0" * 64, *R)),
    ("show-alias-missing", ("show", "me/p@nope", *R)),
    ("show-alias-invalid", ("show", "me/p@bad alias", *R)),
    ("show-empty-ref", ("show", "", *R)),
    ("show-two-slashes", ("show", "a/b/c", *R)),
    ("show-markup-ref", ("show", "[bold]x[/]", *R)),
    ("show-no-argument", ("show", *R)),
    ("show-extra-argument", ("show", "me/p", "extra", *R)),
    ("show-registry-is-file", ("show", "me/p", "--registry", "{file}")),
    ("show-json-missing", ("show", "nobody", "--json", *R)),
    # tag
    ("tag-bad-key", ("tag", "me/p", "bad key=1", *R)),
    ("tag-no-equals", ("tag", "me/p", "novalue", *R)),
    ("tag-empty-key", ("tag", "me/p", "=v", *R)),
    ("tag-300-chars", ("tag", "me/p", f"k={LONG}", *R)),
    ("tag-newline-value", ("tag", "me/p", "k=a\nb", *R)),
    ("tag-missing-name", ("tag", "nobody", "k=v", *R)),
    ("tag-missing-version", ("tag", "me/p:9", "k=v", *R)),
    ("tag-superscript-version", ("tag", "x/y:\u00b2", "k=v", *R)),
    ("tag-remove-bad-key", ("tag", "me/p", "--remove", "bad key", *R)),
    ("tag-no-ref", ("tag", *R)),
    # alias
    ("alias-invalid-name", ("alias", "me/p", "bad alias", *R)),
    ("alias-markup-name", ("alias", "me/p", "[red]x", *R)),
    ("alias-missing-target", ("alias", "nobody", "prod", *R)),
    ("alias-missing-version", ("alias", "me/p:9", "prod", *R)),
    ("alias-delete-missing", ("alias", "me/p", "nope", "--delete", *R)),
    ("alias-delete-bad-ref", ("alias", "x/y:\u00b2", "prod", "--delete", *R)),
    ("alias-no-alias", ("alias", "me/p", *R)),
    # rm
    ("rm-missing-name", ("rm", "nobody", "--yes", *R)),
    ("rm-missing-version", ("rm", "me/p:9", "--yes", *R)),
    ("rm-without-yes-off-terminal", ("rm", "me/p", *R)),
    ("rm-superscript-version", ("rm", "x/y:\u00b2", "--yes", *R)),
    ("rm-digest-not-hex", ("rm", "me/p@sha256:zzzzzz", "--yes", *R)),
    ("rm-registry-is-file", ("rm", "me/p", "--yes", "--registry", "{file}")),
    # verify
    ("verify-registry-is-file", ("verify", "--registry", "{file}")),
    ("verify-json-registry-is-file", ("verify", "--json", "--registry", "{file}")),
    ("verify-missing-name", ("verify", "nobody", *R)),
    ("verify-version-zero", ("verify", "me/p:0", *R)),
    # export
    ("export-missing-name", ("export", "nobody", "{out}", *R)),
    ("export-missing-version", ("export", "me/p:9", "{out}", *R)),
    ("export-onto-a-file", ("export", "me/p", "{file}", *R)),
    ("export-no-folder", ("export", "me/p", *R)),
    # push (nothing reaches a Hub)
    ("push-repo-id-no-namespace", ("push", "me/p", "--repo-id", "bad", *R)),
    ("push-repo-id-two-slashes", ("push", "me/p", "--repo-id", "a/b/c", *R)),
    ("push-repo-id-space", ("push", "me/p", "--repo-id", "me/x y", *R)),
    ("push-repo-id-dotdot", ("push", "me/p", "--repo-id", "me/..x", *R)),
    ("push-revision-space", ("push", "me/p", "--repo-id", "me/x", "--revision", "a b", *R)),
    ("push-pr-on-branch", ("push", "me/p", "--repo-id", "me/x", "--create-pr", "--revision", "dev", *R)),
    ("push-offline", ("push", "me/p", "--repo-id", "me/x", *R)),
    ("push-no-repo-id", ("push", "me/p", *R)),
    # pull
    ("pull-no-namespace", ("pull", "bad", *R)),
    ("pull-empty-revision", ("pull", "me/x@", *R)),
    ("pull-revision-space", ("pull", "me/x@a b", *R)),
    ("pull-revision-tilde", ("pull", "me/x@~1", *R)),
    ("pull-path-in-repo", ("pull", "../../etc/passwd", *R)),
    ("pull-bad-local-name", ("pull", "me/x", "--name", "bad name", *R)),
    ("pull-offline-uncached", ("pull", "me/x", *R)),
    ("pull-timeout-not-number", ("pull", "me/x", *R, "ENV:PROMPTKIT_HUB_TIMEOUT=soon", "ENV:HF_HUB_OFFLINE=0")),
    ("pull-timeout-negative", ("pull", "me/x", *R, "ENV:PROMPTKIT_HUB_TIMEOUT=-1", "ENV:HF_HUB_OFFLINE=0")),
    # datasets
    ("datasets-download-unknown", ("datasets", "--download", "nosuch", "--root", "{out}")),
    ("datasets-extra-argument", ("datasets", "extra")),
    # train (refused before any backbone or data is loaded)
    ("train-no-dataset", ("train", "-b", "vit_tiny_patch16_224", "-n", "me/t", *R)),
    ("train-mode-choice", T + ("--mode", "bogus", *R)),
    ("train-epochs-not-int", ("train", "-d", "{empty}", "-b", "vit_tiny_patch16_224", "--epochs", "abc", *R)),
    ("train-epochs-negative", T + ("--epochs", "-1", *R)),
    ("train-lr-not-float", ("train", "-d", "{empty}", "-b", "vit_tiny_patch16_224", "--lr", "fast", *R)),
    ("train-lr-negative", T + ("--lr", "-1", *R)),
    ("train-length-zero", T + ("-l", "0", *R)),
    ("train-optimizer-choice", T + ("--optimizer", "bogus", *R)),
    ("train-keep-choice", T + ("--keep", "bogus", *R)),
    ("train-precision-choice", T + ("--precision", "fp8", *R)),
    ("train-device-choice", T + ("--device", "quantum", *R)),
    ("train-init-unknown", T + ("--init", "bogus", *R)),
    ("train-batch-size-zero", T + ("--batch-size", "0", *R)),
    ("train-bad-name", ("train", "-d", "{empty}", "-b", "vit_tiny_patch16_224", "-n", "bad name", *R)),
    ("train-warmup-negative", T + ("--warmup-epochs", "-1", *R)),
    ("train-registry-is-file", T + ("--registry", "{file}")),
    # eval
    ("eval-missing-ref", ("eval", "nobody", "-d", "{empty}", *R)),
    ("eval-superscript-version", ("eval", "x/y:\u00b2", "-d", "{empty}", *R)),
    ("eval-no-dataset", ("eval", "me/p", *R)),
    ("eval-batch-size-not-int", ("eval", "me/p", "-d", "{empty}", "--batch-size", "many", *R)),
    ("eval-precision-choice", ("eval", "me/p", "-d", "{empty}", "--precision", "fp8", *R)),
    ("eval-device-choice", ("eval", "me/p", "-d", "{empty}", "--device", "quantum", *R)),
    # rank
    ("rank-no-target", ("rank", *R)),
    ("rank-metric-unknown", ("rank", "-d", "{empty}", "--metric", "bogus", *R)),
    ("rank-top-not-int", ("rank", "-d", "{empty}", "--top", "abc", *R)),
    ("rank-missing-source", ("rank", "-d", "{empty}", "nobody:1", *R)),
    ("rank-superscript-source", ("rank", "-d", "{empty}", "x/y:\u00b2", *R)),
    ("rank-empty-registry", ("rank", "-d", "{empty}", "--registry", "{out}")),
    # ensemble
    ("ensemble-no-target", ("ensemble", "-n", "me/e", *R)),
    ("ensemble-method-unknown", ("ensemble", "-d", "{empty}", "-n", "me/e", "--method", "bogus", *R)),
    ("ensemble-compose-unknown", ("ensemble", "-d", "{empty}", "-n", "me/e", "--compose", "bogus", *R)),
    ("ensemble-lam-not-float", ("ensemble", "-d", "{empty}", "-n", "me/e", "--lam", "abc", *R)),
    ("ensemble-bad-name", ("ensemble", "-d", "{empty}", "-n", "bad name", *R)),
    ("ensemble-missing-source", ("ensemble", "-d", "{empty}", "-n", "me/e", "nobody:1", *R)),
    # plugins
    ("plugins-unknown-kind", ("plugins", "bogus")),
    ("plugins-unknown-option", ("plugins", "--bogus")),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("bad-input")
    reg = Registry(base / "reg", builtin=False)
    reg.add("me/p", make_tensors(seed=1), make_spec(task="dtd"))
    (base / "file").write_text("not a registry\n")
    os.mkfifo(base / "fifo.safetensors")
    save_file({"prompt": torch.randn(1, 4, 8)}, str(base / "bare.safetensors"))
    (base / "garbage.safetensors").write_bytes(os.urandom(256))
    (base / "notes.txt").write_text("hello\n")
    reg.export("me/p", base / "listjson")
    (base / "listjson" / "manifest.json").write_text("[]")
    (base / "empty").mkdir()
    return {"reg": str(reg.root), "file": str(base / "file"), "fifo": str(base / "fifo.safetensors"),
            "bare": str(base / "bare.safetensors"), "garbage": str(base / "garbage.safetensors"),
            "txt": str(base / "notes.txt"), "listjson": str(base / "listjson"), "empty": str(base / "empty"),
            "missing": str(base / "missing.safetensors"), "base": str(base)}


def _files(root: str) -> dict[str, bytes]:
    return {os.path.join(d, f): open(os.path.join(d, f), "rb").read() for d, _, files in os.walk(root) for f in files}


def _argv(case: tuple[str, ...], places: dict[str, str], out: str) -> tuple[list[str], dict[str, str]]:
    fill = {**places, "out": out}
    argv = [a.format(**fill) for a in case if not a.startswith("ENV:")]
    env = {"HF_HUB_OFFLINE": "1"}
    for a in case:
        if a.startswith("ENV:"):
            key, _, value = a[4:].partition("=")
            env[key] = value.format(**fill)
    return argv, env


def test_at_least_100_cases_covering_every_command():
    assert len(CASES) >= 100 and len({c for c, _ in CASES}) == len(CASES)
    commands = {argv[0] for _, argv in CASES}
    assert {"add", "list", "ls", "show", "tag", "alias", "rm", "verify", "export", "push", "pull", "datasets",
            "train", "eval", "rank", "ensemble", "plugins"} <= commands


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_bad_input_is_one_error_line(case, places, tmp_path):
    argv, env = _argv(case, places, str(tmp_path / "out"))
    before = _files(places["reg"])
    result = runner.invoke(app, argv, env=env)
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # nothing escaped as a traceback
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), result.stderr
    assert not lines[0].startswith("error: unexpected "), result.stderr  # a real message, not the safety net
    assert result.stdout == ""
    assert _files(places["reg"]) == before


def test_debug_shows_the_traceback(places):
    result = runner.invoke(app, ["show", "nobody", "--registry", places["reg"]], env={"PROMPTKIT_DEBUG": "1"})
    assert result.exit_code != 0 and not isinstance(result.exception, SystemExit)


def test_unexpected_errors_are_one_line_that_says_how_to_see_more(places, monkeypatch):
    from promptkit.registry import store

    def boom(self, ref):
        raise KeyError("surprise\nsecond line")

    monkeypatch.setattr(store.Registry, "resolve", boom)
    result = runner.invoke(app, ["show", "me/p", "--registry", places["reg"]])
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 2
    assert lines[0].startswith("error: unexpected KeyError") and "PROMPTKIT_DEBUG=1" in lines[1]
