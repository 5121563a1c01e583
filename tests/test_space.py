"""The Space bundle: front matter, requirements, an app that runs from its own folder, and the push."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
import yaml
from gradio_client import Client, handle_file
from huggingface_hub import HfApi

from benchmarks.app_server import free_port, start_app, stop
from model.errors import HubError
from model.publishing.bundle import BundleError
from model.publishing.hub import push as push_model
from model.publishing.space import build, embed_snippets, push, space_host
from model.publishing.space import main as space_main
from tests.conftest import ROOT

CLASS_NAMES = json.loads((ROOT / "model" / "pretrained" / "config.json").read_text())["class_names"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("space") / "bundle")


def front_matter(folder: Path) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def third_party_imports(folder: Path) -> set[str]:
    """Top-level modules imported by the bundle's Python files, minus the stdlib and the bundle itself."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("model", "app", "__future__")}


def normalize(distribution: str) -> str:
    """PEP 503: huggingface_hub and huggingface-hub are the same distribution."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_the_front_matter_has_every_key_spaces_need(bundle):
    config = front_matter(bundle)

    assert config["sdk"] == "gradio" and config["sdk_version"] == version("gradio")
    assert config["app_file"] == "app.py" and config["license"] == "mit"
    assert config["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    for key in ("title", "emoji", "colorFrom", "colorTo", "short_description"):
        assert config[key], key
    assert len(config["short_description"]) <= 60, "the Hub refuses longer short descriptions"
    assert "models" not in config and "preload_from_hub" not in config, (
        "a bundle with its own weights needs no Hub model"
    )
    assert config["datasets"] == ["zalando-datasets/fashion_mnist"]
    assert {"image-classification", "fashion-mnist", "mcp-server"} <= set(config["tags"])


@pytest.mark.slow
def test_a_bundle_for_a_hub_model_names_it_preloads_its_commit_and_ships_no_weights(tmp_path, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    push_model(ROOT / "model" / "pretrained", "alice/tinyvgg", revision="v1")
    commit = hub_server.repo("alice/tinyvgg").history("v1")[0].oid

    out = build(tmp_path / "bundle", model_id="alice/tinyvgg@v1")

    assert front_matter(out)["models"] == ["alice/tinyvgg"]
    (preload,) = front_matter(out)["preload_from_hub"]
    repo, files, sha = preload.split()
    assert (repo, sha) == ("alice/tinyvgg", commit) and {"model.safetensors", "config.json"} <= set(files.split(","))
    assert (out / "model_id.txt").read_text().strip() == "alice/tinyvgg@v1"
    assert not (out / "model" / "pretrained").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alice/nothing@v1", "alice/nothing"])
def test_a_bundle_for_a_repo_the_hub_does_not_have_is_refused_with_or_without_a_revision(tmp_path, hub_server, name):
    with pytest.raises(HubError, match="Repository alice/nothing not found"):
        build(tmp_path / "bundle", model_id=name)
    assert not (tmp_path / "bundle").exists()


@pytest.mark.slow
def test_a_bundle_for_a_repo_without_weights_is_refused(tmp_path, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    HfApi().create_repo("alice/empty")

    with pytest.raises(HubError, match="alice/empty has no model.safetensors or config.json"):
        build(tmp_path / "bundle", model_id="alice/empty")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.slow
def test_a_bundle_for_a_hub_model_is_refused_when_the_hub_cannot_be_reached(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "model.publishing.space", "build", str(tmp_path / "bundle"), "--model", "alice/tinyvgg"],
        cwd=ROOT,
        env={**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"},  # nothing listens there
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1 and "Could not reach the Hub" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "bundle").exists()


def test_requirements_name_every_package_the_bundle_imports(bundle):
    required = {
        normalize(line.split("==")[0])
        for line in (bundle / "requirements.txt").read_text().splitlines()
        if line and not line.startswith(("#", "-"))
    }
    distributions = packages_distributions()

    for module in third_party_imports(bundle):
        names = {normalize(d) for d in distributions.get(module, [module])}
        assert module == "gradio" or names & required, f"{module} ({names}) is imported but not in requirements.txt"
    assert "gradio" not in required, "gradio is pinned by sdk_version, not requirements.txt"
    assert "torchvision" not in required, "the app does not import torchvision"


def test_torch_comes_from_pytorchs_cpu_wheels(bundle):
    lines = (bundle / "requirements.txt").read_text().splitlines()

    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines


def test_the_bundle_pins_the_versions_the_tests_run_with(bundle):
    def pinned(path: Path) -> list[str]:
        pairs = (line.split("==") for line in path.read_text().splitlines() if "==" in line)
        return [f"{normalize(name)}=={version}" for name, version in pairs]

    pins, required = set(pinned(ROOT / "constraints.txt")), pinned(bundle / "requirements.txt")

    assert required and set(required) <= pins
    assert "torch==2.14.1" in required


def test_the_bundle_holds_only_what_the_app_imports(bundle):
    shipped = {p.name for p in (bundle / "model").iterdir()}

    assert not {"engine.py", "config.py", "report.py", "space.py", "card.py", "data.py", "hub.py"} & shipped
    assert {"tinyvgg.py", "preprocess.py", "loading.py"} <= shipped


def test_building_into_a_folder_of_other_files_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "old.txt").write_text("someone's file")

    for overwrite in (False, True):
        with pytest.raises(BundleError, match="holds no Space bundle"):
            build(tmp_path, overwrite=overwrite)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_a_second_build_keeps_the_first_bundle_byte_for_byte_unless_told_to_overwrite(bundle, tmp_path, capsys):
    out = Path(shutil.copytree(bundle, tmp_path / "space"))
    (out / "stale.txt").write_text("a file no build writes")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    assert space_main(["build", str(out)]) == 1
    err = capsys.readouterr().err
    assert f'{out} already holds a gradio Space bundle, "TinyVGG Fashion-MNIST" with its own weights' in err
    assert "--overwrite" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    assert space_main(["build", str(out), "--overwrite"]) == 0
    assert not (out / "stale.txt").exists(), "the old bundle is replaced whole"
    assert (out / "app.py").read_bytes() == (bundle / "app.py").read_bytes()


@pytest.mark.slow
def test_a_hub_build_that_fails_leaves_the_earlier_bundle_as_it_was(bundle, tmp_path, hub_server):
    out = Path(shutil.copytree(bundle, tmp_path / "space"))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    with pytest.raises(HubError, match="Repository alice/nothing not found"):
        build(out, model_id="alice/nothing", overwrite=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["space"], "no scratch folder is left behind"


@pytest.mark.slow
def test_the_bundle_serves_predictions_from_a_copy_outside_the_checkout(bundle, tmp_path):
    copy = Path(shutil.copytree(bundle, tmp_path / "elsewhere"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [sys.executable, "-c", "import app, model; print(model.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip().splitlines()[-1]).is_relative_to(copy), "the bundle must use its own model package"

    proc, url = start_app(cwd=copy, env=env)
    try:
        label, *_ = Client(url, verbose=False).predict(
            handle_file(copy / "examples" / "shop-trouser.jpg"), api_name="/predict"
        )
    finally:
        stop(proc)

    assert label["label"] == "Trouser"
    assert {c["label"] for c in label["confidences"]} <= set(CLASS_NAMES)


@pytest.mark.slow
def test_a_bundle_with_a_feedback_repo_collects_feedback_there_and_says_so(tmp_path, hub_server):
    feedback_repo = "alice/tinyvgg-feedback"
    out = build(tmp_path / "bundle", feedback_repo=feedback_repo)
    card = (out / "README.md").read_text(encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_TOKEN": hub_server.token}

    proc, _ = start_app(cwd=out, env=env)  # with no flag: feedback_repo.txt turns it on
    stop(proc)

    assert "## Feedback" in card and f"(https://huggingface.co/datasets/{feedback_repo})" in card
    assert hub_server.repo(feedback_repo, "dataset").private, "the app created the dataset, private"
    assert (out / "feedback").is_dir()


def test_a_bundle_with_a_feedback_repo_that_is_no_repo_id_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not a dataset repo id"):
        build(tmp_path / "bundle", feedback_repo="my feedback")
    assert not (tmp_path / "bundle").exists()


def test_the_static_page_refuses_a_feedback_repo_as_it_has_no_server(tmp_path, capsys):
    argv = ["build", str(tmp_path / "static"), "--static", "--feedback-repo", "alice/tinyvgg-feedback"]

    assert space_main(argv) == 1

    assert "the static page has no server, and keeps no feedback" in capsys.readouterr().err
    assert not (tmp_path / "static").exists()


@pytest.mark.slow
def test_the_bundle_runs_in_a_fresh_environment_from_its_own_requirements(bundle, tmp_path):
    # As a Space installs it: gradio at sdk_version, then requirements.txt. PyTorch's CPU index cannot
    # be reached here, so that one line is left out and torch comes from where pip finds it.
    requirements = tmp_path / "requirements.txt"
    lines = (bundle / "requirements.txt").read_text().splitlines()
    requirements.write_text("\n".join(line for line in lines if not line.startswith("--extra-index-url")) + "\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", f"gradio=={front_matter(bundle)['sdk_version']}", "-r", requirements],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('torchvision') is None)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "True", "the Space installs no torchvision"

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc, url = start_app(cwd=bundle, env=env, python=python, timeout=180)
    try:
        label, *_ = Client(url, verbose=False).predict(
            handle_file(bundle / "examples" / "shop-trouser.jpg"), api_name="/predict"
        )
    finally:
        stop(proc)

    assert label["label"] == "Trouser"


@pytest.mark.slow
def test_push_creates_a_gradio_space_whose_files_match_the_bundle(bundle, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)

    url = push(bundle, "alice/tinyvgg-demo")

    space = hub_server.repo("alice/tinyvgg-demo", repo_type="space")
    local = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert url.endswith("spaces/alice/tinyvgg-demo")
    assert space.sdk == "gradio"
    assert {k: v for k, v in space.files().items() if k != ".gitattributes"} == local


@pytest.mark.slow
def test_push_without_a_token_says_how_to_log_in_and_keeps_the_bundle(bundle, hub_server):
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}

    with pytest.raises(HubError, match="HF_TOKEN"):
        push(bundle, "alice/tinyvgg-demo")
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_the_embedding_snippets_point_at_the_host_the_hub_reports(bundle, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    push(bundle, "alice/TinyVGG_demo")

    html = embed_snippets(space_host("alice/TinyVGG_demo"))

    assert f"/{version('gradio')}/gradio.js" in html
    assert '<gradio-app src="https://alice-tinyvgg-demo.hf.space"></gradio-app>' in html
    assert '<iframe src="https://alice-tinyvgg-demo.hf.space"' in html
