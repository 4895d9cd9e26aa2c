"""A loopback stand-in for the Hugging Face Hub, for tests only (stdlib only, in memory, bounded).

No Hub is reachable from our machines and no maintained emulator exists (``hf-local-hub``, on
PyPI, needs a Go binary that cannot be built offline), so the tests run the real
``huggingface_hub`` client against this server on 127.0.0.1 with an ephemeral port. It
implements just enough of the Hub's HTTP API, with the replies the client needs, measured
against huggingface_hub 2.4.0 (model repositories only):

=====================================================  ===========================================
``POST /api/repos/create``                             create a repo (409 if it exists); the first
                                                       commit holds ``.gitattributes`` as on the Hub
``POST /api/validate-yaml``                            model card metadata check (always passes)
``GET  /api/whoami-v2``                                the token's user
``POST /api/models/{repo}/preupload/{rev}``            upload mode per file (``upload_mode``
                                                       option: ``"regular"`` or ``"lfs"``) and the
                                                       remote oid, so unchanged files are skipped
``POST /api/models/{repo}/commit/{rev}``               ndjson commit (``header``, ``file``,
                                                       ``lfsFile``, ``deletedFile``,
                                                       ``deletedFolder``); ``?create_pr=1`` opens
                                                       ``refs/pr/N``
``POST /api/models/{repo}/branch/{branch}``            create a branch (409 if it exists)
``POST /api/models/{repo}/tag/{rev}``                  create a tag (409 if it exists)
``GET  /api/models/{repo}/refs``                       branches and tags
``GET  /api/models/{repo}[/revision/{rev}]``           repo info: ``id``, ``sha``, ``siblings``
``GET  /api/models/{repo}/tree/{rev}[/{path}]``        file listing (``oid``, ``size``, ``lfs``)
``HEAD|GET /{repo}/resolve/{rev}/{path}``              file metadata and bytes (``X-Repo-Commit``,
                                                       ``ETag``, ``X-Linked-Etag``, ranges)
``POST /{repo}.git/info/lfs/objects/batch``            git-lfs batch API, ``basic`` transfer
``PUT  /lfs-upload/{oid}``                             the LFS upload target (sha256 checked)
=====================================================  ===========================================

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``,
``GatedRepo``) and ``X-Error-Message`` as the Hub sends them, so the client raises the same
exception types as against the real Hub.

Authentication: with ``tokens=None`` everything is open; otherwise ``tokens`` maps token values
to ``"read"`` or ``"write"``: writes need a write token (401 without a valid token, 403 with a
read token), private repos need a valid token to be read (401), and an unknown token is refused
everywhere with "Invalid credentials in Authorization header", as the Hub does. ``reflect_auth``
makes error messages repeat the Authorization header, like a careless proxy, so that tests can
check that the client side never shows it. Gated repos (``set_gated``) answer 403 ``GatedRepo``.

Bounds: request bodies (``max_body``), stored bytes (``max_bytes``), repos and commits per repo
are capped; the request log keeps the last 2000 entries.

Hostile mode (:meth:`HubEmulator.hostile`) makes the server lie the way a malicious Hub, a
broken proxy or a captive portal would: a chosen ``sha`` in revision answers (a path, a non-hex
string), a replaced ``tree`` listing (raw bytes or any JSON), an HTML page with status 200 for
matching paths (``html``), a stall of N seconds before answering matching paths (``stall``),
other bytes served for a file than the listing describes (``serve``), and extra or replaced
response headers on file downloads (``headers``, e.g. a forged ``X-Repo-Commit`` or ``ETag``).

Test helpers: :meth:`HubEmulator.commit_files` plants arbitrary (e.g. malformed) content,
:meth:`HubEmulator.fail` makes the next matching requests fail with a given status,
:meth:`HubEmulator.files` reads a revision, :meth:`HubEmulator.refs` lists branches and tags, and
:meth:`HubEmulator.requests` returns the logged request paths.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["HubEmulator"]


class _QuietServer(ThreadingHTTPServer):
    """A server whose failed requests (e.g. a client that hung up on a hostile answer) are not
    printed: socketserver writes their traceback to sys.stderr, which a CliRunner test may be
    capturing at that moment as the command's own stderr."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass

_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
_REPO = r"(?P<repo>[^/?]+/[^/?]+)"


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class _Blob:
    data: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        """What the client compares against: sha256 for LFS files, the git blob sha1 otherwise."""
        return hashlib.sha256(self.data).hexdigest() if self.lfs else _git_oid(self.data)


@dataclass
class _Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, _Blob]


@dataclass
class _Repo:
    repo_id: str
    private: bool = False
    gated: bool = False
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # includes refs/pr/N
    tags: dict[str, str] = field(default_factory=dict)
    prs: int = 0

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        if rev in self.commits:
            return rev
        if re.fullmatch(r"[0-9a-f]{7,40}", rev):
            hits = [s for s in self.commits if s.startswith(rev)]
            return hits[0] if len(hits) == 1 else None
        return None


class _Reply(Exception):
    """Raised inside a handler to answer with an error status."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


class HubEmulator:
    """The emulated Hub: start with ``with HubEmulator() as hub:``; ``hub.endpoint`` is its URL.

    Args:
        upload_mode: what ``preupload`` answers for every file: ``"regular"`` (inline base64 in
            the commit) or ``"lfs"`` (git-lfs batch, PUT, then an ``lfsFile`` commit line).
        tokens: token value -> ``"read"`` or ``"write"``; None accepts every request.
        reflect_auth: repeat the Authorization header in error messages (a leaky server).
        username: the user that ``whoami`` reports and that owns repos created without a namespace.
        max_body, max_bytes, max_repos, max_commits: bounds on memory.
    """

    def __init__(
        self,
        *,
        upload_mode: str = "regular",
        tokens: Mapping[str, str] | None = None,
        reflect_auth: bool = False,
        username: str = "user",
        max_body: int = 16 << 20,
        max_bytes: int = 64 << 20,
        max_repos: int = 64,
        max_commits: int = 256,
    ) -> None:
        if upload_mode not in ("regular", "lfs"):
            raise ValueError("upload_mode is 'regular' or 'lfs'")
        self.upload_mode = upload_mode
        self.tokens = dict(tokens) if tokens is not None else None
        self.reflect_auth = reflect_auth
        self.username = username
        self.max_body = max_body
        self.max_bytes = max_bytes
        self.max_repos = max_repos
        self.max_commits = max_commits
        self.repos: dict[str, _Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.log: deque[tuple[str, str]] = deque(maxlen=2000)  # (method, path) of each request
        self.unhandled: deque[tuple[str, str]] = deque(maxlen=100)
        self._faults: list[list] = []  # [status, message, path substring, remaining count]
        self._hostile: dict = {}  # see hostile()
        self._stored = 0
        self._counter = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the emulator is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubEmulator:
        handler = type("_BoundHandler", (_Handler,), {"hub": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="hub-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ---------------------------------------------------------------
    def create_repo(self, repo_id: str, *, private: bool = False) -> _Repo:
        with self._lock:
            if repo_id in self.repos:
                return self.repos[repo_id]
            if len(self.repos) >= self.max_repos:
                raise _Reply(507, "emulator: too many repos")
            repo = _Repo(repo_id, private=private)
            self.repos[repo_id] = repo
            self._new_commit(repo, None, "initial commit", {".gitattributes": _Blob(_GITATTRIBUTES, False)}, "main")
            return repo

    def commit_files(
        self, repo_id: str, files: Mapping[str, bytes], *, revision: str = "main", message: str = "planted"
    ) -> str:
        """Commit ``files`` (path -> bytes, stored as LFS when the path ends in .safetensors) directly."""
        with self._lock:
            repo = self.create_repo(repo_id)
            parent = repo.resolve(revision)
            base = dict(repo.commits[parent].files) if parent else {}
            for path, data in files.items():
                base[path] = _Blob(bytes(data), path.endswith(".safetensors"))
            return self._new_commit(repo, parent, message, base, revision)

    def set_gated(self, repo_id: str, gated: bool = True) -> None:
        with self._lock:
            self.repos[repo_id].gated = gated

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            repo = self.repos[repo_id]
            sha = repo.resolve(revision)
            if sha is None:
                raise KeyError(revision)
            return {p: b.data for p, b in repo.commits[sha].files.items()}

    def refs(self, repo_id: str) -> dict[str, dict[str, str]]:
        with self._lock:
            repo = self.repos[repo_id]
            return {"branches": dict(repo.branches), "tags": dict(repo.tags)}

    def fail(self, status: int, message: str = "emulated failure", *, path_contains: str = "", times: int = 1) -> None:
        """Answer the next ``times`` requests whose path contains ``path_contains`` with ``status``."""
        with self._lock:
            self._faults.append([status, message, path_contains, times])

    def hostile(
        self, *, sha: str | None = None, tree: object = None, html: str | None = None,
        stall: tuple[str, float] | None = None, serve: Mapping[str, bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Lie from now on: ``sha`` in revision answers; ``tree`` (bytes sent as they are, else JSON) as every
        listing; an HTML page with 200 for paths containing ``html``; ``stall=(path substring, seconds)``
        before answering; ``serve`` (file path -> bytes) instead of the committed bytes; ``headers`` added to
        (or replacing) file download headers."""
        with self._lock:
            self._hostile = {k: v for k, v in dict(sha=sha, tree=tree, html=html, stall=stall, serve=serve,
                                                       headers=headers).items() if v is not None}

    def requests(self, method: str | None = None) -> list[str]:
        """Paths of the logged requests (optionally one method's)."""
        return [p for m, p in list(self.log) if method is None or m == method]

    # -- state changes (under the lock) ----------------------------------------------
    def _new_commit(self, repo: _Repo, parent: str | None, message: str, files: dict[str, _Blob], ref: str) -> str:
        if len(repo.commits) >= self.max_commits:
            raise _Reply(507, "emulator: too many commits")
        known = {id(b.data) for c in repo.commits.values() for b in c.files.values()}
        added = sum(len(b.data) for b in files.values() if id(b.data) not in known)
        if self._stored + added > self.max_bytes:
            raise _Reply(507, "emulator: storage bound reached")
        self._stored += added
        self._counter += 1
        digest = hashlib.sha1(f"{repo.repo_id}\0{parent}\0{message}\0{self._counter}".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path].oid}\0".encode())
        sha = digest.hexdigest()
        repo.commits[sha] = _Commit(sha, parent, message, files)
        repo.branches[ref] = sha
        return sha


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulator
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read hub.log
        pass

    # -- plumbing ----------------------------------------------------------------------
    def _body(self) -> bytes:
        size = int(self.headers.get("Content-Length") or 0)
        if size > self.hub.max_body:
            self.close_connection = True  # the unread body would be taken for the next request
            raise _Reply(413, f"emulator: body of {size} bytes exceeds {self.hub.max_body}")
        self._body_read = True
        return self.rfile.read(size) if size else b""

    def _json_body(self) -> dict:
        try:
            return json.loads(self._body() or b"{}")
        except ValueError:
            raise _Reply(400, "malformed JSON body") from None

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
              *, length: int | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, obj: object, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, reply: _Reply) -> None:
        message = reply.message
        if self.hub.reflect_auth and self.headers.get("Authorization"):
            message += f" (request authorization: {self.headers['Authorization']})"
        if not getattr(self, "_body_read", False) and not self.close_connection:
            try:
                self._body()  # drain it: the connection is kept alive for the next request
            except _Reply:
                pass
        # Header values cannot hold line breaks; the JSON body keeps the message as it is.
        headers = {"Content-Type": "application/json", "X-Error-Message": " ".join(message.split())}
        if reply.code:
            headers["X-Error-Code"] = reply.code
        self._send(reply.status, json.dumps({"error": message, **reply.extra}).encode(), headers)

    def _dispatch(self) -> None:
        self._body_read = False
        url = urlsplit(self.path)
        with self.hub._lock:
            self.hub.log.append((self.command, url.path))
            fault = next((f for f in self.hub._faults if f[2] in url.path and f[3] > 0), None)
            if fault is not None:
                fault[3] -= 1
            hostile = dict(self.hub._hostile)
        stall = hostile.get("stall")
        if stall is not None and stall[0] in url.path:
            time.sleep(stall[1])
        if hostile.get("html") is not None and hostile["html"] in url.path:
            self._send(200, b"<!DOCTYPE html><html><body>Please log in to the network</body></html>",
                       {"Content-Type": "text/html; charset=utf-8"})
            return
        try:
            if fault is not None:
                raise _Reply(fault[0], fault[1])
            for method, pattern, fn in _ROUTES:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = re.fullmatch(pattern, url.path)
                    if match:
                        groups = {k: unquote(v) if v is not None else None for k, v in match.groupdict().items()}
                        fn(self, parse_qs(url.query), **groups)
                        return
            with self.hub._lock:
                self.hub.unhandled.append((self.command, self.path))
            raise _Reply(404, f"emulator: no route for {self.command} {url.path}")
        except _Reply as reply:
            self._error(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # -- authentication ------------------------------------------------------------------
    def _role(self) -> str | None:
        """'write', 'read' or None (anonymous); raises 401 for an unknown token."""
        if self.hub.tokens is None:
            return "write"
        auth = self.headers.get("Authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        role = self.hub.tokens.get(token)
        if role is None:
            raise _Reply(401, "Invalid credentials in Authorization header")
        return role

    def _need_write(self) -> None:
        role = self._role()
        if role is None:
            raise _Reply(401, "Invalid username or password.")
        if role != "write":
            raise _Reply(403, "You don't have the rights to write to this repository (read-only token)")

    def _repo(self, repo_id: str, *, write: bool = False) -> _Repo:
        if write:
            self._need_write()
        role = self._role()
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and role is None):
            if role is None and self.hub.tokens is not None:
                raise _Reply(401, "Invalid username or password.")
            raise _Reply(404, "Repository not found", "RepoNotFound")
        if repo.gated and not write:
            raise _Reply(403, f"Access to model {repo_id} is restricted. You must have access to it.", "GatedRepo")
        return repo

    @staticmethod
    def _sha(repo: _Repo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise _Reply(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha

    # -- endpoints ---------------------------------------------------------------------------
    def create_repo(self, query: dict) -> None:
        self._need_write()
        body = self._json_body()
        name, org = body.get("name"), body.get("organization") or self.hub.username
        if not name or body.get("type", "model") != "model":
            raise _Reply(400, "emulator: only model repos with a name")
        repo_id = f"{org}/{name}"
        with self.hub._lock:
            if repo_id in self.hub.repos:
                # The Hub sends the url with the 409; create_repo(exist_ok=True) reads it.
                url = f"{self.hub.endpoint}/{repo_id}"
                raise _Reply(409, "You already created this model repo", extra={"url": url})
            private = body.get("visibility") == "private" or bool(body.get("private"))
            self.hub.create_repo(repo_id, private=private)
        self._send_json({"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id})

    def validate_yaml(self, query: dict) -> None:
        self._json_body()
        self._send_json({"errors": [], "warnings": []})

    def whoami(self, query: dict) -> None:
        if self._role() is None:
            raise _Reply(401, "Invalid username or password.")
        self._send_json({"type": "user", "name": self.hub.username})

    def preupload(self, query: dict, repo: str, rev: str) -> None:
        with self.hub._lock:
            r = self._repo(repo, write=True)
            body = self._json_body()
            sha = r.resolve(rev)
            current = r.commits[sha].files if sha else {}
            files = []
            for f in body.get("files", []):
                blob = current.get(f["path"])
                mode = self.hub.upload_mode
                # The remote oid lets the client skip unchanged files; it compares in its own upload mode.
                oid = None if blob is None or blob.lfs != (mode == "lfs") else blob.oid
                files.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send_json({"files": files})

    def commit(self, query: dict, repo: str, rev: str) -> None:
        body = self._body()
        with self.hub._lock:
            r = self._repo(repo, write=True)
            parent = self._sha(r, rev)
            files = dict(r.commits[parent].files)
            message = ""
            try:
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            except ValueError:
                raise _Reply(400, "malformed ndjson") from None
            for line in lines:
                key, value = line.get("key"), line.get("value", {})
                if key == "header":
                    message = value.get("summary", "")
                    if value.get("parentCommit") and value["parentCommit"] != parent:
                        raise _Reply(412, "parent commit is not the head of the revision")
                elif key == "file":
                    files[value["path"]] = _Blob(base64.b64decode(value["content"]), False)
                elif key == "lfsFile":
                    data = self.hub.lfs_objects.get(value["oid"])
                    if data is None or len(data) != value["size"]:
                        raise _Reply(422, f"LFS object {value['oid']} was not uploaded")
                    files[value["path"]] = _Blob(data, True)
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise _Reply(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: b for p, b in files.items() if not p.startswith(prefix)}
                else:
                    raise _Reply(400, f"emulator: unknown commit line {key!r}")
            pr_url = None
            ref = rev
            if query.get("create_pr", ["0"])[0] in ("1", "true"):
                r.prs += 1
                ref = f"refs/pr/{r.prs}"
                pr_url = f"{self.hub.endpoint}/{repo}/discussions/{r.prs}"
            sha = self.hub._new_commit(r, parent, message, files, ref)
        self._send_json({"commitUrl": f"{self.hub.endpoint}/{repo}/commit/{sha}", "commitOid": sha,
                         "pullRequestUrl": pr_url})

    def branch(self, query: dict, repo: str, branch: str) -> None:
        body = self._json_body()
        with self.hub._lock:
            r = self._repo(repo, write=True)
            if branch in r.branches:
                raise _Reply(409, f"Reference refs/heads/{branch} already exists")
            r.branches[branch] = self._sha(r, body.get("startingPoint") or "main")
        self._send_json({})

    def tag(self, query: dict, repo: str, rev: str) -> None:
        body = self._json_body()
        with self.hub._lock:
            r = self._repo(repo, write=True)
            sha = self._sha(r, rev)
            tag = body.get("tag") or ""
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tag):
                raise _Reply(400, f"invalid tag {tag!r}")
            if tag in r.tags:
                raise _Reply(409, f"Tag {tag} already exists")
            r.tags[tag] = sha
        self._send_json({})

    def list_refs(self, query: dict, repo: str) -> None:
        with self.hub._lock:
            r = self._repo(repo)
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s}
                        for b, s in r.branches.items() if not b.startswith("refs/")]
            tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in r.tags.items()]
        self._send_json({"branches": branches, "tags": tags, "converts": []})

    def info(self, query: dict, repo: str, rev: str | None = None) -> None:
        with self.hub._lock:
            r = self._repo(repo)
            sha = self._sha(r, rev or "main")
            siblings = [{"rfilename": p} for p in sorted(r.commits[sha].files)]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # the Hub's format
        sha = self.hub._hostile.get("sha", sha)
        self._send_json({"id": repo, "modelId": repo, "sha": sha, "private": r.private, "gated": False,
                         "disabled": False, "siblings": siblings, "tags": [], "lastModified": now, "createdAt": now})

    def tree(self, query: dict, repo: str, rev: str, path: str | None = None) -> None:
        with self.hub._lock:
            r = self._repo(repo)
            files = r.commits[self._sha(r, rev)].files
            prefix = (path or "").strip("/")
            out = []
            for p in sorted(files):
                if prefix and not p.startswith(prefix + "/"):
                    continue
                blob = files[p]
                entry = {"type": "file", "oid": _git_oid(blob.data), "size": len(blob.data), "path": p}
                if blob.lfs:
                    entry["lfs"] = {"oid": blob.oid, "size": len(blob.data), "pointerSize": 134}
                out.append(entry)
            forged = self.hub._hostile.get("tree")
        if isinstance(forged, bytes):
            self._send(200, forged, {"Content-Type": "application/json"})
            return
        self._send_json(out if forged is None else forged)

    def resolve(self, query: dict, repo: str, rev: str, path: str) -> None:
        with self.hub._lock:
            r = self._repo(repo)
            sha = self._sha(r, rev)
            blob = r.commits[sha].files.get(path)
            if blob is None:
                raise _Reply(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{blob.oid}"', "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers |= {"X-Linked-Etag": f'"{blob.oid}"', "X-Linked-Size": str(len(blob.data))}
        data = blob.data
        hostile = dict(self.hub._hostile)
        data = hostile.get("serve", {}).get(path, data)
        headers |= hostile.get("headers", {})
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match and self.command == "GET":
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else len(data)
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            self._send(206, data[start:end], headers)
            return
        self._send(200, data, headers, length=len(data))

    def lfs_batch(self, query: dict, repo: str) -> None:
        body = self._json_body()
        with self.hub._lock:
            self._repo(repo, write=True)
            objects = []
            for obj in body.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                entry: dict = {"oid": oid, "size": size}
                if self.hub.lfs_objects.get(oid) is None:
                    entry["actions"] = {"upload": {"href": f"{self.hub.endpoint}/lfs-upload/{quote(oid)}"}}
                objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, query: dict, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise _Reply(400, "uploaded bytes do not match the LFS oid")
        with self.hub._lock:
            if self.hub._stored + len(data) > self.hub.max_bytes:
                raise _Reply(507, "emulator: storage bound reached")
            self.hub._stored += len(data)
            self.hub.lfs_objects[oid] = data
        self._send(200)


_API = rf"/api/models/{_REPO}"
_ROUTES = [
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("GET", r"/api/whoami-v2", _Handler.whoami),
    ("POST", rf"{_API}/preupload/(?P<rev>[^/]+)", _Handler.preupload),
    ("POST", rf"{_API}/commit/(?P<rev>[^/]+)", _Handler.commit),
    ("POST", rf"{_API}/branch/(?P<branch>[^/]+)", _Handler.branch),
    ("POST", rf"{_API}/tag/(?P<rev>[^/]+)", _Handler.tag),
    ("GET", rf"{_API}/refs", _Handler.list_refs),
    ("GET", rf"{_API}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", _Handler.tree),
    ("GET", rf"{_API}/revision/(?P<rev>[^/]+)", _Handler.info),
    ("GET", rf"{_API}", _Handler.info),
    ("GET", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", _Handler.resolve),
    ("POST", rf"/{_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", _Handler.lfs_upload),
]
