"""Training-time augmentations: Fashion-MNIST images made to look like what a phone photo becomes.

`model.preprocess` turns a photo into a light garment on black, but what it leaves differs from
the dataset's clean product shots: the garment is not exactly centred or sized, lies a little
askew, is lit unevenly, carries prints, stripes and creases, is blurred by the resizing, and
may keep a sliver of the bed or floor at its edges; shoes lie in any direction. `photo_like`
draws all of that at random for a batch, on the device, from one generator (so a resumed run
draws the same), and `flip_and_shift` is the plain augmentation of the earlier recipe.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Fashion-MNIST labels of the footwear classes (Sandal, Sneaker, Ankle boot): photographed from
# above on a floor, a shoe points any way, so these are rotated freely.
FOOTWEAR = (5, 7, 9)
# Pixels each shoe of a made-up pair moves from the centre.
PAIR_OFFSET = 6


def flip_and_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to `max_shift` pixels, per image."""
    n, _, h, w = x.shape
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    shifts = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).to(x.device)
    padded = F.pad(x, (max_shift,) * 4)
    rows = (shifts[0][:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (shifts[1][:, None] + torch.arange(w, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def photo_like(x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of a (N, 1, 28, 28) batch in [0, 1], as preprocessing might hand over a photo of it."""
    n = len(x)

    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(n, generator=generator)).to(x.device)

    def chance(p: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) < p).to(x.device)

    x = torch.where(chance(0.5)[:, None, None, None], x.flip(-1), x)

    # A pair: people photograph both shoes, side by side, from above.
    footwear = torch.isin(labels, torch.tensor(FOOTWEAR, device=labels.device))
    upright = x.rot90(1, (2, 3))
    pair = torch.maximum(upright.roll(-PAIR_OFFSET, 3), upright.flip(-1).roll(PAIR_OFFSET, 3))
    x = torch.where((footwear & chance(0.25))[:, None, None, None], pair, x)

    # Geometry: scale, position and a small tilt; footwear turns any way half of the time.
    angle = uniform(-12, 12) * math.pi / 180
    spin = footwear & chance(0.5)
    angle = torch.where(spin, uniform(-math.pi, math.pi), angle)
    scale = uniform(0.8, 1.08)
    shift = torch.stack([uniform(-0.12, 0.12), uniform(-0.12, 0.12)], 1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    garment = (x > 0.04).float()
    # Texture: stripes or a print across the garment, as checks, stripes and logos leave.
    yy, xx = torch.meshgrid(torch.arange(28.0, device=x.device), torch.arange(28.0, device=x.device), indexing="ij")
    direction = uniform(0, math.pi)
    period = uniform(2.5, 8)
    phase = uniform(0, 2 * math.pi)
    stripes = torch.sin(
        2
        * math.pi
        * (xx * torch.cos(direction)[:, None, None] + yy * torch.sin(direction)[:, None, None])
        / period[:, None, None]
        + phase[:, None, None]
    )
    blotches = F.interpolate(torch.rand(n, 1, 7, 7, generator=generator).to(x.device), size=28, mode="bilinear")[:, 0]
    pattern = torch.where(chance(0.5)[:, None, None], 0.5 + 0.5 * stripes, blotches)
    strength = uniform(0, 0.5) * chance(0.6)
    x = x * (1 - strength[:, None, None, None] * pattern[:, None])

    # Light: the garment's own shading with another gamma and contrast, over a floor of brightness.
    gamma = torch.exp(uniform(math.log(0.5), math.log(2.0)))
    floor = uniform(0, 0.45) * chance(0.7)
    x = x.clamp(0, 1) ** gamma[:, None, None, None]
    x = garment * (floor[:, None, None, None] + (1 - floor[:, None, None, None]) * x)
    x = x * uniform(0.85, 1.0)[:, None, None, None]

    # Blur, as the resize from a large photo leaves it.
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = torch.where(chance(0.3)[:, None, None, None], blurred, x)

    # Leftover background: a dim band along one edge, where the segmentation kept some floor.
    width = torch.randint(1, 4, (n,), generator=generator).to(x.device)[:, None, None]
    side = torch.randint(0, 4, (n,), generator=generator).to(x.device)
    row, col = torch.arange(28, device=x.device)[None, :, None], torch.arange(28, device=x.device)[None, None, :]
    edges = [row < width, row >= 28 - width, col < width, col >= 28 - width]
    edges = torch.stack([edge.expand(n, 28, 28) for edge in edges], 1)
    mask = edges[torch.arange(n, device=x.device), side].float()
    band = mask[:, None] * uniform(0.1, 0.4)[:, None, None, None] * chance(0.25)[:, None, None, None]
    return torch.maximum(x, band).clamp(0, 1)


def augmented(
    x: torch.Tensor, labels: torch.Tensor, kind: str, generator: torch.Generator, photo_share: float = 0.5
) -> torch.Tensor:
    """The batch as `--augment` asks: "none", "flip-shift", or "photo".

    "photo" makes `photo_share` of the batch (at random) photo-like and flips and shifts the
    rest, so the model keeps seeing clean Fashion-MNIST images too.
    """
    if kind == "none":
        return x
    if kind == "flip-shift":
        return flip_and_shift(x, generator)
    if kind != "photo":
        raise ValueError(f"unknown augmentation {kind!r}; choose none, flip-shift or photo")
    chosen = torch.rand(len(x), generator=generator).to(x.device) < photo_share
    photo = photo_like(x[chosen], labels[chosen], generator)
    out = flip_and_shift(x, generator)
    out[chosen] = photo
    return out
