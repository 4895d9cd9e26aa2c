"""Import direction and fast start: the core never imports the CLI, the registry, typer or rich;
the registry never imports the CLI; `promptkit --help` loads neither torch nor timm."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "promptkit": ("typer", "rich", "promptkit.registry", "promptkit.cli", "registry", "cli"),
    "registry": ("typer", "rich", "promptkit.cli", "cli"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_import_direction(layer):
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        if path == ROOT / "promptkit" / "__main__.py":
            continue  # `python -m promptkit` (and torchrun's -m promptkit) is the command: it runs the CLI
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_help_does_not_import_torch_or_timm():
    code = (
        "import sys\n"
        "from promptkit.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'timm', 'torchvision', 'huggingface_hub') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stderr.strip().endswith("[]"), result.stderr
    assert "Usage" in result.stdout


def test_every_subcommand_help_is_light():
    code = (
        "import sys\n"
        "from typer.main import get_command\n"
        "from promptkit.cli.app import app\n"
        "cmd = get_command(app)\n"
        "for name in cmd.list_commands(None):\n"
        "    try:\n        app([name, '--help'])\n    except SystemExit:\n        pass\n"
        "sys.stderr.write(repr([m for m in ('torch', 'timm') if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stderr.strip().endswith("[]"), result.stderr[-2000:]


# -- the whole import graph ------------------------------------------------------------------

import shutil  # noqa: E402

from layering_rules import violations  # noqa: E402


def test_the_tree_keeps_every_rule_and_has_no_import_cycle():
    bad = violations(ROOT)
    assert not bad, "\n".join(bad)


def _copy_tree(dest: Path) -> Path:
    for folder in ("promptkit", "cli", "registry"):
        for path in (ROOT / folder).rglob("*.py"):
            target = dest / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return dest


PLANTED = {
    "core imports the registry": ("promptkit/stats.py", "from promptkit.registry import store\n", "the core never"),
    "core imports rich inside a function": (
        "promptkit/features.py", "def _show():\n    import rich\n", "the core never"),
    "registry imports the CLI": (
        "registry/refs.py", "from promptkit.cli import app\n", "the registry never"),
    "data imports the zoo by a string": (
        "promptkit/data/catalog.py", "import importlib\nimportlib.import_module('promptkit.zoo.suite')\n",
        "never import the zoo"),
    "backbone imports the zoo relatively": (
        "promptkit/backbone.py", "from .zoo import backbone\n", "never import the zoo"),
    "ensemble math imports training in a function": (
        "promptkit/ensemble/weights.py", "def _late():\n    from promptkit.train import train_prompt\n",
        "ensemble math"),
    "ensemble math imports ranking": ("promptkit/ensemble/objective.py", "import promptkit.rank\n", "ensemble math"),
    "the runtime zoo imports its build tooling": (
        "promptkit/zoo/backbone.py", "def _rebuild():\n    from zoobuild import pretrain\n", "zoo's build tooling"),
    "an import cycle": ("promptkit/identity.py", "from promptkit import backbone\n", "import cycle"),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_violation_is_reported(case, tmp_path):
    rel, code, expected = PLANTED[case]
    root = _copy_tree(tmp_path)
    assert not violations(root)
    with open(root / rel, "a") as fh:
        fh.write("\n" + code)
    bad = violations(root)
    assert any(expected in line for line in bad), bad


def test_importing_the_ensemble_math_loads_no_training_data_or_ranking():
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import promptkit.ensemble"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "promptkit.ensemble" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[:2] in (
        ["promptkit", "train"], ["promptkit", "data"], ["promptkit", "rank"], ["promptkit", "runs"],
        ["promptkit", "features"], ["promptkit", "inits"], ["promptkit", "zoo"], ["promptkit", "backbone"]))
    assert not heavy, heavy
