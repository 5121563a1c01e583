"""Push and pull through the real huggingface_hub client against the local Hub server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard

import train
from benchmarks.app_server import free_port
from model.errors import HubError, ModelFolderError
from model.loading import load
from model.publishing.card import card_kwargs
from model.publishing.export import main as export_main
from model.publishing.hub import push
from model.tinyvgg import TinyVGG
from tests.conftest import ARTIFACTS, ROOT
from tests.hub_server import HubServer

REPO = "alice/tinyvgg-fashion-mnist"
# Every test here talks to the local Hub server, or runs a subprocess.
pytestmark = pytest.mark.slow


@pytest.fixture
def trained(notebook_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of a real training run's folder (checkpoint included) for each test."""
    return Path(shutil.copytree(notebook_run, tmp_path / "trained"))


@pytest.fixture
def token(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    return hub_server.token


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a hash of its bytes, to prove nothing local changed."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def logits(model: TinyVGG) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.inference_mode():
        return model(torch.rand(8, 1, 28, 28))


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_push_uploads_the_trained_folder_in_one_commit_without_the_checkpoint(trained, hub_server, token):
    assert (trained / "checkpoint.pt").exists()

    url = push(trained, REPO, commit_message="First model")

    repo = hub_server.repo(REPO)
    assert url == f"{hub_server.url}/{REPO}"
    assert [c.title for c in repo.history()] == ["First model", "initial commit"]
    (curves,) = (trained / "tensorboard").glob("events.out.tfevents.*")  # the Hub's "Training metrics" tab
    (wheel,) = [name for name in repo.files() if name.startswith("code/")]  # the package, to install from the repo
    assert set(repo.files()) == ARTIFACTS | {".gitattributes", f"tensorboard/{curves.name}", wheel}
    assert wheel.startswith("code/tinyvgg_fashion_mnist-") and wheel.endswith("-py3-none-any.whl")
    for name in ARTIFACTS - {"README.md"} | {f"tensorboard/{curves.name}"}:
        assert repo.files()[name] == (trained / name).read_bytes(), name


def test_the_pushed_card_loads_from_the_repo_and_the_local_card_is_untouched(trained, hub_server, token):
    before = snapshot(trained)

    push(trained, REPO)

    card = hub_server.repo(REPO).files()["README.md"].decode()
    assert f'TinyVGG.from_pretrained("{REPO}")' in card
    assert snapshot(trained) == before


def test_the_mixins_own_push_to_hub_publishes_the_same_files_and_card_but_the_wheel(trained, hub_server, token):
    other = "alice/pushed-by-the-mixin"
    assert export_main([str(trained)]) == 0  # the ONNX weights travel too
    push(trained, REPO)

    model = TinyVGG.from_pretrained(trained)
    model.push_to_hub(other, model_card_kwargs=card_kwargs(trained, model, repo_id=other))

    ours, mixins = hub_server.repo(REPO).files(), hub_server.repo(other).files()
    (wheel,) = set(ours) - set(mixins)
    assert wheel.startswith("code/") and set(mixins) <= set(ours)
    assert {"model.onnx", "metrics.json", "training_args.json", "loss_curves.png"} <= set(mixins)
    assert any(name.startswith("tensorboard/") for name in mixins)
    for name in set(mixins) - {"README.md"}:
        assert mixins[name] == ours[name], name
    # The cards differ only in how to install the package: ours gives the line that installs its wheel.
    card = ours["README.md"].decode().replace(REPO, other).replace(REPO.split("/")[1], other.split("/")[1])
    install = f'pip install "tinyvgg-fashion-mnist @ {hub_server.url}/{REPO}/resolve/main/{wheel}"'
    assert install in ours["README.md"].decode() and "pip install" not in mixins["README.md"].decode().split("```py")[0]
    assert _after_install(mixins["README.md"].decode()) == _after_install(card)
    assert "## Results" in card and "| lr | `0.1` |" in card and f'from_pretrained("{other}")' in card


def _after_install(card: str) -> str:
    """The card from its first Python snippet on, and its metadata: all but how to install the package."""
    head, _, rest = card.partition("## How to use")
    return head + rest[rest.index("```python") :]


def test_the_card_metadata_comes_from_the_model_class(trained, hub_server, token):
    model = TinyVGG.from_pretrained(trained)
    model.push_to_hub(REPO, model_card_kwargs=card_kwargs(trained, model, repo_id=REPO))

    data = ModelCard(hub_server.repo(REPO).files()["README.md"].decode()).data

    declared = TinyVGG._hub_mixin_info.model_card_data
    assert data.license == declared.license == "mit" and data.pipeline_tag == "image-classification"
    assert set(declared.tags) <= set(data.tags) and {"pytorch_model_hub_mixin", "fashion-mnist"} <= set(data.tags)


def test_push_without_a_wheel_publishes_the_model_files_only(trained, hub_server, token):
    push(trained, REPO, wheel=False)

    files = hub_server.repo(REPO).files()
    assert not any(name.startswith("code/") for name in files)
    assert "pushed without the package's wheel" in files["README.md"].decode()


def test_push_uploads_the_onnx_weights_and_the_card_shows_how_to_run_them_from_the_hub(trained, hub_server, token):
    assert export_main([str(trained)]) == 0

    push(trained, REPO)

    files = hub_server.repo(REPO).files()
    assert files["model.onnx"] == (trained / "model.onnx").read_bytes()
    assert f'ort.InferenceSession(hf_hub_download("{REPO}", "model.onnx"))' in files["README.md"].decode()


def test_a_push_deletes_the_run_files_that_the_folder_no_longer_has(trained, hub_server, token):
    assert export_main([str(trained)]) == 0
    push(trained, REPO)
    (trained / "model.onnx").unlink()  # as recalibration does: the old export holds the old temperature

    push(trained, REPO)

    files = hub_server.repo(REPO).files()
    assert "model.onnx" not in files and "config.json" in files and "metrics.json" in files
    assert len([name for name in files if name.startswith("code/")]) == 1


def test_push_then_pull_into_an_empty_cache_gives_identical_logits(trained, hub_server, token, tmp_path):
    push(trained, REPO)

    pulled = load(REPO, cache_dir=tmp_path / "empty-cache")

    assert not pulled.training
    assert torch.equal(logits(pulled), logits(TinyVGG.from_pretrained(trained)))


def test_pulling_the_first_commit_gives_the_first_weights(trained, hub_server, token, tmp_path):
    push(trained, REPO)
    first = hub_server.repo(REPO).branches["main"]
    retrained = TinyVGG.from_pretrained(trained)
    with torch.no_grad():
        for parameter in retrained.parameters():
            parameter.add_(0.01)
    retrained.save_pretrained(trained)
    push(trained, REPO)

    old = load(REPO, revision=first, cache_dir=tmp_path / "cache")
    new = load(REPO, cache_dir=tmp_path / "cache")

    assert torch.equal(logits(new), logits(retrained))
    assert not torch.equal(logits(old), logits(new))
    assert hub_server.repo(REPO).branches["main"] != first


def test_push_to_a_branch_leaves_main_as_it_was(trained, hub_server, token):
    push(trained, REPO)
    main_before = hub_server.repo(REPO).branches["main"]

    push(trained, REPO, revision="experiment")

    repo = hub_server.repo(REPO)
    assert repo.branches["main"] == main_before
    assert "experiment" in repo.branches


def test_a_private_repo_cannot_be_pulled_without_a_token(trained, hub_server, token, monkeypatch, tmp_path):
    push(trained, REPO, private=True)
    monkeypatch.delenv("HF_TOKEN")

    with pytest.raises(HubError, match=rf"Repository {REPO} not found .*private.*HF_TOKEN"):
        load(REPO, cache_dir=tmp_path)
    assert hub_server.repo(REPO).private


def test_pull_works_offline_from_the_cache_once_downloaded(trained, hub_server, token, tmp_path):
    push(trained, REPO)
    cache = tmp_path / "cache"
    expected = logits(load(REPO, cache_dir=cache))
    requests = len(hub_server.requests)

    code = (
        "import torch; from model.tinyvgg import TinyVGG; "
        f"m = TinyVGG.from_pretrained({REPO!r}, cache_dir={str(cache)!r}); "
        "torch.manual_seed(0); print(m(torch.rand(8, 1, 28, 28)).sum().item())"
    )
    offline = run_python(code, HF_HUB_OFFLINE="1")

    assert offline.returncode == 0, offline.stderr
    assert float(offline.stdout.strip().splitlines()[-1]) == pytest.approx(expected.sum().item(), rel=1e-6)
    assert len(hub_server.requests) == requests, "offline mode must not touch the network"


def test_offline_without_a_cached_copy_says_what_to_do(hub_server, tmp_path):
    code = f"from model.publishing.hub import main; raise SystemExit(main(['pull', {REPO!r}]))"

    result = run_python(code, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))

    assert result.returncode == 1
    assert "not in the local cache" in result.stderr and "local folder" in result.stderr


def test_an_unknown_repository_is_reported_by_name(hub_server, token, tmp_path):
    with pytest.raises(HubError, match="Repository alice/nothing-here not found"):
        load("alice/nothing-here", cache_dir=tmp_path)


def test_a_repository_without_weights_is_reported(hub_server, token, tmp_path):
    api = HfApi()
    api.create_repo("alice/no-weights")
    api.upload_file(repo_id="alice/no-weights", path_or_fileobj=b"{}", path_in_repo="config.json")

    with pytest.raises(HubError, match="alice/no-weights has no model.safetensors"):
        load("alice/no-weights", cache_dir=tmp_path)


def test_an_unknown_revision_is_reported(trained, hub_server, token, tmp_path):
    push(trained, REPO)

    with pytest.raises(HubError, match=f"Revision 'v9' not found in {REPO}"):
        load(REPO, revision="v9", cache_dir=tmp_path)


def test_push_without_a_token_says_how_to_log_in(trained, hub_server):
    before = snapshot(trained)

    with pytest.raises(HubError, match="HF_TOKEN.*hf auth login"):
        push(trained, REPO)
    assert snapshot(trained) == before
    assert not hub_server.repos


def test_push_with_a_wrong_token_says_it_was_refused(trained, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    before = snapshot(trained)

    with pytest.raises(HubError, match=r"refused the token \(401"):
        push(trained, REPO)
    assert snapshot(trained) == before


def test_a_server_error_during_the_commit_keeps_the_folder_and_says_to_retry(trained, hub_server, token):
    before = snapshot(trained)
    hub_server.fail_next("/commit/", status=500)

    with pytest.raises(HubError, match="failed with 500.*again.*Nothing in .* was changed"):
        push(trained, REPO)
    assert snapshot(trained) == before
    assert push(trained, REPO).endswith(REPO), "the same push succeeds once the Hub recovers"


def test_an_unreachable_hub_is_reported_and_the_folder_kept(trained, hub_server):
    before = snapshot(trained)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code = f"from model.publishing.hub import main; raise SystemExit(main(['push', {str(trained)!r}, {REPO!r}]))"

    result = run_python(code, HF_ENDPOINT=closed, HF_TOKEN=hub_server.token)

    assert result.returncode == 1
    assert f"Could not reach the Hub at {closed}" in result.stderr
    assert snapshot(trained) == before


def test_a_folder_without_weights_is_refused_before_any_upload(trained, hub_server, token):
    (trained / "model.safetensors").unlink()

    with pytest.raises(ModelFolderError, match="has no model.safetensors.*train.py"):
        push(trained, REPO)
    assert not hub_server.requests


def test_a_config_that_does_not_match_the_weights_names_the_tensor_and_shapes(trained, hub_server, token):
    config = json.loads((trained / "config.json").read_text())
    config["hidden_units"] = 12
    (trained / "config.json").write_text(json.dumps(config))
    before = snapshot(trained)

    with pytest.raises(
        ModelFolderError, match=r"conv_block_1\.0\.weight is \[10, 1, 3, 3\] in the weights but \[12, 1, 3, 3\]"
    ):
        push(trained, REPO)
    assert snapshot(trained) == before
    assert not hub_server.requests


@pytest.mark.parametrize("edit, message", [("{not json", "is not valid JSON"), ("{}", "lacks in_channels")])
def test_a_broken_config_is_refused_with_the_file_named(trained, hub_server, token, edit, message):
    (trained / "config.json").write_text(edit)

    with pytest.raises(ModelFolderError, match=rf"config.json {message}"):
        push(trained, REPO)


def test_the_cli_prints_the_repo_url_and_never_the_token(trained, hub_server):
    command = [
        sys.executable,
        "-m",
        "model.publishing.hub",
        "push",
        str(trained),
        REPO,
        "--commit-message",
        "From the CLI",
    ]
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, "HF_TOKEN": hub_server.token}, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    url, note = result.stdout.strip().splitlines()
    assert url == f"{hub_server.url}/{REPO}"
    assert note.startswith(f"note: {trained} has no model.onnx"), "the folder was not exported: the note says so"
    assert hub_server.token not in result.stdout + result.stderr
    assert hub_server.repo(REPO).history()[0].title == "From the CLI"


def test_train_can_push_at_the_end_and_keeps_its_artifacts_when_the_push_fails(hub_server, token, tmp_path, capsys):
    args = ["--preset", "notebook", "--epochs", "1", "--limit-train", "1000", "--limit-test", "200", "--no-progress"]
    hub_server.fail_next("/commit/", status=500)

    assert train.main([*args, "--output-dir", str(tmp_path), "--push-to-hub", REPO]) == 1
    err = capsys.readouterr().err
    assert "safe in" in err and f"python -m model.publishing.hub push {tmp_path} {REPO}" in err
    assert ARTIFACTS <= {p.name for p in tmp_path.iterdir()}

    push(tmp_path, REPO, wheel=False)  # the retry it printed, from the artifacts it kept
    assert ARTIFACTS <= set(hub_server.repo(REPO).files())

    assert train.main([*args, "--output-dir", str(tmp_path / "again"), "--push-to-hub", f"{REPO}-again"]) == 0
    assert ARTIFACTS <= set(hub_server.repo(f"{REPO}-again").files())
    assert "has no model.onnx, which the static Space reads" in capsys.readouterr().out


def test_the_card_metadata_carries_the_measured_accuracy(trained, hub_server, token):
    push(trained, REPO)
    path = Path(HfApi().hf_hub_download(REPO, "README.md"))

    card = ModelCard.load(path)

    metrics = json.loads((trained / "metrics.json").read_text())
    assert card.data.eval_results[0].metric_value == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert card.data.eval_results[0].dataset_split == "test"
    assert card.data.library_name == "pytorch" and card.data.license == "mit"
    assert {"image-classification", "fashion-mnist", "tinyvgg", "pytorch_model_hub_mixin"} <= set(card.data.tags)
    assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
    assert card.data.metrics == ["accuracy"] and card.data.pipeline_tag == "image-classification"


def test_a_connection_dropped_during_the_upload_keeps_the_folder_and_says_to_retry(trained, hub_server, token):
    before = snapshot(trained)
    hub_server.fail_next("/commit/", mode="drop")

    with pytest.raises(HubError, match="Could not reach the Hub .* try the same command again"):
        push(trained, REPO)
    assert snapshot(trained) == before
    assert push(trained, REPO).endswith(REPO)


def test_pulling_with_the_hub_unreachable_and_nothing_cached_suggests_offline_mode_or_a_folder(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    code = f"from model.publishing.hub import main; raise SystemExit(main(['pull', {REPO!r}]))"

    result = run_python(code, HF_ENDPOINT=closed, HF_HOME=str(tmp_path))

    assert result.returncode == 1
    assert "HF_HUB_OFFLINE" in result.stderr and "local folder" in result.stderr


def test_a_truncated_weights_file_is_refused_with_its_name(trained, hub_server, token):
    weights = trained / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])

    with pytest.raises(ModelFolderError, match=r"model.safetensors is not a readable safetensors file"):
        push(trained, REPO)
    assert not hub_server.requests


def test_a_hub_repo_whose_config_lacks_a_value_is_refused_on_pull(trained, hub_server, token, tmp_path):
    push(trained, REPO)
    config = json.loads((trained / "config.json").read_text())
    del config["normalize"]
    HfApi().upload_file(repo_id=REPO, path_or_fileobj=json.dumps(config).encode(), path_in_repo="config.json")

    with pytest.raises(HubError, match=f"{REPO}: config.json lacks normalize"):
        load(REPO)
