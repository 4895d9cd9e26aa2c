"""Registry test helpers: fault injection, tampered copies, and a tiny ensemble asset."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def fail_at(monkeypatch, step: str):
    """Make the registry's ``step`` (write_atomic, write_json_atomic or rename) raise while inside the block."""
    from promptkit.registry import store

    def boom(*args, **kwargs):
        raise RuntimeError(f"injected failure at {step}")

    with monkeypatch.context() as patch:
        if step == "rename":
            patch.setattr(store.os, "rename", boom)
        else:
            patch.setattr(store._fs, step, boom)
        yield


def tampered_copy(reg, ref: str, dest):
    """Copy registry ``reg`` to ``dest`` and flip one byte of ``ref``'s stored file there; returns ``dest``."""
    import shutil

    from promptkit.registry import Registry

    shutil.copytree(reg.root, dest)
    path = Registry(dest, builtin=False).path_of(ref)
    data = bytearray(path.read_bytes())
    data[-2] ^= 1
    path.write_bytes(bytes(data))
    return dest


def make_ensemble(*, k: int = 2, layers: int = 1, length: int = 4, width: int = 8, num_classes: int = 3,
                  seed: int = 0, backbone=None, alpha=None, **extra):
    """The tensors and AssetSpec of a tiny ensemble of ``k`` members of shape (layers, length, width).

    Members start from the (made up) source versions ``src-<j>:1``, tuned on ``task<j>``.
    """
    import torch
    from promptkit.registry import AssetSpec, EnsembleInfo, EnsembleMember, HeadInfo

    from promptkit.identity import BackboneIdentity, PromptGeometry
    from promptkit.prompted import prompt_sha256

    g = torch.Generator().manual_seed(seed)
    geometry = PromptGeometry(mode="shallow" if layers == 1 else "deep", length=length, width=width, layers=layers)
    members = torch.randn(k, layers, length, width, generator=g)
    if alpha is None:
        raw = torch.rand(k, generator=g) + 0.1
        alpha = raw / raw.sum()
    alpha = torch.as_tensor(alpha, dtype=torch.float32)
    tensors = {
        "members": members, "alpha": alpha,
        "member.mean": torch.randn(k, width, generator=g), "member.std": torch.rand(k, width, generator=g) + 0.5,
        "head.weight": torch.randn(num_classes, width, generator=g),
        "head.bias": torch.randn(num_classes, generator=g),
    }
    info = EnsembleInfo(members=[
        EnsembleMember(ref=f"src-{j}:1", sha256=f"{j + 1:02x}" * 32, task=f"task{j}", weight=float(alpha[j]),
                       prompt_sha256=prompt_sha256(members[j], geometry.mode))
        for j in range(k)
    ])
    backbone = backbone or BackboneIdentity(timm_name="vit_tiny_patch16_224", pretrained_tag="augreg_in21k",
                                            weights_sha256="ab" * 32)
    spec = AssetSpec(backbone=backbone, geometry=geometry, kind="ensemble", ensemble=info,
                     head=HeadInfo(num_classes=num_classes, in_features=width), **extra)
    return tensors, spec
