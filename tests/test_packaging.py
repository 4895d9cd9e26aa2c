"""The wheel installs cli/ and registry/ inside the promptkit namespace and nothing generic."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    return next(out.glob("promptkit-*.whl"))


def test_wheel_layout(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"promptkit"}
    assert "promptkit/cli/app.py" in names and "promptkit/registry/store.py" in names
    assert not any(n.startswith(("cli/", "registry/", "tests/")) for n in names)


def test_wheel_entry_point(wheel):
    with zipfile.ZipFile(wheel) as zf:
        entry = next(n for n in zf.namelist() if n.endswith("entry_points.txt"))
        assert "promptkit = promptkit.cli.app:main" in zf.read(entry).decode()


def test_wheel_installs_and_runs(wheel, tmp_path):
    """Install the wheel into a fresh target folder and run the registry from there."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import promptkit.registry, promptkit.cli.app, sys; "
            "assert promptkit.registry.__file__.startswith(sys.argv[1]), promptkit.registry.__file__")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, env=env, cwd=tmp_path, timeout=120)
