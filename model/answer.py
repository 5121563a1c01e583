"""The model's answer for one prepared image: logits calibrated for the way it took, and its "not clothing" score.

The app (`app.classify`) and the photo calibration (`model.calibrate.calibrate_photos`) both go
through `answer_logits`, so the confidence that is calibrated is the one the app shows.
"""

from __future__ import annotations

import torch

from model.preprocess import FRAME, NO_GARMENT, PHOTO_WAYS, ImageError, Prepared, to_inputs
from model.tinyvgg import TinyVGG


def answer_logits(model: TinyVGG, prepared: Prepared) -> tuple[torch.Tensor, float]:
    """The logits to show for `prepared` (num_classes,) and its `model.ood_score`, from one forward pass.

    Phone photos (segmented, or taken whole) get the photo temperature; the rest the Fashion-MNIST one.

    Raises:
        ImageError: The photo was taken whole because nothing stood out in it, and it does not
            look like a garment either (its score is below `model.frame_threshold`).
    """
    x = to_inputs(prepared.pixels[None])
    with torch.inference_mode():
        logits = model(x)  # once, for the label and the score
        score = float(model.ood_score(x, logits)[0])
        if prepared.way == FRAME and model.frame_threshold is not None and score < model.frame_threshold:
            raise ImageError(NO_GARMENT)
        if prepared.way in PHOTO_WAYS:
            logits = model.photo_logits(logits)  # phone photos are right less often: a confidence to match
    return logits[0], score
