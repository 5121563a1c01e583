"""A Hugging Face Hub-compatible HTTP server on 127.0.0.1 (stdlib only), for testing the real `huggingface_hub` client.

How the client finds it: huggingface_hub reads HF_ENDPOINT, HF_HOME, HF_HUB_DISABLE_XET and HF_HUB_OFFLINE once,
when it is imported. So tests/conftest.py picks a free port and sets those variables before anything imports the
client, and the session's server listens on that port; nothing in the client is patched. Subprocesses inherit the
same environment. Offline behaviour is tested in a subprocess started with HF_HUB_OFFLINE=1. The token
(HF_TOKEN) is read at every call, so a test may set or remove it.

The protocol served (checked against huggingface_hub 2.4): create/delete repo, repo info, tree, paths-info, refs,
commits, preupload (always "regular": no LFS and no Xet, so every file is a plain git blob whose ETag is its git
SHA-1), NDJSON commit, branch, tag, settings, whoami-v2, validate-yaml (accepts everything) and HEAD/GET
`/resolve/` with Range support. Errors carry the `X-Error-Code` and `X-Error-Message` headers that
`hf_raise_for_status` maps to exceptions. Over http:// the client's fallback "401 on a repo URL means RepoNotFound"
does not apply (its regex wants https), so `X-Error-Code` is always sent. Unknown or private repos answer 401 to
anonymous callers and 404 to signed-in ones, as the Hub does; an unknown token gets 401 "Invalid credentials in
Authorization header" on every route.

Failure injection: `server.fail_next(match, status=500, times=1, method=None, mode="status")` makes the next
`times` requests whose raw path contains `match` fail. The modes are "status" (answer `status`), "drop" (read the
request, do nothing, close the socket without a response), "drop_after" (apply the request, then close without a
response: the change happened but the client never hears of it) and "truncate" (send the headers and half of the
body, then close). How the client reacts (2.4): preupload and tree listing retry 5xx and dropped connections with
backoff (1 s, 2 s, 4 s...); hf_hub_download repeats its HEAD and resumes a broken GET with a Range request;
commit, create_repo, model_info and whoami do not retry: the error or httpx2.TransportError reaches the caller.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_PLURALS = {"models": "model", "datasets": "dataset", "spaces": "space"}
_SPACE_SDKS = {"gradio", "streamlit", "docker", "static"}
_FAULT_MODES = {"status", "drop", "drop_after", "truncate"}
# /api/{type}s/{namespace}/{name}[/{action}/...]: the client never quotes repo_id but quotes revisions (safe="").
_API_REPO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")
_GITATTRIBUTES = b"""\
*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


def git_blob_sha(data: bytes) -> str:
    """Git's object id for a blob: what the Hub sends as the ETag of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tree_oid(files: Mapping[str, bytes]) -> str:
    # Not git's exact tree hash, but stable and content-addressed, which is all the client needs.
    return hashlib.sha1("\n".join(f"{p} {git_blob_sha(d)}" for p, d in sorted(files.items())).encode()).hexdigest()


def _now() -> str:
    # The client's parse_datetime expects "%Y-%m-%dT%H:%M:%S.%fZ".
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Commit:
    """One commit; `files` is the full snapshot at that commit, so every old revision stays downloadable."""

    oid: str
    title: str
    message: str
    author: str
    date: str
    parent: str | None
    files: dict[str, bytes]


@dataclass
class Repo:
    """Inspectable repo state: commits by oid, branch and tag heads, visibility."""

    repo_id: str
    repo_type: str
    private: bool
    sdk: str | None = None
    created_at: str = field(default_factory=_now)
    object_id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def resolve(self, revision: str) -> Commit | None:
        """Branch, tag, full or unique short commit sha -> commit; None if unknown."""
        rev = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
        oid = self.branches.get(rev) or self.tags.get(rev)
        if oid is None and re.fullmatch(r"[0-9a-f]{7,40}", rev):
            matches = [o for o in self.commits if o.startswith(rev)]
            oid = matches[0] if len(matches) == 1 else None
        return self.commits[oid] if oid else None

    def files(self, revision: str = "main") -> dict[str, bytes]:
        commit = self.resolve(revision)
        if commit is None:
            raise KeyError(revision)
        return commit.files

    def history(self, revision: str = "main") -> list[Commit]:
        """Commits reachable from `revision`, newest first."""
        commit, out = self.resolve(revision), []
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out

    def add_commit(
        self, author: str, title: str, files: dict[str, bytes], message: str = "", branch: str = "main"
    ) -> Commit:
        """Record a commit on `branch` (created if missing), also usable to seed state without the client."""
        parent = self.branches.get(branch)
        seed = f"{_tree_oid(files)} {parent} {author} {title} {len(self.commits)} {uuid.uuid4()}"
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), title, message, author, _now(), parent, files)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit


@dataclass
class Fault:
    """A scripted failure for the next `times` requests whose raw path contains `match` (see module docstring)."""

    match: str
    status: int = 500
    times: int = 1
    method: str | None = None
    mode: str = "status"
    hits: int = 0


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> _Response:
    headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return _Response(status, json.dumps(obj).encode(), headers)


class _HubError(Exception):
    """Raised by route code; becomes an error response with the headers `hf_raise_for_status` reads."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        extra = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}
        self.response = _json(status, {"error": message}, extra)


def _repo_not_found(user: str | None) -> _HubError:
    # The Hub hides private repos: anonymous callers get 401, authenticated ones 404; both say RepoNotFound.
    return _HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")


def _revision_not_found(revision: str) -> _HubError:
    return _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def _json_body(body: bytes) -> dict:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as e:
        raise _HubError(400, f"Invalid JSON body: {e}") from e


def _content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") or guessed == "application/json" else guessed


def _byte_range(spec: str, size: int) -> tuple[int, int] | None:
    """Parse a single `bytes=` range into inclusive bounds; None if it cannot be satisfied."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", spec)
    if not m or m.groups() == ("", ""):
        return None
    first, last = m.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def _file_entry(path: str, data: bytes) -> dict:
    return {"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": path}


def _dir_entry(path: str, files: Mapping[str, bytes]) -> dict:
    inside = {p: d for p, d in files.items() if p.startswith(path + "/")}
    return {"type": "directory", "oid": _tree_oid(inside), "size": 0, "path": path}


def _tree_entries(files: Mapping[str, bytes], prefix: str, recursive: bool) -> list[dict] | None:
    """Entries below `prefix` (files and folders, like /tree); None if `prefix` is not a folder."""
    base = f"{prefix}/" if prefix else ""
    below = sorted(p for p in files if p.startswith(base))
    if prefix and not below:
        return None
    dirs: set[str] = set()
    entries = []
    for path in below:
        parts = path[len(base) :].split("/")
        for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
            dirs.add(base + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            entries.append(_file_entry(path, files[path]))
    entries += [_dir_entry(d, files) for d in dirs]
    return sorted(entries, key=lambda e: e["path"])


class HubServer:
    """The fake Hub: in-memory repos, bearer-token auth, failure injection. Use as a context manager."""

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        orgs: Mapping[str, Iterable[str]] | None = None,
        port: int = 0,
    ) -> None:
        self.tokens = dict(tokens or {"hf_test_token": "alice"})  # token -> user name
        self.orgs = {user: set(names) for user, names in (orgs or {}).items()}  # user -> orgs they may write to
        self.token, self.user = next(iter(self.tokens.items()))
        self.repos: dict[tuple[str, str], Repo] = {}  # (repo_type, repo_id) -> Repo
        self.requests: list[tuple[str, str]] = []  # (method, raw path) of every request, in arrival order
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._httpd = _Server(self, port)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        for conn in list(self._httpd.connections):  # wake keep-alive handler threads blocked on a read
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget every repo, request and fault, so each test starts from an empty Hub."""
        with self.lock:
            self.repos.clear()
            self.requests.clear()
            self.faults.clear()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def fail_next(
        self, match: str, *, status: int = 500, times: int = 1, method: str | None = None, mode: str = "status"
    ) -> Fault:
        """Make the next `times` requests whose raw path contains `match` fail; see the module docstring."""
        if mode not in _FAULT_MODES:
            raise ValueError(f"mode must be one of {sorted(_FAULT_MODES)}")
        fault = Fault(match, status, times, method.upper() if method else None, mode)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _arrive(self, method: str, raw_path: str) -> Fault | None:
        """Log the request (faulted ones too, so retries can be counted) and pick the fault it triggers, if any."""
        with self.lock:
            self.requests.append((method, raw_path))
            for fault in self.faults:
                if fault.times > 0 and fault.match in raw_path and fault.method in (None, method):
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    # ---- request handling (called by _Handler, under the lock) ----

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        with self.lock:
            try:
                user = self._authenticate(headers.get("Authorization"))
                return self._route(method, raw_path, headers, body, user)
            except _HubError as e:
                return e.response

    def _authenticate(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        user = self.tokens.get(authorization.removeprefix("Bearer ").strip())
        if user is None:
            # The Hub rejects an unknown token on every route, public repos included. The client knows this exact
            # message and then raises a plain 401 HfHubHTTPError, not RepositoryNotFoundError.
            raise _HubError(401, "Invalid credentials in Authorization header")
        return user

    def _is_member(self, user: str | None, namespace: str) -> bool:
        return user is not None and (namespace == user or namespace in self.orgs.get(user, ()))

    def _readable(self, repo_type: str, repo_id: str, user: str | None) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._is_member(user, repo.namespace)):
            raise _repo_not_found(user)
        return repo

    def _check_write(self, repo: Repo, user: str | None) -> None:
        if user is None:
            raise _HubError(401, "You must be authenticated to write to this repo")
        if not self._is_member(user, repo.namespace):
            raise _HubError(403, f"You don't have the rights to write to {repo.repo_type}s/{repo.repo_id}")

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.url}/{URL_PREFIXES[repo.repo_type]}{repo.repo_id}"

    def _route(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, user: str | None
    ) -> _Response:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        if (method, path) == ("GET", "/api/whoami-v2"):
            return self._whoami(user)
        if (method, path) == ("POST", "/api/repos/create"):
            return self._create_repo(user, _json_body(body))
        if (method, path) == ("DELETE", "/api/repos/delete"):
            return self._delete_repo(user, _json_body(body))
        if (method, path) == ("POST", "/api/validate-yaml"):
            return _json(200, {"errors": [], "warnings": []})  # no YAML parser in the stdlib: accept everything
        if (method, path) == ("GET", "/api/agent-harnesses"):
            return _json(200, {"standardEnvVars": [], "harnesses": {}})  # fetched by the user-agent builder
        if m := _API_REPO.match(path):
            plural, namespace, name, rest = m.groups()
            repo = self._readable(_PLURALS[plural], f"{unquote(namespace)}/{unquote(name)}", user)
            action, _, arg = (rest or "").partition("/")
            return self._repo_api(method, repo, action, arg, query, body, user)
        if (m := _RESOLVE.match(path)) and method in ("GET", "HEAD"):
            plural, namespace, name, revision, filename = m.groups()
            repo = self._readable(_PLURALS[plural or "models"], f"{unquote(namespace)}/{unquote(name)}", user)
            return self._resolve(repo, unquote(revision), unquote(filename), headers.get("Range"))
        raise _HubError(404, f"Not found: {method} {path}")

    def _repo_api(
        self, method: str, repo: Repo, action: str, arg: str, query: dict, body: bytes, user: str | None
    ) -> _Response:
        reads = {
            ("GET", ""): lambda: self._info(repo, "main", query),
            ("GET", "revision"): lambda: self._info(repo, unquote(arg), query),
            ("GET", "tree"): lambda: self._tree(repo, arg, query),
            ("POST", "paths-info"): lambda: self._paths_info(repo, unquote(arg), body),
            ("GET", "refs"): lambda: self._refs(repo),
            ("GET", "commits"): lambda: self._commits(repo, unquote(arg)),
        }
        writes = {
            ("POST", "preupload"): lambda: self._preupload(repo, unquote(arg), _json_body(body)),
            ("POST", "commit"): lambda: self._commit(repo, unquote(arg), body, query, user),
            ("POST", "branch"): lambda: self._create_branch(repo, unquote(arg), _json_body(body)),
            ("DELETE", "branch"): lambda: self._delete_branch(repo, unquote(arg)),
            ("POST", "tag"): lambda: self._create_tag(repo, unquote(arg), _json_body(body)),
            ("PUT", "settings"): lambda: self._settings(repo, _json_body(body)),
        }
        if (method, action) in reads:
            return reads[(method, action)]()
        if (method, action) in writes:
            self._check_write(repo, user)
            return writes[(method, action)]()
        raise _HubError(404, f"Not found: {method} /{action}")

    def _commit_for(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise _revision_not_found(revision)
        return commit

    def _branch_head(self, repo: Repo, branch: str) -> Commit:
        branch = branch.removeprefix("refs/heads/")
        if branch not in repo.branches:
            raise _revision_not_found(branch)
        return repo.commits[repo.branches[branch]]

    # ---- account and repo lifecycle ----

    def _whoami(self, user: str | None) -> _Response:
        if user is None:
            raise _HubError(401, "Invalid credentials in Authorization header")
        orgs = [{"type": "org", "name": org, "fullname": org} for org in sorted(self.orgs.get(user, ()))]
        return _json(200, {
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user, "fullname": user,
            "email": f"{user}@example.com", "emailVerified": True, "isPro": False, "canPay": False, "orgs": orgs,
            "auth": {"type": "access_token", "accessToken": {"displayName": "test token", "role": "write"}},
        })  # fmt: skip

    def _create_repo(self, user: str | None, payload: dict) -> _Response:
        if user is None:
            raise _HubError(401, "You must be authenticated to create a repo")
        repo_type = payload.get("type") or "model"
        name, namespace = payload.get("name") or "", payload.get("organization") or user
        if repo_type not in URL_PREFIXES:
            raise _HubError(400, f"Invalid repo type: {repo_type}")
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}", name) or "--" in name or ".." in name:
            raise _HubError(400, f"Invalid repo name: {name!r}")
        if not self._is_member(user, namespace):
            raise _HubError(403, f"You don't have the rights to create a {repo_type} under namespace {namespace}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{URL_PREFIXES[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            # The client reads "url" from this 409 body when exist_ok=True.
            message = f"You already created this {repo_type} repo"
            return _json(409, {"error": message, "url": url}, {"X-Error-Message": message})
        if repo_type == "space" and payload.get("sdk") not in _SPACE_SDKS:
            raise _HubError(400, f"Invalid sdk: {payload.get('sdk')!r}, expected one of {sorted(_SPACE_SDKS)}")
        # create_repo sends "visibility" (public/private/protected); older clients send "private".
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))
        repo = Repo(repo_id, repo_type, private, sdk=payload.get("sdk"))
        files = {".gitattributes": _GITATTRIBUTES}
        if repo_type == "space":  # the Hub seeds a Space with a README carrying its sdk
            files["README.md"] = f"---\ntitle: {name}\nsdk: {repo.sdk}\npinned: false\n---\n".encode()
        repo.add_commit(user, "initial commit", files)
        self.repos[(repo_type, repo_id)] = repo
        return _json(200, {"url": url, "name": repo_id, "id": repo.object_id})

    def _delete_repo(self, user: str | None, payload: dict) -> _Response:
        repo_id = f"{payload.get('organization') or user}/{payload.get('name')}"
        repo = self._readable(payload.get("type") or "model", repo_id, user)
        self._check_write(repo, user)
        del self.repos[(repo.repo_type, repo.repo_id)]
        return _json(200, {})

    def _settings(self, repo: Repo, payload: dict) -> _Response:
        if "visibility" in payload:
            repo.private = payload["visibility"] != "public"
        elif "private" in payload:
            repo.private = bool(payload["private"])
        return _json(200, {})

    # ---- reading ----

    def _info(self, repo: Repo, revision: str, query: dict) -> _Response:
        commit = self._commit_for(repo, revision)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"  # files_metadata=True
        siblings = [
            {"rfilename": p, **({"size": len(d), "blobId": git_blob_sha(d)} if blobs else {})}
            for p, d in sorted(commit.files.items())
        ]
        info = {
            "_id": repo.object_id, "id": repo.repo_id, "author": repo.namespace, "sha": commit.oid,
            "lastModified": commit.date, "createdAt": repo.created_at, "private": repo.private, "gated": False,
            "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(len(d) for d in commit.files.values()),
        }  # fmt: skip
        if repo.repo_type == "space":
            subdomain = re.sub(r"[^a-z0-9]+", "-", repo.repo_id.lower())
            info |= {"sdk": repo.sdk, "subdomain": subdomain, "host": f"https://{subdomain}.hf.space"}
        return _json(200, info)

    def _tree(self, repo: Repo, arg: str, query: dict) -> _Response:
        revision, _, sub = arg.partition("/")  # the client quotes both parts with safe="": split before unquoting
        commit = self._commit_for(repo, unquote(revision))
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        entries = _tree_entries(commit.files, unquote(sub).strip("/"), recursive)
        if entries is None:
            raise _HubError(404, f"{unquote(sub)} does not exist on {unquote(revision)}", "EntryNotFound")
        return _json(200, entries)  # one page: no Link header, so the client stops paginating

    def _paths_info(self, repo: Repo, revision: str, body: bytes) -> _Response:
        files = self._commit_for(repo, revision).files
        out = []
        for path in parse_qs(body.decode())["paths"] if body else []:
            path = path.strip("/")
            if path in files:
                out.append(_file_entry(path, files[path]))
            elif any(p.startswith(path + "/") for p in files):
                out.append(_dir_entry(path, files))
        return _json(200, out)

    def _refs(self, repo: Repo) -> _Response:
        def refs(kind: str, heads: dict[str, str]) -> list[dict]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid} for n, oid in sorted(heads.items())]

        branches, tags = refs("heads", repo.branches), refs("tags", repo.tags)
        return _json(200, {"branches": branches, "tags": tags, "converts": [], "pullRequests": []})

    def _commits(self, repo: Repo, revision: str) -> _Response:
        self._commit_for(repo, revision)
        return _json(200, [
            {"id": c.oid, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
            for c in repo.history(revision)
        ])  # fmt: skip

    def _resolve(self, repo: Repo, revision: str, filename: str, range_header: str | None) -> _Response:
        commit = self._commit_for(repo, revision)
        data = commit.files.get(filename)
        if data is None:
            # X-Repo-Commit lets the client cache the file's absence (.no_exist/<commit>/<file>).
            raise _HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {
            "Content-Type": _content_type(filename),
            "ETag": f'"{git_blob_sha(data)}"',  # hf_hub_download names the cached blob after it
            "X-Repo-Commit": commit.oid,  # hf_hub_download refuses a response without it
            "Accept-Ranges": "bytes",
        }
        if range_header is None:
            return _Response(200, data, headers)
        bounds = _byte_range(range_header, len(data))
        if bounds is None:
            raise _HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
        start, end = bounds
        return _Response(206, data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"})

    # ---- writing ----

    def _preupload(self, repo: Repo, revision: str, payload: dict) -> _Response:
        files = self._branch_head(repo, revision).files
        # "oid" is the git sha of the file already at that path: the client drops unchanged files from the commit.
        return _json(200, {"files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
             "oid": git_blob_sha(files[f["path"]]) if f["path"] in files else None}
            for f in payload.get("files", [])
        ]})  # fmt: skip

    def _commit(self, repo: Repo, branch: str, body: bytes, query: dict, user: str | None) -> _Response:
        if query.get("create_pr"):
            raise _HubError(400, "create_pr is not supported by the test Hub server")
        head = self._branch_head(repo, branch)
        try:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise _HubError(400, f"Invalid NDJSON body: {e}") from e
        header = next((line["value"] for line in lines if line.get("key") == "header"), {})
        if not header.get("summary"):
            raise _HubError(400, "Missing commit header with a summary")
        if header.get("parentCommit") and not head.oid.startswith(header["parentCommit"]):
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                content = value["content"]
                base64_encoded = value.get("encoding") == "base64"
                files[value["path"]] = base64.b64decode(content) if base64_encoded else content.encode()
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise _HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise _HubError(404, "A folder with this name doesn't exist", "EntryNotFound")
                for p in doomed:
                    del files[p]
            elif key == "lfsFile":
                raise _HubError(400, "LFS files are not supported by the test Hub server (preupload answers 'regular')")
            elif key != "header":
                raise _HubError(400, f"Unknown commit operation: {key}")
        branch = branch.removeprefix("refs/heads/")
        commit = repo.add_commit(user or "", header["summary"], files, header.get("description", ""), branch)
        return _json(200, {
            "success": True, "commitOid": commit.oid, "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
            "pullRequestUrl": None,
        })  # fmt: skip

    def _create_branch(self, repo: Repo, branch: str, payload: dict) -> _Response:
        if branch in repo.branches:
            raise _HubError(409, "Reference already exists")
        repo.branches[branch] = self._commit_for(repo, payload.get("startingPoint") or "main").oid
        return _json(200, {})

    def _delete_branch(self, repo: Repo, branch: str) -> _Response:
        self._branch_head(repo, branch)
        if branch == "main":
            raise _HubError(403, "Cannot delete the default branch")
        del repo.branches[branch]
        return _json(200, {})

    def _create_tag(self, repo: Repo, revision: str, payload: dict) -> _Response:
        tag = payload.get("tag") or ""
        if tag in repo.tags:
            raise _HubError(409, "Tag already exists")
        repo.tags[tag] = self._commit_for(repo, revision).oid
        return _json(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: HubServer, port: int) -> None:
        self.hub = hub
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn(), a reverse-DNS lookup
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like the Hub; every response carries Content-Length
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # HubServer.requests records requests instead

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        hub = self.server.hub
        body = self._read_body()
        fault = hub._arrive(self.command, self.path)
        if fault is not None and fault.mode == "drop":
            self.close_connection = True  # nothing was done and nothing is answered
            return
        if fault is not None and fault.mode == "status":
            response = _json(fault.status, {"error": "Injected failure"}, {"X-Error-Message": "Injected failure"})
        else:
            response = hub.handle(self.command, self.path, self.headers, body)
        if fault is not None and fault.mode == "drop_after":
            self.close_connection = True  # the request took effect but the client never hears of it
            return
        self._send(response, truncate=fault is not None and fault.mode == "truncate")

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # optional trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, response: _Response, truncate: bool) -> None:
        self.send_response(response.status)
        headers = {"Content-Length": str(len(response.body)), "X-Request-Id": str(uuid.uuid4()), **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":  # HEAD announces the GET's Content-Length but sends no body
            self.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
        if truncate:
            self.close_connection = True
