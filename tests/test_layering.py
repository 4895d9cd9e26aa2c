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
