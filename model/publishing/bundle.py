"""What both Space bundles share: a new folder to build in, the Hub model they name, and their README.md.

The Gradio app (model.publishing.space) and the static page (model.publishing.static_space) are built
from these; the README.md is the Spaces configuration (front matter) and what the Space is.
"""

from __future__ import annotations

import platform
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from model import artifacts
from model.errors import BundleError
from model.loading import Source, parse_source
from model.publishing.card import DATASET

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


def empty_folder(out_dir: str | Path) -> Path:
    """`out_dir` as a Path, once it is sure to be a new or empty folder: a Space gets no stale file.

    Raises:
        BundleError: It is a file, or a folder with something in it.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} is a file; name a new or empty folder for the Space.")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} is not empty; build into a new folder so no stale file ends up in the Space.")
    return out


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
