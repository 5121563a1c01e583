"""The Gradio app: classify clothing photos with TinyVGG, from the shipped weights, a folder or a Hub repo.

    python app.py [--model REPO_ID[@REVISION] | --model FOLDER] [--host HOST] [--port PORT]
                  [--feedback [DIR]] [--feedback-repo USER/NAME]

The model comes from --model, else $MODEL_ID, else model_id.txt (written into Space bundles),
else model/pretrained next to this file. With --feedback (or --feedback-repo), people can say
that an answer was wrong and send the photo with the right class (model.feedback). This file is the
interface only: every answer comes from
the package's one prediction path, `model.classify`, and the model from `model.loading.load_with_facts`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import errno
import functools
import json
import logging
import math
import os
import signal
import socket
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio.components.label import LabelConfidence, LabelData
from PIL import Image

from model import artifacts
from model.errors import HubError, ModelFolderError
from model.explain import grad_cam, overlay
from model.feedback import (
    DEFAULT_EVERY_MINUTES,
    DEFAULT_FOLDER,
    DEFAULT_MAX_MB,
    NONE_OF_THESE,
    FeedbackError,
    FeedbackStore,
)
from model.loading import LoadedModel, load_with_facts
from model.predict import PREDICTION_THREADS, TOP_CLASSES, UNSURE_HEADLINE, Answer, classify
from model.preprocess import ImageError, to_inputs
from model.tinyvgg import TinyVGG

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = artifacts.PRETRAINED
# Written by `python -m model.publishing.space build --model REPO_ID`: the Space then downloads that repo.
MODEL_ID_FILE = HERE / "model_id.txt"
# Written by `python -m model.publishing.space build --feedback-repo USER/NAME`: the Space keeps feedback there.
FEEDBACK_REPO_FILE = HERE / "feedback_repo.txt"
EXAMPLES = HERE / "examples"
# For uploads (gradio refuses them with 413) and for images that arrive any other way (checked here).
MAX_IMAGE_BYTES = 10 * 2**20
CONCURRENCY = 4
PREVIEW_SIZE = 280
PHOTO_TIP = (
    "**Best photo:** one item, laid flat or hung, whole in the frame, on a plain background that contrasts with it."
)
# What a person agrees to by clicking Send: what is kept, where, what for, and what is not.
FEEDBACK_CONSENT = (
    "**Was the answer wrong?** Choose the right class and send it. Sending keeps this photo (without its "
    "metadata, such as a GPS position, and at most 1,024 pixels on its long side), the answer shown and the class "
    "you chose, in {where}, to measure where the model goes wrong; the network is never trained on them. Nothing "
    "about you is kept (no IP address, browser or account), and nothing is sent until you click Send."
)
FEEDBACK_THANKS = (
    "Thank you: kept as record `{id}`. To have it deleted, give this id to whoever runs this app "
    "(`python -m model.feedback delete {id}`)."
)


class PhotoInput(gr.Image):
    """gr.Image that hands over the uploaded file untouched.

    Our preprocessing decodes it, so that every problem (not an image, truncated, a
    decompression bomb) gets our clear message, and no converted copy is re-saved into
    Gradio's content-addressed cache, where concurrent identical uploads could race.
    """

    is_template = True  # rendered by the frontend's Image component, as Gradio's own templates are

    def preprocess(self, payload):  # noqa: D102
        if payload is None:
            return None
        if payload.path is None and payload.url and payload.url.startswith("data:"):
            # Some sources (pasted images, API calls) send the image inline as a data URL, which
            # max_file_size does not cover: the same limit, checked before decoding.
            encoded = payload.url.partition(",")[2]
            _check_size(len(encoded) * 3 // 4)
            try:
                return base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise gr.Error(
                    "The inline image is not a valid base64 data URL (data:image/...;base64,...). "
                    "Send the file itself, or encode it with base64.",
                    print_exception=False,
                ) from None
        if payload.path is None:
            raise gr.Error(
                "No image file arrived: send an image file, or an http(s) or data: URL.", print_exception=False
            )
        # A file gradio downloaded from a URL (an MCP call's, say) passed no upload limit either.
        _check_size(os.path.getsize(payload.path))
        return payload.path


class AnswerLabel(gr.Label):
    """gr.Label whose headline can be "Unsure" above the closest classes' bars, not only the top class."""

    is_template = True  # rendered by the frontend's Label component, as Gradio's own templates are

    def postprocess(self, value):  # noqa: D102
        return value if isinstance(value, LabelData) else super().postprocess(value)


def shown_label(answer: Answer) -> LabelData:
    """The label output: the top class as the headline, or "Unsure" when no class is likely; the best three's bars."""
    headline = UNSURE_HEADLINE if answer.unsure else answer.answer
    bars = [LabelConfidence(label=c["label"], confidence=c["probability"]) for c in answer.top_classes()]
    return LabelData(label=headline, confidences=bars)


def _check_size(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise gr.Error(
            f"The image is too large ({size / 2**20:.1f} MB); the limit is {MAX_IMAGE_BYTES // 2**20} MB. "
            "Send a smaller or more compressed photo (a few megapixels is plenty: the model sees 28x28 pixels).",
            print_exception=False,
        )


def predict(image: str | Path | bytes | Image.Image, model: TinyVGG | None = None) -> dict[str, float]:
    """Class name -> probability for one image of any kind (see model.preprocess).

    Without `model`, uses the app's model ($MODEL_ID or the shipped one), loaded once.

    Raises:
        ImageError: The image cannot be used; the message says why.
    """
    return classify(image, model or default_model().model).probabilities


# The app's MCP tool, whose docstring is its description: Gradio reads the Args and Returns lines one
# by one, so each stays on one line.
def classify_clothing(image: str, model: TinyVGG | None = None) -> str:
    """Classify a photo of one clothing item into one of 10 Fashion-MNIST classes: T-shirt/top, Trouser,
    Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot. Works best with one item, laid flat or
    hung, whole in the frame, on a plain background that contrasts with it.

    Args:
        image: A photo of one garment (PNG, JPEG, WebP...), at most 10 MB: an http(s) URL or a data: URL.

    Returns:
        JSON {"answer": a class or "unsure", "top_classes": [{"label", "probability"}] (3, best first), "warning": ""}
    """
    answer = _answer(image, model or default_model().model)
    return json.dumps({"answer": answer.answer, "top_classes": answer.top_classes(), "warning": answer.warning})


def default_model_spec() -> str:
    """$MODEL_ID, else the repo named in model_id.txt (a Space bundle's), else the shipped folder."""
    if os.environ.get("MODEL_ID"):
        return os.environ["MODEL_ID"]
    return _file_text(MODEL_ID_FILE) or str(DEFAULT_MODEL)


@functools.cache
def default_model() -> LoadedModel:
    return load_with_facts(default_model_spec())


def _image(value):
    """The image in an input value, or a gr.Error if there is none."""
    if isinstance(value, dict):  # the sketchpad's layers; "composite" is what was drawn
        value = value.get("composite")
    if value is None:
        raise gr.Error(
            "No image yet: upload a photo, paste one, use the webcam, pick an example or draw one.",
            print_exception=False,
        )
    return value


def _same_image(kept, value) -> bool:
    """Whether an input's current `value` is still the image `kept` (a path, bytes, or a drawing)."""
    if isinstance(value, dict):
        value = value.get("composite")
    return type(kept) is type(value) and kept == value


def _answer(value, model: TinyVGG) -> Answer:
    """`classify` for a server event or tool call: a missing or unusable image is a gr.Error with the reason."""
    try:
        return classify(_image(value), model)
    except ImageError as err:
        raise gr.Error(str(err), print_exception=False) from None


def build_demo(loaded: LoadedModel, feedback: FeedbackStore | None = None) -> gr.Blocks:
    """The app's page; with `feedback`, a control to say that an answer was wrong (absent without it)."""
    model = loaded.model

    def on_click(value) -> tuple[LabelData, str, str, np.ndarray, tuple]:
        image = _image(value)
        answer = _answer(image, model)
        # For feedback: the image and the answer the person sees (kept per session only when feedback is on).
        shown = (image, answer) if feedback is not None else None
        return shown_label(answer), answer.notes(), f"{answer.milliseconds:.1f} ms", answer.pixels.numpy(), shown

    def classify_clothing_tool(image: str) -> str:
        return classify_clothing(image, model)

    # The MCP tool takes its name and description from the function: those of classify_clothing.
    classify_clothing_tool.__name__, classify_clothing_tool.__doc__ = "classify_clothing", classify_clothing.__doc__

    def model_view(pixels: np.ndarray) -> tuple[Image.Image, Image.Image]:
        # The 28x28 image the click already made: the photo is not decoded a second time.
        pixels = np.asarray(pixels, dtype=np.uint8)
        seen = Image.fromarray(pixels, mode="L").resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.NEAREST)
        heat = grad_cam(model, to_inputs(torch.from_numpy(pixels)[None]))
        return seen, overlay(pixels, heat, size=PREVIEW_SIZE)

    # Uploads (and the files of MCP calls) are cached on disk: drop those older than a day, hourly.
    with gr.Blocks(title="TinyVGG: what garment is this?", delete_cache=(3600, 86400)) as demo:
        gr.Markdown(
            "# What garment is this?\n"
            f"A {model.num_parameters:,}-parameter TinyVGG trained on Fashion-MNIST sorts a photo into one of "
            f"{len(model.class_names)} classes: {', '.join(model.class_names)}. Upload a photo of one garment "
            "(any size), paste one, use the webcam, or draw one."
        )
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
                warning = gr.Textbox(label="How sure, and why", interactive=False, elem_id="warning")
                if feedback is not None:
                    # Shown after an answer, hidden again when the image changes or once sent.
                    with gr.Group(visible=False, elem_id="feedback") as feedback_box:
                        gr.Markdown(FEEDBACK_CONSENT.format(where=feedback.where), elem_id="feedback-consent")
                        right_class = gr.Dropdown(
                            choices=[*model.class_names, ("None of these ten (a hat, a skirt...)", NONE_OF_THESE)],
                            value=None,
                            label="The right class",
                            elem_id="feedback-class",
                        )
                        send = gr.Button("Send the photo and the right class", elem_id="feedback-send")
                    thanks = gr.Markdown(elem_id="feedback-thanks")
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
        with gr.Accordion("About this model", open=False):
            gr.Markdown(_model_facts(loaded))
            if loaded.confusion_matrix is not None:
                gr.Image(str(loaded.confusion_matrix), label="Confusion matrix on the test set", interactive=False)

        # /predict returns only the label and two short texts; the preview and the heatmap come
        # from a second, private event chained after it, so API callers never download them.
        seen = gr.State()  # the 28x28 image of the last click, handed from one event to the next
        # The image and the answer of the last click, for feedback; forgotten after an hour (an image may be 10 MB).
        shown = gr.State(time_to_live=3600)
        # Callable by API clients, but not MCP tools: every public event becomes a tool, and these
        # return a gr.State that Gradio's MCP server cannot hand back.
        for button, source, name in ((classify_photo, photo, "predict"), (classify_sketch, sketch, "predict_sketch")):
            answered = button.click(
                on_click,
                inputs=source,
                outputs=[label, warning, timing, seen, shown],
                api_name=name,
                api_visibility="undocumented",
            )
            answered.success(model_view, inputs=seen, outputs=[preview, heatmap], api_visibility="private")
            if feedback is not None:
                answered.success(
                    lambda: (gr.Group(visible=True), None, ""),
                    outputs=[feedback_box, right_class, thanks],
                    api_visibility="private",
                )
                # A new image is not the one answered: no feedback on it until it is classified.
                source.change(
                    lambda: (gr.Group(visible=False), ""),
                    outputs=[feedback_box, thanks],
                    api_visibility="private",
                    queue=False,
                    show_progress="hidden",
                )
        if feedback is not None:
            model_name = f"{loaded.source}@{loaded.revision}" if loaded.revision else loaded.source

            def on_send(last: tuple | None, chosen: str | None, photo_now, sketch_now) -> tuple[gr.Group, str]:
                if last is None:
                    raise gr.Error(
                        "Classify a photo first; then you can say what it really shows.", print_exception=False
                    )
                if not chosen:
                    raise gr.Error(
                        f'Choose the right class first (or "{NONE_OF_THESE}"), then send.', print_exception=False
                    )
                image, answer = last
                # A click still queued when the image changed answers the old image: send nothing for the new one.
                if not any(_same_image(image, now) for now in (photo_now, sketch_now)):
                    raise gr.Error(
                        "The image changed since it was answered: classify it, then send.", print_exception=False
                    )
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

            send.click(
                on_send,
                inputs=[shown, right_class, photo, sketch],
                outputs=[feedback_box, thanks],
                api_visibility="private",
            )
        # The one public endpoint, and so the one MCP tool: a photo in, JSON out.
        tool_trigger, tool_answer = gr.Button(visible=False), gr.Textbox(visible=False)
        tool_trigger.click(classify_clothing_tool, inputs=photo, outputs=tool_answer, api_name="classify_clothing")
    return demo


def _model_facts(loaded: LoadedModel) -> str:
    accuracy = f"{loaded.test_accuracy:.2%}" if loaded.test_accuracy is not None else "not recorded"
    lines = [
        f"- **Source:** `{loaded.source}`",
        f"- **Revision:** `{loaded.revision}`" if loaded.revision else "- **Revision:** local folder",
        f"- **Parameters:** {loaded.model.num_parameters:,}",
        f"- **Test accuracy:** {accuracy} (Fashion-MNIST test set, 28x28 images)",
        f"- **Classes:** {', '.join(loaded.model.class_names)}",
        _confidence_facts(loaded),
    ]
    return "\n".join(lines)


def _confidence_facts(loaded: LoadedModel) -> str:
    """What the percentage shown means, with the figures the model's files record."""
    metrics = loaded.metrics or {}
    if "calibration" not in metrics:
        return "- **What the percentage means:** the model's probability, not calibrated on held-out images."
    text = (
        "- **What the percentage means:** it is a calibrated probability: of the answers shown with 70%, "
        "about 70% are right. On Fashion-MNIST images the calibration error is "
        f"{metrics['calibration']['ece_after']:.1%}."
    )
    photos = metrics.get("photo_calibration")
    if loaded.model.photo_temperature is not None and photos:
        text += (
            " Phone photos are right less often than Fashion-MNIST images, so their confidence has a calibration "
            f"of its own, fitted on {photos['fitted_on']:,} real photos whose label names one class; on such photos "
            f"the calibration error is {photos['ece_single_class_after']:.1%}."
        )
    real = metrics.get("real_photos")
    if real and "top3_mean" in real:
        text += (
            f" On real photos the top class is right {real['mean_accuracy']:.0%} of the time and the right class "
            f"is among the three shown {real['top3_mean']:.0%} of the time (mean over the labels)."
        )
    return text


def _file_text(path: Path) -> str | None:
    """The stripped text of `path`, or None when there is no such file."""
    return path.read_text().strip() if path.is_file() else None


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=default_model_spec(),
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
        default=os.environ["FEEDBACK_REPO"] if "FEEDBACK_REPO" in os.environ else _file_text(FEEDBACK_REPO_FILE),
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
    args = parser.parse_args(argv)
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
    feedback = None
    if args.feedback or args.feedback_repo:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # the store's warnings, if the Hub is down
        try:
            feedback = FeedbackStore(
                args.feedback or DEFAULT_FOLDER,
                repo_id=args.feedback_repo or None,
                every=args.feedback_every,
                max_bytes=int(args.feedback_max_mb * 2**20),
            )
        except FeedbackError as err:
            print(f"error: feedback cannot be kept: {err}", file=sys.stderr)
            return 1
        upload = f", and uploaded to the private dataset {feedback.repo_id}" if feedback.repo_id else ""
        print(f"Feedback is on: records are kept in {feedback.folder.resolve()}{upload}", flush=True)
        if feedback.repo_id:
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
