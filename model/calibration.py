"""What a TinyVGG's calibration values do at prediction time: the photo temperature and the warning's score.

model.training.calibrate fits these values after training; they live in the model's config.json, and
model.predict applies them through the functions here.
"""

from __future__ import annotations

import torch

from model.tinyvgg import TinyVGG

# The arguments of TinyVGG fitted after training (model.training.calibrate), not by it.
CALIBRATION = ("temperature", "max_roughness", "ood_threshold", "photo_temperature", "frame_threshold")
# Score lost per unit of roughness beyond the training images' largest: 0.1 more than the
# largest costs 10, more than the whole range of garments' scores.
ROUGHNESS_PENALTY = 100.0


def photo_logits(model: TinyVGG, logits: torch.Tensor) -> torch.Tensor:
    """`logits` from `model`, recalibrated for phone photos: divided by `photo_temperature` instead."""
    if model.photo_temperature is None:
        return logits
    return logits * (model.temperature / model.photo_temperature)


def ood_score(model: TinyVGG, x: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
    """How much each image of `x` looks like the training images; low means unlike.

    The energy score (log-sum-exp of the calibrated logits: low when no class claims the image),
    less a steep penalty for roughness beyond `model.max_roughness`, since noise can draw confident
    logits while no garment is that rough. Pass `logits` (the model's for `x`) when they are at
    hand, to skip a second forward pass.
    """
    score = torch.logsumexp(model(x) if logits is None else logits, dim=1)
    if model.max_roughness is not None:
        score = score - ROUGHNESS_PENALTY * (roughness(x) - model.max_roughness).clamp(min=0)
    return score


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between horizontally and vertically neighbouring pixels, per image."""
    across = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    down = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return across + down


def recalibrated(model: TinyVGG, **values: float | None) -> TinyVGG:
    """A copy of `model` with the same weights and new calibration values (the arguments in CALIBRATION)."""
    unknown = set(values) - set(CALIBRATION)
    if unknown:
        raise ValueError(f"recalibrated() takes {', '.join(CALIBRATION)}, not {unknown}")
    copy = TinyVGG(**{**model.config, **values})
    copy.load_state_dict(model.state_dict())
    return copy.eval()
