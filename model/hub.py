"""Publish a trained folder on the Hugging Face Hub, and the command line to push and pull models.

    python -m model.hub push DIR REPO_ID [--private] [--revision BRANCH] [--commit-message MSG]
    python -m model.hub pull REPO_ID[@REVISION] [--revision REVISION]

The token comes from $HF_TOKEN or the stored login (`hf auth login`); it is never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

from model.card import render_card
from model.hub_errors import HubError, describe_error
from model.loading import load_folder, load_pretrained

# What a trained folder publishes: everything train.py writes except the checkpoint (the card
# is rendered anew for the repo): weights, JSON, figures, ONNX weights and TensorBoard logs.
PUSHED_PATTERNS = ("model.safetensors", "*.json", "*.png", "*.onnx", "tensorboard/events.out.tfevents.*")


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Upload a trained folder to `repo_id` in one commit and return the repo URL.

    The card is the one `model.push_to_hub` publishes (`TinyVGG.generate_model_card`), rendered
    for `repo_id` so that its usage snippet loads from the Hub, and uploaded from memory: the
    local folder is never modified.
    """
    folder = Path(folder)
    model = load_folder(folder)
    files = sorted(
        p
        for pattern in PUSHED_PATTERNS
        for p in folder.glob(pattern)
        # Hidden files are the half-written temporaries of a killed command.
        if p.name != "README.md" and not p.name.startswith(".")
    )
    card = str(render_card(folder, model, repo_id=repo_id)).encode()
    operations = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files
    ]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card))

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.hub", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("push", help="upload a trained folder in one commit")
    p.add_argument("folder", help="a folder written by train.py (e.g. model/pretrained)")
    p.add_argument("repo_id", help="user/name on the Hub; created if it does not exist")
    p.add_argument("--private", action="store_true", help="create the repo private (default: public)")
    p.add_argument("--revision", help="branch to commit to; created from main if needed (default: main)")
    p.add_argument("--commit-message", help="(default: 'Upload TinyVGG (N parameters)')")
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
            )
            print(url)
        else:
            repo_id, _, at = args.repo_id.partition("@")
            model = load_pretrained(repo_id, revision=args.revision or at or None)
            classes = ", ".join(model.class_names)
            print(f"{args.repo_id}: TinyVGG with {model.num_parameters:,} parameters; classes: {classes}")
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
