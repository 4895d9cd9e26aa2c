"""Fault injection for registry tests."""

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
