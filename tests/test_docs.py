"""The documents the repository cites are in it: every cited ``*.md`` file and ``#anchor`` exists.

Code comments, docstrings, messages, tests and the shipped assets cite Markdown documents
(``docs/method.md#hgprompt-step-5``, ``docs/zoo.md#lesson-8``, ``README.md#datasets``). A user
has only the repository, so each cited document must be one of its tracked files, and each
cited anchor an ``<a id=...>`` or a heading of that document. Documents that were never part of
the repository must not be named at all. The shipped safetensors files are scanned too: their
JSON header (after the 8-byte length) carries the embedded manifest as plain text.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Names of documents that are not in the repository and must not be cited. Built from parts so
# that this file does not name them itself.
PRIVATE_NAMES = tuple(f"{stem}.md" for stem in ("METHOD", "ZOO", "DESIGN", "STYLE", "HUB"))
_PRIVATE = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in PRIVATE_NAMES) + r")(?![\w])")

# A Markdown document: a path or bare name ending in .md, optionally with #anchor. Not part of a
# longer path or URL (no word character, dot, slash or hyphen before it).
_CITATION = re.compile(
    r"(?<![\w./-])(?P<path>(?:\.{1,2}/)*(?:[\w-][\w.-]*/)*[\w-][\w.-]*\.md)(?:#(?P<anchor>[\w-]+))?(?![\w])"
)
_LOCAL_LINK = re.compile(r"\]\(#(?P<anchor>[\w-]+)\)")  # [text](#anchor) inside a Markdown file
_ANCHOR_TAG = re.compile(r"""<a\s+(?:id|name)\s*=\s*["']([^"']+)["']""")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Problem:
    where: str  # path[:line], relative to the repository where possible
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def tracked_files(root: Path = ROOT) -> list[str]:
    """The repository's tracked paths (``git ls-files``), relative to ``root``."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return sorted(p for p in out.decode().split("\0") if p)


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)  # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors_of(text: str) -> set[str]:
    """Explicit ``<a id>``/``<a name>`` anchors and heading slugs (with GitHub's -1, -2 for repeats)."""
    found = set(_ANCHOR_TAG.findall(text))
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            slug = slugify(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def _texts(path: Path) -> Iterator[tuple[int | None, str]]:
    """(line offset, text) pieces of a file to scan; the safetensors header's metadata for weights."""
    data = path.read_bytes()
    if path.suffix == ".safetensors":
        if len(data) < 8:
            return
        (n,) = struct.unpack("<Q", data[:8])
        try:
            header = json.loads(data[8:8 + n])
        except ValueError:
            return
        for value in (header.get("__metadata__") or {}).values():
            if isinstance(value, str):
                yield None, value
        return
    if b"\0" in data[:8192]:
        return  # binary
    try:
        yield 1, data.decode("utf-8")
    except UnicodeDecodeError:
        return


def _is_filename_literal(text: str, start: int, end: int) -> bool:
    """``"README.md"`` or ``'CARD.md'``: a string literal that is a file name, not a citation."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return before in "\"'" and after == before


def check_citations(
    files: Iterable[Path], *, root: Path = ROOT, tracked: Iterable[str] | None = None
) -> list[Problem]:
    """Problems with the Markdown citations in ``files``.

    A cited document resolves relative to ``root``, to the citing file's folder, or to
    ``root/docs``, and must be a tracked file of the repository; a cited ``#anchor`` must be
    one of its anchors. The private document names may not appear unless the repository has a
    file of that name.

    Args:
        files: files to scan (text files, and safetensors files whose header metadata is scanned).
        root: the repository root.
        tracked: the repository's tracked paths relative to ``root``; default ``git ls-files``.
    """
    root = root.resolve()
    known = set(tracked_files(root) if tracked is None else tracked)
    present = {Path(p).name for p in known}

    @cache
    def anchors(rel: str) -> frozenset[str]:
        return frozenset(anchors_of((root / rel).read_text(encoding="utf-8", errors="replace")))

    def resolve(cited: str, folder: Path) -> str | None:
        for base in (root, folder, root / "docs"):
            candidate = (base / cited).resolve()
            try:
                rel = candidate.relative_to(root).as_posix()
            except ValueError:
                continue
            if rel in known and candidate.is_file():
                return rel
        return None

    problems: list[Problem] = []
    for path in files:
        path = Path(path).resolve()
        try:
            shown = path.relative_to(root).as_posix()
        except ValueError:
            shown = str(path)
        if not path.is_file():
            continue
        for first_line, text in _texts(path):
            def where(pos: int, text: str = text, first_line: int | None = first_line) -> str:
                if first_line is None:
                    return f"{shown} (safetensors metadata)"
                return f"{shown}:{first_line + text.count(chr(10), 0, pos)}"

            for m in _PRIVATE.finditer(text):
                if m.group(1) not in present:
                    problems.append(Problem(where(m.start()), f"names {m.group(1)}, which is not in the repository"))
            for m in _CITATION.finditer(text):
                cited, anchor = m.group("path"), m.group("anchor")
                if _PRIVATE.fullmatch(Path(cited).name) or _is_filename_literal(text, m.start(), m.end()):
                    continue  # reported above, or a file name in code
                rel = resolve(cited, path.parent)
                if rel is None:
                    problems.append(Problem(where(m.start()), f"cites {cited}, which is not a file of the repository"))
                elif anchor is not None and anchor not in anchors(rel):
                    problems.append(Problem(where(m.start()), f"cites {rel}#{anchor}: no such anchor in {rel}"))
            if path.suffix == ".md":
                own = anchors_of(text)
                for m in _LOCAL_LINK.finditer(text):
                    if m.group("anchor") not in own:
                        problems.append(
                            Problem(where(m.start()), f"links to #{m.group('anchor')}: no such anchor here"))
    return problems


def repository_files(root: Path = ROOT) -> list[Path]:
    return [root / p for p in tracked_files(root)]


def test_every_cited_document_and_anchor_is_in_the_repository():
    problems = check_citations(repository_files())
    assert not problems, "\n".join(map(str, problems))


def test_shipped_safetensors_headers_are_scanned():
    weights = [p for p in repository_files() if p.suffix == ".safetensors"]
    if not weights:
        pytest.skip("no safetensors files are tracked")
    texts = [t for p in weights for _, t in _texts(p)]
    assert any("docs/zoo.md#lesson-8" in t for t in texts)  # the built-in prompts' training warning


def test_the_documents_carry_the_anchors_others_cite():
    method = anchors_of((ROOT / "docs" / "method.md").read_text())
    wanted = {"vpt", "spt", "self-regulation", "scores", "hgprompt", "composition-gap", "compositions",
              "baselines", "evaluation", *(f"hgprompt-step-{i}" for i in range(1, 7))}
    assert wanted <= method, sorted(wanted - method)
    zoo = anchors_of((ROOT / "docs" / "zoo.md").read_text())
    assert {f"lesson-{i}" for i in range(1, 11)} <= zoo


def test_a_planted_bad_citation_is_reported(tmp_path):
    md = ".md"  # the bad citations are assembled here, so that this file does not hold them
    private = f"METHOD{md}"
    bad = tmp_path / "notes.py"
    bad.write_text(
        "# fine: docs/method.md#hgprompt-step-5, README.md#datasets, [zoo](zoo.md#lesson-8)\n"
        f"# gone: see {private} section 5\n"
        f"# missing document: docs/nowhere{md}\n"
        f"# missing anchor: docs/method{md}#hgprompt-step-99\n"
        "path = 'notes.md'  # a file name in code, not a citation\n"
    )
    page = tmp_path / "page.md"
    page.write_text('<a id="here"></a>\n# Title\n[up](#here) [title](#title) [lost](#nowhere)\n')
    problems = [str(p) for p in check_citations([bad, page])]
    bad, page = bad.resolve(), page.resolve()
    assert len(problems) == 4, problems
    assert any(f"{bad}:2: names {private}" in p for p in problems)
    assert any(f"{bad}:3: cites docs/nowhere{md}, which is not a file" in p for p in problems)
    assert any(f"{bad}:4: cites docs/method{md}#hgprompt-step-99: no such anchor" in p for p in problems)
    assert any(f"{page}:3: links to #nowhere" in p for p in problems)


def test_a_private_name_in_safetensors_metadata_is_reported(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    private = "ZOO" + ".md"
    path = tmp_path / "prompt.safetensors"
    save_file({"prompt": torch.zeros(1, 2, 4)}, str(path), metadata={"note": f"({private} lesson 8)"})
    problems = [str(p) for p in check_citations([path])]
    assert problems == [f"{path.resolve()} (safetensors metadata): names {private}, which is not in the repository"]


def test_slugs_follow_github():
    assert slugify("Visual prompts (VPT; Jia et al., ECCV 2022) - `prompted.py`") == (
        "visual-prompts-vpt-jia-et-al-eccv-2022---promptedpy"
    )
    assert anchors_of("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}
