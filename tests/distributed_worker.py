"""One process of tests/test_distributed.py: features, ranking, HGPrompt weights and a 2-epoch tuning run.

Run as ``python tests/distributed_worker.py DATA OUT CACHE`` (one process) or under ``torchrun
--nproc_per_node 2`` (two processes, gloo); rank 0 saves what it computed to OUT with torch.save,
the other processes write nothing. One thread per process, so that one and two processes run the
same kernels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


def main(data: Path, out: Path, cache_dir: Path) -> None:
    from promptkit.registry import Registry
    from promptkit.registry.workflows import load_sources

    from promptkit import distributed
    from promptkit.backbone import load_backbone
    from promptkit.data import load_dataset, transform_for
    from promptkit.ensemble import ensemble_weights
    from promptkit.features import FeatureCache, extract_features
    from promptkit.prompted import PromptedViT
    from promptkit.rank import rank_sources, source_features
    from promptkit.train import TrainConfig, train_prompt

    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    bb = load_backbone("zoo-vit")
    splits = load_dataset(data, transform=transform_for(bb.data_config))
    prompt = 0.02 * torch.randn(bb.geometry("shallow", 4).shape, generator=torch.Generator().manual_seed(0))
    # 48 images in batches of 10: blocks of 2 and 3 batches, the last one short
    feats, labels = extract_features(PromptedViT(bb, prompt, mode="shallow"), splits.train, batch_size=10)
    sources = load_sources(Registry(), ["zoo/textures", "zoo/objects", "zoo/digits"])
    cache = FeatureCache(cache_dir)
    ranked = [rank_sources(bb, sources, splits, cache=cache, batch_size=16, device="cpu") for _ in range(2)]
    src_feats = [source_features(bb, s, splits, "train", cache=cache, batch_size=16, device="cpu")
                 for s in sources]
    hg = ensemble_weights("hgprompt", [f for f, _ in src_feats], src_feats[0][1], steps=100)
    # batch 47 of 48 images: slices of 24 and 23, then 1 and 0 (an empty slice on rank 1)
    config = TrainConfig(epochs=2, length=4, batch_size=47, lr=0.05, device="cpu", num_workers=0)
    result = train_prompt(bb, splits, config, checkpoint_dir=out.parent / "run", cache=cache)
    resumed = _interrupted_then_resumed(bb, splits, config, out.parent / "stopped", cache)
    _refused_resume(bb, splits, config, out.parent, cache)
    if distributed.is_writer():
        torch.save({"world": distributed.world_size(), "features": feats, "labels": labels,
                    "scores": [[(r.ref, r.scores) for r in res.rows] for res in ranked],
                    "alpha": hg.alpha, "prompt": result.prompt, "head": result.head_weight,
                    "history": result.history, "metrics": result.metrics, "resumed": resumed.prompt}, out)
    distributed.shutdown()


class _Stop(Exception):
    pass


def _interrupted_then_resumed(bb, splits, config, run_dir: Path, cache):
    """A run stopped after epoch 1 on every process, then resumed from rank 0's checkpoint."""
    from promptkit.train import train_prompt

    def stop(record: dict[str, float]) -> None:
        raise _Stop

    try:
        train_prompt(bb, splits, config, checkpoint_dir=run_dir, cache=cache, on_epoch=stop)
    except _Stop:
        pass
    return train_prompt(bb, splits, config, checkpoint_dir=run_dir, resume=True, cache=cache)


def _refused_resume(bb, splits, config, folder: Path, cache) -> None:
    """Resume from an unreadable checkpoint (only rank 0 reads it): every process records the error it raised."""
    import json

    from promptkit import distributed
    from promptkit.errors import PromptkitError
    from promptkit.train import train_prompt

    if distributed.is_writer():
        (folder / "broken").mkdir()
        (folder / "broken" / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    try:
        train_prompt(bb, splits, config, checkpoint_dir=folder / "broken", resume=True, cache=cache)
    except PromptkitError as err:
        record = {"message": err.message, "hint": err.hint, "exit_code": err.exit_code}
        (folder / f"error-rank{distributed.rank()}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
