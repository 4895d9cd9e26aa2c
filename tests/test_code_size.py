"""Size limits on the code: no module over 500 lines, no function or method over 80 lines.

The limits exist for the reader. A newcomer should be able to read one function on one screen,
seeing every step it takes without scrolling back to remember what a name held, and one module in
one sitting, keeping all of it in mind at once. A function that outgrows a screen is split at its
natural steps into well-named helpers; a module that outgrows a sitting is split into modules that
each hold one idea. The limits are checked on the packages that ship or build the zoo
(``promptkit``, ``cli``, ``registry``, ``zoobuild``); tests are not checked.

A module's size is its number of lines; a function's is counted from its ``def`` line to its last
line (decorators excluded), for sync and async functions and methods, nested ones included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("promptkit", "cli", "registry", "zoobuild")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def python_files(root: Path, packages: Iterable[str] = PACKAGES) -> list[Path]:
    """Every ``.py`` file under ``root / package`` for each package, sorted."""
    return sorted(path for package in packages for path in (root / package).rglob("*.py"))


def oversized(files: Iterable[Path], *, root: Path, max_module: int = MAX_MODULE_LINES,
              max_function: int = MAX_FUNCTION_LINES) -> list[str]:
    """The modules over ``max_module`` lines and the functions over ``max_function`` lines in ``files``.

    Returns:
        one ``path:line name (N lines)`` per offender, ``path`` relative to ``root``; a module is
        reported at line 1 under its own path as name.
    """
    offenders = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root).as_posix()
        lines = len(text.splitlines())
        if lines > max_module:
            offenders.append(f"{rel}:1 {rel} ({lines} lines)")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > max_function:
                    offenders.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
    return offenders


def test_no_module_or_function_is_over_the_limits():
    files = python_files(ROOT)
    assert files, f"no Python files found under {ROOT}"
    offenders = oversized(files, root=ROOT)
    assert not offenders, (
        f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} lines a function:\n" + "\n".join(offenders)
    )


def _function(name: str, lines: int, *, indent: str = "", keyword: str = "def") -> list[str]:
    """A function of exactly ``lines`` lines (its ``def`` line and ``lines - 1`` body lines)."""
    return [f"{indent}{keyword} {name}():", *(f"{indent}    x{i} = {i}" for i in range(lines - 1))]


def _plant(tmp_path: Path, name: str, lines: list[str], *, pad_to: int | None = None) -> Path:
    pkg = tmp_path / "promptkit"
    pkg.mkdir(exist_ok=True)
    if pad_to is not None:
        lines = lines + [f"y{i} = {i}" for i in range(pad_to - len(lines))]
    path = pkg / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_planted_violations_are_reported(tmp_path):
    _plant(tmp_path, "big.py", [], pad_to=501)
    _plant(tmp_path, "long.py", ["import os", "", *_function("too_long", 81)])
    _plant(tmp_path, "nested.py", [
        "class A:",
        *_function("method", 3, indent="    "),
        "",
        "    async def outer(self):",
        *_function("inner", 81, indent="        ", keyword="async def"),
    ])
    offenders = oversized(python_files(tmp_path), root=tmp_path)
    assert offenders == [
        "promptkit/big.py:1 promptkit/big.py (501 lines)",
        "promptkit/long.py:3 too_long (81 lines)",
        "promptkit/nested.py:6 outer (82 lines)",
        "promptkit/nested.py:7 inner (81 lines)",
    ]


def test_exactly_at_the_limits_is_accepted(tmp_path):
    """Decorators do not count towards a function's lines."""
    _plant(tmp_path, "full.py", ["import functools", "", "@functools.cache", *_function("exactly", 80)], pad_to=500)
    files = python_files(tmp_path)
    assert len(files[0].read_text().splitlines()) == 500
    assert oversized(files, root=tmp_path) == []
