"""The app's command line: its flags, their defaults from the environment (as Hugging Face Spaces set them), and
each value checked where it enters."""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import socket

from model.app.feedback import DEFAULT_EVERY_MINUTES, DEFAULT_FOLDER, DEFAULT_MAX_MB, FeedbackStore


def parse_args(
    argv: list[str] | None, *, description: str, model: str, feedback_repo: str | None
) -> argparse.Namespace:
    """app.py's flags; `model` and `feedback_repo` are what a bundle beside app.py names, the defaults after
    the environment's."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--model",
        default=model,
        help="a model folder, or a Hub repo as REPO_ID[@REVISION] "
        "(default: $MODEL_ID, else model_id.txt next to app.py, else model/pretrained)",
    )
    # Hugging Face Spaces set GRADIO_SERVER_NAME=0.0.0.0; locally the app stays on loopback.
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=os.environ.get("GRADIO_SERVER_PORT", "7860"),  # a string: argparse checks it with port_number
        help="port to listen on (default: $GRADIO_SERVER_PORT, else 7860)",
    )
    parser.add_argument(
        "--feedback",
        nargs="?",
        const=str(DEFAULT_FOLDER),
        default=os.environ.get("FEEDBACK_DIR"),
        metavar="DIR",
        help=f"let people say an answer was wrong, keeping their photo and the right class in DIR "
        f"(default when given alone: {DEFAULT_FOLDER}; default: $FEEDBACK_DIR, else off)",
    )
    parser.add_argument(
        "--feedback-repo",
        # FEEDBACK_REPO="" turns off the dataset that a Space bundle's feedback_repo.txt names.
        default=os.environ["FEEDBACK_REPO"] if "FEEDBACK_REPO" in os.environ else feedback_repo,
        metavar="USER/NAME",
        help="also upload the feedback to this Hub dataset, created private, every --feedback-every minutes; "
        "needs HF_TOKEN with write access (default: $FEEDBACK_REPO, else feedback_repo.txt, else none)",
    )
    parser.add_argument(
        "--feedback-every",
        type=above_zero,
        default=os.environ.get("FEEDBACK_EVERY", str(DEFAULT_EVERY_MINUTES)),  # a string: argparse checks it
        metavar="MINUTES",
        help=f"minutes between uploads to the dataset (default: $FEEDBACK_EVERY, else {DEFAULT_EVERY_MINUTES})",
    )
    parser.add_argument(
        "--feedback-max-mb",
        type=above_zero,
        default=os.environ.get("FEEDBACK_MAX_MB", str(DEFAULT_MAX_MB)),
        metavar="MB",
        help="refuse new feedback once the records take this many megabytes, keeping those already there "
        f"(default: $FEEDBACK_MAX_MB, else {DEFAULT_MAX_MB})",
    )
    return parser.parse_args(argv)


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on `host`:`port` now, in words, or None when it could.

    Gradio's own error would point at launch(), not at --host or --port.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        return f"--host {host} is no address of this machine (nor a name that resolves to one)"
    with socket.socket(family) as probe:
        # As uvicorn does: a port left in TIME_WAIT by a server that just stopped is free; a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is in use, perhaps by another app.py. Stop that one, or serve this one "
                    f"on another port: python app.py --port {port % 65535 + 1} (or set GRADIO_SERVER_PORT)"
                )
            return f"cannot listen on {host} port {port}: {err.strerror or err}"
    return None


def port_number(text: str) -> int:
    """argparse's type for --port: a whole number from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"a port is a whole number from 1 to 65535 (from --port or $GRADIO_SERVER_PORT), got {text!r}"
        )
    return port


def above_zero(text: str) -> float:
    """argparse's type for --feedback-every and --feedback-max-mb: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def feedback_store_for(args: argparse.Namespace) -> FeedbackStore | None:
    """The feedback store that --feedback and --feedback-repo ask for (None: feedback is off); says where it keeps.

    Raises:
        FeedbackError: The folder or the dataset cannot keep records; the message says why.
    """
    if not (args.feedback or args.feedback_repo):
        return None
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # the store's warnings, if the Hub is down
    store = FeedbackStore(
        args.feedback or DEFAULT_FOLDER,
        repo_id=args.feedback_repo or None,
        every=args.feedback_every,
        max_bytes=int(args.feedback_max_mb * 2**20),
    )
    upload = f", and uploaded to the private dataset {store.repo_id}" if store.repo_id else ""
    print(f"Feedback is on: records are kept in {store.folder.resolve()}{upload}", flush=True)
    return store
