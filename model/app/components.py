"""The app's Gradio parts: a photo input that hands over the file untouched, a label that can say "Unsure",
and an event's value turned into an image and an answer, or into a gr.Error that says what was wrong."""

from __future__ import annotations

import base64
import binascii
import os

import gradio as gr
from gradio.components.label import LabelConfidence, LabelData

from model.predict import UNSURE_HEADLINE, Answer, classify
from model.preprocess import ImageError
from model.tinyvgg import TinyVGG

# For uploads (gradio refuses them with 413) and for images that arrive any other way (checked here).
MAX_IMAGE_BYTES = 10 * 2**20


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
            check_size(len(encoded) * 3 // 4)
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
        check_size(os.path.getsize(payload.path))
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


def check_size(size: int) -> None:
    """Refuse an image over MAX_IMAGE_BYTES with a gr.Error that says what to send instead."""
    if size > MAX_IMAGE_BYTES:
        raise gr.Error(
            f"The image is too large ({size / 2**20:.1f} MB); the limit is {MAX_IMAGE_BYTES // 2**20} MB. "
            "Send a smaller or more compressed photo (a few megapixels is plenty: the model sees 28x28 pixels).",
            print_exception=False,
        )


def image_of(value):
    """The image in an input value, or a gr.Error if there is none."""
    if isinstance(value, dict):  # the sketchpad's layers; "composite" is what was drawn
        value = value.get("composite")
    if value is None:
        raise gr.Error(
            "No image yet: upload a photo, paste one, use the webcam, pick an example or draw one.",
            print_exception=False,
        )
    return value


def answer_of(value, model: TinyVGG) -> Answer:
    """`classify` for a server event or tool call: a missing or unusable image is a gr.Error with the reason."""
    try:
        return classify(image_of(value), model)
    except ImageError as err:
        raise gr.Error(str(err), print_exception=False) from None


def same_image(kept, value) -> bool:
    """Whether an input's current `value` is still the image `kept` (a path, bytes, or a drawing)."""
    if isinstance(value, dict):
        value = value.get("composite")
    return type(kept) is type(value) and kept == value
