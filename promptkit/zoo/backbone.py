"""The embedded zoo's backbone, registered as ``zoo-vit`` so that any asset tuned on it reloads it.

The pretrained weights ship inside the package (``promptkit/zoo/assets/backbone/``: weights,
``record.json`` with the architecture and recipe, and the card). ``pretrained=False`` gives the
same architecture randomly initialized (the baseline the card compares against).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from promptkit.backbone import Backbone
from promptkit.errors import WeightsError

__all__ = ["ZOO_ASSETS", "ZOO_BACKBONE", "ZOO_BACKBONE_DIR", "ZOO_COLLECTION_DIR", "load_zoo_backbone"]

ZOO_BACKBONE = "zoo-vit"
ZOO_ASSETS = Path(__file__).resolve().parent / "assets"
ZOO_BACKBONE_DIR = ZOO_ASSETS / "backbone"
ZOO_COLLECTION_DIR = ZOO_ASSETS / "registry"  # the built-in collection (a read-only registry folder)
PRETRAINED_TAG = "promptkit-zoo"


def load_zoo_backbone(
    *, weights: str | os.PathLike[str] | None = None, pretrained: bool = True, folder: Path | None = None, **_: Any
) -> Backbone:
    """The zoo ViT: shipped weights, a weights file of the same architecture, or a random init.

    Args:
        weights: a ``backbone.safetensors`` written by the zoo's pretraining (``make zoo``).
        pretrained: ``False`` gives the random init of the same architecture (seed 0).
        folder: a pretraining output folder to load instead of the shipped one.
    """
    from promptkit.zoo.arch import RECORD_FILE, ArchConfig, build_vit, load_zoo_vit

    folder = Path(folder) if folder is not None else ZOO_BACKBONE_DIR
    record_path = folder / RECORD_FILE
    if not record_path.is_file():
        raise WeightsError(
            f"the zoo backbone is not built ({record_path} is missing)",
            model=ZOO_BACKBONE,
            path=str(record_path),
            hint="build it with `make zoo` (pretrains the backbone and tunes the built-in prompts)",
        )
    if weights is not None:
        from safetensors.torch import load_file

        record = json.loads(record_path.read_text())
        kwargs = {k: v for k, v in record["backbone"]["kwargs"].items() if k != "num_classes"}
        model = build_vit(ArchConfig(**kwargs))
        model.load_state_dict({k: v.float() for k, v in load_file(str(weights)).items()})
        model.eval()
        tag = None
    elif pretrained:
        model = load_zoo_vit(folder)
        tag = PRETRAINED_TAG
    else:
        record = json.loads(record_path.read_text())
        kwargs = {k: v for k, v in record["backbone"]["kwargs"].items() if k != "num_classes"}
        model = build_vit(ArchConfig(**kwargs), seed=0)
        tag = "random-init"
    return Backbone.from_model(model, timm_name=ZOO_BACKBONE, pretrained_tag=tag)
