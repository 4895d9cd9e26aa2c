"""promptkit's k-means against scikit-learn's KMeans on fixed data (issue 15, item 11)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptkit.inits.kmeans import kmeans

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def _blobs(seed: int = 0, k: int = 5, per: int = 60, d: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, d))
    return np.concatenate([c + rng.normal(scale=0.5, size=(per, d)) for c in centres]).astype(np.float32)


def _inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float(d2.min(1).sum())


@pytest.mark.parametrize("start", ["random", "k-means++"])
def test_same_centroids_as_sklearn_on_separated_blobs(start):
    x = _blobs()
    ours = kmeans(torch.from_numpy(x), 5, iters=50, generator=torch.Generator().manual_seed(0), start=start)
    ref = sklearn_cluster.KMeans(5, init="k-means++", n_init=10, random_state=0).fit(x)
    ours_sorted = np.sort(ours.numpy(), axis=0)
    np.testing.assert_allclose(ours_sorted, np.sort(ref.cluster_centers_, axis=0), atol=1e-3)
    assert _inertia(x, ours.numpy()) == pytest.approx(ref.inertia_, rel=1e-4)


def test_kmeans_plus_plus_is_as_good_as_sklearn_on_overlapping_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    ref = sklearn_cluster.KMeans(8, init="k-means++", n_init=1, random_state=0, max_iter=50).fit(x)
    ours = [_inertia(x, kmeans(torch.from_numpy(x), 8, iters=50, generator=torch.Generator().manual_seed(s),
                               start="k-means++").numpy()) for s in range(5)]
    assert np.median(ours) <= ref.inertia_ * 1.05  # same algorithm: the same quality, up to the seed


def test_kmeans_plus_plus_seeds_spread_out_and_are_reproducible():
    x = torch.from_numpy(_blobs(seed=1))
    a = kmeans(x, 5, iters=0, generator=torch.Generator().manual_seed(2), start="k-means++")
    b = kmeans(x, 5, iters=0, generator=torch.Generator().manual_seed(2), start="k-means++")
    assert torch.equal(a, b)
    assert torch.cdist(a, a).add(torch.eye(5) * 1e9).min() > 5.0  # one seed per blob (blobs ~10 apart)


def test_default_start_is_unchanged():
    x = torch.from_numpy(_blobs())
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(kmeans(x, 5, generator=g1), kmeans(x, 5, generator=g2, start="random"))
    with pytest.raises(ValueError, match="unknown k-means start"):
        kmeans(x, 5, generator=g1, start="bogus")
