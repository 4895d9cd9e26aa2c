"""Device-aware, deterministic DataLoaders (promptkit/data/loader.py)."""

from __future__ import annotations

import torch
from fixtures.data_layouts import write_image_folder

from promptkit.data import TensorImageDataset, load_dataset, make_loader
from promptkit.data.loader import default_num_workers


def _dataset(n=32):
    images = torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1, 1).expand(n, 3, 2, 2)
    return TensorImageDataset(images, torch.arange(n))


def _order(loader):
    return torch.cat([labels for _, labels in loader]).tolist()


class TestMakeLoader:
    def test_shuffle_is_reproducible_from_the_seed(self):
        ds = _dataset()
        a = _order(make_loader(ds, batch_size=5, shuffle=True, seed=3, device="cpu"))
        b = _order(make_loader(ds, batch_size=5, shuffle=True, seed=3, device="cpu"))
        c = _order(make_loader(ds, batch_size=5, shuffle=True, seed=4, device="cpu"))
        assert a == b != c and sorted(a) == list(range(32))

    def test_no_shuffle_keeps_order_and_batches(self):
        loader = make_loader(_dataset(), batch_size=10, shuffle=False, seed=0, device="cpu")
        images, labels = next(iter(loader))
        assert images.shape == (10, 3, 2, 2) and labels.tolist() == list(range(10))
        assert _order(loader) == list(range(32))

    def test_pinned_memory_only_for_cuda(self):
        ds = _dataset()
        assert make_loader(ds, batch_size=4, shuffle=False, seed=0, device="cuda:0").pin_memory  # not iterated
        assert not make_loader(ds, batch_size=4, shuffle=False, seed=0, device="cpu").pin_memory

    def test_worker_processes_load_image_files(self, tmp_path):
        s = load_dataset(write_image_folder(tmp_path / "ds", per_class=4))
        loader = make_loader(s.test, batch_size=3, shuffle=True, seed=0, device="cpu", num_workers=2)
        assert loader.num_workers == 2
        in_workers = _order(loader)
        assert sorted(in_workers) == sorted(s.test.labels.tolist())
        assert in_workers == _order(make_loader(s.test, batch_size=3, shuffle=True, seed=0, device="cpu"))

    def test_in_memory_data_uses_no_workers_by_default(self):
        assert default_num_workers(_dataset(), torch.device("cuda")) == 0
