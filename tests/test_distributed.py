"""Two processes on the CPU (gloo) compute what one process computes, and fail together (issue 17).

Started the way users start them: ``torchrun --nproc_per_node 2`` (a script, and ``-m promptkit``),
and by hand with torchrun's environment variables where the test must see each process's exit
status. One thread per process (``OMP_NUM_THREADS=1``). Tolerances: features and scores are equal
bit for bit (each process computes the single process's own batches); the tuned prompt and head
within 1e-5 (the same global batches, gradients summed over two processes in another order).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rank_helpers import colour_folder

from promptkit.distributed import block_of
from promptkit.train.sampler import GlobalBatchShards, share_weight, slice_bounds

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TORCHRUN = str(BIN / "torchrun")
TOL = 1e-5


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "PROMPTKIT_DEBUG", "PROMPTKIT_NO_BUILTIN", "PROMPTKIT_REGISTRY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "OMP_NUM_THREADS": "1", "PROMPTKIT_HOME": str(home), "PYTHONPATH": str(ROOT),
            "COLUMNS": "200", **extra}


def _torchrun(*args: str, nproc: int = 2) -> list[str]:
    return [TORCHRUN, "--standalone", "--nproc_per_node", str(nproc), *args]  # standalone: a free port of its own


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    """A tiny image folder: 3 classes, 48 train, 12 val, 18 test images of 32x32."""
    return colour_folder(tmp_path_factory.mktemp("dist") / "colours", classes=3, train=20, test=6)


class TestShares:
    """The arithmetic that keeps the global batch: pure functions, no process group."""

    @pytest.mark.parametrize("n,batch,world", [(48, 10, 2), (48, 47, 2), (7, 3, 4), (5, 10, 3), (100, 128, 2)])
    def test_blocks_cover_the_batches_in_order(self, n, batch, world):
        blocks = [block_of(n, batch, r, world) for r in range(world)]
        assert [i for b in blocks for i in b] == list(range(n))
        assert all(b.start % batch == 0 for b in blocks if len(b))  # a block starts on a batch boundary

    @pytest.mark.parametrize("n,batch,world", [(48, 47, 2), (48, 20, 2), (10, 4, 3), (3, 5, 4)])
    def test_slices_of_each_global_batch_are_the_single_process_batch(self, n, batch, world):
        ranks = [list(GlobalBatchShards(n, batch, 7, rank=r, world_size=world)) for r in range(world)]
        single = list(GlobalBatchShards(n, batch, 7, rank=0, world_size=1))
        assert single == list(GlobalBatchShards(n, batch, 7, rank=0, world_size=1).global_batches())
        for b, whole in enumerate(single):
            parts = [ranks[r][b] for r in range(world)]
            assert sum(parts, []) == whole
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
            weights = [share_weight(len(p), len(whole), world) for p in parts]
            assert abs(sum(weights) / world - 1) < 1e-12  # DDP's average of the weighted means is the mean

    def test_a_batch_that_does_not_divide_gives_the_first_ranks_one_more(self):
        assert [slice_bounds(5, r, 2) for r in range(2)] == [(0, 3), (3, 5)]
        assert [slice_bounds(1, r, 2) for r in range(2)] == [(0, 1), (1, 1)]


def test_two_processes_compute_what_one_does(colours, tmp_path):
    """Features in order, rank scores (cache miss, then hit), HGPrompt weights, a 2-epoch tuning run and resume."""
    worker = str(ROOT / "tests" / "distributed_worker.py")
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"p{n}" / "out.pt"
        out.parent.mkdir()
        cmd = _torchrun(worker, str(colours), str(out), str(out.parent / "cache"), nproc=2) if n == 2 else \
            [sys.executable, worker, str(colours), str(out), str(out.parent / "cache")]
        runs[n] = (out, subprocess.Popen(cmd, env=_env(tmp_path / "home"), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
    for n, (out, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{n} process(es):\n{stderr[-3000:]}"
    one, two = (torch.load(runs[n][0]) for n in (1, 2))
    assert (one["world"], two["world"]) == (1, 2)
    assert one["features"].shape == (48, 128)
    assert torch.equal(one["features"], two["features"]) and torch.equal(one["labels"], two["labels"])
    assert one["scores"] == two["scores"]  # both passes: computed, then read from rank 0's cache
    assert torch.equal(one["alpha"], two["alpha"])
    assert torch.allclose(one["prompt"], two["prompt"], atol=TOL, rtol=0)
    assert not torch.equal(one["prompt"], torch.zeros_like(one["prompt"]))
    assert torch.allclose(one["head"], two["head"], atol=TOL, rtol=0)
    assert [h["train_acc"] for h in one["history"]] == [h["train_acc"] for h in two["history"]]
    assert abs(one["history"][-1]["train_loss"] - two["history"][-1]["train_loss"]) < TOL
    assert {k: v for k, v in one["metrics"].items() if "acc" in k} == \
        {k: v for k, v in two["metrics"].items() if "acc" in k}
    assert sorted(p.name for p in (runs[2][0].parent / "run").iterdir()) == ["checkpoint.safetensors"]
    # an unreadable checkpoint, read by rank 0 alone, stops both processes with its error and exit code
    errors = [json.loads((runs[2][0].parent / f"error-rank{r}.json").read_text()) for r in (0, 1)]
    assert errors[0] == errors[1] and errors[0]["exit_code"] == 4 and "cannot read" in errors[0]["message"]
    # stopped after epoch 1 and resumed from rank 0's checkpoint: the uninterrupted run's prompt
    assert torch.equal(one["resumed"], one["prompt"]) and torch.equal(two["resumed"], two["prompt"])


def _train_args(colours: Path, registry: Path, name: str, *extra: str) -> list[str]:
    return ["train", "--dataset", str(colours), "--backbone", "zoo-vit", "--name", name, "--length", "4",
            "--batch-size", "16", "--lr", "0.05", "--device", "cpu", "--registry", str(registry), *extra]


def _promptkit(args: list[str], env: dict[str, str], nproc: int) -> subprocess.Popen:
    cmd = _torchrun("-m", "promptkit", *args, nproc=nproc) if nproc > 1 else [sys.executable, "-m", "promptkit", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def _verified(registry: Path, env: dict[str, str]) -> None:
    verify = subprocess.run([sys.executable, "-m", "promptkit", "verify", "--registry", str(registry)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_torchrun_train_stores_exactly_one_version(colours, tmp_path):
    """``torchrun -m promptkit train``: rank 0 alone prints, one version, one checkpoint, verified."""
    from promptkit.registry import Registry

    env, registry = _env(tmp_path / "home"), tmp_path / "reg"
    run_dir = tmp_path / "run"
    proc = _promptkit(_train_args(colours, registry, "me/c", "--epochs", "2", "--checkpoint-dir", str(run_dir)),
                      env, nproc=2)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("stored me/c:1") == 1  # the table, once: the other process printed nothing
    assert err.count("epoch 2/2") == 1 and "error:" not in err  # progress and epoch lines from rank 0 only
    assert [e.manifest.ref for e in Registry(registry, builtin=False).list()] == ["me/c:1"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.safetensors"]
    _verified(registry, env)


@pytest.mark.slow
def test_the_commands_under_torchrun_give_one_process_results(colours, tmp_path):
    """train, rank and ensemble from the command line: equal results for 1 and 2 processes, one version each."""
    from promptkit.registry import Registry

    env = _env(tmp_path / "home")
    sources = ["zoo/textures", "zoo/objects"]
    outs = {}
    for n in (1, 2):
        reg = tmp_path / f"reg{n}"
        train = _finished(_promptkit(_train_args(colours, reg, "me/c", "--epochs", "2", "--json"), env, n))
        rank = _finished(_promptkit(["rank", "--dataset", str(colours), *sources, "--json", "--device", "cpu",
                                     "--no-cache"], env, n))
        ens = _finished(_promptkit(["ensemble", "--dataset", str(colours), *sources, "--name", "me/e", "--epochs",
                                    "1", "--steps", "50", "--json", "--device", "cpu", "--no-cache",
                                    "--registry", str(reg)], env, n))
        outs[n] = json.loads(train), json.loads(rank), json.loads(ens), Registry(reg, builtin=False)
        assert sorted(e.manifest.ref for e in outs[n][3].list()) == ["me/c:1", "me/e:1"]
        _verified(reg, env)
    (t1, r1, e1, reg1), (t2, r2, e2, reg2) = outs[1], outs[2]
    assert [(s["ref"], s["scores"]) for s in r1["sources"]] == [(s["ref"], s["scores"]) for s in r2["sources"]]
    assert e1["results"][0]["alpha"] == e2["results"][0]["alpha"]
    assert e1["results"][0]["weights"] == e2["results"][0]["weights"]
    for name in ("me/c", "me/e"):  # every stored tensor: prompt(s), head, ensemble weights and statistics
        a1, a2 = reg1.load(name).tensors, reg2.load(name).tensors
        assert a1.keys() == a2.keys() and all(torch.allclose(a1[k], a2[k], atol=TOL, rtol=0) for k in a1)
    assert {k: v for k, v in t1["metrics"].items() if k.endswith("_acc")} == \
        {k: v for k, v in t2["metrics"].items() if k.endswith("_acc")}


def test_a_killed_rank_ends_every_rank_non_zero_and_nothing_is_stored(colours, tmp_path):
    """Rank 1 is killed during tuning: rank 0 exits non-zero with one error line; the registry verifies clean."""
    registry, port = tmp_path / "reg", str(_port())
    args = [sys.executable, "-m", "promptkit", *_train_args(colours, registry, "me/killed", "--epochs", "400")]
    procs = [subprocess.Popen(args, env=_env(tmp_path / "home", RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                             MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        lines = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # rank 0 reports each epoch on stderr
            line = procs[0].stderr.readline()
            lines.append(line)
            if line.startswith("epoch 2/400") or not line:
                break
        assert any(ln.startswith("epoch 2/400") for ln in lines), "".join(lines)
        procs[1].send_signal(signal.SIGKILL)
        rest = procs[0].communicate(timeout=120)[1]
        procs[1].communicate(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[1].returncode == -signal.SIGKILL
    assert procs[0].returncode != 0
    errors = [ln for ln in rest.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "another process of this 2-process run stopped" in errors[0], rest
    assert "nothing was stored" in errors[0]
    env = _env(tmp_path / "home")
    listed = subprocess.run([sys.executable, "-m", "promptkit", "list", "--json", "--registry", str(registry)],
                            env={**env, "PROMPTKIT_NO_BUILTIN": "1"}, capture_output=True, text=True, timeout=120)
    assert listed.returncode in (0, 3) and "me/killed" not in listed.stdout
    if registry.exists():
        verify = subprocess.run([sys.executable, "-m", "promptkit", "verify", "--registry", str(registry)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def _child_with_rank(parent: int, rank: int) -> int | None:
    """The pid of ``parent``'s child process whose environment says ``RANK=rank`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_under_torchrun_a_killed_rank_fails_the_launch(colours, tmp_path):
    registry = tmp_path / "reg"
    launch = subprocess.Popen(_torchrun("-m", "promptkit", *_train_args(colours, registry, "me/k", "--epochs", "400")),
                              env=_env(tmp_path / "home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("epoch 2/400"):
            line = launch.stderr.readline()
            assert line, "the run ended before its second epoch"
        pid = _child_with_rank(launch.pid, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        rest = launch.communicate(timeout=120)[1]
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode != 0
    assert "nothing was stored" in rest or "Signal 9" in rest or "SIGKILL" in rest, rest[-3000:]
    assert not (registry / "assets" / "me" / "k").exists()
    if registry.exists():
        _verified(registry, _env(tmp_path / "home"))


@pytest.mark.slow
def test_an_error_on_every_rank_is_reported_once(colours, tmp_path):
    proc = subprocess.run(_torchrun("-m", "promptkit", "train", "--dataset", str(tmp_path / "nowhere"),
                                    "--backbone", "zoo-vit", "--name", "me/x", "--device", "cpu"),
                          env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
