"""What both Space bundles share: a new folder to build in, the Hub model they name, and their README.md.

The Gradio app (model.publishing.space) and the static page (model.publishing.static_space) are built
from these; the README.md is the Spaces configuration (front matter) and what the Space is.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import HfApi, SpaceCard, SpaceCardData

from model import artifacts
from model.errors import HubError
from model.hub_errors import describe_error
from model.loading import Source, parse_source
from model.publishing.card import DATASET


class BundleError(RuntimeError):
    """A Space bundle or the package's wheel cannot be made from what is here: a folder is taken, a file missing."""


TAGS = ["image-classification", "fashion-mnist", "tinyvgg", "mcp-server"]
STATIC_TAGS = ["image-classification", "fashion-mnist", "tinyvgg", "onnx", "onnxruntime-web"]


def space_card(
    model: Source | None, title: str, commit: str | None = None, feedback_repo: str | None = None
) -> SpaceCard:
    """The bundle's README.md: the Spaces configuration (front matter) and a short description.

    `model` is the Hub repo the Space downloads (None: the bundle carries the weights); `commit`
    is the commit that its revision names, for `preload_from_hub`, which takes
    a commit, not a branch or tag. `feedback_repo` is the dataset the app keeps feedback in, if any.
    """
    data = card_data(
        model,
        title,
        sdk="gradio",
        sdk_version=version("gradio"),
        python_version=".".join(platform.python_version_tuple()[:2]),
        app_file="app.py",
        tags=TAGS,
        short_description="TinyVGG classifies clothing photos (Fashion-MNIST)",  # at most 60 characters
    )
    if model:
        # Downloaded when the Space is built, not at every start: "REPO FILES [COMMIT]".
        data.preload_from_hub = [" ".join(filter(None, [model.name, ",".join(artifacts.SPACE_FILES), commit]))]
    template = (
        "---\n{{ card_data }}\n---\n\n# {{ title }}\n\nA Gradio app that classifies photos of clothing with a "
        "TinyVGG trained on Fashion-MNIST, using {{ source }}. It is also an MCP server: its one tool, "
        "`classify_clothing`, is at `/gradio_api/mcp/`.\n"
    )
    if feedback_repo:
        template += (
            "\n## Feedback\n\nThis Space collects feedback: after an answer, a person may say it was wrong and send "
            "the photo with the right class, after a consent line that says what is kept. The records (the photo "
            "without its metadata, the answer shown, the class chosen, the model and a UTC time; nothing about "
            "the person) go to the private dataset "
            f"[{feedback_repo}](https://huggingface.co/datasets/{feedback_repo}), to measure where the model "
            "goes wrong. The model is never trained on them. To have a record deleted, give its id (shown after "
            "sending) to the Space's owner.\n"
        )
    return SpaceCard.from_template(data, template_str=template, title=title, source=model_source(model))


def card_data(model: Source | None, title: str, **fields) -> SpaceCardData:
    """The front matter both Space bundles share (title, licence, model, dataset, looks), and `fields`."""
    return SpaceCardData(
        title=title,
        license="mit",
        models=[model.name] if model else None,
        datasets=[DATASET],
        emoji="👕",
        colorFrom="indigo",
        colorTo="pink",
        pinned=False,
        **fields,
    )


def model_source(model: Source | None) -> str:
    """Where the Space's model comes from, in the words of its card."""
    return f"the Hub model [{model.name}](https://huggingface.co/{model.name})" if model else "its own weights"


def static_card(model: Source | None, title: str) -> SpaceCard:
    """The bundle's README.md: `sdk: static` front matter and what the page is."""
    data = card_data(
        model,
        title,
        sdk="static",
        app_file="index.html",
        tags=STATIC_TAGS,
        short_description="TinyVGG sorts clothing photos, in your browser",  # at most 60 characters
    )
    template = (
        "---\n{{ card_data }}\n---\n\n# {{ title }}\n\nA page that classifies photos of clothing with a TinyVGG "
        "trained on Fashion-MNIST, using {{ source }}. Everything runs in the browser (ONNX Runtime Web and "
        "OpenCV.js): no server, and no photo ever leaves the device. Other pages can call "
        "`window.tinyvgg.classify(urlOrBlob)`.\n"
    )
    return SpaceCard.from_template(data, template_str=template, title=title, source=model_source(model))


# What makes a folder a Space bundle that `--overwrite` may replace: its card, and the entry of either kind.
ENTRIES = ("app.py", "index.html")


@contextmanager
def bundle_folder(out_dir: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A scratch folder to build a bundle in, which becomes `out_dir` only once the build succeeds.

    A build that fails leaves `out_dir` as it was, so no half bundle is pushed, and an old bundle is only
    replaced when asked.

    Raises:
        BundleError: `out_dir` is a file; or a folder with something in it, unless it holds a bundle and
            `overwrite` is set (a folder of other files is never replaced).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} is a file; name a new or empty folder for the Space.")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not describe_bundle(out):
        listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise BundleError(
            f"{out} is not empty ({listed}) and holds no Space bundle; build into a new or empty folder "
            "(--overwrite replaces only an earlier bundle)."
        )
    if held and not overwrite:
        raise BundleError(
            f"{out} already holds {describe_bundle(out)}. Build into another folder to keep it, or add --overwrite "
            "to replace it."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        yield scratch
        old = out.with_name(f".{out.name}.replaced-{scratch.name.rsplit('-', 1)[-1]}")
        if out.exists():
            os.replace(out, old)
        os.replace(scratch, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def describe_bundle(folder: Path) -> str | None:
    """The Space bundle in `folder`, in words (its kind and title), or None when it holds none."""
    entry = next((name for name in ENTRIES if (folder / name).is_file()), None)
    if entry is None or not (folder / "README.md").is_file():
        return None
    try:
        data = SpaceCard.load(folder / "README.md").data
    except Exception:  # not a card with front matter: then not a bundle of ours
        return None
    if not data.get("sdk"):
        return None
    models = data.get("models") or []
    model = f" for the Hub model {models[0]}" if models else " with its own weights"
    return f'a {data.get("sdk")} Space bundle, "{data.get("title")}"{model}'


def hub_source(model_id: str | None) -> Source | None:
    """The Hub repo a Space downloads its model from (`REPO_ID[@REVISION]`), or None: the bundle carries the weights.

    Raises:
        BundleError: `model_id` names a local folder: a Space can only download from the Hub.
    """
    if model_id is None:
        return None
    source = parse_source(model_id)
    if source.is_folder:
        raise BundleError(
            f"--model {model_id} is a local folder, but a Space downloads its model from the Hub: push it with "
            f"`python -m model.publishing.hub push {model_id} USER/NAME` and pass USER/NAME."
        )
    return source


def hub_commit(model: Source) -> str | None:
    """Check that the Hub has `model` with its weights; the commit its revision names, or None without a revision.

    A Space's `preload_from_hub` takes a commit, not a branch or tag; without a revision the Space follows main.

    Raises:
        HubError: The repo or revision is not there, holds no TinyVGG, or the Hub cannot be reached to check.
    """
    try:
        info = HfApi().model_info(model.name, revision=model.revision)
    except Exception as err:
        raise HubError(
            describe_error(err, model.name, model.revision, action="look up")
            + " A Space can only download a model repo that is on the Hub."
        ) from err
    files = {sibling.rfilename for sibling in info.siblings or []}
    missing = [name for name in (artifacts.WEIGHTS, artifacts.CONFIG) if name not in files]
    if missing:
        raise HubError(
            f"{model} has no {' or '.join(missing)}, so the Space would have no model to load. Push a folder written "
            f"by train.py with `python -m model.publishing.hub push FOLDER {model.name}`."
        )
    return info.sha if model.revision else None
