"""`promptkit benchmark`: the paper's protocol end to end on the fixtures, resuming, and the table it writes.

The end-to-end runs use the embedded zoo's backbone (zoo-vit) on the committed VTAB-1k fixtures
(tests/fixtures/vtab-1k: cifar, eurosat, clevr_count -- one task per group -- and dtd), with short
settings. The default test takes 8 to 16 s on one core; the slow one (every default method, two
seeds, a SIGKILL mid-run and the resume) 100 to 135 s (README, "Reproducing the paper's VTAB-1k table").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from promptkit.cli.app import app
from typer.testing import CliRunner

from promptkit.benchmark import SUITES, build_table, get_suite, table_markdown
from promptkit.errors import UsageError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
runner = CliRunner()
SHORT = ["--backbone", "zoo-vit", "--root", str(FIXTURES), "--device", "cpu", "--epochs", "1", "--source-epochs", "1",
         "--length", "2", "--batch-size", "16", "--probe-l2", "0.001", "--steps", "20"]


class TestSuites:
    def test_vtab_1k_in_the_papers_column_order(self):
        suite = get_suite("vtab-1k")
        assert [t.column for t in suite.tasks] == [
            "CIFAR-100", "Caltech101", "DTD", "Flowers102", "Pets", "SVHN", "Sun397",
            "Camelyon", "EuroSAT", "Resisc45", "Retinopathy",
            "Clevr-Count", "Clevr-Dist", "DMLab", "KITTI-Dist", "dSpr-Loc", "dSpr-Ori", "sNORB-Azim", "sNORB-Elev"]
        assert suite.groups == ("natural", "specialized", "structured")
        assert suite.task("cifar").dataset == suite.task("vtab-1k/cifar100").dataset == "vtab-1k/cifar100"

    def test_fgvc_and_unknown_names(self):
        assert [t.column for t in SUITES["fgvc"].tasks] == [
            "CUB-200-2011", "NABirds", "Oxford Flowers", "Stanford Dogs", "Stanford Cars"]
        with pytest.raises(UsageError, match="unknown benchmark suite 'vtab'"):
            get_suite("vtab")
        with pytest.raises(UsageError, match="'imagenet' is not a task of vtab-1k"):
            get_suite("vtab-1k").task("imagenet")


class TestTable:
    def _records(self):
        acc = {"vtab-1k/dtd": (0.5, 0.7), "vtab-1k/cifar100": (0.8, 0.9), "vtab-1k/kitti": (0.4, 0.4)}
        return [{"target": t, "seed": s, "methods": {"a": {"test_acc": acc[t][s]}, "b": {"test_acc": 0.1}}}
                for t in acc for s in (0, 1)]

    def test_cells_group_means_and_average(self):
        table = build_table(get_suite("vtab-1k"), self._records(), ["a", "b"])
        row = table["rows"]["a"]
        assert row["cells"]["vtab-1k/dtd"]["mean"] == pytest.approx(60.0)
        assert row["cells"]["vtab-1k/dtd"]["seeds"] == 2
        assert row["groups"]["natural"] == pytest.approx(72.5)  # (85 + 60) / 2
        assert row["groups"]["specialized"] is None and row["groups"]["structured"] == pytest.approx(40.0)
        assert row["average"] == pytest.approx((85 + 60 + 40) / 3)  # over tasks, as NOAH and SSF average
        assert row["mean_of_groups"] == pytest.approx((72.5 + 40) / 2)

    def test_markdown_keeps_the_papers_order_and_leaves_out_empty_columns(self):
        text = table_markdown(build_table(get_suite("vtab-1k"), self._records(), ["a", "b"]))
        header, _, first, second = text.splitlines()[:4]
        assert header == ("| method | CIFAR-100 | DTD | KITTI-Dist | Natural mean | Specialized mean "
                          "| Structured mean | Average |")
        assert first == "| a | 85.0 | 60.0 | 40.0 | 72.5 | - | 40.0 | 61.7 |"
        assert second.startswith("| b | 10.0 | 10.0 | 10.0 |")


def test_the_fgvc_table_has_one_group_and_the_average():
    records = [{"target": "fgvc/stanford_dogs", "seed": 0, "methods": {"m": {"test_acc": 0.8}}},
               {"target": "fgvc/cub", "seed": 0, "methods": {"m": {"test_acc": 0.6}}}]
    lines = table_markdown(build_table(get_suite("fgvc"), records, ["m"])).splitlines()
    assert lines[0] == "| method | CUB-200-2011 | Stanford Dogs | Average |"
    assert lines[2] == "| m | 60.0 | 80.0 | 70.0 |"


def _run(out: Path, *extra: str):
    return runner.invoke(app, ["benchmark", "vtab-1k", "--tasks", "cifar,eurosat,clevr_count", "--seeds", "0",
                               "--methods", "best-single", "--out", str(out), *SHORT, *extra])


def _registry_with_eurosat(root: Path) -> Path:
    """A registry holding one prompt tuned (here: made up) on vtab-1k/eurosat for zoo-vit, deep, 2 tokens."""
    import torch
    from promptkit.registry import AssetSpec, Registry

    from promptkit.backbone import load_backbone

    bb = load_backbone("zoo-vit")
    prompt = 0.02 * torch.randn(bb.depth, 2, bb.embed_dim, generator=torch.Generator().manual_seed(0))
    Registry(root, builtin=False).add("me/eurosat-src", {"prompt": prompt},
                                      AssetSpec(backbone=bb.identity, geometry=bb.geometry("deep", 2),
                                                task="vtab-1k/eurosat"))
    return root


def test_end_to_end_on_the_fixtures_and_resume(tmp_path):
    out = tmp_path / "run"
    stored = ["--sources", "registry", "--registry", str(_registry_with_eurosat(tmp_path / "reg"))]
    first = _run(out, *stored)
    assert first.exit_code == 0, first.output
    assert ("| method | CIFAR-100 | EuroSAT | Clevr-Count | Natural mean | Specialized mean | Structured mean "
            "| Average |") in first.stdout
    for task in ("cifar100", "eurosat", "clevr_count"):
        assert f"{task} seed 0" in first.stderr  # progress per task, on stderr
        record = json.loads((out / "runs" / f"{task}-s0.json").read_text())
        assert record["protocol"] == "paper" and len(record["sources"]) == 2  # the other two tasks' prompts
        assert ("me/eurosat-src:1" in record["sources"]) == (task != "eurosat")  # eurosat's from the registry
        assert all(m["final_epochs"] >= 1 for m in record["methods"].values())
        assert (out / "sources" / f"{task}.safetensors").is_file() == (task != "eurosat")  # the others tuned
    table = json.loads((out / "table.json").read_text())
    assert set(table["rows"]) == {"best-single"}
    row = table["rows"]["best-single"]
    assert set(row["cells"]) == {"vtab-1k/cifar100", "vtab-1k/eurosat", "vtab-1k/clevr_count"}
    assert all(0 <= v <= 100 for v in row["groups"].values()) and row["average"] is not None
    assert (out / "table.md").read_text().strip() in first.stdout
    assert "3 (task, seed) runs computed, 0 resumed" in first.stderr and "2 source prompts tuned" in first.stderr

    (out / "runs" / "eurosat-s0.json").unlink()  # as if killed while eurosat ran
    again = _run(out, "--json", *stored)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["ran"] == ["eurosat seed 0"] and report["resumed"] == ["cifar100 seed 0", "clevr_count seed 0"]
    assert report["tuned_sources"] == []  # the saved source prompts are reused
    assert report["table"]["rows"]["best-single"]["cells"].keys() == table["rows"]["best-single"]["cells"].keys()

    longer = _run(out, "--length", "3", *stored)  # the stored eurosat prompt has 2 tokens per layer
    assert longer.exit_code == 1
    assert "prompt geometry of me/eurosat-src:1 (the source for vtab-1k/eurosat) mismatch" in longer.output
    assert "deep x 3" in longer.output and "--length 2" in longer.output

    other = _run(out, "--epochs", "2", *stored)
    assert other.exit_code == 2
    assert "holds a benchmark run with other options (tune differ)" in other.output


def test_bad_options_fail_before_any_work(tmp_path):
    one = runner.invoke(app, ["benchmark", "--tasks", "dtd", "--out", str(tmp_path / "o"), *SHORT])
    assert one.exit_code == 2 and "the leave-one-out protocol needs at least 2" in one.output
    missing = runner.invoke(app, ["benchmark", "--tasks", "dtd,kitti", "--out", str(tmp_path / "o"), *SHORT])
    assert missing.exit_code == 3 and "vtab-1k/kitti/train800.txt does not exist" in missing.output
    precision = runner.invoke(app, ["benchmark", "--tasks", "dtd,eurosat", "--out", str(tmp_path / "o"), *SHORT,
                                    "--precision", "fp16"])
    assert precision.exit_code == 2 and "precision='fp16'" in precision.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_killed_and_resumed_with_every_default_method(tmp_path):
    """The default rows (HGPrompt and the baselines), two seeds; SIGKILL after the first (task, seed), then resume."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "promptkit.cli", "benchmark", "--tasks", "cifar,dtd,eurosat,clevr_count",
           "--seeds", "0,1", "--out", str(out), *SHORT]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 600
    while not list((out / "runs").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name for p in (out / "runs").glob("*.json")}
    assert 1 <= len(done) < 8
    finished = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=1200)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert len(report["resumed"]) == len(done) and len(report["ran"]) == 8 - len(done)
    rows = report["table"]["rows"]
    assert set(rows) == {"random", "spt", "uniform", "best-single", "spot", "hgprompt+stack"}
    assert all(cell["seeds"] == 2 for row in rows.values() for cell in row["cells"].values())
