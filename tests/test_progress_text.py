"""Progress that says what is happening off a terminal (issue 15, item 6).

`rank` names the source (k of n) and the split; `train` prints epoch, loss and accuracies on a
log too; from Python, ``text_progress(print)`` reports the same lines.
"""

from __future__ import annotations

from promptkit.cli.app import app
from promptkit.registry import Registry
from rank_helpers import add_sources, colour_folder, source_world, tiny_backbone
from typer.testing import CliRunner

from promptkit.progress import text_progress

runner = CliRunner()


def test_text_progress_writes_through_the_given_function():
    lines: list[str] = []
    report = text_progress(lines.append)
    report("a", 0, 2)
    report("a", 2, 2)
    assert lines == ["a: 2/2 (0.0 s)"]


def test_rank_sources_in_python_reports_source_k_of_n_and_split(tmp_path):
    from promptkit.rank import rank_sources

    bb, splits, sources = source_world(tmp_path)
    lines: list[str] = []
    rank_sources(bb, sources, splits, progress=text_progress(lines.append), device="cpu")
    phases = [line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines]
    assert "source 1/3 s0:1: features:train" in phases and "source 3/3 s2:1: features:val" in phases


def test_rank_off_a_terminal_names_the_source_and_the_split(tmp_path):
    reg = Registry(tmp_path / "reg", builtin=False)
    add_sources(reg, tiny_backbone())
    folder = colour_folder(tmp_path / "colours")
    result = runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(reg.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "source 2/3 src/s1:1: features:train: 29/29" in result.stderr  # 29 train and 7 val images
    assert "source 2/3 src/s1:1: features:val: 7/7" in result.stderr


def test_train_off_a_terminal_prints_each_epoch(tmp_path):
    folder = colour_folder(tmp_path / "colours")
    result = runner.invoke(app, ["train", "--dataset", str(folder), "--backbone", "test-tiny-vit", "--name", "t/x",
                                 "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--registry",
                                 str(tmp_path / "reg"), "--checkpoint-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and epochs[1].startswith("epoch 2/2  loss ") and " val " in epochs[1]
