"""Every command and Python snippet of README.md runs, and its command table agrees with `promptkit --help`.

The examples are read from the README itself, so a new example is covered without editing this
file. They run in README order against one temporary PROMPTKIT_HOME that shows the embedded
zoo, in a folder holding the files the examples name (``vpt_dtd.pth``, ``exported-folder/``,
``prompt.safetensors``, ``path/to/folder`` and the prompts ``me/a``, ``me/b``).

How a README line becomes a command:
- lines ending in ``\\`` are joined; a ``#`` after whitespace starts a comment;
- ``[--option ...]`` is included (the example with every option shown); any other bracket
  (``[REF]``, alternatives with ``|``) is left out; ``<hex>`` is a 64-hex digest;
- ``promptkit ...`` runs in-process (typer's CliRunner); pipes and ``python -c`` run in bash
  with this interpreter.

Skipped, each by a rule in ``SKIP`` naming why: ``make`` targets (the demo, the suite itself, the
2-hour zoo build), the Hugging Face Hub (``push``/``pull``; tests/test_hub_cmds.py runs them
against an emulator), the VTAB datasets that need a download (``dtd``, ...) and ``torchrun``
launches on several GPUs or machines (tests/test_distributed.py runs torchrun on the CPU). Long examples
(training, ranking or ensembling on a zoo task; the training snippet) are marked slow
(``make test-slow``) and run with short settings (``SHORT``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from promptkit.cli.app import app
from rank_helpers import colour_folder
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
runner = CliRunner()

# (pattern, why): a command matching the pattern is not run
SKIP = [
    (r"^make\b", "a make target: the demo, the test suite itself or the 2-hour zoo build"),
    (r"^promptkit (push|pull)\b", "needs the Hugging Face Hub (tests/test_hub_cmds.py runs it on an emulator)"),
    (r"--(dataset|target) (dtd|svhn|cifar100|eurosat)\b", "needs a VTAB dataset downloaded from the network"),
    (r"^torchrun\b", "several GPUs or machines (tests/test_distributed.py runs torchrun on the CPU)"),
    (r"^promptkit benchmark\b", "the paper's protocol on the VTAB-1k download, hours on a GPU "
                                 "(tests/test_benchmark.py runs it on the fixtures)"),
]
# long on 2 CPU cores: marked slow, run with short settings
SLOW = [r"^promptkit (rank|ensemble|train)\b.*--(target|dataset) zoo-", r"\btrain_prompt\("]
SHORT = [(r"^(promptkit ensemble\b.*)$", r"\1 --epochs 1 --steps 50"),
         (r"TrainConfig\(epochs=\d+", "TrainConfig(epochs=1")]
HEX = "ab" * 32


@dataclass(frozen=True)
class Example:
    line: int  # where it starts in README.md
    kind: str  # "bash" or "python"
    text: str

    @property
    def id(self) -> str:
        head = self.text.split("\n")[0] if self.kind == "bash" else "python snippet"
        return f"L{self.line}:{head[:60]}"


def _blocks() -> list[tuple[int, str, str]]:
    """``(first line, language, body)`` of every fenced block."""
    out, lines = [], README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append((i + 2, m.group(1), "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return out


def _command(raw: str) -> str:
    """A README line as it is run: comment gone, optional options included, placeholders filled."""
    text = re.sub(r"\s+#.*$", "", raw).strip()

    def bracket(m: re.Match[str]) -> str:
        inner = m.group(1)
        return f" {inner}" if inner.startswith("--") and "|" not in inner else ""

    text = re.sub(r"\s*\[([^\]]*)\]", bracket, text)
    return re.sub(r"\s+", " ", text.replace("<hex>", HEX)).strip()


def examples() -> list[Example]:
    out = []
    for first, lang, body in _blocks():
        if lang == "python":
            out.append(Example(first, "python", body))
            continue
        if lang != "bash":
            continue
        lines, pending, start = body.split("\n"), "", first
        for k, line in enumerate(lines):
            if not pending:
                start = first + k
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text = _command(pending + line)
            pending = ""
            if text:
                out.append(Example(start, "bash", text))
    return out


def _skip_reason(ex: Example) -> str | None:
    return next((why for pattern, why in SKIP if ex.kind == "bash" and re.search(pattern, ex.text)), None)


def _params() -> list:
    params = []
    for ex in examples():
        why = _skip_reason(ex)
        marks = [pytest.mark.skip(reason=why)] if why else []
        if any(re.search(p, ex.text, re.M) for p in SLOW):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(ex, id=ex.id, marks=marks))
    return params


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """The folder the examples run in, with the files they name, and its PROMPTKIT_HOME."""
    from promptkit.registry import AssetSpec, Registry

    from promptkit.backbone import load_backbone

    cwd = tmp_path_factory.mktemp("readme")
    home = cwd / ".home"
    bb = load_backbone("zoo-vit")
    geometry = bb.geometry("deep", 8)
    g = torch.Generator().manual_seed(0)
    torch.save({"prompt_embeddings": torch.randn(1, 10, 768, generator=g)}, cwd / "vpt_dtd.pth")
    scratch = Registry(cwd / ".scratch", builtin=False)
    spec = AssetSpec(backbone=bb.identity, geometry=geometry, task="exported")
    scratch.add("me/exported", {"prompt": 0.02 * torch.randn(geometry.shape, generator=g)}, spec)
    scratch.export("me/exported", cwd / "exported-folder")
    (cwd / "prompt.safetensors").write_bytes((cwd / "exported-folder" / "prompt.safetensors").read_bytes())
    colour_folder(cwd / "path" / "to" / "folder")
    reg = Registry(home / "registry", builtin=False)
    for name in ("me/a", "me/b"):
        reg.add(name, {"prompt": 0.02 * torch.randn(geometry.shape, generator=g)},
                spec.model_copy(update={"task": name[3:]}))
    return cwd, home


def _short(ex: Example) -> str:
    text = ex.text
    for pattern, repl in SHORT:
        text = re.sub(pattern, repl, text, flags=re.M)
    return text


@pytest.mark.parametrize("ex", _params())
def test_readme_example_runs(ex: Example, place, monkeypatch):
    cwd, home = place
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PROMPTKIT_HOME", str(home))
    monkeypatch.delenv("PROMPTKIT_NO_BUILTIN", raising=False)
    text = _short(ex)
    if ex.kind == "python":
        exec(compile(text, f"README.md:{ex.line}", "exec"), {"__name__": "readme"})
        return
    if "|" in text or text.startswith("python"):
        bin_dir = str(Path(sys.executable).parent)
        script = re.sub(r"^python\b", shlex.quote(sys.executable), text)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode == 0, f"README.md:{ex.line}: {text}\n{proc.stdout}\n{proc.stderr}"
        return
    args = shlex.split(text)
    assert args[0] == "promptkit", f"README.md:{ex.line}: a command must start with promptkit, python or make"
    result = runner.invoke(app, args[1:])
    assert result.exit_code == 0, f"README.md:{ex.line}: {text}\n{result.output}"


def test_the_readme_has_examples_to_run():
    found = examples()
    assert sum(ex.kind == "python" for ex in found) >= 2 and sum(ex.kind == "bash" for ex in found) >= 25
    assert not [ex for ex in found if ex.kind == "bash" and "[" in ex.text and "@" not in ex.text]


def _table_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M)


def test_the_command_table_agrees_with_help():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    listed = re.findall(r"^  ([a-z-]+)\s", result.stdout.split("Commands:", 1)[1], flags=re.M)
    assert listed and _table_commands() == listed  # the same commands, in the same order
