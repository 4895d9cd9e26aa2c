"""Tables at 80 columns (issue 15, item 3): `list` and `rank` fit the width and never cut a reference.

Off a terminal the width is COLUMNS when set, else 200 (logs read better unwrapped).
"""

from __future__ import annotations

import pytest
import torch
from promptkit.cli.app import app
from promptkit.registry import AssetSpec, Registry
from rank_helpers import colour_folder, tiny_backbone
from typer.testing import CliRunner

from promptkit.identity import PromptGeometry

runner = CliRunner()
LONG = ("a-long-organisation/a-source-with-a-long-name", "another-long-org/textures-deep-tuned-v2",
        "me/s")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("width")
    reg = Registry(root / "reg", builtin=False)
    bb = tiny_backbone()
    geometry = PromptGeometry(mode="shallow", length=2, width=bb.embed_dim, layers=1)
    g = torch.Generator().manual_seed(0)
    for i, name in enumerate(LONG):
        spec = AssetSpec(backbone=bb.identity, geometry=geometry, task=f"a-long-task-name-{i}",
                         metrics={"test_acc": 0.5, "val_acc": 0.5})
        reg.add(name, {"prompt": torch.randn(1, 2, bb.embed_dim, generator=g)}, spec)
    return reg, colour_folder(root / "colours")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("columns", ["80", "60"])
def test_list_at_narrow_widths_keeps_every_reference_whole(world, columns):
    reg, _ = world
    result = runner.invoke(app, ["list", "--registry", str(reg.root)], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    table = _lines(result.stdout)[1:]  # the title line holds the registry path
    widest = max(len(f"{name}:1") for name in LONG) + 4  # a reference wider than the width widens the table
    assert all(len(line) <= max(int(columns), widest) for line in table), result.stdout
    for name in LONG:
        assert sum(f"{name}:1" in line for line in table) == 1, result.stdout  # whole, on one line
    assert "…" not in result.stdout
    assert "left out to fit" in result.stderr and "--json has every field" in result.stderr


def test_list_of_the_builtins_at_80_columns_one_line_per_version(monkeypatch, tmp_path):
    monkeypatch.delenv("PROMPTKIT_NO_BUILTIN")
    result = runner.invoke(app, ["list", "--latest"], env={"COLUMNS": "80"})
    rows = [line for line in _lines(result.stdout) if line.startswith("│")]
    assert len(rows) == 12 and all(len(line) <= 80 for line in rows)
    assert any("zoo/digits:2 (built-in)" in line and "test=" in line for line in rows)


def test_piped_without_columns_is_200_wide_with_every_column(world):
    reg, _ = world
    result = runner.invoke(app, ["list", "--registry", str(reg.root)])
    header = next(line for line in result.stdout.splitlines() if " ref " in line)
    for col in ("aliases", "kind", "task", "backbone", "geometry", "metrics", "sha256", "created"):
        assert col in header
    assert result.stderr == ""


def test_rank_at_80_columns_keeps_every_reference_whole(world):
    reg, folder = world
    result = runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(reg.root), "--device", "cpu"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = [line for line in _lines(result.stdout) if line.startswith("│")]
    assert len(rows) == 3 and all(len(line) <= 80 for line in rows), result.stdout
    for name in LONG:
        assert sum(f"{name}:1" in line for line in rows) == 1, result.stdout
    assert "…" not in result.stdout and "shrinkage-hscore" in result.stdout
