"""Publish a trained folder on the Hugging Face Hub, and the command line to push and pull models.

    python -m model.publishing.hub push DIR REPO_ID [--private] [--revision BRANCH] [--commit-message MSG] [--no-wheel]
    python -m model.publishing.hub pull REPO_ID[@REVISION] [--revision REVISION]

A push publishes what `TinyVGG.push_to_hub` does (weights, config.json, the card and the run's files,
model.training.run_folder.run_files) and, from a checkout, the package's wheel under code/, so that the card's
install line gives anyone the code that loads and uses the model. The token comes from $HF_TOKEN or the
stored login (`hf auth login`); it is never printed.
"""

from __future__ import annotations

import argparse
import atexit
import fnmatch
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from model import artifacts
from model.errors import HubError, ModelFolderError
from model.hub_errors import describe_error
from model.loading import load, load_folder
from model.publishing.bundle import BundleError
from model.publishing.card import build_card, read_run
from model.training import run_folder
from model.training.metrics import MetricsError

# What the wheel is built from: the package and what pyproject.toml names beside it.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "model")


def build_wheel(out_dir: str | Path) -> Path:
    """Build the package's wheel into `out_dir` from the checkout and return it.

    It is built from a copy of the package and pyproject.toml, so no build folder lands in the checkout.

    Raises:
        BundleError: The package is not installed from a checkout (there is no pyproject.toml to
            build from), or the build failed.
    """
    if not (artifacts.CHECKOUT / "pyproject.toml").is_file():
        raise BundleError(
            f"no pyproject.toml beside the package in {artifacts.CHECKOUT}: the wheel is built from a checkout of "
            "the project. "
            "Push from a checkout, or pass --no-wheel."
        )
    with tempfile.TemporaryDirectory(prefix="tinyvgg-wheel-") as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        for name in WHEEL_SOURCES:
            if (artifacts.CHECKOUT / name).is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", artifacts.CHECKPOINT)
                shutil.copytree(artifacts.CHECKOUT / name, source / name, ignore=ignore)
            else:
                shutil.copy2(artifacts.CHECKOUT / name, source / name)
        # --no-build-isolation: setuptools (a build requirement in [dev]) is already here, no download needed.
        build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp, source]
        result = subprocess.run(build, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise BundleError(f"building the package's wheel failed: {result.stderr.strip()[-2000:]}")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheels[0], Path(out_dir) / wheels[0].name))


@functools.cache
def _wheel_for_this_process() -> Path:
    """One wheel per process: the package does not change under a running command."""
    folder = tempfile.mkdtemp(prefix="tinyvgg-wheel-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_wheel(folder)


def stale_on_hub(published: list[str], pushed: set[str]) -> list[str]:
    """The run files and wheels of a repo's `published` files that this push does not replace.

    A recalibrated folder has no model.onnx until it is exported again; left on the Hub, the old one
    would hold the old temperatures beside the new config.json.
    """
    patterns = (*run_folder.RUN_FILES, f"{artifacts.CODE}/*.whl")
    return sorted(name for name in published if name not in pushed and any(fnmatch.fnmatch(name, p) for p in patterns))


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    wheel: bool = True,
) -> str:
    """Upload a trained folder to `repo_id` in one commit and return the repo URL.

    The files are those `model.push_to_hub(repo_id, model_card_kwargs=card_kwargs(folder, model, repo_id))`
    publishes: weights, config.json, the run's files and the card (model.publishing.card), rendered
    for `repo_id` so that its snippets load from the Hub and uploaded from memory: the local folder
    is never modified. With `wheel`, the package's wheel goes under code/ and the card gives the
    line that installs it from there. Run files and wheels of an earlier push that the folder no
    longer has are deleted in the same commit (`stale_on_hub`).
    """
    folder = Path(folder)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise HubError(describe_error(err, repo_id, revision, action="push")) from None
    model = load_folder(folder)
    run = read_run(folder)  # read once: the card shows exactly the files that are uploaded
    files = {name: folder / name for name in (artifacts.WEIGHTS, artifacts.CONFIG)} | run["files"]
    built = _wheel_for_this_process() if wheel else None
    if built:
        files[f"{artifacts.CODE}/{built.name}"] = built
    card = build_card(
        model, **run, repo_id=repo_id, folder=folder.as_posix(), wheel=built and built.name, revision=revision
    )
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    operations.append(CommitOperationAdd(path_in_repo=artifacts.CARD, path_or_fileobj=str(card).encode()))

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        published = api.list_repo_files(repo_id, revision=revision)
        for name in stale_on_hub(published, {op.path_in_repo for op in operations}):
            operations.append(CommitOperationDelete(path_in_repo=name))
        api.create_commit(
            repo_id,
            operations=operations,
            commit_message=commit_message or f"Upload TinyVGG ({model.num_parameters:,} parameters)",
            revision=revision,
        )
    except Exception as err:
        raise HubError(
            describe_error(err, repo_id, revision, action="push") + f" Nothing in {folder} was changed."
        ) from err
    return str(url)


def onnx_note(folder: str | Path) -> str:
    """What to do before a static Space can be built from the repo, when `folder` has no ONNX export; else ""."""
    if (Path(folder) / artifacts.ONNX).is_file():
        return ""
    return (
        f"note: {folder} has no {artifacts.ONNX}, which the static Space reads from the repo. Write it with "
        f"`python -m model.publishing.export {folder}`, then push again.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.publishing.hub", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("push", help="upload a trained folder in one commit")
    p.add_argument("folder", help="a folder written by train.py (e.g. model/pretrained)")
    p.add_argument("repo_id", help="user/name on the Hub; created if it does not exist")
    p.add_argument("--private", action="store_true", help="create the repo private (default: public)")
    p.add_argument("--revision", help="branch to commit to; created from main if needed (default: main)")
    p.add_argument("--commit-message", help="(default: 'Upload TinyVGG (N parameters)')")
    p.add_argument(
        "--no-wheel",
        action="store_true",
        help="do not upload the package's wheel under code/ (default: upload it, built from this checkout)",
    )
    p = commands.add_parser("pull", help="download a model (into the Hub cache) and describe it")
    p.add_argument("repo_id", help="user/name[@revision], or a local folder")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    args = parser.parse_args(argv)

    try:
        if args.command == "push":
            url = push(
                args.folder,
                args.repo_id,
                private=args.private,
                revision=args.revision,
                commit_message=args.commit_message,
                wheel=not args.no_wheel,
            )
            print(url)
            print(onnx_note(args.folder), end="")
        else:
            model = load(args.repo_id, revision=args.revision)
            classes = ", ".join(model.class_names)
            print(f"{args.repo_id}: TinyVGG with {model.num_parameters:,} parameters; classes: {classes}")
    except (BundleError, HubError, ModelFolderError, MetricsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
