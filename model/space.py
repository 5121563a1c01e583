"""Build a self-contained Hugging Face Space folder for the app, and push it.

    python -m model.space build OUT_DIR [--static] [--model REPO_ID[@REVISION]] [--title TITLE]
    python -m model.space push OUT_DIR SPACE_ID [--static] [--private]
    python -m model.space requirements     # the app's requirements.txt, from pyproject.toml and constraints.txt

Without --model the bundle carries the shipped weights; with it, the Space downloads that
model repo (preloaded when the Space is built). With --static the bundle is a page that runs the
model in the browser, with no server (model.static_space). The token rules and error messages are those of
`python -m model.hub` (model.hub_errors).
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import HfApi, SpaceCard, SpaceCardData

from model import artifacts
from model.card import DATASET
from model.hub_errors import HubError, describe_error
from model.loading import load_folder

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent
# What app.py imports of the package, and nothing more: no training, dataset, card or push code.
SPACE_MODULES = (
    "__init__.py",
    "artifacts.py",
    "classes.py",
    "explain.py",
    "files.py",
    "hub_errors.py",
    "loading.py",
    "metrics.py",
    "predict.py",
    "preprocess.py",
    "tinyvgg.py",
)
# Where the app's requirements come from: pyproject.toml's dependencies and [app] extra, pinned by
# constraints.txt (the versions the tests run with).
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
# Spaces run on CPU: PyTorch's CPU wheels (about 200 MB) instead of the default CUDA build (several GB).
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
TAGS = ["image-classification", "fashion-mnist", "tinyvgg", "mcp-server"]


def space_card(model_id: str | None, title: str, commit: str | None = None) -> SpaceCard:
    """The bundle's README.md: the Spaces configuration (front matter) and a short description.

    `commit` is the commit that `model_id`'s revision names, for `preload_from_hub`, which takes
    a commit, not a branch or tag.
    """
    data = card_data(
        model_id,
        title,
        sdk="gradio",
        sdk_version=version("gradio"),
        python_version=".".join(platform.python_version_tuple()[:2]),
        app_file="app.py",
        tags=TAGS,
        short_description="TinyVGG classifies clothing photos (Fashion-MNIST)",  # at most 60 characters
    )
    repo_id = (model_id or "").partition("@")[0]
    if model_id:
        # Downloaded when the Space is built, not at every start: "REPO FILES [COMMIT]".
        data.preload_from_hub = [" ".join(filter(None, [repo_id, ",".join(artifacts.SPACE_FILES), commit]))]
    template = (
        "---\n{{ card_data }}\n---\n\n# {{ title }}\n\nA Gradio app that classifies photos of clothing with a "
        "TinyVGG trained on Fashion-MNIST, using {{ source }}. It is also an MCP server: its one tool, "
        "`classify_clothing`, is at `/gradio_api/mcp/`.\n"
    )
    return SpaceCard.from_template(data, template_str=template, title=title, source=model_source(model_id))


def card_data(model_id: str | None, title: str, **fields) -> SpaceCardData:
    """The front matter both Space bundles share (title, licence, model, dataset, looks), and `fields`."""
    repo_id = (model_id or "").partition("@")[0]
    return SpaceCardData(
        title=title,
        license="mit",
        models=[repo_id] if model_id else None,
        datasets=[DATASET],
        emoji="👕",
        colorFrom="indigo",
        colorTo="pink",
        pinned=False,
        **fields,
    )


def model_source(model_id: str | None) -> str:
    """Where the Space's model comes from, in the words of its card."""
    repo_id = (model_id or "").partition("@")[0]
    return f"the Hub model [{repo_id}](https://huggingface.co/{repo_id})" if model_id else "its own weights"


def requirements(*, gradio: bool = True) -> str:
    """requirements.txt for the app: pyproject.toml's dependencies and [app] extra, at constraints.txt's versions.

    `make requirements` writes the checkout's requirements.txt with it; a Space bundle's leaves gradio
    out (`gradio=False`): the Space installs the one its front matter's sdk_version names.

    Raises:
        HubError: A package the app needs has no exact version in constraints.txt.
    """
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = [_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["app"]]]
    pins = dict(_pin(line) for line in CONSTRAINTS.read_text().splitlines() if _pin(line))
    missing = [name for name in names if name not in pins]
    if missing:
        raise HubError(f"{CONSTRAINTS} pins no version of {', '.join(missing)}: run `make constraints`.")
    lines = [f"{name}=={pins[name]}" for name in dict.fromkeys(names) if gradio or name != "gradio"]
    source = (
        "make requirements" if gradio else "python -m model.space build; gradio comes from sdk_version in README.md"
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


def build(out_dir: str | Path, model_id: str | None = None, title: str = "TinyVGG Fashion-MNIST") -> Path:
    """Write the Space folder: README.md, app.py, model/, examples/, requirements.txt (and weights or model_id.txt).

    Raises:
        HubError: The output folder is not empty, the shipped model is missing or broken, or the
            revision of `model_id` cannot be found on the Hub.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise HubError(f"{out} is not empty; build into a new folder so no stale file ends up in the Space.")
    repo_id, _, revision = (model_id or "").partition("@")
    commit = None
    if revision:
        try:
            commit = HfApi().model_info(repo_id, revision=revision).sha
        except Exception as err:
            raise HubError(describe_error(err, repo_id, revision, action="look up")) from err
    pretrained = PACKAGE / "pretrained"
    if model_id is None:
        load_folder(pretrained)
    (out / "model").mkdir(parents=True, exist_ok=True)
    for name in SPACE_MODULES:
        shutil.copy2(PACKAGE / name, out / "model" / name)
    if model_id is None:
        (out / "model" / "pretrained").mkdir()
        for name in artifacts.SPACE_FILES:
            shutil.copy2(pretrained / name, out / "model" / "pretrained" / name)
    else:
        (out / "model_id.txt").write_text(model_id + "\n")
    shutil.copy2(ROOT / "app.py", out / "app.py")
    shutil.copytree(ROOT / "examples", out / "examples")
    (out / "requirements.txt").write_text(requirements(gradio=False))
    (out / "README.md").write_text(str(space_card(model_id, title, commit)), encoding="utf-8")
    return out


def push(
    out_dir: str | Path, space_id: str, *, private: bool = False, token: str | None = None, static: bool = False
) -> str:
    """Create the Space if needed and upload the bundle in one commit; return the Space URL.

    `static`: the bundle is a static page (`build --static`), served as the Space's `sdk: static`.
    """
    out = Path(out_dir)
    entry = "index.html" if static else "app.py"
    command = f"python -m model.space build {'--static ' if static else ''}{out}"
    if not (out / entry).is_file() or not (out / "README.md").is_file():
        kind = "static Space" if static else "Space"
        raise HubError(f"{out} is not a {kind} bundle (no {entry} or README.md). Build one with `{command}`.")
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
    parser = argparse.ArgumentParser(prog="python -m model.space", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("build", help="write a self-contained Space folder")
    p.add_argument("out_dir", help="a new or empty folder")
    p.add_argument(
        "--static", action="store_true", help="a static page that runs the model in the browser (default: Gradio app)"
    )
    p.add_argument("--model", help="REPO_ID[@REVISION] for the Space to download (default: bundle the shipped weights)")
    p.add_argument(
        "--title", default="TinyVGG Fashion-MNIST", help="the Space's title (default: TinyVGG Fashion-MNIST)"
    )
    p = commands.add_parser("push", help="create the Space if needed and upload a built folder in one commit")
    p.add_argument("out_dir", help="a folder written by `build`")
    p.add_argument("space_id", help="user/name of the Space")
    p.add_argument("--static", action="store_true", help="the folder was built with --static (default: Gradio app)")
    p.add_argument("--private", action="store_true", help="create the Space private (default: public)")
    p = commands.add_parser("requirements", help="print the app's requirements.txt (make requirements writes it)")
    args = parser.parse_args(argv)
    try:
        if args.command == "requirements":
            print(requirements(), end="")
        elif args.command == "build" and args.static:
            from model.static_space import build_static, bundle_bytes  # needs node_modules and the export code

            out = build_static(args.out_dir, args.model, args.title)
            print(
                f"Static Space written to {out}/ ({bundle_bytes(out) / 2**20:.1f} MiB to download); try it with "
                f"`python -m http.server -d {out}`, push it with: python -m model.space push --static {out} USER/NAME"
            )
        elif args.command == "build":
            out = build(args.out_dir, args.model, args.title)
            print(f"Space bundle written to {out}/; push it with: python -m model.space push {out} USER/NAME")
        else:
            print(push(args.out_dir, args.space_id, private=args.private, static=args.static))
            if not args.static:
                print("Embed it with:\n" + embed_snippets(space_host(args.space_id)))
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
