"""The Gradio app: classify clothing photos with TinyVGG, from the shipped weights, a folder or a Hub repo.

    python app.py [--model REPO_ID[@REVISION] | --model FOLDER] [--host HOST] [--port PORT]
                  [--feedback [DIR]] [--feedback-repo USER/NAME]

The model comes from --model, else $MODEL_ID, else model_id.txt (written into Space bundles),
else model/pretrained next to this file. With --feedback (or --feedback-repo), people can say
that an answer was wrong and send the photo with the right class (model.app.feedback). This file is the
page only: every answer comes from the package's one prediction path, `model.classify`, and the model
from `model.app.facts.load_with_facts`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from model import artifacts
from model.app.components import (
    MAX_IMAGE_BYTES,
    AnswerLabel,
    PhotoInput,
    answer_of,
    image_of,
    same_image,
    shown_label,
)
from model.app.explain import grad_cam, overlay
from model.app.facts import LoadedModel, about, load_with_facts
from model.app.feedback import MAX_SIDE, NONE_OF_THESE, FeedbackError, FeedbackStore
from model.app.options import feedback_store_for, listen_problem, parse_args
from model.errors import HubError, ModelFolderError
from model.predict import PREDICTION_THREADS, TOP_CLASSES, classify
from model.preprocess import BEST_PHOTO, to_inputs
from model.tinyvgg import TinyVGG

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = artifacts.PRETRAINED
# Written by `python -m model.publishing.space build --model REPO_ID`: the Space then downloads that repo.
MODEL_ID_FILE = HERE / "model_id.txt"
# Written by `python -m model.publishing.space build --feedback-repo USER/NAME`: the Space keeps feedback there.
FEEDBACK_REPO_FILE = HERE / "feedback_repo.txt"
EXAMPLES = HERE / "examples"
CONCURRENCY = 4
PREVIEW_SIZE = 280
PHOTO_TIP = f"**Best photo:** {BEST_PHOTO}."
# What a person agrees to by clicking Send: what is kept, where, what for, and what is not.
FEEDBACK_CONSENT = (
    "**Was the answer wrong?** Choose the right class and send it. Sending keeps this photo (without its "
    f"metadata, such as a GPS position, and at most {MAX_SIDE:,} pixels on its long side), the answer "
    "shown and the class you chose, in {where}, to measure where the model goes wrong; the network is never trained "
    "on them. Nothing about you is kept (no IP address, browser or account), and nothing is sent until you click Send."
)
FEEDBACK_THANKS = (
    "Thank you: kept as record `{id}`. To have it deleted, give this id to whoever runs this app "
    "(`python -m model.app.feedback delete {id}`)."
)
# The MCP tool's description: Gradio reads its Args and Returns lines one by one, so each stays on one line.
MCP_DESCRIPTION = """Classify a photo of one clothing item into one of {count} Fashion-MNIST classes: {classes}. \
Works best with {best}.

    Args:
        image: A photo of one garment (PNG, JPEG, WebP...), at most {max_mb} MB: an http(s) URL or a data: URL.

    Returns:
        JSON {{"answer": a class or "unsure", "top_classes": [{{"label", "probability"}}] ({top}, best first), \
"warning": ""}}
"""


def predict(image: str | Path | bytes | Image.Image, model: TinyVGG | None = None) -> dict[str, float]:
    """Class name -> probability for one image of any kind, with `model` (default: the app's, loaded once).

    Raises:
        ImageError: The image cannot be used; the message says why.
    """
    return classify(image, model or default_model().model).probabilities


def classify_clothing(image: str | Path, model: TinyVGG | None = None) -> str:
    """The MCP tool's answer for `image`, with `model` (default: the app's); see `mcp_tool`."""
    return _json_answer(image, model or default_model().model)


def mcp_tool(model: TinyVGG) -> Callable[[str], str]:
    """The app's one MCP tool, for `model`: Gradio takes the tool's name and description from the function."""

    def classify_clothing(image: str) -> str:
        return _json_answer(image, model)

    classify_clothing.__doc__ = MCP_DESCRIPTION.format(
        count=len(model.class_names),
        classes=", ".join(model.class_names),
        best=BEST_PHOTO,
        max_mb=MAX_IMAGE_BYTES // 2**20,
        top=TOP_CLASSES,
    )
    return classify_clothing


def _json_answer(image: str | Path, model: TinyVGG) -> str:
    """JSON: the answer (a class, or "unsure"), the top classes and the warning."""
    answer = answer_of(image, model)
    return json.dumps({"answer": answer.answer, "top_classes": answer.top_classes(), "warning": answer.warning})


def default_model_spec() -> str:
    """$MODEL_ID, else the repo named in model_id.txt (a Space bundle's), else the shipped folder."""
    if os.environ.get("MODEL_ID"):
        return os.environ["MODEL_ID"]
    return _file_text(MODEL_ID_FILE) or str(DEFAULT_MODEL)


@functools.cache
def default_model() -> LoadedModel:
    return load_with_facts(default_model_spec())


@dataclass
class Page:
    """The components the events connect: the two inputs, their buttons, what shows the answer and the feedback."""

    photo: PhotoInput
    sketch: gr.Sketchpad
    buttons: tuple[gr.Button, gr.Button]
    answer: list[gr.components.Component]  # the label, the notes, the time
    views: tuple[gr.Image, gr.Image]  # what the model saw, and the heatmap
    feedback: tuple[gr.Group, gr.Dropdown, gr.Button, gr.Markdown] | None


def build_demo(loaded: LoadedModel, feedback: FeedbackStore | None = None) -> gr.Blocks:
    """The app's page; with `feedback`, a control to say that an answer was wrong (absent without it)."""
    model = loaded.model
    # Uploads (and the files of MCP calls) are cached on disk: drop those older than a day, hourly.
    with gr.Blocks(title="TinyVGG: what garment is this?", delete_cache=(3600, 86400)) as demo:
        gr.Markdown(
            "# What garment is this?\n"
            f"A {model.num_parameters:,}-parameter TinyVGG trained on Fashion-MNIST sorts a photo into one of "
            f"{len(model.class_names)} classes: {', '.join(model.class_names)}. Upload a photo of one garment "
            "(any size), paste one, use the webcam, or draw one."
        )
        page = layout(model, feedback)
        with gr.Accordion("About this model", open=False):
            gr.Markdown(about(loaded))
            if loaded.confusion_matrix is not None:
                gr.Image(str(loaded.confusion_matrix), label="Confusion matrix on the test set", interactive=False)
        answered = classify_events(model, page, keep_shown=feedback is not None)
        if feedback is not None:
            feedback_events(feedback, loaded.name, page, answered)
        # The one public endpoint, and so the one MCP tool: a photo in, JSON out.
        tool_trigger, tool_answer = gr.Button(visible=False), gr.Textbox(visible=False)
        tool_trigger.click(mcp_tool(model), inputs=page.photo, outputs=tool_answer, api_name="classify_clothing")
    return demo


def layout(model: TinyVGG, feedback: FeedbackStore | None) -> Page:
    """The inputs on the left (a photo, or a drawing), the answer on the right, and the feedback control under it."""
    with gr.Row():
        with gr.Column():
            with gr.Tab("Photo"):
                photo = PhotoInput(
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard", "webcam"],
                    label="Photo of a garment",
                )
                gr.Markdown(PHOTO_TIP, elem_id="photo-tip")
                classify_photo = gr.Button("Classify", variant="primary")
                gr.Examples(
                    examples=[[str(p)] for p in sorted(EXAMPLES.glob("*")) if p.suffix in (".png", ".jpg")],
                    inputs=photo,
                    label="Examples: Fashion-MNIST test images, shop-style photos made from them, "
                    "and phone photos of clothes (CC0)",
                )
            with gr.Tab("Draw"):
                sketch = gr.Sketchpad(type="pil", image_mode="RGBA", label="Draw a garment")
                classify_sketch = gr.Button("Classify drawing", variant="primary")
        with gr.Column():
            label = AnswerLabel(num_top_classes=TOP_CLASSES, label="Prediction", elem_id="prediction")
            notes = gr.Textbox(label="How sure, and why", interactive=False, elem_id="warning")
            controls = feedback_panel(feedback, model.class_names) if feedback is not None else None
            timing = gr.Textbox(label="Prediction time (decode, preprocess, model)", interactive=False)
            preview = gr.Image(
                label="What the model sees: 28x28, enlarged",
                interactive=False,
                height=PREVIEW_SIZE,
                elem_id="model-view",
            )
            heatmap = gr.Image(
                label="Where the evidence for the top class lies (Grad-CAM)",
                interactive=False,
                height=PREVIEW_SIZE,
                elem_id="heatmap",
            )
    return Page(photo, sketch, (classify_photo, classify_sketch), [label, notes, timing], (preview, heatmap), controls)


def feedback_panel(
    feedback: FeedbackStore, class_names: list[str]
) -> tuple[gr.Group, gr.Dropdown, gr.Button, gr.Markdown]:
    """The consent line, the right class and Send: shown after an answer, hidden when the image changes or once sent."""
    with gr.Group(visible=False, elem_id="feedback") as box:
        gr.Markdown(FEEDBACK_CONSENT.format(where=feedback.where), elem_id="feedback-consent")
        right_class = gr.Dropdown(
            choices=[*class_names, ("None of these ten (a hat, a skirt...)", NONE_OF_THESE)],
            value=None,
            label="The right class",
            elem_id="feedback-class",
        )
        send = gr.Button("Send the photo and the right class", elem_id="feedback-send")
    thanks = gr.Markdown(elem_id="feedback-thanks")
    return box, right_class, send, thanks


def classify_events(model: TinyVGG, page: Page, *, keep_shown: bool) -> tuple[gr.State, list]:
    """Both buttons answer through `classify`; `/predict` returns only the label and two short texts.

    The preview and the heatmap come from a second, private event chained after it, drawn from the 28x28
    image the first one made, so API callers never download them and the photo is decoded once. Returns the
    state that holds the last image and answer (for feedback) and each click's event with its input.
    """
    seen = gr.State()  # the 28x28 image of the last click, handed from one event to the next
    # The image and the answer of the last click, for feedback; forgotten after an hour (an image may be 10 MB).
    shown = gr.State(time_to_live=3600)

    def on_click(value) -> tuple:
        image = image_of(value)
        answer = answer_of(image, model)
        kept = (image, answer) if keep_shown else None  # kept per session only when feedback is on
        return shown_label(answer), answer.notes(), f"{answer.milliseconds:.1f} ms", answer.pixels.numpy(), kept

    def model_view(pixels: np.ndarray) -> tuple[Image.Image, Image.Image]:
        pixels = np.asarray(pixels, dtype=np.uint8)
        enlarged = Image.fromarray(pixels, mode="L").resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.NEAREST)
        heat = grad_cam(model, to_inputs(torch.from_numpy(pixels)[None]))
        return enlarged, overlay(pixels, heat, size=PREVIEW_SIZE)

    answered = []
    for button, source, name in zip(page.buttons, (page.photo, page.sketch), ("predict", "predict_sketch")):
        # Callable by API clients, but not MCP tools: every public event becomes a tool, and these return a
        # gr.State that Gradio's MCP server cannot hand back.
        event = button.click(
            on_click, inputs=source, outputs=[*page.answer, seen, shown], api_name=name, api_visibility="undocumented"
        )
        event.success(model_view, inputs=seen, outputs=list(page.views), api_visibility="private")
        answered.append((event, source))
    return shown, answered


def feedback_events(feedback: FeedbackStore, model_name: str, page: Page, answered: tuple[gr.State, list]) -> None:
    """Show the control after an answer, hide it when the image changes, and keep what Send sends."""
    shown, clicks = answered
    box, right_class, send, thanks = page.feedback
    for event, source in clicks:
        event.success(
            lambda: (gr.Group(visible=True), None, ""), outputs=[box, right_class, thanks], api_visibility="private"
        )
        # A new image is not the one answered: no feedback on it until it is classified.
        source.change(
            lambda: (gr.Group(visible=False), ""),
            outputs=[box, thanks],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )

    def on_send(last: tuple | None, chosen: str | None, photo_now, sketch_now) -> tuple[gr.Group, str]:
        if last is None:
            raise gr.Error("Classify a photo first; then you can say what it really shows.", print_exception=False)
        if not chosen:
            raise gr.Error(f'Choose the right class first (or "{NONE_OF_THESE}"), then send.', print_exception=False)
        image, answer = last
        # A click still queued when the image changed answers the old image: send nothing for the new one.
        if not any(same_image(image, now) for now in (photo_now, sketch_now)):
            raise gr.Error("The image changed since it was answered: classify it, then send.", print_exception=False)
        try:
            record = feedback.keep(image, answer, chosen, model=model_name)
        except FeedbackError as err:
            raise gr.Error(str(err), print_exception=False) from None
        except OSError as err:
            logging.getLogger(__name__).error("feedback could not be written: %s", err)
            raise gr.Error(
                "This app could not keep your feedback (a problem on its server); your photo was not kept.",
                print_exception=False,
            ) from None
        return gr.Group(visible=False), FEEDBACK_THANKS.format(id=record.id)

    inputs = [shown, right_class, page.photo, page.sketch]
    send.click(on_send, inputs=inputs, outputs=[box, thanks], api_visibility="private")


def _file_text(path: Path) -> str | None:
    """The stripped text of `path`, or None when there is no such file."""
    return path.read_text().strip() if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    spec, repo = default_model_spec(), _file_text(FEEDBACK_REPO_FILE)
    args = parse_args(argv, description=__doc__.split("\n")[0], model=spec, feedback_repo=repo)
    problem = listen_problem(args.host, args.port)
    if problem:
        print(f"error: {problem}.", file=sys.stderr)
        return 1
    try:
        loaded = load_with_facts(args.model)
    except (HubError, ModelFolderError) as err:
        shipped = f" (the shipped one is {DEFAULT_MODEL})" if DEFAULT_MODEL.is_dir() else ""
        print(
            f"error: cannot load the model from {args.model}: {err}\n"
            f"Start with another one: python app.py --model FOLDER_OR_REPO_ID{shipped}.",
            file=sys.stderr,
        )
        return 1
    try:
        feedback = feedback_store_for(args)
    except FeedbackError as err:
        print(f"error: feedback cannot be kept: {err}", file=sys.stderr)
        return 1
    if feedback is not None and feedback.repo_id:
        # A Space stops its app with SIGTERM: exit cleanly, so that CommitScheduler's exit hook uploads
        # the records still waiting in the folder.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    torch.set_num_threads(PREDICTION_THREADS)
    demo = build_demo(loaded, feedback)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=MAX_IMAGE_BYTES,
        show_error=True,
        # Also a Model Context Protocol server at /gradio_api/mcp/, with the one tool classify_clothing.
        mcp_server=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
