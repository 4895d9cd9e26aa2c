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
