"""Every built-in plugin of promptkit, registered explicitly, in one place.

Each table (:class:`~promptkit.plugins.Registry`) is filled here, from the modules that define
its entries, the first time the table is read; the modules themselves register nothing. To
add a built-in, write it beside its kind and add one line to the matching function below; it
then appears in every command that offers that kind of choice (``promptkit plugins`` lists
them all).

The imports sit inside the functions so that filling one table loads only what that table
needs (looking up a score does not import the zoo or the training loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from promptkit.plugins import Registry

__all__ = ["register_builtins", "tables"]


def _backbones(table: Registry[Any]) -> None:
    from promptkit.zoo.backbone import ZOO_BACKBONE, load_zoo_backbone

    table.add(ZOO_BACKBONE, load_zoo_backbone)


def _inits(table: Registry[Any]) -> None:
    from promptkit.inits import existing, spt, vpt  # the modules
    from promptkit.inits._registry import init_spec_of

    for name, fn, needs_images, needs_source in (
        ("random", vpt.random_init, False, False),
        ("kmeans", spt.kmeans_init, True, False),
        ("mean", spt.mean_init, True, False),
        ("max", spt.max_init, True, False),
        ("sample", spt.sample_init, True, False),
        ("from", existing.from_init, False, True),
    ):
        table.add(name, init_spec_of(name, fn, needs_images=needs_images, needs_source=needs_source))


def _scores(table: Registry[Any]) -> None:
    from promptkit.scores.hscore import hscore
    from promptkit.scores.logme import logme
    from promptkit.scores.shrinkage import shrinkage_hscore

    table.add("hscore", hscore, differentiable=True)
    table.add("shrinkage-hscore", shrinkage_hscore, differentiable=True)
    table.add("logme", logme, differentiable=False)


def _weight_methods(table: Registry[Any]) -> None:
    from promptkit.ensemble import baselines, weights  # the modules, not the package's re-exports

    table.add("hgprompt", weights.hgprompt_weights,
              summary="HGPrompt: weights maximizing the mixture's transferability minus lam x gradient mismatch")
    table.add("uniform", baselines.uniform_weights, summary="equal weights 1/K")
    table.add("hscore-weights", baselines.hscore_weights,
              summary="weights proportional to each source's own shrinkage H-score")
    table.add("best-single", baselines.best_single_weights,
              summary="the source with the highest own shrinkage H-score")


def _start_strategies(table: Registry[Any]) -> None:
    # Every weight method is a method already (promptkit.runs.methods.METHODS); these are the others.
    from promptkit.runs.methods import register_method
    from promptkit.runs.starts import random_start, spot_start, spt_start

    register_method("random", needs_sources=False)(random_start)
    register_method("spt", needs_sources=False)(spt_start)
    register_method("spot")(spot_start)


def _compositions(table: Registry[Any]) -> None:
    from promptkit.runs import compositions as c

    c.register_composition("average", single_prompt=True, learnable=True)(c.compose_average)
    c.register_composition("aligned", single_prompt=True, learnable=True)(c.compose_aligned)
    c.register_composition("ensemble", single_prompt=False, learnable=True)(c.compose_ensemble)
    c.register_composition("stack", single_prompt=False, learnable=True)(c.compose_stack)
    c.register_composition("distill", single_prompt=True, learnable=False)(c.compose_distill)


def _datasets(table: Registry[Any]) -> None:
    from promptkit.data import fgvc, vtab, vtab1k
    from promptkit.data.catalog import add_dataset, register_generated
    from promptkit.zoo import suite

    for entry in (*vtab.ENTRIES, *vtab1k.ENTRIES, *fgvc.ENTRIES):
        add_dataset(entry)
    for spec in suite.TASKS.values():
        register_generated(
            spec.name, suite.TaskGenerator(spec.name), group=spec.group, description=spec.description,
            num_classes=spec.num_classes, class_names=spec.class_names,
        )


def _zoo_generators(table: Registry[Any]) -> None:
    from promptkit.zoo.suite import TASKS
    from promptkit.zoo.tasks import natural, specialized, structured

    for name, fn in (
        ("zoo-textures", natural.textures),
        ("zoo-digits", natural.digits),
        ("zoo-objects", natural.objects),
        ("zoo-cells", specialized.cells),
        ("zoo-retina", specialized.retina),
        ("zoo-landuse", specialized.landuse),
        ("zoo-count", structured.count),
        ("zoo-distance", structured.distance),
        ("zoo-location", structured.location),
        ("zoo-orientation", structured.orientation),
        ("zoo-azimuth", structured.azimuth),
        ("zoo-elevation", structured.elevation),
    ):
        table.add(name, fn, summary=TASKS[name].description)


# the module that defines a table (its ``home``) -> the function that fills it
_FILLERS: dict[str, Callable[[Registry[Any]], None]] = {
    "promptkit.backbone": _backbones,
    "promptkit.inits._registry": _inits,
    "promptkit.scores._registry": _scores,
    "promptkit.ensemble._registry": _weight_methods,
    "promptkit.data.catalog": _datasets,
    "promptkit.zoo.suite": _zoo_generators,
    "promptkit.runs.methods": _start_strategies,
    "promptkit.runs.compositions": _compositions,
}


def register_builtins(table: Registry[Any]) -> None:
    """Fill ``table`` with its built-in entries (called once per table, before its first read).

    Only promptkit's own tables are filled (found by the module that defines them); any other
    registry, a user's, starts empty.
    """
    filler = _FILLERS.get(table.home)
    if filler is not None:
        filler(table)


def tables() -> dict[str, Any]:
    """Every plugin table by the plural a user types (``promptkit plugins scores``).

    Each is a :class:`~promptkit.plugins.Registry`, but for ``methods``: a read-only view of
    every weight method and every other start strategy (:class:`promptkit.runs.methods.MethodTable`).
    """
    from promptkit.backbone import BACKBONES
    from promptkit.data.catalog import DATASETS
    from promptkit.ensemble._registry import WEIGHT_METHODS
    from promptkit.inits._registry import INITS
    from promptkit.runs.compositions import COMPOSITIONS
    from promptkit.runs.methods import METHODS
    from promptkit.scores._registry import SCORES
    from promptkit.zoo.suite import GENERATORS

    return {
        "backbones": BACKBONES,
        "inits": INITS,
        "scores": SCORES,
        "weights": WEIGHT_METHODS,
        "methods": METHODS,
        "compositions": COMPOSITIONS,
        "datasets": DATASETS,
        "zoo-generators": GENERATORS,
    }
