"""Benchmark suites and the HGPrompt paper's protocol over them, producing the paper's table.

- :mod:`~promptkit.benchmark.suites`: the suites (``vtab-1k``: 19 tasks in three groups;
  ``fgvc``: 5 tasks) in the papers' column order;
- :mod:`~promptkit.benchmark.run`: :func:`run_benchmark`, source prompts, leave-one-out
  ensembles with the baselines over seeds, resumable per (target, seed);
- :mod:`~promptkit.benchmark.table`: the table, its group means and average, as JSON and Markdown.
"""

from __future__ import annotations

from promptkit.benchmark.run import PROTOCOLS, BenchmarkConfig, BenchmarkResult, run_benchmark
from promptkit.benchmark.suites import SUITES, Suite, SuiteTask, get_suite
from promptkit.benchmark.table import build_table, table_markdown

__all__ = [
    "PROTOCOLS",
    "SUITES",
    "BenchmarkConfig",
    "BenchmarkResult",
    "Suite",
    "SuiteTask",
    "build_table",
    "get_suite",
    "run_benchmark",
    "table_markdown",
]
