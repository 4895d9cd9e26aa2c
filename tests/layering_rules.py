"""The import graph of the whole package and the rules on its direction (used by test_layering.py).

Every import is read, wherever it is written: module level, inside functions, relative
imports, and string imports (``importlib.import_module("promptkit.x")`` or any string literal
naming a project module, such as a lazy-attribute table). ``cli/`` and ``registry/`` are
installed as ``promptkit.cli`` and ``promptkit.registry`` and are named so here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

# folder at the repository root -> the package name it is installed under
PACKAGES = {"promptkit": "promptkit", "cli": "promptkit.cli", "registry": "promptkit.registry"}

# (rule, importer prefixes, forbidden prefixes, importer exceptions)
RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("the core never imports the registry, the CLI, typer or rich",
     ("promptkit",), ("promptkit.registry", "promptkit.cli", "typer", "rich"),
     ("promptkit.registry", "promptkit.cli", "promptkit.__main__")),  # __main__: `python -m promptkit` is the command
    ("the registry never imports the CLI, typer or rich",
     ("promptkit.registry",), ("promptkit.cli", "typer", "rich"), ()),
    ("data, device and backbone never import the zoo",
     ("promptkit.data", "promptkit.device", "promptkit.backbone"), ("promptkit.zoo",), ()),
    ("the ensemble math never imports training, data, ranking or the method runs",
     ("promptkit.ensemble",),
     ("promptkit.train", "promptkit.data", "promptkit.rank", "promptkit.runs", "promptkit.features", "promptkit.inits",
      "promptkit.prompted", "promptkit.prompted_ensemble", "promptkit.prompted_composed", "promptkit.backbone"), ()),
    ("the installed packages never import the zoo's build tooling (zoobuild is not installed)",
     ("promptkit",), ("zoobuild",), ()),
)


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_files(root: Path) -> dict[str, Path]:
    """``module name -> file`` for every .py file of the three packages under ``root``."""
    out: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _resolve(module: str, name: str | None, known: set[str]) -> str:
    """``from module import name``: the submodule when ``name`` is one, else the module."""
    if name is not None and f"{module}.{name}" in known:
        return f"{module}.{name}"
    return module


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` (the module in ``path``) imports, as written anywhere in it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    string_imports = _import_call_args(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.update(_resolve(module, alias.name, known) for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if ("." in text and text in known) or id(node) in string_imports:
                out.add(text)  # a string import, or a string naming a project module (a lazy table)
    out.discard(name)
    return out


def _import_call_args(tree: ast.AST) -> set[int]:
    """ids of the string constants passed to ``import_module``, ``__import__`` or ``find_spec``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__", "find_spec"):
                out.update(id(arg) for arg in node.args if isinstance(arg, ast.Constant))
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules it imports`` (external ones included) for the tree under ``root``."""
    files = module_files(root)
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among project modules (each reported once, from its smallest member)."""
    project = set(graph)
    found: list[list[str]] = []
    seen_keys: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node] & project):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                start = cycle.index(min(cycle))
                key = tuple(cycle[start:] + cycle[:start])
                if key not in seen_keys:
                    seen_keys.add(key)
                    found.append(list(key))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(project):
        if node not in state:
            visit(node)
    return found


def violations(root: Path) -> list[str]:
    """Every broken rule in the tree under ``root``, one line each; empty when it is clean."""
    graph = import_graph(root)
    bad: list[str] = []
    for rule, importers, forbidden, exempt in RULES:
        for module, deps in sorted(graph.items()):
            if not _under(module, importers) or _under(module, exempt):
                continue
            bad += [f"{module} imports {dep}: {rule}" for dep in sorted(deps) if _under(dep, forbidden)]
    bad += ["import cycle: " + " -> ".join([*cycle, cycle[0]]) for cycle in _cycles(graph)]
    return bad
