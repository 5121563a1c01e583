"""Build a self-contained Hugging Face Space folder for the app, and push it.

    python -m model.publishing.space build OUT_DIR [--static] [--model REPO_ID[@REVISION]] [--title TITLE]
                                       [--feedback-repo USER/NAME]
    python -m model.publishing.space push OUT_DIR SPACE_ID [--static] [--private]
    python -m model.publishing.space requirements  # the app's requirements.txt, from pyproject and constraints

Without --model the bundle carries the shipped weights; with it, the Space downloads that
model repo (preloaded when the Space is built). With --feedback-repo, the app lets people say that
an answer was wrong and keeps their feedback in that private Hub dataset (model.app.feedback). With
--static the bundle is a page that runs the model in the browser, with no server
(model.publishing.static_space), and keeps no feedback. The token rules and error messages are
those of `python -m model.publishing.hub` (model.hub_errors).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.utils import validate_repo_id

from model import artifacts
from model.errors import ConfigError, HubError, ModelFolderError
from model.hub_errors import describe_error
from model.loading import load_folder
from model.publishing.bundle import BundleError, bundle_folder, hub_commit, hub_source, space_card

# What the app needs of the package: the library's modules and the app layer's (no training or publishing code).
SPACE_MODULES = tuple(
    sorted(
        path.relative_to(artifacts.PACKAGE).as_posix()
        for pattern in ("*.py", "app/*.py")
        for path in artifacts.PACKAGE.glob(pattern)
    )
)
# Where the app's requirements come from: pyproject.toml's dependencies and [app] extra, pinned by
# constraints.txt (the versions the tests run with).
PYPROJECT = artifacts.CHECKOUT / "pyproject.toml"
CONSTRAINTS = artifacts.CHECKOUT / "constraints.txt"
# Spaces run on CPU: PyTorch's CPU wheels (about 200 MB) instead of the default CUDA build (several GB).
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def requirements(*, gradio: bool = True) -> str:
    """requirements.txt for the app: pyproject.toml's dependencies and [app] extra, at constraints.txt's versions.

    `make requirements` writes the checkout's requirements.txt with it; a Space bundle's leaves gradio
    out (`gradio=False`): the Space installs the one its front matter's sdk_version names.

    Raises:
        BundleError: A package the app needs has no exact version in constraints.txt.
    """
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = [_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["app"]]]
    pins = dict(_pin(line) for line in CONSTRAINTS.read_text().splitlines() if _pin(line))
    missing = [name for name in names if name not in pins]
    if missing:
        raise BundleError(f"{CONSTRAINTS} pins no version of {', '.join(missing)}: run `make constraints`.")
    lines = [f"{name}=={pins[name]}" for name in dict.fromkeys(names) if gradio or name != "gradio"]
    source = (
        "make requirements"
        if gradio
        else "python -m model.publishing.space build; gradio comes from sdk_version in README.md"
    )
    return (
        f"# Written by `{source}`, from pyproject.toml and constraints.txt.\n{TORCH_CPU_INDEX}\n"
        + "\n".join(lines)
        + "\n"
    )


def _name(requirement: str) -> str:
    """The normalised project name of a requirement such as `opencv-python-headless>=4.9`."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()


def _pin(line: str) -> tuple[str, str] | None:
    """(name, version) of a `name==version` line of constraints.txt, else None."""
    name, sep, version = line.partition("#")[0].strip().partition("==")
    return (_name(name), version.strip()) if sep else None


def build(
    out_dir: str | Path,
    model_id: str | None = None,
    title: str = "TinyVGG Fashion-MNIST",
    feedback_repo: str | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the Space folder: README.md, app.py, model/, examples/, requirements.txt (and weights or model_id.txt).

    With `feedback_repo`, also feedback_repo.txt: the app then collects feedback into that Hub dataset.
    The folder appears only once the whole bundle is written; `overwrite` replaces an earlier bundle there.

    Raises:
        BundleError: The output folder holds something (`bundle.bundle_folder`), `model_id` is a local folder, or
            `feedback_repo` no repo id.
        ModelFolderError: The shipped model is missing or broken.
        HubError: The Hub does not have `model_id` (at its revision), or cannot be reached to look it up.
    """
    with bundle_folder(out_dir, overwrite=overwrite) as out:
        source = hub_source(model_id)
        if feedback_repo:
            try:
                validate_repo_id(feedback_repo)
            except ValueError:
                raise BundleError(
                    f"--feedback-repo {feedback_repo!r} is not a dataset repo id: use user/name."
                ) from None
        commit = hub_commit(source) if source else None
        if source is None:
            load_folder(artifacts.PRETRAINED)
        for name in SPACE_MODULES:
            (out / "model" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(artifacts.PACKAGE / name, out / "model" / name)
        if source is None:
            (out / "model" / "pretrained").mkdir()
            for name in artifacts.SPACE_FILES:
                shutil.copy2(artifacts.PRETRAINED / name, out / "model" / "pretrained" / name)
        else:
            (out / "model_id.txt").write_text(f"{source}\n")
        if feedback_repo:
            (out / "feedback_repo.txt").write_text(f"{feedback_repo}\n")
        shutil.copy2(artifacts.CHECKOUT / "app.py", out / "app.py")
        shutil.copytree(artifacts.CHECKOUT / "examples", out / "examples")
        (out / "requirements.txt").write_text(requirements(gradio=False))
        (out / "README.md").write_text(str(space_card(source, title, commit, feedback_repo)), encoding="utf-8")
    return Path(out_dir)


def push(
    out_dir: str | Path, space_id: str, *, private: bool = False, token: str | None = None, static: bool = False
) -> str:
    """Create the Space if needed and upload the bundle in one commit; return the Space URL.

    `static`: the bundle is a static page (`build --static`), served as the Space's `sdk: static`.
    """
    out = Path(out_dir)
    entry = "index.html" if static else "app.py"
    command = f"python -m model.publishing.space build {'--static ' if static else ''}{out}"
    if not (out / entry).is_file() or not (out / "README.md").is_file():
        kind = "static Space" if static else "Space"
        raise BundleError(f"{out} is not a {kind} bundle (no {entry} or README.md). Build one with `{command}`.")
    api = HfApi(token=token)
    try:
        sdk = "static" if static else "gradio"
        url = api.create_repo(space_id, repo_type="space", space_sdk=sdk, private=private, exist_ok=True)
        api.upload_folder(repo_id=space_id, repo_type="space", folder_path=out, commit_message="Upload the TinyVGG app")
    except Exception as err:
        raise HubError(describe_error(err, space_id, None, action="push") + f" Nothing in {out} was changed.") from err
    return str(url)


def space_host(space_id: str, token: str | None = None) -> str:
    """The URL the Space is served at (https://USER-NAME.hf.space), as the Hub reports it."""
    try:
        host = HfApi(token=token).space_info(space_id).host
    except Exception as err:
        raise HubError(describe_error(err, space_id, None, action="look up")) from err
    if not host:
        raise HubError(f"The Hub reports no host for {space_id} yet; it appears once the Space has been built.")
    return host


def embed_snippets(host: str) -> str:
    """HTML to embed the Space served at `host`: the <gradio-app> web component and an iframe."""
    return (
        f'<script type="module" src="https://gradio.s3-us-west-2.amazonaws.com/{version("gradio")}/gradio.js"></script>\n'
        f'<gradio-app src="{host}"></gradio-app>\n\n'
        f'<iframe src="{host}" frameborder="0" width="850" height="900"></iframe>'
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "requirements":
            print(requirements(), end="")
        elif args.command == "build":
            _build(args)
        else:
            print(push(args.out_dir, args.space_id, private=args.private, static=args.static))
            if not args.static:
                print("Embed it with:\n" + embed_snippets(space_host(args.space_id)))
    except (BundleError, ConfigError, HubError, ModelFolderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _build(args: argparse.Namespace) -> None:
    """`build`: the Gradio bundle, or with --static the page; what to do next."""
    if args.static and args.feedback_repo:
        raise BundleError(
            "--feedback-repo needs the Gradio app: the static page has no server, and keeps no feedback. "
            "Leave out --static or --feedback-repo."
        )
    if args.static:
        from model.publishing.static_space import build_static, bundle_bytes  # needs node_modules and the export

        out = build_static(args.out_dir, args.model, args.title, overwrite=args.overwrite)
        print(
            f"Static Space written to {out}/ ({bundle_bytes(out) / 2**20:.1f} MiB to download); try it with "
            f"`python -m http.server -d {out}`, push it with: "
            f"python -m model.publishing.space push --static {out} USER/NAME"
        )
        return
    out = build(args.out_dir, args.model, args.title, args.feedback_repo, overwrite=args.overwrite)
    print(f"Space bundle written to {out}/; push it with: python -m model.publishing.space push {out} USER/NAME")
    if args.feedback_repo:
        print(
            f"It keeps feedback in the private dataset {args.feedback_repo}: in the Space's settings, add a "
            "secret HF_TOKEN with write access to it (a fine-grained token limited to that dataset is best)."
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model.publishing.space", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("build", help="write a self-contained Space folder")
    p.add_argument("out_dir", help="a new or empty folder (or, with --overwrite, one that holds an earlier bundle)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the bundle that OUT_DIR holds (default: refuse to)"
    )
    p.add_argument(
        "--static", action="store_true", help="a static page that runs the model in the browser (default: Gradio app)"
    )
    p.add_argument("--model", help="REPO_ID[@REVISION] for the Space to download (default: bundle the shipped weights)")
    p.add_argument(
        "--title", default="TinyVGG Fashion-MNIST", help="the Space's title (default: TinyVGG Fashion-MNIST)"
    )
    p.add_argument(
        "--feedback-repo",
        metavar="USER/NAME",
        help="let people say an answer was wrong, keeping their photo and the right class in this private Hub "
        "dataset; the Space needs a secret HF_TOKEN with write access to it (default: no feedback)",
    )
    p = commands.add_parser("push", help="create the Space if needed and upload a built folder in one commit")
    p.add_argument("out_dir", help="a folder written by `build`")
    p.add_argument("space_id", help="user/name of the Space")
    p.add_argument("--static", action="store_true", help="the folder was built with --static (default: Gradio app)")
    p.add_argument("--private", action="store_true", help="create the Space private (default: public)")
    commands.add_parser("requirements", help="print the app's requirements.txt (make requirements writes it)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
