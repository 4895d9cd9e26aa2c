"""Tests for promptkit.inits: VPT random init, SPT data-derived inits, and from:<ref>."""

from __future__ import annotations

import pytest
import torch

from promptkit.backbone import load_backbone
from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import PromptGeometry
from promptkit.inits import (
    INITS,
    PromptSource,
    available_inits,
    collect_layer_tokens,
    init_prompt,
    init_spec,
    kmeans,
    register_init,
    sample_images,
    vpt_uniform_bound,
)
from promptkit.inits.spt import KMEANS_ITERS

D = 48



@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=3, embed_dim=D,
                         num_heads=2, reg_tokens=2)


@pytest.fixture(scope="module")
def images():
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _geometry(mode: str = "shallow", length: int = 4) -> PromptGeometry:
    return PromptGeometry(mode=mode, length=length, width=D, layers=1 if mode == "shallow" else 3)


def _hooked_tokens(vit, images) -> list[torch.Tensor]:
    """Tokens entering each block, captured by forward pre-hooks on timm's own forward."""
    seen: list[torch.Tensor] = []
    handles = [b.register_forward_pre_hook(lambda mod, args: seen.append(args[0][:, vit.num_prefix_tokens:]))
               for b in vit.blocks]
    with torch.no_grad():
        vit.forward_features(images)
    for h in handles:
        h.remove()
    return seen


class TestRegistry:
    def test_names(self):
        assert {"random", "kmeans", "mean", "max", "sample", "from"} <= set(available_inits())
        assert init_spec("from:zoo/dtd:1").name == "from"
        assert init_spec("kmeans").needs_images and not init_spec("random").needs_images

    def test_unknown_name_lists_choices(self):
        with pytest.raises(UsageError, match="unknown prompt init") as info:
            init_spec("kmeanz")
        assert "'kmeans'" in info.value.hint and "from:<ref>" in info.value.hint

    def test_register_init_adds_a_method_and_refuses_duplicates(self, tiny):
        @register_init("test-ones")
        def ones(ctx):
            return torch.ones(ctx.geometry.shape)

        try:
            assert torch.equal(init_prompt("test-ones", backbone=tiny, geometry=_geometry(), seed=0),
                               torch.ones(1, 4, D))
            with pytest.raises(ValueError, match="already registered"):
                register_init("test-ones")(ones)
        finally:
            INITS.pop("test-ones")


class TestRandomInit:
    def test_vpt_bound(self):
        assert vpt_uniform_bound((16, 16), 768) == pytest.approx(0.0625)

    def test_uniform_within_bound_and_seeded(self, tiny):
        g = _geometry("deep", 5)
        a = init_prompt("random", backbone=tiny, geometry=g, seed=3)
        v = vpt_uniform_bound((8, 8), D)
        assert a.shape == (3, 5, D) and a.dtype == torch.float32
        assert float(a.abs().max()) <= v and float(a.abs().max()) > 0.8 * v
        assert torch.equal(a, init_prompt("random", backbone=tiny, geometry=g, seed=3))
        assert not torch.equal(a, init_prompt("random", backbone=tiny, geometry=g, seed=4))


class TestCollectLayerTokens:
    def test_matches_the_inputs_of_timm_blocks(self, tiny, images):
        ours = collect_layer_tokens(tiny.model, images, [0, 1, 2], batch_size=4)  # two batches
        ref = _hooked_tokens(tiny.model, images)
        assert [t.shape for t in ours] == [(6, 16, D)] * 3  # register and cls tokens removed
        for a, b in zip(ours, ref):
            assert torch.allclose(a, b, atol=1e-6)

    def test_rejects_out_of_range_layers(self, tiny, images):
        with pytest.raises(UsageError):
            collect_layer_tokens(tiny.model, images, [3])


class TestSptInits:
    @pytest.mark.parametrize("mode", ["shallow", "deep"])
    @pytest.mark.parametrize("method", ["sample", "mean", "max", "kmeans"])
    def test_matches_a_direct_computation(self, tiny, images, mode, method):
        g = _geometry(mode, 4)
        got = init_prompt(method, backbone=tiny, geometry=g, images=images, seed=7)
        assert got.shape == g.shape
        tokens = _hooked_tokens(tiny.model, images)[: g.layers]
        gen = torch.Generator().manual_seed(7)
        expected = []
        for t in tokens:  # (N, n=16, d); window = 16 // 4 = 4 tokens
            if method == "sample":
                flat = t.reshape(-1, D)
                expected.append(flat[torch.randperm(flat.shape[0], generator=gen)[:4]])
            elif method in ("mean", "max"):
                w = t.reshape(6, 4, 4, D)
                pooled = (w.mean(2) if method == "mean" else w.amax(2)).reshape(-1, D)
                expected.append(pooled[torch.randperm(pooled.shape[0], generator=gen)[:4]])
            else:
                expected.append(kmeans(t.reshape(-1, D), 4, iters=KMEANS_ITERS, generator=gen))
        assert torch.allclose(got, torch.stack(expected), atol=1e-5)

    def test_sample_tokens_come_from_the_target(self, tiny, images):
        got = init_prompt("sample", backbone=tiny, geometry=_geometry(), images=images, seed=0)[0]
        flat = _hooked_tokens(tiny.model, images)[0].reshape(-1, D)
        for row in got:
            assert torch.isclose(flat, row, atol=1e-6).all(1).any()

    def test_needs_images(self, tiny):
        with pytest.raises(UsageError, match="needs target training images"):
            init_prompt("kmeans", backbone=tiny, geometry=_geometry(), seed=0)

    def test_too_few_tokens_is_a_usage_error(self, tiny, images):
        with pytest.raises(UsageError, match="at least m=20"):
            init_prompt("sample", backbone=tiny, geometry=_geometry(length=20), images=images[:1], seed=0)

    def test_geometry_must_fit_the_backbone(self, tiny, images):
        bad = PromptGeometry(mode="deep", length=2, width=D, layers=12)
        with pytest.raises(UsageError, match="does not fit"):
            init_prompt("random", backbone=tiny, geometry=bad, seed=0)


class TestKmeans:
    def test_recovers_separated_clusters(self):
        g = torch.Generator().manual_seed(0)
        centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
        x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
        got = kmeans(x, 3, iters=20, generator=torch.Generator().manual_seed(1))
        dist = torch.cdist(centres, got).min(1).values
        assert float(dist.max()) < 0.1

    def test_centroids_are_means_of_their_points(self):
        x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
        c = kmeans(x, 4, iters=50, generator=torch.Generator().manual_seed(0))
        assign = torch.cdist(x, c).argmin(1)
        for k in range(4):
            assert torch.allclose(c[k], x[assign == k].mean(0), atol=1e-5)

    def test_seeded_and_validated(self):
        x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
        a = kmeans(x, 3, generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, kmeans(x, 3, generator=torch.Generator().manual_seed(5)))
        with pytest.raises(ValueError):
            kmeans(x, 31, generator=torch.Generator())

    def test_duplicate_points_keep_k_centroids(self):
        x = torch.zeros(10, 2)
        x[0] = 1.0
        c = kmeans(x, 3, iters=5, generator=torch.Generator().manual_seed(0))
        assert c.shape == (3, 2) and torch.isfinite(c).all()


class TestFromInit:
    def test_copies_a_compatible_prompt(self, tiny):
        g = _geometry("deep", 2)
        src = torch.randn(g.shape)
        got = init_prompt("from:zoo/a:1", backbone=tiny, geometry=g, seed=0,
                          source=PromptSource(src, tiny.identity, g))
        assert torch.equal(got, src) and got.data_ptr() != src.data_ptr()

    def test_rejects_other_backbones_and_geometries(self, tiny):
        g = _geometry("shallow", 2)
        other = tiny.identity.model_copy(update={"weights_sha256": "1" * 64})
        with pytest.raises(IncompatibleError, match="zoo/a:1"):
            init_prompt("from:zoo/a:1", backbone=tiny, geometry=g, seed=0,
                        source=PromptSource(torch.zeros(g.shape), other, g))
        longer = _geometry("shallow", 3)
        with pytest.raises(IncompatibleError, match="geometry"):
            init_prompt("from:zoo/a:1", backbone=tiny, geometry=g, seed=0,
                        source=PromptSource(torch.zeros(longer.shape), tiny.identity, longer))

    def test_needs_a_source(self, tiny):
        with pytest.raises(UsageError, match="needs the source prompt"):
            init_prompt("from:x", backbone=tiny, geometry=_geometry(), seed=0)


class TestSampleImages:
    def test_seeded_subset(self):
        data = [(torch.full((3, 2, 2), float(i)), i) for i in range(10)]
        a = sample_images(data, 4, seed=1)
        assert a.shape == (4, 3, 2, 2)
        assert torch.equal(a, sample_images(data, 4, seed=1))
        assert len({float(x[0, 0, 0]) for x in a}) == 4
        assert sample_images(data, 50, seed=0).shape[0] == 10
