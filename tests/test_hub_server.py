"""The local Hub test server speaks the protocol the real huggingface_hub client expects."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import HubServer

REPO = "alice/tiny-vgg"
# Every test here talks to the local Hub server, or runs a subprocess.
pytestmark = pytest.mark.slow


@pytest.fixture
def api(hub_server: HubServer) -> HfApi:
    return HfApi(endpoint=hub_server.url, token=hub_server.token)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A folder like the one the project pushes: safetensors weights, config, card with YAML, binary image."""
    folder = tmp_path / "model"
    (folder / "images").mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    header += b" " * (-len(header) % 8)  # safetensors pads the JSON header to 8 bytes
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1, 2, 3, 4))
    (folder / "config.json").write_text(json.dumps({"hidden_units": 10, "num_classes": 10}))
    (folder / "README.md").write_text("---\nlicense: mit\ntags:\n- image-classification\n---\n# TinyVGG\n")
    (folder / "images" / "sample.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def pushed(api: HfApi, model_dir: Path) -> dict[str, bytes]:
    """REPO created and model_dir uploaded; returns the uploaded files by repo path."""
    api.create_repo(REPO)
    api.upload_folder(repo_id=REPO, folder_path=model_dir)
    return _files(model_dir)


def test_upload_folder_makes_one_commit_and_list_repo_files_matches(
    api: HfApi, hub_server: HubServer, model_dir: Path
) -> None:
    api.create_repo(REPO)
    info = api.upload_folder(repo_id=REPO, folder_path=model_dir, commit_message="Add model")

    repo = hub_server.repo(REPO)
    assert [c.title for c in repo.history()] == ["Add model", "initial commit"]
    assert info.oid == repo.branches["main"]
    assert sorted(api.list_repo_files(REPO)) == sorted([*_files(model_dir), ".gitattributes"])
    assert repo.files() == {**_files(model_dir), ".gitattributes": repo.files()[".gitattributes"]}


def test_hf_hub_download_and_snapshot_download_give_identical_bytes(
    hub_server: HubServer, pushed: dict[str, bytes], tmp_path: Path
) -> None:
    single = {
        name: Path(hf_hub_download(REPO, name, cache_dir=tmp_path / "a", endpoint=hub_server.url)).read_bytes()
        for name in pushed
    }
    snapshot = Path(snapshot_download(REPO, cache_dir=tmp_path / "b", endpoint=hub_server.url))

    assert single == pushed
    assert {k: v for k, v in _files(snapshot).items() if k != ".gitattributes"} == pushed


def test_download_by_first_commit_sha_returns_first_content(api: HfApi, hub_server: HubServer, tmp_path: Path) -> None:
    api.create_repo(REPO)
    first = api.upload_file(repo_id=REPO, path_or_fileobj=b'{"v": 1}', path_in_repo="config.json")
    api.upload_file(repo_id=REPO, path_or_fileobj=b'{"v": 2}', path_in_repo="config.json")

    def download(revision: str | None) -> bytes:
        path = hf_hub_download(REPO, "config.json", revision=revision, cache_dir=tmp_path, endpoint=hub_server.url)
        return Path(path).read_bytes()

    assert download(first.oid) == b'{"v": 1}'
    assert download(None) == b'{"v": 2}'


def test_model_info_returns_siblings_and_sha(api: HfApi, hub_server: HubServer, pushed: dict[str, bytes]) -> None:
    info = api.model_info(REPO, files_metadata=True)

    assert info.sha == hub_server.repo(REPO).branches["main"]
    assert info.private is False
    assert {s.rfilename for s in info.siblings} == {*pushed, ".gitattributes"}
    assert {s.rfilename: s.size for s in info.siblings}["config.json"] == len(pushed["config.json"])


def test_private_repo_read_without_token_raises_repository_not_found(
    api: HfApi, hub_server: HubServer, tmp_path: Path
) -> None:
    api.create_repo(REPO, private=True)

    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.url, token=False).model_info(REPO)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(REPO, ".gitattributes", cache_dir=tmp_path, endpoint=hub_server.url, token=False)
    assert api.model_info(REPO).private is True  # the owner still sees it


def test_write_with_wrong_token_raises_401(api: HfApi, hub_server: HubServer) -> None:
    api.create_repo(REPO)
    intruder = HfApi(endpoint=hub_server.url, token="hf_wrong_token")

    with pytest.raises(HfHubHTTPError) as excinfo:
        intruder.upload_file(repo_id=REPO, path_or_fileobj=b"x", path_in_repo="x.txt")

    assert excinfo.value.response.status_code == 401
    assert not isinstance(excinfo.value, RepositoryNotFoundError)
    assert len(hub_server.repo(REPO).history()) == 1


def test_unknown_file_raises_entry_not_found(hub_server: HubServer, pushed: dict[str, bytes], tmp_path: Path) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.bin", cache_dir=tmp_path, endpoint=hub_server.url)


def test_unknown_revision_raises_revision_not_found(
    hub_server: HubServer, pushed: dict[str, bytes], tmp_path: Path
) -> None:
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="no-such-branch", cache_dir=tmp_path, endpoint=hub_server.url)


def test_cached_file_is_served_offline_without_requests(
    hub_server: HubServer, pushed: dict[str, bytes], tmp_path: Path
) -> None:
    online = hf_hub_download(REPO, "config.json", cache_dir=tmp_path)
    seen = len(hub_server.requests)

    local = hf_hub_download(REPO, "config.json", cache_dir=tmp_path, local_files_only=True)
    # HF_HUB_OFFLINE is read when the client is imported, so offline mode gets a process of its own.
    code = (
        "from huggingface_hub import hf_hub_download; "
        f"print(hf_hub_download({REPO!r}, 'config.json', cache_dir={str(tmp_path)!r}))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    offline = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    assert online == local == offline.stdout.strip(), offline.stderr
    assert Path(online).read_bytes() == pushed["config.json"]
    assert len(hub_server.requests) == seen


def test_space_repo_created_with_gradio_sdk_accepts_uploads(api: HfApi, hub_server: HubServer) -> None:
    url = api.create_repo("alice/demo", repo_type="space", space_sdk="gradio")
    api.upload_file(repo_id="alice/demo", repo_type="space", path_or_fileobj=b"import gradio\n", path_in_repo="app.py")

    assert url.repo_type == "space" and url.repo_id == "alice/demo"
    assert api.space_info("alice/demo").sdk == "gradio"
    assert hub_server.repo("alice/demo", "space").files()["app.py"] == b"import gradio\n"
    assert {"README.md", "app.py"} <= set(api.list_repo_files("alice/demo", repo_type="space"))


def test_create_repo_conflict_is_409_and_exist_ok_returns_url(api: HfApi, hub_server: HubServer) -> None:
    api.create_repo(REPO)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_repo(REPO)
    assert excinfo.value.response.status_code == 409
    assert api.create_repo(REPO, exist_ok=True) == f"{hub_server.url}/{REPO}"


def test_whoami_accepts_valid_token_and_rejects_wrong_one(api: HfApi, hub_server: HubServer) -> None:
    assert api.whoami()["name"] == "alice"
    with pytest.raises(HfHubHTTPError) as excinfo:
        HfApi(endpoint=hub_server.url).whoami(token="hf_wrong_token")
    assert excinfo.value.response.status_code == 401


def test_push_to_branch_leaves_main_untouched(api: HfApi, hub_server: HubServer) -> None:
    api.create_repo(REPO)
    api.create_branch(REPO, branch="dev")
    api.upload_file(repo_id=REPO, path_or_fileobj=b"dev", path_in_repo="notes.txt", revision="dev")

    assert "notes.txt" in api.list_repo_files(REPO, revision="dev")
    assert "notes.txt" not in api.list_repo_files(REPO)


def test_the_environment_set_by_conftest_points_the_client_at_the_server(
    hub_server: HubServer, pushed: dict[str, bytes]
) -> None:
    path = Path(hf_hub_download(REPO, "config.json"))  # no endpoint=, no cache_dir=: HF_ENDPOINT and HF_HOME only

    assert path.read_bytes() == pushed["config.json"]
    assert path.is_relative_to(constants.HF_HUB_CACHE)


def test_subprocess_reads_hf_endpoint_from_environment(hub_server: HubServer, pushed: dict[str, bytes]) -> None:
    code = "from huggingface_hub import HfApi; print(HfApi().model_info('alice/tiny-vgg').sha)"
    out = subprocess.run([sys.executable, "-c", code], env=os.environ, capture_output=True, text=True, timeout=60)

    assert out.stdout.strip() == hub_server.repo(REPO).branches["main"], out.stderr


def test_injected_500_fails_the_commit_once(api: HfApi, hub_server: HubServer) -> None:
    api.create_repo(REPO)
    fault = hub_server.fail_next("/commit/", status=500)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(repo_id=REPO, path_or_fileobj=b"x", path_in_repo="x.txt")
    assert excinfo.value.response.status_code == 500
    api.upload_file(repo_id=REPO, path_or_fileobj=b"x", path_in_repo="x.txt")
    assert fault.hits == 1
    assert len(hub_server.repo(REPO).history()) == 2


@pytest.mark.parametrize(("mode", "applied"), [("drop", False), ("drop_after", True)])
def test_dropped_connection_mid_commit_raises_transport_error(
    api: HfApi, hub_server: HubServer, mode: str, applied: bool
) -> None:
    api.create_repo(REPO)
    hub_server.fail_next("/commit/", mode=mode)

    with pytest.raises(httpx2.TransportError):
        api.upload_file(repo_id=REPO, path_or_fileobj=b"x", path_in_repo="x.txt")
    assert ("x.txt" in hub_server.repo(REPO).files()) is applied


def test_truncated_download_resumes_with_range_request(
    hub_server: HubServer, pushed: dict[str, bytes], tmp_path: Path
) -> None:
    hub_server.fail_next("/resolve/", method="GET", mode="truncate")

    path = hf_hub_download(REPO, "images/sample.png", cache_dir=tmp_path, endpoint=hub_server.url)

    assert Path(path).read_bytes() == pushed["images/sample.png"]
    assert [m for m, p in hub_server.requests if "/resolve/" in p] == ["HEAD", "GET", "GET"]
