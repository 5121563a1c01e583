"""Push a trained folder to the Hugging Face Hub and pull models back, with errors in plain words.

    python -m model.hub push DIR REPO_ID [--private] [--revision BRANCH] [--commit-message MSG]
    python -m model.hub pull REPO_ID[@REVISION] [--revision REVISION]

The token comes from $HF_TOKEN or the stored login (`hf auth login`); it is never printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    LocalTokenNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError

from model.card import build_card
from model.tinyvgg import ConfigError, TinyVGG

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
# Read by the app's info panel when the model has them.
EXTRA_FILES = ("config.json", "README.md", "metrics.json", "confusion_matrix.png")
# What a trained folder publishes: everything train.py writes except the checkpoint.
PUSHED_PATTERNS = ("model.safetensors", "*.json", "*.png")
LOGIN_HINT = "set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens) or run `hf auth login`"


class HubError(RuntimeError):
    """A Hub operation failed; the message says what happened and what to do."""


def check_folder(folder: str | Path) -> TinyVGG:
    """Load a trained folder the way a user of the pushed repo will, or say what is wrong with it.

    Raises:
        HubError: No weights, a broken config.json, or a config that does not match the weights.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder. Train one with `python train.py --output-dir {folder}`.")
    if not (folder / WEIGHTS).is_file():
        raise HubError(
            f"{folder} has no {WEIGHTS}, so there is nothing to publish. "
            f"Train with `python train.py --output-dir {folder}` first."
        )
    try:
        config = json.loads((folder / CONFIG).read_text())
    except FileNotFoundError:
        raise HubError(f"{folder / CONFIG} is missing; it holds the architecture. Retrain or restore it.") from None
    except json.JSONDecodeError as err:
        raise HubError(f"{folder / CONFIG} is not valid JSON ({err}). Restore it from the training run.") from None
    if not isinstance(config, dict):
        raise HubError(f"{folder / CONFIG} is not a JSON object. Restore it from the training run.")
    try:
        return TinyVGG.from_pretrained(folder)
    except ConfigError as err:
        raise HubError(str(err)) from None
    except SafetensorError as err:
        raise HubError(f"{folder / WEIGHTS} is not a readable safetensors file ({err}); it may be truncated.") from None
    except RuntimeError as err:
        raise HubError(f"{folder / CONFIG} does not match {folder / WEIGHTS}: {_mismatch(err)}") from None


def _mismatch(err: RuntimeError) -> str:
    """The useful part of load_state_dict's error: which tensors, which shapes."""
    sizes = re.findall(
        r"size mismatch for ([\w.]+): copying a param with shape torch.Size\((\[.*?\])\) from checkpoint, "
        r"the shape in current model is torch.Size\((\[.*?\])\)",
        str(err),
    )
    if sizes:
        return "; ".join(
            f"{name} is {saved} in the weights but {built} in the model config.json describes"
            for name, saved, built in sizes
        )
    return str(err).splitlines()[0] if str(err) else repr(err)


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

    The card is rendered again for `repo_id` (so its usage snippet loads from the
    Hub) and uploaded from memory: the local folder is never modified.
    """
    folder = Path(folder)
    model = check_folder(folder)
    files = sorted({p for pattern in PUSHED_PATTERNS for p in folder.glob(pattern) if p.name != "README.md"})
    card = str(build_card(folder, repo_id)).encode()
    operations = [CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in files]
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


def pull(repo_id_or_folder: str, revision: str | None = None, **kwargs) -> TinyVGG:
    """`TinyVGG.from_pretrained` with its errors turned into a `HubError` that says what to do."""
    if Path(repo_id_or_folder).is_dir():
        return check_folder(repo_id_or_folder)
    try:
        return TinyVGG.from_pretrained(repo_id_or_folder, revision=revision, **kwargs)
    except ConfigError as err:
        raise HubError(str(err)) from None
    except RuntimeError as err:
        raise HubError(f"{repo_id_or_folder}: {CONFIG} does not match {WEIGHTS}: {_mismatch(err)}") from err
    except Exception as err:
        raise HubError(describe_error(err, repo_id_or_folder, revision, action="pull")) from err


@dataclass
class LoadedModel:
    """A model with what its files say about it, for the app's info panel."""

    model: TinyVGG
    source: str
    revision: str | None
    test_accuracy: float | None
    metrics: dict | None
    confusion_matrix: Path | None


def load_model(spec: str) -> LoadedModel:
    """Load `FOLDER` or `REPO_ID[@REVISION]`, with its card, metrics and confusion matrix when present.

    Raises:
        HubError: The model cannot be loaded; the message names the source and what to do.
    """
    source, _, revision = spec.partition("@")
    if Path(source).is_dir():
        model = check_folder(source)
        files = {name: Path(source) / name for name in EXTRA_FILES if (Path(source) / name).is_file()}
        revision = None
    elif "/" not in source or Path(source).exists():
        raise HubError(f"{source} is neither a model folder nor a Hub repo id of the form user/name.")
    else:
        model = pull(source, revision=revision or None)
        files = {name: path for name in EXTRA_FILES if (path := _optional_download(source, name, revision or None))}
        # Cached files live in .../snapshots/<commit>/<name>: that commit is the exact revision loaded.
        revision = files["config.json"].parent.name if "config.json" in files else revision or "main"
    metrics = json.loads(files["metrics.json"].read_text()) if "metrics.json" in files else None
    accuracy = None
    if "README.md" in files:
        results = ModelCard.load(files["README.md"]).data.eval_results or []
        accuracy = next((r.metric_value for r in results if r.metric_type == "accuracy"), None)
    if accuracy is None and metrics:
        accuracy = metrics.get("test_accuracy")
    return LoadedModel(model, source, revision, accuracy, metrics, files.get("confusion_matrix.png"))


def _optional_download(repo_id: str, filename: str, revision: str | None) -> Path | None:
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except EntryNotFoundError:
        return None


def describe_error(err: Exception, repo_id: str, revision: str | None, *, action: str) -> str:
    """One plain sentence (or two) for any error the Hub client raises."""
    where = f"{repo_id}@{revision}" if revision else repo_id
    if isinstance(err, GatedRepoError):
        return f"{repo_id} is gated: accept its conditions on the Hub, then {LOGIN_HINT}."
    if isinstance(err, RepositoryNotFoundError):
        return (
            f"Repository {repo_id} not found on {constants.ENDPOINT} (or it is private and your token cannot see it). "
            f"Check the name, or {LOGIN_HINT}."
        )
    if isinstance(err, RevisionNotFoundError):
        return (
            f"Revision {revision!r} not found in {repo_id}. "
            "Use an existing branch, tag or commit, or leave it out for main."
        )
    if isinstance(err, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        return (
            f"Cannot download {where}: the Hub is not reachable (or HF_HUB_OFFLINE is set) and it is not in the "
            "local cache. Connect once to download it (later runs work offline with HF_HUB_OFFLINE=1), "
            "or pass a local folder such as model/pretrained."
        )
    if isinstance(err, EntryNotFoundError):
        return f"{where} has no {WEIGHTS}. Is it a TinyVGG repository pushed by this project?"
    if isinstance(err, LocalTokenNotFoundError):
        return f"No Hugging Face token found: {LOGIN_HINT}."
    if isinstance(err, HFValidationError):
        return f"{repo_id!r} is not a valid repo id: use the form user/name. ({err})"
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status == 401:
            return f"The Hub refused the token (401 Unauthorized) when trying to {action} {where}: {LOGIN_HINT}."
        if status == 403:
            return (
                f"Your token may not {action} {where} (403 Forbidden): use a token with write access to that namespace."
            )
        if status >= 500:
            return f"The Hub failed with {status} while trying to {action} {where}. Try the same command again later."
        return f"The Hub answered {status} while trying to {action} {where}: {err}"
    if isinstance(err, (httpx2.TransportError, ConnectionError, TimeoutError)):
        return (
            f"Could not reach the Hub at {constants.ENDPOINT} to {action} {where} ({type(err).__name__}). "
            "Check the network and try the same command again."
        )
    return f"Could not {action} {where}: {type(err).__name__}: {err}"


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
            model = pull(repo_id, revision=args.revision or at or None)
            classes = ", ".join(model.class_names)
            print(f"{args.repo_id}: TinyVGG with {model.num_parameters:,} parameters; classes: {classes}")
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
