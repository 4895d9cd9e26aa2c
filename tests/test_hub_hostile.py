"""pull against a hostile Hub: every attack is refused with a one-line message and the local registry byte-unchanged.

The server is the loopback emulator in hostile mode (``HubEmulator.hostile``): it answers with
paths for commit shas, HTML pages with status 200, malformed or lying file listings, more or
other bytes than it listed, forged headers, stalls, and repos whose manifest names a local
prompt. Each test performs one attack and checks the message, the registry's bytes and that
nothing was left in (or written outside) the Hugging Face cache.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest
from hub_helpers import add_prompt, tree
from promptkit.cli.app import app
from promptkit.registry import Registry
from promptkit.registry.hub import pull, push
from typer.testing import CliRunner

from promptkit.errors import HubError, HubNotFoundError, HubOfflineError, InvalidAssetError, UsageError

pytest_plugins = ["conftest_hub"]  # fixtures: hf_env, make_hub, hub

REPO = "me/dtd-hg"


@pytest.fixture
def src(tmp_path) -> Registry:
    return Registry(tmp_path / "src", builtin=False)


@pytest.fixture
def dst(tmp_path) -> Registry:
    reg = Registry(tmp_path / "dst", builtin=False)
    add_prompt(reg, "me/victim", seed=5)
    return reg


@pytest.fixture
def pushed(hub, src):
    """REPO on the emulator: one genuine version; returns the emulator's files of main."""
    add_prompt(src)
    push(src, "dtd-hg", repo_id=REPO)
    return hub.files(REPO)


def _listing(files: dict[str, bytes], **override) -> list[dict]:
    import hashlib

    out = []
    for path, data in sorted(files.items()):
        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entry = {"type": "file", "path": path, "size": len(data), "oid": oid}
        if path.endswith(".safetensors"):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        out.append(entry | override.get(path, {}))
    return out


def _attack(dst: Registry, hf_env: Path, error: type[Exception], words: str, spec: str = REPO, **kwargs) -> Exception:
    """Pull ``spec``: it must fail with ``error`` naming ``words``, the registry unchanged, no partial file left."""
    before = tree(dst.root)
    with pytest.raises(error) as info:
        pull(dst, spec, **kwargs)
    assert words in str(info.value), str(info.value)
    assert "\n" not in str(info.value) and "\n" not in (info.value.hint or "")
    assert tree(dst.root) == before
    leftovers = [p for p in hf_env.rglob("*") if p.name.endswith((".incomplete", ".tmp"))]
    assert leftovers == []
    return info.value


@pytest.mark.parametrize("sha", [
    "../../../../../victim/record", "nothex", "A" * 40, "a" * 39, "a" * 41, "g" * 40, "", 12345, True,
    ["a" * 40], "a" * 40 + "/../x",
])
def test_hostile_commit_sha_is_refused(hub, pushed, dst, hf_env, sha):
    if isinstance(sha, str) and sha.startswith("../"):
        sha = os.path.relpath(dst.root / "assets" / "me" / "victim" / "versions" / "1" / "record.json",
                              hf_env / "hub" / "models--me--dtd-hg" / "snapshots")
    hub.hostile(sha=sha)
    _attack(dst, hf_env, InvalidAssetError, "not 40 hexadecimal digits")
    assert dst.verify().ok
    assert not any("/resolve/" in p for p in hub.requests())  # nothing was downloaded under it


@pytest.mark.parametrize("where", ["/revision/", "/tree/"])
def test_hostile_html_page_with_status_200(hub, pushed, dst, hf_env, where):
    hub.hostile(html=where)
    err = _attack(dst, hf_env, HubError, "not JSON")
    assert "text/html" in str(err) and "HF_ENDPOINT" in err.hint


def test_hostile_html_page_instead_of_the_file(hub, pushed, dst, hf_env):
    hub.hostile(html="/resolve/")
    _attack(dst, hf_env, InvalidAssetError, "refused")


@pytest.mark.parametrize("listing, words", [
    (b"{not json", "not JSON"),
    ({"files": []}, "not a list of entries"),
    ([1, 2, 3], "not a list of entries"),
    ("prompt.safetensors", "not a list of entries"),
    ([], "has no"),
    ("size-string", "malformed entry"),
    ("size-negative", "malformed entry"),
    ("size-float", "malformed entry"),
    ("size-bool", "malformed entry"),
    ("oid-path", "malformed entry"),
    ("oid-missing", "malformed entry"),
    ("duplicate", "malformed entry"),
])
def test_hostile_malformed_tree_listing(hub, pushed, dst, hf_env, listing, words):
    files = {k: v for k, v in pushed.items() if k in ("prompt.safetensors", "manifest.json")}
    forged = {
        "size-string": _listing(files, **{"manifest.json": {"size": "12"}}),
        "size-negative": _listing(files, **{"manifest.json": {"size": -1}}),
        "size-float": _listing(files, **{"manifest.json": {"size": 12.0}}),
        "size-bool": _listing(files, **{"manifest.json": {"size": True}}),
        "oid-path": _listing(files, **{"prompt.safetensors": {"lfs": {"oid": "../../../../victim"}}}),
        "oid-missing": _listing(files, **{"manifest.json": {"oid": None}}),
        "duplicate": _listing(files) + _listing(files),
    }
    hub.hostile(tree=forged.get(listing, listing) if isinstance(listing, str) else listing)
    error = HubNotFoundError if words == "has no" else (HubError if words == "not JSON" else InvalidAssetError)
    _attack(dst, hf_env, error, words)
    assert not any("/resolve/" in p for p in hub.requests())


def test_hostile_listing_claims_a_huge_file_refused_before_downloading(hub, pushed, dst, hf_env):
    files = {k: v for k, v in pushed.items() if k in ("prompt.safetensors", "manifest.json")}
    hub.hostile(tree=_listing(files, **{"prompt.safetensors": {"size": 1 << 40}}))
    err = _attack(dst, hf_env, InvalidAssetError, "refused before downloading")
    assert "PROMPTKIT_MAX_PROMPT_BYTES" in err.hint
    assert not any("/resolve/" in p for p in hub.requests())


def test_hostile_large_genuine_file_refused_before_downloading_then_allowed(hub, dst, hf_env, monkeypatch, src):
    m = add_prompt(src, "big")
    data = src.path_of(m.ref).read_bytes()
    hub.commit_files("me/big", {"prompt.safetensors": data + b" " * (17 << 20),  # padding after the header's end
                                "manifest.json": m.model_dump_json().encode()})
    monkeypatch.setenv("PROMPTKIT_MAX_PROMPT_BYTES", "1024")
    err = _attack(dst, hf_env, InvalidAssetError, "over the limit", spec="me/big")
    assert "PROMPTKIT_MAX_PROMPT_BYTES=BYTES" in err.hint
    assert not any("/resolve/" in p for p in hub.requests())
    assert not list((hf_env / "hub").rglob("blobs/*"))  # nothing of it reached the cache


def test_hostile_server_sends_more_than_it_listed(hub, pushed, dst, hf_env):
    hub.hostile(serve={"prompt.safetensors": pushed["prompt.safetensors"] + b"x" * 100_000})
    _attack(dst, hf_env, InvalidAssetError, "more than the")
    assert not [p for p in (hf_env / "hub").rglob("blobs/*") if p.stat().st_size > 50_000]


def test_hostile_server_sends_other_bytes_of_the_listed_size(hub, pushed, dst, hf_env):
    data = bytearray(pushed["prompt.safetensors"])
    data[-1] ^= 0xFF
    hub.hostile(serve={"prompt.safetensors": bytes(data)})
    _attack(dst, hf_env, InvalidAssetError, "does not match the listing")


def test_hostile_forged_commit_header_on_download(hub, pushed, dst, hf_env):
    hub.hostile(headers={"X-Repo-Commit": "../../../../victim"})
    _attack(dst, hf_env, InvalidAssetError, "served commit")


def test_hostile_etag_path_is_never_used(hub, pushed, dst, hf_env, tmp_path):
    target = tmp_path / "owned"
    hub.hostile(headers={"ETag": f'"{os.path.relpath(target, hf_env / "hub" / "models--me--dtd-hg" / "blobs")}"',
                         "X-Linked-Etag": f'"{target}"'})
    result = pull(dst, REPO)  # the ETag decides nothing: the checked digest names the blob
    assert result.created and not target.exists()
    assert dst.verify().ok


def test_hostile_stall_times_out_with_the_variable_in_the_hint(hub, pushed, dst, hf_env, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_HUB_TIMEOUT", "0.5")
    hub.hostile(stall=("/api/models/", 5.0))
    start = time.monotonic()
    err = _attack(dst, hf_env, HubError, "did not answer within 0.5 s")
    assert time.monotonic() - start < 4.0
    assert "PROMPTKIT_HUB_TIMEOUT=SECONDS" in err.hint


def test_hostile_stall_during_download_times_out(hub, pushed, dst, hf_env, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_HUB_TIMEOUT", "0.5")
    hub.hostile(stall=("/resolve/", 5.0))
    _attack(dst, hf_env, HubError, "did not answer within 0.5 s")


def test_hostile_stall_on_push_times_out(hub, src, monkeypatch):
    from huggingface_hub.utils import get_session

    add_prompt(src)
    before = get_session().timeout
    monkeypatch.setenv("PROMPTKIT_HUB_TIMEOUT", "0.5")
    hub.hostile(stall=("/api/repos/create", 5.0))
    start = time.monotonic()
    with pytest.raises(HubError, match="did not answer within 0.5 s") as info:
        push(src, "dtd-hg", repo_id=REPO)
    assert time.monotonic() - start < 4.0 and "PROMPTKIT_HUB_TIMEOUT" in info.value.hint
    assert get_session().timeout == before  # the library's client is left as it was


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_hostile_timeout_setting_must_be_a_positive_number(hub, pushed, dst, hf_env, monkeypatch, value):
    monkeypatch.setenv("PROMPTKIT_HUB_TIMEOUT", value)
    _attack(dst, hf_env, UsageError, "PROMPTKIT_HUB_TIMEOUT")


def test_hostile_manifest_naming_a_local_prompt_does_not_take_it_over(hub, src, dst, hf_env):
    evil = add_prompt(src, "me/victim", seed=9)  # the repo's manifest and embedded manifest say "me/victim"
    hub.commit_files("me/evil", {"prompt.safetensors": src.path_of(evil.ref).read_bytes(),
                                 "manifest.json": evil.model_dump_json().encode()})
    victim = tree(dst.root / "assets" / "me" / "victim")
    latest = dst.resolve("me/victim")
    result = pull(dst, "me/evil")
    assert result.manifest.ref == "me/evil:1"  # named by the repo id, on this side
    assert dst.resolve("me/victim") == latest and tree(dst.root / "assets" / "me" / "victim") == victim


def test_hostile_pull_into_a_name_of_other_lineage_needs_take_over(hub, pushed, dst, hf_env):
    _attack(dst, hf_env, UsageError, "another lineage", name="me/victim")
    taken = pull(dst, REPO, name="me/victim", take_over=True)
    assert taken.manifest.ref == "me/victim:2" and taken.manifest.origin.repo_id == REPO


def test_hostile_second_repo_cannot_join_a_pulled_name(hub, pushed, src, dst, hf_env):
    pull(dst, REPO)
    add_prompt(src, "other", seed=3)
    push(src, "other", repo_id="me/other")
    _attack(dst, hf_env, UsageError, "came from me/dtd-hg", spec="me/other", name=REPO)


def test_hostile_cached_ref_is_checked_offline(hub, pushed, dst, hf_env, monkeypatch):
    pull(Registry(hf_env.parent / "warm", builtin=False), REPO)
    ref = hf_env / "hub" / "models--me--dtd-hg" / "refs" / "main"
    ref.write_text("../../../../victim")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _attack(dst, hf_env, HubOfflineError, "not in the Hugging Face cache")


def _pull_in_child(root: str) -> None:
    pull(Registry(root, builtin=False), REPO)


def test_hostile_eight_concurrent_pulls_store_one_version(hub, pushed, tmp_path):
    root = str(tmp_path / "concurrent")
    procs = [mp.get_context("fork").Process(target=_pull_in_child, args=(root,)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    reg = Registry(root, builtin=False)
    assert [e.manifest.ref for e in reg.list()] == [f"{REPO}:1"] and reg.verify().ok


@pytest.mark.parametrize("attack", [dict(html="/revision/"), dict(tree=b"<html>"), dict(sha="../x"),
                                    dict(tree={"oops": 1})])
def test_hostile_answers_are_one_line_in_the_cli(hub, pushed, tmp_path, attack):
    hub.hostile(**attack)
    result = CliRunner().invoke(app, ["pull", REPO, "--registry", str(tmp_path / "cli")])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert not (tmp_path / "cli" / "assets").exists()
