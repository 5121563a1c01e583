"""The package as a stranger gets it: pip-installed from the model repo's own wheel, with its core dependencies only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download
from packaging.requirements import Requirement

from model import TinyVGG, classify
from model.publishing.hub import push
from model.publishing.space import requirements
from tests.conftest import ROOT

REPO = "alice/tinyvgg-fashion-mnist"
PHOTO = ROOT / "tests" / "photos" / "dress-on-rug.jpg"
# What a stranger's script does after installing: the model from the repo and from a folder, and a phone photo.
STRANGER = """
import json, sys
from model import TinyVGG, classify
import model
hub = TinyVGG.from_pretrained(sys.argv[1])
folder = TinyVGG.from_pretrained(sys.argv[2])
answers = [classify(sys.argv[3], m) for m in (hub, folder)]
first, second = (answer.probabilities for answer in answers)
print(json.dumps({"package": model.__file__, "probabilities": first, "same": first == second,
                  "warning": answers[0].warning, "top": answers[0].top_classes()}))
"""
# What the app, training, export and the tests need, and loading the model must not.
NOT_CORE = ("gradio", "mcp", "sklearn", "matplotlib", "tensorboardX", "torchvision", "onnx", "pytest")


@pytest.mark.slow
def test_a_stranger_installs_the_wheel_from_the_model_repo_and_classifies_a_photo(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    push(ROOT / "model" / "pretrained", REPO)
    card = Path(hf_hub_download(REPO, "README.md")).read_text()
    # The card's own install line, as a visitor would copy it.
    (line,) = re.findall(r'^pip install "tinyvgg-fashion-mnist @ \S+"$', card, flags=re.M)
    requirement = line.removeprefix("pip install ").strip('"')
    assert requirement.startswith(f"tinyvgg-fashion-mnist @ {hub_server.url}/{REPO}/resolve/main/code/")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # At the tested versions (constraints.txt), so the answer can be compared to the digit with this checkout's.
    constraints = str(ROOT / "constraints.txt")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-c", constraints, requirement],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"  # no checkout on the path: the package must come from the wheel
    folder = Path(shutil.copytree(ROOT / "model" / "pretrained", elsewhere / "my-model"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HOME": str(tmp_path / "hf-home")}
    run = subprocess.run(
        [python, "-c", STRANGER, REPO, str(folder), str(PHOTO)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout)

    assert answer["package"].startswith(str(venv)), "imported from the installed wheel, not a checkout"
    ours = classify(PHOTO, TinyVGG.from_pretrained(ROOT / "model" / "pretrained"))
    assert answer["same"] and answer["probabilities"] == pytest.approx(ours.probabilities, abs=1e-5)
    assert answer["top"][0]["label"] == max(ours.probabilities, key=ours.probabilities.get)
    assert answer["warning"] == ours.warning
    probe = f"import importlib.util as u; print([m for m in {NOT_CORE!r} if u.find_spec(m)])"
    installed = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert installed.stdout.strip() == "[]", "the core install brings no app, training or test packages"


@pytest.mark.slow
def test_loading_and_using_the_model_imports_no_app_training_or_report_package():
    code = (
        "import sys; from model import TinyVGG, classify; "
        "m = TinyVGG.from_pretrained('model/pretrained'); classify('examples/shop-trouser.jpg', m); "
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({NOT_CORE!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_loading_and_classifying_imports_no_training_or_publishing_module():
    code = (
        "import sys; from model import TinyVGG, classify; from model.loading import load; "
        "classify('examples/shop-trouser.jpg', load('model/pretrained')); "
        "print(sorted(n for n in sys.modules if n.startswith(('model.training', 'model.publishing'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _declared() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements: "core" and one list per extra, without the extras' references to the project."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    return {group: [r for r in map(Requirement, lines) if r.name != project["name"]] for group, lines in groups.items()}


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    return {re.sub(r"[-_.]+", "-", name).lower(): pinned for name, pinned in pairs}


def test_the_package_declares_ranges_not_pins():
    for group, declared in _declared().items():
        for requirement in declared:
            assert all(spec.operator != "==" for spec in requirement.specifier), f"{requirement} in {group}"
    core = {r.name for r in _declared()["core"]}
    assert core == {"torch", "safetensors", "huggingface-hub", "httpx2", "numpy", "pillow", "opencv-python-headless"}
    assert set(_declared()) == {"core", "app", "train", "export", "dev"}


def test_constraints_pin_every_declared_package_within_its_range_and_this_environment_has_them():
    pins = _pins()
    for declared in _declared().values():
        for requirement in declared:
            name = re.sub(r"[-_.]+", "-", requirement.name).lower()
            assert name in pins, f"constraints.txt pins no {name}: run `make constraints`"
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"
            # make installs with -c constraints.txt; a local build tag such as +cu130 names the wheel's origin.
            assert version(name).split("+")[0] == pins[name], f"{name} here differs from constraints.txt"


def test_requirements_txt_is_generated_from_pyproject_and_constraints():
    generated = requirements()

    assert (ROOT / "requirements.txt").read_text() == generated, "run `make requirements`"
    assert "gradio==" in generated and "torchvision" not in generated and "scikit-learn" not in generated
