"""`rank --plot` and `show --plot` (issue 15, item 10)."""

from __future__ import annotations

import sys

import pytest
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Registry
from rank_helpers import add_sources, colour_folder, tiny_backbone
from typer.testing import CliRunner

from promptkit.errors import EXIT_USAGE

runner = CliRunner()
PNG = b"\x89PNG"


def test_rank_plot_writes_a_png(tmp_path):
    reg = Registry(tmp_path / "reg", builtin=False)
    add_sources(reg, tiny_backbone())
    folder = colour_folder(tmp_path / "colours")
    png = tmp_path / "plots" / "rank.png"
    result = runner.invoke(app, ["rank", "-d", str(folder), "--registry", str(reg.root), "--device", "cpu",
                                 "--with-accuracy", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == PNG and f"scores plotted to {png}" in result.stderr


def test_show_plot_draws_the_training_curve(tmp_path):
    folder = colour_folder(tmp_path / "colours")
    reg = tmp_path / "reg"
    trained = runner.invoke(app, ["train", "--dataset", str(folder), "--backbone", "test-tiny-vit", "--name", "t/x",
                                  "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--registry", str(reg),
                                  "--checkpoint-dir", str(tmp_path / "run"), "-q"])
    assert trained.exit_code == 0, trained.output
    png = tmp_path / "curve.png"
    result = runner.invoke(app, ["show", "t/x", "--plot", str(png), "--registry", str(reg)])
    assert result.exit_code == 0, result.output and "t/x:1" in result.stdout
    assert png.read_bytes()[:4] == PNG


def test_show_plot_without_history_or_matplotlib(registry, tmp_path, monkeypatch):
    registry.add("me/a", make_tensors(), make_spec())
    result = runner.invoke(app, ["show", "me/a", "--plot", str(tmp_path / "c.png"), "--registry", str(registry.root)])
    assert result.exit_code == EXIT_USAGE and "no per-epoch history" in result.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["show", "me/a", "--plot", str(tmp_path / "c.png"), "--registry", str(registry.root)])
    assert result.exit_code == EXIT_USAGE and "pip install promptkit[plot]" in result.stderr


@pytest.mark.parametrize("command", ["rank"])
def test_plot_without_matplotlib_fails_before_work(tmp_path, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, [command, "-d", "zoo-digits", "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == EXIT_USAGE and "pip install promptkit[plot]" in result.stderr
