"""The built-in start strategies: where each method's tuning of the target starts.

- the weight methods (``hgprompt``, ``uniform``, ``hscore-weights``, ``best-single``):
  weights alpha on the target's training features under each source (through the feature
  cache), then P_t = sum_i alpha_i P_i; a composition (:mod:`promptkit.runs.compositions`)
  may build another start model from alpha;
- ``spot`` (Vu et al., ACL 2022): briefly tune a prompt on the target, start from the most
  similar source;
- ``random`` (VPT) and ``spt`` (k-means, Wang et al., ICML 2024): a registered init, no sources.

:mod:`promptkit.runs.methods` makes each weight method a method; :mod:`promptkit.builtins` registers
the others under their names.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import torch

from promptkit.ensemble._registry import get_weight_method
from promptkit.ensemble.baselines import spot_rank
from promptkit.ensemble.compose import compose_prompt
from promptkit.progress import prefixed
from promptkit.runs.context import MethodRun
from promptkit.runs.outcome import Start
from promptkit.train import train_prompt

__all__ = ["random_start", "spot_start", "spt_start", "weighted_start"]


def _accepted(fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    # Weight methods differ in options (only hgprompt optimizes: steps, progress); pass each
    # what its signature takes rather than keeping a table of names.
    params = inspect.signature(fn).parameters
    return {k: v for k, v in options.items() if k in params}


def weighted_start(run: MethodRun, method: str, seconds: dict[str, float]) -> Start:
    """Weights alpha on the target-train features under each source, then P_t = sum_i alpha_i P_i."""
    fn = get_weight_method(method)
    t0 = time.perf_counter()
    prepared = run.source_features()
    t1 = time.perf_counter()
    options = {"lam": run.lam, "steps": run.steps, "progress": run.report(f"{method}: weights")}
    weights = fn(prepared, **_accepted(fn, options))
    prompt = compose_prompt([s.prompt for s in run.sources], weights.alpha)
    seconds["features"], seconds["weights"] = t1 - t0, time.perf_counter() - t1
    details: dict[str, Any] = {}
    top = int(torch.argmax(weights.alpha))
    if float(weights.alpha[top]) == 1.0:  # all weight on one source: name it
        details["chosen"] = run.sources[top].ref
    return Start(init=f"from:{method}", prompt=prompt, weights=weights, alpha=weights.alpha, details=details)


def random_start(run: MethodRun, method: str, seconds: dict[str, float]) -> Start:
    """VPT: a random prompt (Jia et al., ECCV 2022), no sources."""
    return Start(init="random")


def spt_start(run: MethodRun, method: str, seconds: dict[str, float]) -> Start:
    """SPT: k-means centroids of the target's tokens (Wang et al., ICML 2024), no sources."""
    return Start(init="kmeans")


def spot_start(run: MethodRun, method: str, seconds: dict[str, float]) -> Start:
    """SPoT: the source most similar to a briefly tuned target prompt (Vu et al., ACL 2022)."""
    t0 = time.perf_counter()
    # The brief run keeps its last epoch: keeping the best could keep the random start itself,
    # which says nothing about the target.
    brief = run.tune.replace(init="random", epochs=run.spot_epochs, warmup_epochs=0, keep="last",
                             baseline_probe=False, gpa_mu=None, gpa_sigma=None)
    probe = train_prompt(run.backbone, run.splits, brief, cache=run.cache,
                         progress=prefixed(run.progress, f"{method}: brief "))
    ranking = spot_rank(probe.prompt, [s.prompt for s in run.sources])
    top = ranking.order[0]
    alpha = torch.zeros(len(run.sources), dtype=torch.float64)
    alpha[top] = 1.0
    seconds["spot"] = time.perf_counter() - t0
    details = {"chosen": run.sources[top].ref, "similarities": [float(s) for s in ranking.similarities],
               "brief_epochs": run.spot_epochs, "brief_val_acc": float(probe.metrics["val_acc"])}
    return Start(init=f"from:{method}", prompt=run.sources[top].prompt.detach().float().clone(), alpha=alpha,
                 details=details)
