"""Feedback from the app's users, kept with their consent: the photo, the answer shown and the right class.

    store = FeedbackStore("feedback")                                    # a local folder
    store = FeedbackStore("feedback", repo_id="you/tinyvgg-feedback")   # and a private Hub dataset
    kept = store.keep(photo, answer, "Sneaker", model="model/pretrained")
    records = read_records("feedback")                                  # what `benchmarks/feedback.py` reports

Each record is two files in a folder per month: `2026-12/ID.jpg`, the photo re-encoded from its
pixels alone (no EXIF: no GPS position, camera or owner) and at most MAX_SIDE pixels on its long side,
and `2026-12/ID.json`, what the app answered and what the person chose. Nothing about the person is
kept. With a Hub dataset, `huggingface_hub.CommitScheduler` uploads the folder's new files every few
minutes in the background: a failed or slow upload leaves them in the folder for the next try, and
the app goes on answering. The store is bounded (`max_bytes`): once full it refuses new records and
keeps the old ones.

    python -m model.app.feedback delete ID [--dir feedback] [--repo USER/NAME]   # when someone asks
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import io
import json
import logging
import re
import secrets
import sys
import threading
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

from huggingface_hub import CommitScheduler, HfApi, RepoFile, get_token
from huggingface_hub.utils import validate_repo_id
from PIL import Image

from model.errors import HubError
from model.files import atomic_path, remove_stale_temporaries
from model.hub_errors import describe_error
from model.predict import Answer
from model.preprocess import ImageError, open_image, rgb_pixels

logger = logging.getLogger(__name__)

DEFAULT_FOLDER = Path("feedback")
# A photo this size keeps every detail the model could use (it sees 28x28) and what a person sees.
MAX_SIDE = 1024
JPEG_QUALITY = 90
# About 4,000 records at 100-150 kB each: room for a busy demo's feedback, never a full disk.
DEFAULT_MAX_MB = 500
DEFAULT_EVERY_MINUTES = 5  # CommitScheduler's own default
NONE_OF_THESE = "none of these ten"  # the choice for a garment of no Fashion-MNIST class (a hat)
# The files a record may be made of (MONTH/ID.jpg, MONTH/ID.json): nothing else in the folder is uploaded,
# whatever folder the operator names.
MONTH = "[0-9][0-9][0-9][0-9]-[0-9][0-9]"
# A record's id: the UTC second it was kept, and 8 random hex digits.
RECORD_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
EXAMPLE_ID = "20261203T041512Z-1a2b3c4d"
RECORD_PATTERNS = [f"{MONTH}/*.jpg", f"{MONTH}/*.json"]
# How long start-up waits for the Hub before it goes on, uploading later (the client has no timeout of its own).
CONNECT_WAIT_SECONDS = 30
FULL = (
    "This app keeps no more feedback for now: its store is full. Your photo was not kept. "
    "Thank you for trying all the same."
)


class FeedbackError(RuntimeError):
    """A record cannot be kept (the store is full, the photo unreadable) or found; the message says why."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One piece of feedback as kept: its id, its photo's path and what its JSON file says."""

    id: str
    photo: Path
    chosen: str  # a class name, or NONE_OF_THESE
    answer: str  # the answer shown: a class name, or "unsure"
    top_classes: list[dict]  # [{"label", "probability"}], best first, as shown
    warning: str
    way: str
    model: str
    time: str


# What a record's JSON file holds: every field of Record but the photo's path.
_FIELDS = tuple(field.name for field in dataclasses.fields(Record) if field.name != "photo")


class FeedbackStore:
    """A folder of feedback records, bounded in size, optionally mirrored to a Hub dataset."""

    def __init__(
        self,
        folder: str | Path = DEFAULT_FOLDER,
        *,
        repo_id: str | None = None,
        every: float = DEFAULT_EVERY_MINUTES,
        max_bytes: int = DEFAULT_MAX_MB * 2**20,
        token: str | None = None,
    ) -> None:
        """Open (or create) the folder; with `repo_id`, start uploading it to that dataset every `every` minutes.

        The dataset is created private if it does not exist. If the Hub cannot be reached now, the
        records wait in the folder and the connection is tried again every `every` minutes.

        Raises:
            FeedbackError: `repo_id` is not a valid repo id, there is no token to write with, or the
                folder cannot be created.
        """
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FeedbackError(f"cannot create the feedback folder {self.folder}: {err.strerror or err}") from None
        self.repo_id, self.every, self.max_bytes, self.token = repo_id, every, max_bytes, token
        self.scheduler: CommitScheduler | None = None
        self.failure = ""  # why the dataset cannot be used (a refused token, a public dataset); then nothing is kept
        self._retry: threading.Timer | None = None
        self._lock = threading.Lock()
        _remove_half_records(self.folder)
        self.used = sum(path.stat().st_size for path in _record_files(self.folder))
        if repo_id:
            try:
                validate_repo_id(repo_id)
            except ValueError:
                raise FeedbackError(f"{repo_id!r} is not a valid dataset repo id: use the form user/name.") from None
            if not (token or get_token()):
                raise FeedbackError(
                    f"Keeping feedback in the Hub dataset {repo_id} needs a token with write access to it: set "
                    "HF_TOKEN (on a Space, as a secret in its settings) or run `hf auth login`."
                )
            # A Hub that does not answer must not hold up the app: after a while, start-up goes on.
            first = threading.Thread(target=self._connect, daemon=True)
            first.start()
            first.join(CONNECT_WAIT_SECONDS)
            if self.failure:
                raise FeedbackError(self.failure)

    @property
    def where(self) -> str:
        """Where records end up, in the words of the consent line."""
        if self.repo_id:
            return f"a folder on this app's server and the private Hugging Face dataset {self.repo_id}"
        return "a folder on this app's server"

    def keep(self, image: str | Path | bytes | Image.Image, answer: Answer, chosen: str, *, model: str) -> Record:
        """Keep the photo (without metadata, at most MAX_SIDE pixels) and what was answered and chosen.

        `model` names the model that answered: a folder, or REPO_ID@COMMIT.

        Raises:
            FeedbackError: The store is full (FULL), the dataset cannot be used, `chosen` names no class,
                or the photo cannot be read any more.
        """
        if self.failure:
            raise FeedbackError(f"This app cannot keep feedback now; your photo was not kept. ({self.failure})")
        if chosen not in (*answer.probabilities, NONE_OF_THESE):
            raise FeedbackError(f"{chosen!r} is not one of the classes: pick one of the ten, or {NONE_OF_THESE!r}.")
        try:
            photo = clean_photo(image)
        except ImageError as err:  # a server's upload cache is cleared after a day, say
            raise FeedbackError(f"The photo cannot be read any more ({err}). Classify it again, then send.") from None
        now = datetime.now(timezone.utc)
        record_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        fields = {
            "id": record_id,
            "chosen": chosen,
            "answer": answer.answer,
            "top_classes": answer.top_classes(),
            "warning": answer.warning,
            "way": answer.way,
            "model": model,
            "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        text = json.dumps(fields, indent=2) + "\n"
        month = self.folder / f"{now:%Y-%m}"
        # Under the scheduler's lock, an upload never sees a record half written.
        with self._lock, self.scheduler.lock if self.scheduler else nullcontext():
            size = len(photo) + len(text.encode())
            if self.used + size > self.max_bytes:
                raise FeedbackError(FULL)
            # The photo first: a record counts once its JSON file is there.
            with atomic_path(month / f"{record_id}.jpg") as tmp:
                tmp.write_bytes(photo)
            with atomic_path(month / f"{record_id}.json") as tmp:
                tmp.write_text(text, encoding="utf-8")
            self.used += size
        return Record(photo=month / f"{record_id}.jpg", **fields)

    def upload_now(self) -> None:
        """Upload what is waiting, now, and wait for it (on exit, say).

        Raises:
            HubError: The upload failed; the records stay in the folder.
        """
        if self.scheduler is None:
            return
        try:
            self.scheduler.trigger().result()
        except Exception as err:
            raise HubError(describe_error(err, self.repo_id, None, action="upload feedback to")) from err

    def close(self) -> None:
        """Stop uploading and trying to connect (what is waiting stays in the folder)."""
        if self._retry is not None:
            self._retry.cancel()
        if self.scheduler is not None:
            self.scheduler.stop()

    def _connect(self) -> None:
        """Make sure the dataset exists and is private, then start the scheduler.

        A refused token or a public dataset is a `failure` (fatal at start-up); a Hub that cannot be
        reached is tried again in `every` minutes, the records waiting in the folder.
        """
        api = HfApi(token=self.token)
        try:
            # Before the scheduler, whose first upload starts at once: never upload to a public dataset.
            api.create_repo(self.repo_id, repo_type="dataset", private=True, exist_ok=True)
            if not api.repo_info(self.repo_id, repo_type="dataset").private:
                self.failure = (
                    f"The dataset {self.repo_id} is public, but the consent line promises a private one: make it "
                    "private in its settings on the Hub, or name another dataset."
                )
                logger.error("feedback: %s", self.failure)
                return
            scheduler = CommitScheduler(
                repo_id=self.repo_id,
                repo_type="dataset",
                folder_path=self.folder,
                every=self.every,
                token=self.token,
                allow_patterns=RECORD_PATTERNS,
                ignore_patterns=["*/.*"],  # a temporary file of model.files.atomic_path
            )
        except Exception as err:
            message = describe_error(err, self.repo_id, None, action="create or open")
            status = getattr(getattr(err, "response", None), "status_code", None)
            if status in (401, 403):  # the token: trying again will not help
                self.failure = message
                logger.error("feedback: %s", message)
                return
            logger.warning(
                "feedback: %s Records wait in %s; trying again in %s minutes.", message, self.folder, self.every
            )
            self._retry = threading.Timer(self.every * 60, self._connect)
            self._retry.daemon = True
            self._retry.start()
            return
        self.scheduler = scheduler
        # The records uploaded before this start count toward the bound too (a Space's folder is emptied
        # at each restart, its dataset is not).
        try:
            uploaded = api.list_repo_tree(self.repo_id, repo_type="dataset", recursive=True)
            earlier = sum(
                entry.size
                for entry in uploaded
                if isinstance(entry, RepoFile)
                and _is_record_file(entry.path)
                and not (self.folder / entry.path).is_file()
            )
        except Exception as err:
            logger.warning(
                "feedback: %s Only the records in %s count toward the store's bound.",
                describe_error(err, self.repo_id, None, action="list"),
                self.folder,
            )
            return
        with self._lock:
            self.used += earlier


def clean_photo(image: str | Path | bytes | Image.Image) -> bytes:
    """The photo as JPEG bytes re-encoded from its pixels alone: upright, at most MAX_SIDE pixels on its long side.

    The pixels are those the model was given (EXIF orientation applied, transparency on white); no
    metadata survives the re-encoding, as nothing but the pixels is written.
    """
    pixels = Image.fromarray(rgb_pixels(open_image(image, draft_side=MAX_SIDE)))
    pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    pixels.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def delete_record(record_id: str, folder: str | Path = DEFAULT_FOLDER, repo_id: str | None = None) -> list[str]:
    """Delete a record from a feedback folder and, with `repo_id`, from that Hub dataset; what was deleted.

    Delete it in both places: the app's scheduler uploads every record of its folder again after a restart.
    The folder first, so that a running app's next upload cannot bring it back to the Hub.

    Raises:
        FeedbackError: No record has that id, in the folder or the dataset.
        HubError: The Hub refused the deletion or could not be reached.
    """
    if not RECORD_ID.fullmatch(record_id):
        raise FeedbackError(
            f"{record_id!r} is not a feedback record id: ids look like {EXAMPLE_ID}, as the app showed after sending."
        )
    if not Path(folder).is_dir() and not repo_id:
        raise FeedbackError(
            f"There is no feedback folder {folder}. Name the folder of `python app.py --feedback DIR` with --dir, "
            "or the Hub dataset it uploads to with --repo."
        )
    local = [path for path in _record_files(Path(folder)) if path.stem == record_id]
    for path in local:
        path.unlink()
    remote = []
    if repo_id:
        api = HfApi()
        try:
            files = api.list_repo_files(repo_id, repo_type="dataset")
            remote = [name for name in files if _is_record_file(name) and Path(name).stem == record_id]
            if remote:
                api.delete_files(repo_id, remote, repo_type="dataset", commit_message=f"Delete feedback {record_id}")
        except Exception as err:
            raise HubError(describe_error(err, repo_id, None, action="delete from")) from err
    if not local and not remote:
        where = " or ".join(str(place) for place in (folder if Path(folder).is_dir() else None, repo_id) if place)
        lag = (
            " A record sent in the last few minutes may not be on the Hub yet: the app uploads every few minutes "
            "(--feedback-every)."
            if repo_id
            else ""
        )
        raise FeedbackError(f"No feedback record {record_id} in {where}.{lag}")
    return [str(path) for path in local] + [f"{repo_id}: {name}" for name in remote]


def read_records(folder: str | Path) -> list[Record]:
    """Every complete record under `folder` (a feedback folder, or a downloaded dataset), oldest first.

    Raises:
        FeedbackError: `folder` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FeedbackError(f"{folder} is not a folder. Name the folder of `python app.py --feedback DIR`.")
    return [_record(path) for path in sorted(folder.glob(f"{MONTH}/*.json")) if path.with_suffix(".jpg").is_file()]


def _remove_half_records(folder: Path) -> None:
    """Delete what a killed app left: temporary files, and a photo whose JSON file was never written."""
    for month in folder.glob(MONTH):
        remove_stale_temporaries(month)
        for photo in month.glob("*.jpg"):
            if not photo.with_suffix(".json").is_file():
                photo.unlink()


def _record_files(folder: Path) -> list[Path]:
    return [path for path in folder.glob(f"{MONTH}/*") if _is_record_file(path.relative_to(folder).as_posix())]


def _is_record_file(path: str) -> bool:
    """Whether `path`, relative to a feedback folder, is a record's photo or JSON file (MONTH/ID.jpg or .json)."""
    month, _, name = path.partition("/")
    return (
        fnmatch.fnmatchcase(month, MONTH)
        and "/" not in name
        and not name.startswith(".")
        and Path(name).suffix in (".jpg", ".json")
    )


def _record(path: Path) -> Record:
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return Record(photo=path.with_suffix(".jpg"), **{name: fields[name] for name in _FIELDS})
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise FeedbackError(f"{path} is not a feedback record ({type(err).__name__}: {err}); move it away.") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.app.feedback", description="Manage the app's feedback records."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("delete", help="delete one record, here and on the Hub (when someone asks)")
    p.add_argument("record_id", help=f"the id the app showed after sending, e.g. {EXAMPLE_ID}")
    p.add_argument("--dir", type=Path, default=DEFAULT_FOLDER, help="the app's feedback folder (default: feedback)")
    p.add_argument("--repo", help="the Hub dataset the app uploads to, as user/name (default: none)")
    args = parser.parse_args(argv)
    try:
        for path in delete_record(args.record_id, args.dir, args.repo):
            print(f"deleted {path}")
    except (FeedbackError, HubError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
