"""Tests for promptkit.digest: the one place tensors and files are hashed.

Each encoding is checked against its documented byte layout, computed here with hashlib, so a
change that would stop stored digests from verifying fails.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from promptkit.digest import ENCODINGS, bytes_sha256, file_sha256, tensor_sha256


def _raw(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def test_content_encoding_follows_its_documented_layout():
    tensors = {"prompt": torch.arange(6, dtype=torch.float32).reshape(2, 3),
               "a": torch.tensor([1, 2], dtype=torch.int64)}
    h = hashlib.sha256()
    for name in ("a", "prompt"):  # sorted order
        t = tensors[name]
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{tuple(t.shape)}\0".encode())
        h.update(_raw(t))
    assert tensor_sha256(tensors, encoding="content") == h.hexdigest()


def test_weights_encoding_length_prefixes_every_part():
    sd = {"w": torch.ones(2, 2), "b": torch.zeros(3)}
    h = hashlib.sha256()
    for name in ("b", "w"):
        t = sd[name]
        for part in (name.encode(), str(t.dtype).encode(), str(tuple(t.shape)).encode(), _raw(t)):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    assert tensor_sha256(sd, encoding="weights") == h.hexdigest()


def test_values_encoding_is_the_same_in_any_floating_dtype_and_after_a_prefix():
    t = torch.tensor([[0.5, -1.25], [2.0, 3.0]])
    expected = hashlib.sha256(b"deep:(2, 2):" + _raw(t)).hexdigest()
    assert tensor_sha256([t], encoding="values", prefix="deep:(2, 2):") == expected
    assert tensor_sha256([t.to(torch.float64)], encoding="values", prefix="deep:(2, 2):") == expected
    assert tensor_sha256([t.to(torch.bfloat16)], encoding="values", prefix="deep:(2, 2):") == expected  # exact in bf16


def test_digests_tell_apart_what_users_rely_on():
    x = torch.arange(4, dtype=torch.float32)
    # a renamed tensor, a reshaped one and one of another dtype are different content
    assert tensor_sha256({"a": x}, encoding="content") != tensor_sha256({"b": x}, encoding="content")
    assert tensor_sha256({"a": x}, encoding="content") != tensor_sha256({"a": x.reshape(2, 2)}, encoding="content")
    assert tensor_sha256({"a": x}, encoding="content") != tensor_sha256({"a": x.double()}, encoding="content")
    # the weights encoding cannot be fooled by moving bytes between a name and its neighbour
    assert tensor_sha256({"ab": x}, encoding="weights") != tensor_sha256({"a": x}, encoding="weights")
    # a non-contiguous view hashes as its values
    y = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    contiguous = tensor_sha256({"y": y.t().contiguous()}, encoding="content")
    assert tensor_sha256({"y": y.t()}, encoding="content") == contiguous


def test_empty_tensors_and_empty_inputs_hash():
    assert tensor_sha256({}, encoding="content") == hashlib.sha256(b"").hexdigest()
    assert tensor_sha256([torch.zeros(0)], encoding="values", prefix="p") == hashlib.sha256(b"p").hexdigest()


def test_bad_encodings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown tensor digest encoding 'typed'"):
        tensor_sha256({"a": torch.ones(1)}, encoding="typed")  # type: ignore[arg-type]
    for encoding in ("content", "weights"):
        with pytest.raises(TypeError, match="pass a mapping"):
            tensor_sha256([torch.ones(1)], encoding=encoding)
    assert ENCODINGS == ("content", "weights", "values")


def test_file_and_bytes_digests_agree(tmp_path):
    data = bytes(range(256)) * 5000  # over one read block when chunk is small
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path, chunk=1000) == bytes_sha256(data) == hashlib.sha256(data).hexdigest()
