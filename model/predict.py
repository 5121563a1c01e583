"""The one prediction path: any image (file, bytes, PIL image) -> the app's answer.

    from model import TinyVGG, classify

    answer = classify("photo.jpg", TinyVGG.from_pretrained("model/pretrained"))
    answer.answer, answer.probabilities, answer.warning  # the top class or "unsure"; calibrated; "" or why

The app, its MCP tool, the Space, the photo calibration and the benchmarks all go through
`classify` (or, for a prepared image, `answer_logits`), so the confidence that is calibrated is the
one the app shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from model.calibration import ood_score, photo_logits
from model.preprocess import FRAME, NO_GARMENT, PHOTO_WAYS, ImageError, Prepared, name_list, prepare_image, to_inputs
from model.tinyvgg import TinyVGG

# How many classes an answer lists: the app's label, its MCP tool and the benchmarks' top-3.
TOP_CLASSES = 3
# One image is too small a job to split over threads: concurrent requests are the parallelism, so a server
# calls torch.set_num_threads(PREDICTION_THREADS) once (benchmarks/load.py measures it under concurrent clients).
PREDICTION_THREADS = 1
# Below this calibrated probability the top class is more likely wrong than right, so the answer names no
# class but the closest ones; benchmarks/real_photos.py measures how often answers on either side are right.
UNSURE_BELOW = 0.45
UNSURE_PERCENT = round(100 * UNSURE_BELOW)  # as the note says it
UNSURE = "unsure"  # the MCP tool's "answer" when no class is likely
UNSURE_HEADLINE = "Unsure"  # the app's and the static page's headline then, above the closest classes
# {fields} are filled with str.format here and in the static page (web/tinyvgg.js), which reads it from model.json.
UNSURE_NOTE = "The model is unsure: no class reaches {percent}%. It may be {closest}, or none of the {classes} classes."
# What the score measures (model.calibration.ood_score): how far the image is from what the model learned.
UNLIKE_TRAINING = (
    "This image looks unlike the images the model learned from (one garment of the ten classes, centred, "
    "on a plain background), so its answer is less reliable than usual."
)


@dataclass
class Answer:
    """What the model answers for one image."""

    probabilities: dict[str, float]  # class name -> calibrated probability
    warning: str  # UNLIKE_TRAINING, or ""
    pixels: torch.Tensor  # uint8 (28, 28): what the model saw
    milliseconds: float  # decoding, preprocessing, model and warning
    way: str  # how the image reached the model (model.preprocess: SMALL, PLAIN, SEGMENTED, FRAME)

    @property
    def unsure(self) -> bool:
        """No class is likely: the top class's probability is below UNSURE_BELOW."""
        return max(self.probabilities.values()) < UNSURE_BELOW

    @property
    def answer(self) -> str:
        """The top class's name, or UNSURE."""
        return UNSURE if self.unsure else max(self.probabilities, key=self.probabilities.get)

    def top_classes(self) -> list[dict[str, str | float]]:
        """The TOP_CLASSES most likely classes, best first: [{"label": name, "probability": p}], p to 4 places."""
        best = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)[:TOP_CLASSES]
        return [{"label": name, "probability": round(p, 4)} for name, p in best]

    def notes(self) -> str:
        """What to know beside the classes shown: that the model is unsure, and the warning; "" when neither."""
        unsure = ""
        if self.unsure:
            closest = name_list([c["label"] for c in self.top_classes()])
            unsure = UNSURE_NOTE.format(percent=UNSURE_PERCENT, closest=closest, classes=len(self.probabilities))
        return " ".join(text for text in (unsure, self.warning) if text)


def classify(image: str | Path | bytes | Image.Image, model: TinyVGG) -> Answer:
    """Decode and preprocess `image` once, then the model, the calibrated probabilities and the warning.

    Raises:
        ImageError: The image cannot be used (not an image, truncated, too large, blank, or a
            photo in which no garment stands out); the message says why and what to send instead.
    """
    started = time.perf_counter()
    prepared = prepare_image(image)
    logits, score = answer_logits(model, prepared)
    probabilities = {name: float(p) for name, p in zip(model.class_names, logits.softmax(0))}
    return Answer(
        probabilities, ood_warning(score, model), prepared.pixels, 1000 * (time.perf_counter() - started), prepared.way
    )


def answer_logits(model: TinyVGG, prepared: Prepared) -> tuple[torch.Tensor, float]:
    """The logits to show for `prepared` (num_classes,) and its `model.calibration.ood_score`, from one forward pass.

    Phone photos (segmented, or taken whole) get the photo temperature; the rest the Fashion-MNIST one.

    Raises:
        ImageError: The photo was taken whole because nothing stood out in it, and it does not
            look like a garment either (its score is below `model.frame_threshold`).
    """
    x = to_inputs(prepared.pixels[None])
    with torch.inference_mode():
        logits = model(x)  # once, for the label and the score
        score = float(ood_score(model.calibration, x, logits)[0])
        frame_threshold = model.calibration.frame_threshold
        if prepared.way == FRAME and frame_threshold is not None and score < frame_threshold:
            raise ImageError(NO_GARMENT)
        if prepared.way in PHOTO_WAYS:
            logits = photo_logits(model.calibration, logits)  # phone photos are right less often: a matching confidence
    return logits[0], score


def ood_warning(score: float, model: TinyVGG) -> str:
    """UNLIKE_TRAINING for an image whose `ood_score` says it is unlike the training images, else ""."""
    threshold = model.calibration.ood_threshold
    if threshold is None or score >= threshold:
        return ""
    return UNLIKE_TRAINING
