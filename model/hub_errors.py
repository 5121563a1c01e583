"""The Hub client's errors in plain words: what happened and what to do (raised as model.errors.HubError)."""

from __future__ import annotations

from pathlib import Path

import httpx2
from huggingface_hub import constants, get_hf_file_metadata, get_token, hf_hub_url, try_to_load_from_cache
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
from huggingface_hub.utils import validate_repo_id

from model import artifacts
from model.errors import HubError, ModelFolderError

TOKENS = "https://huggingface.co/settings/tokens"


def login_hint(action: str) -> str:
    """How to give the client a token for `action`: reading needs a token only for private or gated repos."""
    access = "read" if action in ("pull", "look up") else "write"
    return f"set HF_TOKEN to a token with {access} access ({TOKENS}) or run `hf auth login`"


def describe_error(
    err: Exception, repo_id: str, revision: str | None, *, action: str, filename: str = artifacts.WEIGHTS
) -> str:
    """One plain sentence (or two) for any error the Hub client raises; `filename` is the file that was asked for."""
    where = f"{repo_id}@{revision}" if revision else repo_id
    hint = login_hint(action)
    if isinstance(err, GatedRepoError):
        return f"{repo_id} is gated: accept its conditions on the Hub, then {hint}."
    if isinstance(err, RepositoryNotFoundError):
        private = "your token cannot see it" if get_token() else "you sent no token"
        return (
            f"Repository {repo_id} not found on {constants.ENDPOINT} (or it is private and {private}). "
            f"Check the name, or, if it is private, {hint}."
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
        return f"{where} has no {filename}. Is it a TinyVGG repository pushed by this project?"
    if isinstance(err, LocalTokenNotFoundError):
        return f"No Hugging Face token found: {hint}."
    if isinstance(err, HFValidationError):
        return f"{repo_id!r} is not a valid repo id: use the form user/name. ({err})"
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status == 401 and not get_token():
            return f"No Hugging Face token found, and the Hub asks for one to {action} {where}: {hint}."
        if status == 401:
            return f"The Hub refused the token (401 Unauthorized) when trying to {action} {where}: {hint}."
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


# Seconds to wait for the Hub's one answer on whether a repo exists (the client alone retries for far longer).
LOOKUP_TIMEOUT = 5.0


def find_on_hub(name: str, revision: str | None = None, *, token: str | bool | None = None, cache_dir=None) -> None:
    """Refuse at once, in plain words, a `name` that is not a folder here and that the Hub cannot give.

    One request, without the client's retries: a typo in a folder's name, a repo the Hub does not know and a
    Hub that cannot be reached are told apart within seconds. A repo already in the local cache passes
    without a request, so a model downloaded once loads offline.

    Raises:
        ModelFolderError: `name` is neither a folder nor a repo id of the form user/name.
        HubError: The Hub has no such repo, revision or config.json, or cannot be reached (nor is the repo cached).
    """
    if Path(name).is_dir():
        return
    if Path(name).exists():
        raise ModelFolderError(f"{name} is a file, not a model folder: name the folder written by `python train.py`.")
    no_folder = f"There is no folder {name} here"
    try:
        validate_repo_id(name)
        if "/" not in name:
            raise HFValidationError("no namespace")
    except HFValidationError:
        raise ModelFolderError(
            f"{no_folder}, and it is no Hub repo id of the form user/name either. Name a folder written by "
            "`python train.py`, or a repo pushed by `python -m model.publishing.hub push`."
        ) from None
    if isinstance(try_to_load_from_cache(name, artifacts.CONFIG, cache_dir=cache_dir, revision=revision), str):
        return
    where = f"{name}@{revision}" if revision else name
    if constants.is_offline_mode():
        raise HubError(
            f"{no_folder}, and the Hub repo {where} is not in the local cache while HF_HUB_OFFLINE is set. Check "
            "the name, unset HF_HUB_OFFLINE to download it once, or pass a local folder such as model/pretrained."
        )
    url = hf_hub_url(name, artifacts.CONFIG, revision=revision)
    try:
        get_hf_file_metadata(url, token=token, timeout=LOOKUP_TIMEOUT)
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        described = describe_error(err, name, revision, action="pull", filename=artifacts.CONFIG)
        raise HubError(f"{no_folder}. As a Hub repo: {described}") from err
    except HfHubHTTPError:
        return  # a refused token, a busy Hub: the download that follows retries and says which
    except (httpx2.TransportError, OSError) as err:
        raise HubError(
            f"{no_folder}, and the Hub at {constants.ENDPOINT} cannot be reached to look for the repo {where} "
            f"({type(err).__name__}), nor is it in the local cache. Check the name; a Hub repo must be downloaded "
            "once while online (then it loads offline, HF_HUB_OFFLINE=1 included), or pass a local folder such as "
            "model/pretrained."
        ) from err
