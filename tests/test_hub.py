"""push and pull with the real huggingface_hub client against the loopback Hub emulator."""

from __future__ import annotations

import io
import json
import logging
import pickle
from pathlib import Path

import pytest
import torch
from hub_helpers import HUB_ID, add_prompt, tree
from promptkit.registry import Lineage, LineageSource, Registry
from promptkit.registry.files import content_digest, serialize
from promptkit.registry.hub import hub_cache_dir, hub_endpoint, parse_repo_spec, pull, push

from promptkit.errors import (
    EXIT_NOT_FOUND,
    DigestMismatchError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    InvalidAssetError,
    UsageError,
)

pytest_plugins = ["conftest_hub"]  # fixtures: hf_env, make_hub, hub, hub_any_mode

REPO = "me/dtd-hg"
SECRET = "hf_SecretTokenValue0123456789"


@pytest.fixture
def src(tmp_path) -> Registry:
    return Registry(tmp_path / "src", builtin=False)


@pytest.fixture
def dst(tmp_path) -> Registry:
    return Registry(tmp_path / "dst", builtin=False)


def _without(manifest, *fields):
    data = manifest.model_dump()
    for f in fields:
        data.pop(f)
    return data


class TestPush:
    def test_one_commit_with_file_manifest_card_and_tag(self, hub_any_mode, src):
        hub = hub_any_mode
        m = add_prompt(src)
        result = push(src, "dtd-hg", repo_id=REPO)
        commits = [p for p in hub.requests("POST") if "/commit/" in p]
        assert commits == [f"/api/models/{REPO}/commit/main"]
        files = hub.files(REPO)
        assert set(files) == {".gitattributes", "prompt.safetensors", "manifest.json", "README.md"}
        assert files["prompt.safetensors"] == src.path_of("dtd-hg:1").read_bytes()
        assert json.loads(files["manifest.json"]) == json.loads(m.model_dump_json())
        assert hub.refs(REPO)["tags"] == {"v1": result.commit_sha}
        assert hub.refs(REPO)["branches"]["main"] == result.commit_sha
        assert (result.tag, result.revision, result.manifest.ref) == ("v1", "main", "dtd-hg:1")
        lfs_calls = [p for p in hub.requests() if "lfs" in p]
        assert bool(lfs_calls) == (hub.upload_mode == "lfs")

    def test_draws_no_progress_bars_and_restores_them(self, make_hub, src, dst, capsys):
        from huggingface_hub.utils import are_progress_bars_disabled

        make_hub(upload_mode="lfs")  # the LFS path is the one that draws upload bars
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        pull(dst, REPO)
        assert capsys.readouterr().err == ""
        assert not are_progress_bars_disabled()

    def test_model_card_parses_with_library_name(self, hub, src):
        from huggingface_hub import ModelCard

        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        card = ModelCard(hub.files(REPO)["README.md"].decode())
        assert card.data.library_name == "promptkit"
        assert card.data.base_model == HUB_ID
        assert {"vit_tiny_patch16_224", "visual-prompt-tuning"} <= set(card.data.tags)
        assert f"promptkit pull {REPO}@v1" in card.text

    def test_each_version_is_tagged(self, hub, src):
        add_prompt(src)
        first = push(src, "dtd-hg", repo_id=REPO)
        add_prompt(src, seed=1)
        second = push(src, "dtd-hg", repo_id=REPO)
        assert hub.refs(REPO)["tags"] == {"v1": first.commit_sha, "v2": second.commit_sha}
        assert hub.files(REPO, "v1")["prompt.safetensors"] == src.path_of("dtd-hg:1").read_bytes()
        assert hub.files(REPO, "v2")["prompt.safetensors"] == src.path_of("dtd-hg:2").read_bytes()

    def test_repush_is_a_no_op_that_keeps_the_tag(self, hub, src):
        add_prompt(src)
        first = push(src, "dtd-hg", repo_id=REPO)
        again = push(src, "dtd-hg:1", repo_id=REPO)
        assert again.commit_sha == first.commit_sha
        assert hub.refs(REPO)["tags"] == {"v1": first.commit_sha}

    def test_private_message_and_branch(self, hub, src):
        add_prompt(src)
        result = push(src, "dtd-hg", repo_id=REPO, private=True, revision="dev", message="first cut")
        repo = hub.repos[REPO]
        assert repo.private
        assert result.revision == "dev" and repo.branches["dev"] == result.commit_sha
        assert repo.commits[result.commit_sha].message == "first cut"
        assert "prompt.safetensors" not in hub.files(REPO, "main")  # the branch was created from main

    def test_create_pr_opens_a_pull_request_against_main(self, hub, src):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        add_prompt(src, seed=1)
        result = push(src, "dtd-hg:2", repo_id=REPO, create_pr=True)
        assert result.pr_url and result.pr_url.endswith("/discussions/1")
        assert result.tag is None
        assert hub.files(REPO, "refs/pr/1")["prompt.safetensors"] == src.path_of("dtd-hg:2").read_bytes()
        assert hub.files(REPO, "main")["prompt.safetensors"] == src.path_of("dtd-hg:1").read_bytes()
        assert list(hub.refs(REPO)["tags"]) == ["v1"]

    def test_create_pr_on_another_branch_is_a_usage_error(self, hub, src):
        add_prompt(src)
        with pytest.raises(UsageError, match="targets main"):
            push(src, "dtd-hg", repo_id=REPO, create_pr=True, revision="dev")
        assert hub.requests() == []

    @pytest.mark.parametrize("bad", ["dtd-hg", "a/b/c", "me/..x", "me/x--y", "", "me/x y"])
    def test_invalid_repo_id(self, hub, src, bad):
        add_prompt(src)
        with pytest.raises(UsageError, match="invalid Hub repo id"):
            push(src, "dtd-hg", repo_id=bad)

    def test_corrupted_local_file_is_not_pushed(self, hub, src):
        add_prompt(src)
        path = src.path_of("dtd-hg:1")
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(DigestMismatchError):
            push(src, "dtd-hg", repo_id=REPO)
        assert hub.requests() == []

    def test_lineage_table_names_source_repos(self, hub, src, dst):
        a = add_prompt(src, "src-a", seed=1)
        push(src, "src-a", repo_id="me/src-a")
        pulled = pull(dst, "me/src-a").manifest  # dst knows src-a's Hub repo through its origin
        b = add_prompt(dst, "src-b", seed=2)
        lineage = Lineage(method="hgprompt", sources=[
            LineageSource(ref=pulled.ref, sha256=a.sha256, weight=0.625, task="dtd"),
            LineageSource(ref=b.ref, sha256=b.sha256, weight=0.375),
        ], params={"lambda": 0.1})
        add_prompt(dst, "composed", seed=3, lineage=lineage)
        push(dst, "composed", repo_id="me/composed")
        card = hub.files("me/composed")["README.md"].decode()
        assert "## Lineage" in card
        row_a = next(line for line in card.splitlines() if line.startswith(f"| `{pulled.ref}`"))
        assert "me/src-a" in row_a and "0.6250" in row_a
        row_b = next(line for line in card.splitlines() if line.startswith(f"| `{b.ref}`"))
        assert "local only" in row_b and "0.3750" in row_b


class TestPull:
    def test_round_trip_into_an_empty_registry(self, hub_any_mode, src, dst):
        hub = hub_any_mode
        pushed = add_prompt(src, description="a prompt for textures", tags={"stage": "prod"})
        result = push(src, "dtd-hg", repo_id=REPO)
        assert not dst.root.exists()
        pulled = pull(dst, REPO)
        assert pulled.created and pulled.commit_sha == result.commit_sha
        assert pulled.path.read_bytes() == src.path_of(pushed.ref).read_bytes()
        assert _without(pulled.manifest, "origin", "name") == _without(pushed, "origin", "name")
        assert pulled.manifest.name == REPO  # named by the repo id, not by the repo's manifest
        origin = pulled.manifest.origin
        assert (origin.repo_id, origin.commit_sha, origin.revision, origin.endpoint) == (
            REPO, result.commit_sha, "main", hub.endpoint)
        assert dst.load(pulled.manifest.ref).manifest.origin == origin  # what the registry recorded
        assert dst.verify().ok

    def test_pulling_the_same_content_twice_stores_it_once(self, hub, src, dst):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        first = pull(dst, REPO)
        second = pull(dst, f"{REPO}@v1")
        assert second.manifest.ref == first.manifest.ref == "me/dtd-hg:1"  # the repo id names it locally
        assert not second.created
        assert [e.manifest.ref for e in dst.list()] == ["me/dtd-hg:1"]

    def test_revision_tag_commit_and_local_name(self, hub, src, dst):
        add_prompt(src)
        first = push(src, "dtd-hg", repo_id=REPO)
        add_prompt(src, seed=1)
        push(src, "dtd-hg", repo_id=REPO)
        old = pull(dst, f"{REPO}@v1", name="old")
        assert old.manifest.ref == "old:1" and old.manifest.sha256 == src.resolve("dtd-hg:1").sha256
        assert old.revision == "v1"
        by_sha = pull(dst, f"{REPO}@{first.commit_sha}", name="old")
        assert not by_sha.created and by_sha.commit_sha == first.commit_sha
        latest = pull(dst, REPO)
        assert latest.manifest.ref == "me/dtd-hg:1" and latest.manifest.sha256 == src.resolve("dtd-hg:2").sha256

    def test_pull_request_revision(self, hub, src, dst):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        add_prompt(src, seed=1)
        push(src, "dtd-hg:2", repo_id=REPO, create_pr=True)
        pulled = pull(dst, f"{REPO}@refs/pr/1")
        assert pulled.manifest.sha256 == src.resolve("dtd-hg:2").sha256

    def test_download_goes_to_the_hf_cache_from_the_environment(self, hub, hf_env, src, dst):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        pull(dst, REPO)
        assert hub_cache_dir() == hf_env / "hub"
        assert (hf_env / "hub" / "models--me--dtd-hg" / "snapshots").is_dir()

    def test_explicit_endpoint_wins_over_hf_endpoint(self, hub, src, dst, monkeypatch):
        add_prompt(src)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        assert hub_endpoint() == "http://127.0.0.1:9"
        push(src, "dtd-hg", repo_id=REPO, endpoint=hub.endpoint)
        assert pull(dst, REPO, endpoint=hub.endpoint).manifest.origin.endpoint == hub.endpoint


def _valid_files(registry: Registry):
    m = add_prompt(registry, "good")
    return m, registry.path_of(m.ref).read_bytes(), json.loads(m.model_dump_json())


class _Payload:
    """Unpickling this would create a file: proof that nothing was unpickled if the file is absent."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _malformed(case: str, registry: Registry, tmp_path: Path) -> dict[str, bytes]:
    m, data, record = _valid_files(registry)
    if case == "pickle":
        blob = pickle.dumps({"prompt": _Payload(tmp_path / "unpickled")})
    elif case == "torch-checkpoint":
        buf = io.BytesIO()
        torch.save({"prompt": torch.randn(1, 4, 8)}, buf)
        blob = buf.getvalue()
    elif case == "broken-header":
        blob = data[:8] + b"!" + data[9:]
    elif case == "truncated":
        blob = data[:-16]
    elif case == "non-finite":
        t = torch.randn(1, 4, 8)
        t[0, 1, 2] = float("nan")
        bad = m.model_copy(update={"sha256": content_digest({"prompt": t})})
        blob, record = serialize({"prompt": t}, bad), json.loads(bad.model_dump_json())
    elif case == "digest-mismatch":
        blob = serialize({"prompt": torch.randn(1, 4, 8)}, m)
    elif case == "schema":
        blob = data
        del record["backbone"]
    elif case == "disagreement":
        blob = data
        record["metrics"] = {"test_acc": 0.99}
    else:
        raise AssertionError(case)
    return {"prompt.safetensors": blob, "manifest.json": json.dumps(record).encode()}


class TestPullRefusesMalformedContent:
    @pytest.mark.parametrize("case, words", [
        ("pickle", "not a safetensors file"),
        ("torch-checkpoint", "not a safetensors file"),
        ("broken-header", "broken safetensors header"),
        ("truncated", "outside the file"),
        ("non-finite", "non-finite"),
        ("digest-mismatch", "digest"),
        ("schema", "backbone"),
        ("disagreement", "disagrees"),
    ])
    def test_refused_with_nothing_written(self, hub, src, dst, tmp_path, case, words):
        hub.commit_files("me/bad", _malformed(case, src, tmp_path))
        add_prompt(dst, "already-here")  # the registry exists and holds something
        before = tree(dst.root)
        with pytest.raises(InvalidAssetError) as err:
            pull(dst, "me/bad")
        assert words in str(err.value)
        assert "me/bad@" in str(err.value)
        assert tree(dst.root) == before
        assert not (tmp_path / "unpickled").exists()

    @pytest.mark.parametrize("present", ["prompt.safetensors", "manifest.json", "README.md"])
    def test_repo_without_a_prompt(self, hub, src, dst, present):
        _, data, record = _valid_files(src)
        content = {"prompt.safetensors": data, "manifest.json": json.dumps(record).encode(), "README.md": b"# hi\n"}
        hub.commit_files("me/other", {present: content[present]})
        with pytest.raises(HubNotFoundError, match="not a promptkit prompt repo"):
            pull(dst, "me/other")
        assert tree(dst.root) == {}


class TestErrors:
    def _one_line(self, err: BaseException) -> None:
        assert "\n" not in str(err) and err.hint and "\n" not in err.hint

    def test_missing_repo(self, hub, dst):
        with pytest.raises(HubNotFoundError, match="repository me/nothing not found") as err:
            pull(dst, "me/nothing")
        assert err.value.exit_code == EXIT_NOT_FOUND and "check the repo id" in err.value.hint
        self._one_line(err.value)

    def test_missing_revision(self, hub, src, dst):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        with pytest.raises(HubNotFoundError, match="revision 'v9' not found") as err:
            pull(dst, f"{REPO}@v9")
        assert err.value.exit_code == EXIT_NOT_FOUND
        self._one_line(err.value)

    def test_401_without_a_token(self, make_hub, src):
        make_hub(tokens={SECRET: "write"})
        add_prompt(src)
        with pytest.raises(HubAuthError, match="401") as err:
            push(src, "dtd-hg", repo_id=REPO)
        assert "hf auth login" in err.value.hint and "HF_TOKEN" in err.value.hint
        self._one_line(err.value)

    def test_401_invalid_token(self, make_hub, src, dst):
        hub = make_hub(tokens={SECRET: "write"})
        hub.commit_files(REPO, _malformed("disagreement", src, Path()))
        with pytest.raises(HubAuthError, match="401"):
            pull(dst, REPO, token="hf_wrong_token_value")

    def test_401_private_repo_without_token(self, make_hub, src, dst, monkeypatch):
        make_hub(tokens={SECRET: "write"})
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO, private=True, token=SECRET)
        with pytest.raises(HubAuthError, match="401"):
            pull(dst, REPO)
        monkeypatch.setenv("HF_TOKEN", SECRET)
        assert pull(dst, REPO).created

    def test_403_read_only_token(self, make_hub, src, monkeypatch):
        make_hub(tokens={SECRET: "read"})
        monkeypatch.setenv("HF_TOKEN", SECRET)
        add_prompt(src)
        with pytest.raises(HubAuthError, match="403") as err:
            push(src, "dtd-hg", repo_id=REPO)
        assert "write access" in err.value.hint

    def test_gated_repo(self, hub, src, dst):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        hub.set_gated(REPO)
        with pytest.raises(HubAuthError, match="gated") as err:
            pull(dst, REPO)
        assert "request access" in err.value.hint

    def test_unreachable_hub(self, hf_env, src, dst, monkeypatch):
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
        add_prompt(src)
        for call in (lambda: pull(dst, REPO), lambda: push(src, "dtd-hg", repo_id=REPO)):
            with pytest.raises(HubError, match="could not be reached") as err:
                call()
            assert type(err.value) is HubError
            self._one_line(err.value)

    def test_server_error_message_is_one_line(self, hub, src):
        hub.fail(500, "internal\nfailure", path_contains="/api/repos/create")
        add_prompt(src)
        with pytest.raises(HubError, match="500") as err:
            push(src, "dtd-hg", repo_id=REPO)
        self._one_line(err.value)


class TestTokens:
    def test_hf_token_from_the_environment(self, make_hub, src, dst, monkeypatch):
        make_hub(tokens={SECRET: "write"})
        monkeypatch.setenv("HF_TOKEN", SECRET)
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO, private=True)
        assert pull(dst, REPO).created

    def test_stored_login(self, make_hub, hf_env, src):
        make_hub(tokens={SECRET: "write"})
        hf_env.mkdir(parents=True, exist_ok=True)
        (hf_env / "token").write_text(SECRET)  # what `hf auth login` writes
        add_prompt(src)
        assert push(src, "dtd-hg", repo_id=REPO).tag == "v1"

    def test_token_never_appears_in_messages(self, make_hub, src, dst, monkeypatch):
        hub = make_hub(tokens={SECRET: "read"}, reflect_auth=True)  # the server echoes the Authorization header
        monkeypatch.setenv("HF_TOKEN", SECRET)
        add_prompt(src)
        hub.fail(500, "server trouble", path_contains="/api/repos/create")
        failures = []
        for call in (
            lambda: push(src, "dtd-hg", repo_id=REPO),  # 500 carrying the echoed token
            lambda: push(src, "dtd-hg", repo_id=REPO),  # 403: read-only token
            lambda: pull(dst, "me/missing"),  # 404
            lambda: pull(dst, REPO, token="hf_another_secret_value"),  # 401 invalid token
        ):
            with pytest.raises(HubError) as err:
                call()
            failures.append(err.value)
        assert "Bearer ***" in str(failures[0])  # the echo reached us, scrubbed
        for e in failures:
            for text in (str(e), e.hint, repr(e.args)):
                assert SECRET not in text and "hf_another_secret_value" not in text
            assert e.__cause__ is None and e.__suppress_context__

    def test_token_never_logged(self, make_hub, src, dst, monkeypatch, caplog):
        make_hub(tokens={SECRET: "write"})
        monkeypatch.setenv("HF_TOKEN", SECRET)
        caplog.set_level(logging.DEBUG)  # every logger, down to the HTTP transport's traces
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        pull(dst, REPO)
        with pytest.raises(HubNotFoundError):
            pull(dst, "me/missing")
        assert caplog.records and SECRET not in caplog.text


class TestOffline:
    def test_cached_content_pulls_without_network(self, hub, src, dst, tmp_path, monkeypatch):
        add_prompt(src)
        push(src, "dtd-hg", repo_id=REPO)
        online = pull(dst, f"{REPO}@v1")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        seen = len(hub.log)
        fresh = Registry(tmp_path / "fresh", builtin=False)
        offline = pull(fresh, f"{REPO}@v1")
        assert len(hub.log) == seen  # not one request
        assert offline.created and offline.commit_sha == online.commit_sha
        assert offline.path.read_bytes() == online.path.read_bytes()

    def test_uncached_content_fails_clearly(self, hub, dst, monkeypatch):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE is set") as err:
            pull(dst, REPO)
        assert "unset HF_HUB_OFFLINE" in err.value.hint
        assert hub.log == type(hub.log)() and tree(dst.root) == {}

    def test_push_fails_clearly(self, hub, src, monkeypatch):
        add_prompt(src)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(HubOfflineError, match="cannot push"):
            push(src, "dtd-hg", repo_id=REPO)
        assert not hub.log


class TestParseRepoSpec:
    @pytest.mark.parametrize("spec, expected", [
        ("me/x", ("me/x", None)),
        ("me/x@v3", ("me/x", "v3")),
        ("me/x@refs/pr/2", ("me/x", "refs/pr/2")),
        ("Org-1/x.y_z@0123abc", ("Org-1/x.y_z", "0123abc")),
    ])
    def test_valid(self, spec, expected):
        assert parse_repo_spec(spec) == expected

    @pytest.mark.parametrize("spec", ["x", "me/x@", "me/x@a b", "/x", "me/", "me/x/y", "me/x@~1"])
    def test_invalid(self, spec):
        with pytest.raises(UsageError):
            parse_repo_spec(spec)
