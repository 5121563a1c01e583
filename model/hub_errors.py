"""The Hub client's errors in plain words: what happened and what to do (raised as model.errors.HubError)."""

from __future__ import annotations

import httpx2
from huggingface_hub import constants, get_token
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

from model import artifacts

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
