"""Attack the registry: concurrent writers, killed writers, tampering, removal, limits, bad input, a hostile Hub.

Each attack is a number of cases; a case is *handled* when the registry keeps its promises:
no version is lost, half-visible or reused, every tampered byte or record field is reported by
``verify`` and refused by ``load``, bad input ends in a one-line error with a non-zero exit
and no traceback, and what should stay untouched is byte-identical afterwards. The local
attacks run here, on a temporary registry; the bad CLI inputs and the hostile Hub server run
as their tests (``tests/test_cli_bad_input.py`` and the Hub tests marked ``hostile`` in their
names), whose pass counts are reported.

    python benchmarks/attack_registry.py [--quick] [--json]

Prints a Markdown table (or JSON) on stdout and exits 1 when any case is not handled.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from promptkit.registry import AssetSpec, Registry

from promptkit.errors import PromptkitError
from promptkit.identity import BackboneIdentity, PromptGeometry

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Attack:
    """One row of the table: an attack, its cases, and the cases that did not hold."""

    category: str
    attack: str
    tried: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.tried - len(self.failed)

    def case(self, label: str, ok: bool) -> None:
        self.tried += 1
        if not ok:
            self.failed.append(label)


def _spec(seed: int = 0) -> AssetSpec:
    return AssetSpec(
        backbone=BackboneIdentity(timm_name="vit_tiny_patch16_224", weights_sha256="ab" * 32),
        geometry=PromptGeometry(mode="shallow", length=4, width=8, layers=1),
        metrics={"test_acc": 0.5}, seed=seed, description="attack target",
    )


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    return {"prompt": torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(seed))}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"} if root.exists() else {}


def _raises(fn: Callable[[], object]) -> bool:
    try:
        fn()
    except PromptkitError:
        return True
    return False


def _writer(root: str, name: str, n: int, seed: int) -> None:
    reg = Registry(root, builtin=False)
    for i in range(n):
        reg.add(name, _tensors(seed * 100_000 + i), _spec(seed))


def _importer(root: str, path: str) -> None:
    Registry(root, builtin=False).import_file(Path(path), name="me/pulled", dedupe=True)


# -- concurrency and kills ---------------------------------------------------------------------


def concurrent_adds(tmp: Path, quick: bool) -> Attack:
    att = Attack("concurrency", "8 processes add to one name at once")
    root, per = str(tmp / "adds"), 5 if quick else 25
    procs = [mp.get_context("fork").Process(target=_writer, args=(root, "me/shared", per, s)) for s in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    reg = Registry(root, builtin=False)
    versions = sorted(e.manifest.version for e in reg.list(name="me/shared"))
    for v in range(1, 8 * per + 1):
        att.case(f"version {v}", v in versions and not _raises(lambda v=v: reg.load(f"me/shared:{v}")))
    att.case("no extra versions", len(versions) == 8 * per)
    att.case("verify clean", reg.verify().ok)
    return att


def concurrent_dedupe(tmp: Path, quick: bool) -> Attack:
    att = Attack("concurrency", "8 processes import the same file with de-duplication (as pull does)")
    src = Registry(tmp / "dedupe-src", builtin=False)
    m = src.add("me/src", _tensors(7), _spec())
    root = str(tmp / "dedupe")
    procs = [mp.get_context("fork").Process(target=_importer, args=(root, str(src.path_of(m.ref))))
             for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    reg = Registry(root, builtin=False)
    for i, p in enumerate(procs):
        att.case(f"importer {i} exit 0", p.exitcode == 0)
    att.case("exactly one version", len(reg.list(name="me/pulled")) == 1)
    return att


def killed_writers(tmp: Path, quick: bool) -> Attack:
    att = Attack("kills", "writers SIGKILLed at random moments")
    root, rng = str(tmp / "kills"), random.Random(0)
    for batch in range(2 if quick else 10):
        procs = [mp.get_context("fork").Process(target=_writer, args=(root, f"me/n{k % 2}", 10_000, batch * 8 + k))
                 for k in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            time.sleep(rng.uniform(0.0, 0.1))
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.join()
        reg = Registry(root, builtin=False)
        clean = reg.verify().ok
        loads = all(not _raises(lambda e=e: reg.load(e.manifest.ref)) for e in reg.list())
        for k in range(8):
            att.case(f"batch {batch} writer {k}", clean and loads)
    reg = Registry(root, builtin=False)
    before = max((e.manifest.version for e in reg.list(name="me/n0")), default=0)
    att.case("a later add takes the next number", reg.add("me/n0", _tensors(1), _spec()).version == before + 1)
    att.case("no staging or temp files left", not list((Path(root) / ".staging").glob("*"))
             and not list(Path(root).rglob("*.tmp")))
    return att


# -- tampering ---------------------------------------------------------------------------------


def _fresh(tmp: Path, label: str) -> tuple[Registry, str]:
    reg = Registry(tmp / f"t-{label}", builtin=False)
    reg.add("me/victim", _tensors(1), _spec())
    m = reg.add("me/victim", _tensors(2), _spec())
    reg.set_alias(m.ref, "prod")
    return reg, m.ref


def _caught(reg: Registry, ref: str) -> bool:
    """verify reports a problem and loading the reference is refused (or it is reported as gone)."""
    return not reg.verify().ok and _raises(lambda: reg.load(ref))


def byte_flips(tmp: Path, quick: bool) -> Attack:
    att = Attack("tampering", "one byte flipped in a stored prompt file (every region of the file)")
    reg, ref = _fresh(tmp, "flips")
    path = reg.path_of(ref)
    data = path.read_bytes()
    rng = random.Random(0)
    for pos in sorted(rng.sample(range(len(data)), min(len(data), 40 if quick else 200))):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(flipped))
        att.case(f"byte {pos}", _caught(reg, ref))
    path.write_bytes(data)
    att.case("restored file verifies", reg.verify().ok)
    return att


_RECORD_EDITS: dict[str, Callable[[dict], None]] = {
    "metrics": lambda m: m.setdefault("metrics", {}).update(test_acc=0.99),
    "version": lambda m: m.update(version=7),
    "name": lambda m: m.update(name="me/other"),
    "task": lambda m: m.update(task="forged"),
    "lineage": lambda m: m.update(lineage={"method": "forged", "sources": []}),
    "tags": lambda m: m.setdefault("tags", {}).update(stage="prod"),
    "created_at": lambda m: m.update(created_at="2001-01-01T00:00:00Z"),
    "description": lambda m: m.update(description="forged"),
    "seed": lambda m: m.update(seed=12345),
    "init": lambda m: m.update(init="forged"),
    "training": lambda m: m.update(training={"epochs": 999}),
    "sha256": lambda m: m.update(sha256="cd" * 32),
}


def record_edits(tmp: Path, quick: bool) -> Attack:
    att = Attack("tampering", "a field of a version's record.json edited by hand, or the record deleted")
    for fname, edit in _RECORD_EDITS.items():
        reg, ref = _fresh(tmp, f"rec-{fname}")
        record_path = reg.path_of(ref).parent / "record.json"
        record = json.loads(record_path.read_text())
        edit(record["manifest"])
        record_path.write_text(json.dumps(record, indent=2))
        att.case(f"edit {fname}", _caught(reg, ref))
    reg, ref = _fresh(tmp, "rec-deleted")
    (reg.path_of(ref).parent / "record.json").unlink()
    att.case("record deleted", not reg.verify().ok)
    return att


def index_files(tmp: Path, quick: bool) -> Attack:
    att = Attack("tampering", "corrupt aliases, counters and stray entries")
    for label, text in {"garbage": "{not json", "list": "[]", "string version": '{"prod": "x"}',
                        "missing version": '{"prod": 99}'}.items():
        reg, ref = _fresh(tmp, f"aliases-{label}")
        (reg.path_of(ref).parents[2] / "aliases.json").write_text(text)
        lists = not _raises(lambda reg=reg: reg.list()) if _no_crash(lambda reg=reg: reg.list()) else False
        att.case(f"aliases {label}: list works, verify reports", lists and not reg.verify().ok)
    for label, text in {"garbage": "x\n", "zero": "0\n", "negative": "-5\n", "too low": "1\n"}.items():
        reg, ref = _fresh(tmp, f"counter-{label}")
        (reg.path_of(ref).parents[2] / "next_version").write_text(text)
        ok = _no_crash(lambda reg=reg: reg.add("me/victim", _tensors(9), _spec()))
        att.case(f"counter {label}: no reuse", ok and reg.resolve("me/victim").version == 3)
    for label in ("versions/abc folder", "versions/3.tmp file"):
        reg, ref = _fresh(tmp, f"stray-{label.replace('/', '-')}")
        stray = reg.path_of(ref).parents[1] / label.split()[0].split("/")[1]
        stray.mkdir() if "folder" in label else stray.write_text("x")
        ok = all(_no_crash(f) for f in (reg.list, reg.verify,
                                        lambda reg=reg: reg.add("me/victim", _tensors(9), _spec())))
        att.case(f"stray {label}: list, verify, add work", ok and not Registry(reg.root, builtin=False).verify().ok)
    return att


def _no_crash(fn: Callable[[], object]) -> bool:
    try:
        fn()
    except PromptkitError:
        return True  # a clear error is handling too
    except Exception:  # noqa: BLE001 - what this harness looks for
        return False
    return True


def removals(tmp: Path, quick: bool) -> Attack:
    att = Attack("removal", "remove versions, then add again: numbers are never reused")
    for how in ("last version", "whole name", "every version one by one", "all, then corrupt counter"):
        reg = Registry(tmp / f"rm-{how.replace(' ', '-').replace(',', '')}", builtin=False)
        for s in range(3):
            reg.add("me/m", _tensors(s), _spec())
        if how == "last version":
            reg.remove("me/m:3")
        elif how == "whole name":
            reg.remove("me/m")
        else:
            for v in (1, 2, 3):
                reg.remove(f"me/m:{v}")
        if how.endswith("counter"):
            for p in (reg.root / "assets").rglob("next_version"):
                p.write_text("garbage")
        att.case(how, reg.add("me/m", _tensors(9), _spec()).version == 4)
    return att


# -- limits and bad files ----------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    try:
        p = subprocess.run([sys.executable, "-m", "promptkit.cli", *args], capture_output=True, text=True,
                           env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return p.returncode, p.stderr


def _one_line_error(rc: int, stderr: str) -> bool:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return rc > 0 and "Traceback" not in stderr and 1 <= len(lines) <= 2 and lines[0].startswith("error:")


def limits(tmp: Path, quick: bool) -> Attack:
    att = Attack("limits", "oversized tensors, special files, a file as the registry, stale temporary files")
    env = {**os.environ, "PROMPTKIT_HOME": str(tmp / "home"), "PROMPTKIT_NO_BUILTIN": "1"}
    reg = Registry(tmp / "home" / "registry", builtin=False)
    reg.add("me/base", _tensors(0), _spec())
    before = _snapshot(reg.root)
    expanded = tmp / "expanded.pt"
    torch.save({"prompt": torch.zeros(1, 1, 1).expand(1, 64 * 1024, 1024)}, expanded)
    rc, err = _cli("add", str(expanded), "--name", "me/big", "--like", "me/base", env=env)
    att.case("expanded 1.6 KB .pt refused", _one_line_error(rc, err) and _snapshot(reg.root) == before)
    huge = tmp / "huge.safetensors"
    header = json.dumps({"prompt": {"dtype": "F32", "shape": [1, 2**20, 2**18], "data_offsets": [0, 2**40]}})
    huge.write_bytes(struct.pack("<Q", len(header)) + header.encode())
    rc, err = _cli("add", str(huge), "--name", "me/huge", "--like", "me/base", env=env)
    att.case("header claiming 1 TB refused", _one_line_error(rc, err) and _snapshot(reg.root) == before)
    fifo = tmp / "fifo.safetensors"
    os.mkfifo(fifo)
    rc, err = _cli("add", str(fifo), "--name", "me/fifo", "--like", "me/base", env=env, timeout=30)
    att.case("FIFO refused without hanging", _one_line_error(rc, err))
    afile = tmp / "afile"
    afile.write_text("not a registry")
    for cmd in (["list"], ["verify"], ["add", str(expanded), "--name", "me/x", "--like", "me/base"]):
        rc, err = _cli(*cmd, "--registry", str(afile), env=env)
        att.case(f"--registry FILE refused by {cmd[0]}", _one_line_error(rc, err))
    stale = reg.root / "assets" / "me" / "base" / f".next_version.{uuid.uuid4().hex}.tmp"  # as write_atomic names it
    stale.write_text("left by a killed writer")
    reg.add("me/base", _tensors(1), _spec())
    att.case("stale temporary file cleaned by the next writer", not stale.exists())
    return att


# -- bad CLI input and the hostile Hub, as their tests --------------------------------------------


def _pytest_counts(args: list[str]) -> tuple[int, int]:
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                       capture_output=True, text=True)
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", p.stdout))
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", p.stdout))
    return passed, failed


def as_tests(name: str, category: str, args: list[str]) -> Attack:
    att = Attack(category, name)
    passed, failed = _pytest_counts(args)
    att.tried, att.failed = passed + failed, [f"{failed} failing tests"] * failed
    return att


ATTACKS: list[Callable[[Path, bool], Attack]] = [
    concurrent_adds, concurrent_dedupe, killed_writers, byte_flips, record_edits, index_files, removals, limits,
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases per attack")
    ap.add_argument("--json", action="store_true", help="JSON on stdout instead of Markdown")
    args = ap.parse_args()
    rows: list[Attack] = []
    with tempfile.TemporaryDirectory(prefix="promptkit-attack-") as tmp:
        for attack in ATTACKS:
            print(f"attack: {attack.__name__}", file=sys.stderr)
            rows.append(attack(Path(tmp), args.quick))
    print("attack: bad CLI input (tests)", file=sys.stderr)
    rows.append(as_tests("bad CLI input: every command, every option kind", "bad input",
                         ["tests/test_cli_bad_input.py"]))
    print("attack: hostile Hub server (tests)", file=sys.stderr)
    rows.append(as_tests("hostile Hub server: paths in shas, names, sizes, stalls, HTML, bad listings", "Hub",
                         ["tests", "-k", "hostile"]))
    if args.json:
        print(json.dumps([{"category": r.category, "attack": r.attack, "tried": r.tried, "handled": r.handled,
                           "not_handled": r.failed} for r in rows], indent=2))
    else:
        print("| category | attack | cases | handled |\n|---|---|---:|---:|")
        for r in rows:
            print(f"| {r.category} | {r.attack} | {r.tried} | {r.handled} |")
        print(f"| **all** | | **{sum(r.tried for r in rows)}** | **{sum(r.handled for r in rows)}** |")
        for r in rows:
            for label in r.failed[:10]:
                print(f"not handled: {r.attack}: {label}", file=sys.stderr)
    return 0 if all(not r.failed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
