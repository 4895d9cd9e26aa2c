"""promptkit: manage, rank, ensemble and publish visual prompts for frozen Vision Transformers.

The package root stays light (no torch import) so that `promptkit --help` starts fast; the
public API below is imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from promptkit import plugins as _plugins
from promptkit._version import __version__


def _register_builtins(table: _plugins.Registry[Any]) -> None:
    from promptkit.builtins import register_builtins

    register_builtins(table)


# The built-in plugins (promptkit/builtins.py) fill each table on its first read.
_plugins.set_builtins_loader(_register_builtins)

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "BackboneIdentity": "promptkit.identity",
    "PromptGeometry": "promptkit.identity",
    "SCORES": "promptkit.scores",
    "get_score": "promptkit.scores",
    "hscore": "promptkit.scores",
    "logme": "promptkit.scores",
    "score_all": "promptkit.scores",
    "shrinkage_hscore": "promptkit.scores",
    "LinearProbe": "promptkit.probe",
    "fit_linear_probe": "promptkit.probe",
    "probe_accuracy": "promptkit.probe",
    "select_l2": "promptkit.probe",
    "mean_std": "promptkit.stats",
    "Backbone": "promptkit.backbone",
    "load_backbone": "promptkit.backbone",
    "PromptedViT": "promptkit.prompted",
    "init_prompt": "promptkit.inits",
    "FeatureCache": "promptkit.features",
    "extract_features": "promptkit.features",
    "TrainConfig": "promptkit.train",
    "TrainResult": "promptkit.train",
    "evaluate": "promptkit.train",
    "train_prompt": "promptkit.train",
    "resolve_device": "promptkit.device",
    "load_dataset": "promptkit.data",
    "list_datasets": "promptkit.data",
    "spearman": "promptkit.stats",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'promptkit' has no attribute {name!r}")
