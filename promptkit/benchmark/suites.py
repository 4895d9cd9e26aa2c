"""The benchmark suites a paper table is made of: the tasks, in the table's column order, and their groups.

- ``vtab-1k``: the 19 VTAB-1k tasks (Zhai et al., arXiv 1910.04867) in the column order of the
  tables of VPT (Jia et al., ECCV 2022), NOAH, SSF, SPT and HGPrompt (Zhang et al., AAAI 2026,
  arXiv 2504.12311): natural (CIFAR-100 .. Sun397), specialized (Camelyon .. Retinopathy),
  structured (Clevr-Count .. sNORB-Elev); the table gives each group's mean and the average
  over the tasks;
- ``fgvc``: the 5 FGVC tasks of VPT, in its column order, and their mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptkit.data.fgvc import FGVC_DIR, FGVC_TASKS
from promptkit.data.vtab1k import VTAB1K_DIR, VTAB1K_TASKS
from promptkit.errors import UsageError, format_choices

__all__ = ["SUITES", "Suite", "SuiteTask", "get_suite"]


@dataclass(frozen=True)
class SuiteTask:
    """One column of a suite's table."""

    dataset: str  # the catalog name, e.g. "vtab-1k/dtd"
    column: str  # the heading the papers print, e.g. "DTD"
    group: str  # e.g. "natural"
    aliases: tuple[str, ...] = ()  # other spellings: the folder names of the releases ("cifar")


@dataclass(frozen=True)
class Suite:
    """A benchmark: its tasks in column order and its groups in order."""

    name: str
    tasks: tuple[SuiteTask, ...]
    groups: tuple[str, ...]

    def task(self, name: str) -> SuiteTask:
        """The task a catalog name (``vtab-1k/dtd``), short name (``dtd``) or folder name (``cifar``) stands for.

        Raises:
            UsageError: not a task of this suite; lists the valid ones.
        """
        key = name.strip().lower().replace("-", "_")
        for t in self.tasks:
            short = t.dataset.split("/", 1)[1]
            spellings = {t.dataset.lower().replace("-", "_"), short, *(a.lower().replace("-", "_") for a in t.aliases)}
            if key in spellings:
                return t
        raise UsageError(f"{name!r} is not a task of {self.name}",
                         hint=f"choose from {format_choices([t.dataset.split('/', 1)[1] for t in self.tasks])}")


SUITES: dict[str, Suite] = {
    "vtab-1k": Suite(
        name="vtab-1k",
        tasks=tuple(SuiteTask(f"{VTAB1K_DIR}/{t.name}", t.column, t.group, t.folders) for t in VTAB1K_TASKS),
        groups=("natural", "specialized", "structured"),
    ),
    "fgvc": Suite(
        name="fgvc",
        tasks=tuple(SuiteTask(f"{FGVC_DIR}/{t.name}", t.column, "fgvc", t.folders) for t in FGVC_TASKS),
        groups=("fgvc",),
    ),
}


def get_suite(name: str) -> Suite:
    """The suite called ``name``.

    Raises:
        UsageError: unknown suite.
    """
    key = name.strip().lower().replace("_", "-").replace("vtab1k", "vtab-1k")
    if key not in SUITES:
        raise UsageError(f"unknown benchmark suite {name!r}", hint=f"choose {format_choices(sorted(SUITES))}")
    return SUITES[key]
