"""The values fitted after training (model.training.calibrate), and what they do at prediction time.

They travel in config.json as TinyVGG's one `calibration` argument; model.predict applies them here:
the photo temperature, and the score behind the warning that an image is unlike the training images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

# Score lost per unit of roughness beyond the training images' largest: 0.1 more than the
# largest costs 10, more than the whole range of garments' scores.
ROUGHNESS_PENALTY = 100.0


@dataclass(frozen=True)
class Calibration:
    """A model's calibration; the defaults are an uncalibrated model's."""

    temperature: float = 1.0  # logits are divided by it, so that softmax probabilities are calibrated
    ood_threshold: float | None = None  # an `ood_score` below it means "unlike the training images"; None: never
    max_roughness: float | None = None  # the roughest training image's: rougher counts against an image's score
    photo_temperature: float | None = None  # the temperature for phone photos; None: `temperature`
    # A photo taken whole (nothing stood out) is answered only when its `ood_score` reaches this; None: always.
    frame_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.temperature <= 0 or (self.photo_temperature is not None and self.photo_temperature <= 0):
            raise ValueError(f"temperatures must be positive, got {self.temperature} and {self.photo_temperature}")

    @classmethod
    def from_config(cls, values: dict[str, Any] | None) -> Calibration:
        """The calibration that config.json's `calibration` object holds (None: uncalibrated).

        Raises:
            ValueError: A key that is no calibration value.
        """
        unknown = set(values or {}) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"calibration takes {', '.join(f.name for f in fields(cls))}, not {sorted(unknown)}")
        return cls(**(values or {}))

    def to_config(self) -> dict[str, float | None]:
        return asdict(self)


def photo_logits(calibration: Calibration, logits: torch.Tensor) -> torch.Tensor:
    """Calibrated `logits`, recalibrated for phone photos: divided by `photo_temperature` instead."""
    if calibration.photo_temperature is None:
        return logits
    return logits * (calibration.temperature / calibration.photo_temperature)


def ood_score(calibration: Calibration, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """How much each image of `x` looks like the training images, from its calibrated `logits`; low means unlike.

    The energy score (log-sum-exp of the calibrated logits: low when no class claims the image),
    less a steep penalty for roughness beyond `max_roughness`, since noise can draw confident
    logits while no garment is that rough.
    """
    score = torch.logsumexp(logits, dim=1)
    if calibration.max_roughness is not None:
        score = score - ROUGHNESS_PENALTY * (roughness(x) - calibration.max_roughness).clamp(min=0)
    return score


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between horizontally and vertically neighbouring pixels, per image."""
    across = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    down = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return across + down
