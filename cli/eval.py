"""`promptkit eval`: test accuracy of a stored prompt, or ensemble of prompts, on a dataset."""

from __future__ import annotations

from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import (
    BatchOpt,
    DataRootOpt,
    DataSeedOpt,
    DatasetOpt,
    DeviceOpt,
    JsonOpt,
    PrecisionOpt,
    QuietOpt,
    RegistryOpt,
    WeightsOpt,
    WorkersOpt,
    open_registry,
)
from ._output import out_console, phase_progress, print_json

__all__ = ["eval_command", "register"]


@handle_errors
def eval_command(
    ref: Annotated[str, typer.Argument(help="name, name:3, name@alias or name@sha256:<prefix>.")],
    dataset: DatasetOpt,
    weights: WeightsOpt = None,
    backbone: Annotated[str | None, typer.Option(
        "--backbone", "-b", help="Backbone to load [default: the asset's timm name and pretrained tag].")] = None,
    data_seed: DataSeedOpt = 0,
    batch_size: BatchOpt = 128,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    num_workers: WorkersOpt = None,
    root: DataRootOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Test accuracy of REF on DATASET: with REF's own head when it was trained on DATASET,
    else with a linear probe fit on DATASET's training features under REF's prompt.

    An ensemble asset runs all its member prompts (one forward each per image) and classifies
    their mixed features."""
    reg = open_registry(registry)
    asset = reg.load(ref)
    m = asset.manifest

    from promptkit.backbone import backbone_for, load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.device import autocast, resolve_device
    from promptkit.features import FeatureCache
    from promptkit.train import evaluate

    autocast(resolve_device(device), precision)  # an unknown device or precision fails before anything loads
    # The asset's own backbone, proven by its weights digest (a registered one such as zoo-vit by its
    # name, a timm model by name and pretrained tag), unless --backbone names another.
    bb = load_backbone(backbone, weights=weights) if backbone else backbone_for(m.backbone, weights=weights)
    splits = load_dataset(dataset, root=root, transform=transform_for(bb.data_config), seed=data_seed)
    fingerprints = {}
    if m.dataset is not None:
        fingerprints["all"] = m.dataset.fingerprint
    split_fps = m.training.get("split_fingerprints")
    if isinstance(split_fps, dict) and isinstance(split_fps.get("test"), str):
        fingerprints["test"] = split_fps["test"]
    ensemble = m.kind == "ensemble"
    # An ensemble's members go in as the prompt, with their weights and feature statistics.
    parts = dict(alpha=asset.alpha, member_stats=asset.member_stats,
                 combine=m.ensemble.features) if ensemble and m.ensemble else {}
    with phase_progress(not quiet and not json_out) as progress:
        result = evaluate(bb, asset.members if ensemble else asset.prompt, splits, prompt_backbone=m.backbone,
                          geometry=m.geometry, head=asset.head, head_fingerprints=fingerprints, batch_size=batch_size,
                          device=device, precision=precision, num_workers=num_workers,
                          cache=None if no_cache else FeatureCache(), progress=progress, **parts)
    payload = {"ref": m.ref, "kind": m.kind, "num_members": m.num_members, "dataset": splits.name,
               "test_acc": result.accuracy, "val_acc": result.val_accuracy,  # train's and the manifests' names
               "accuracy": result.accuracy, "method": result.method, "num_test": result.num_test,
               "val_accuracy": result.val_accuracy, "probe_l2": result.probe_l2,
               "dataset_fingerprint": result.dataset_fingerprint}
    if json_out:
        print_json(payload)
    elif quiet:
        out_console().print(f"{result.accuracy:.4f}", highlight=False)
    else:
        how = "its own head" if result.method == "head" else f"a linear probe (l2={result.probe_l2:g})"
        what = f"{m.ref} (an ensemble of {m.num_members} prompts)" if ensemble else m.ref
        out_console().print(f"{what} on {splits.name}: test accuracy {result.accuracy:.4f} "
                            f"({result.num_test} images, {how})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
