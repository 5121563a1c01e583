"""Training-time augmentations: Fashion-MNIST images made to look like what a phone photo becomes.

`model.preprocess` turns a photo into a light garment on black, but what it leaves differs from
the dataset's clean product shots: the garment is not exactly centred or sized, lies a little
askew, is lit unevenly, carries prints, stripes and creases, is blurred by the resizing, and
may keep a sliver of the bed or floor at its edges; shoes lie in any direction and are often
photographed from above, as a pair. `photo_like` draws all of that at random for a batch, on the
device, from one generator (so a resumed run draws the same): among it made-up top views of shoes
(`top_view`) and random convolutions that change the garment's style but not its shape
(`random_convolution`, RandConv). `flip_and_shift` is the plain augmentation of the earlier recipe.
What each of them does for phone photos is measured by benchmarks/real_photos.py (docs/real-photos.md,
"Steps").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from model.preprocess import GARMENT_FLOOR

# Fashion-MNIST labels of the footwear classes (Sandal, Sneaker, Ankle boot): photographed from
# above on a floor, a shoe points any way, so these are rotated freely.
FOOTWEAR = (5, 7, 9)
# Pixels each shoe of a made-up pair moves from the centre.
PAIR_OFFSET = 6
# A pixel brighter than this belongs to the garment; the background is black.
GARMENT_LEVEL = 0.04
# The one footwear class that looks like itself from above: its straps (`top_view`).
SANDAL = 5
# RandConv's filter sizes: 1x1 only rescales the shading; 7x7 blurs and embosses it.
KERNEL_SIZES = (1, 3, 5, 7)


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


def photo_like(
    x: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    *,
    top_view_share: float,
    style_share: float,
    spin_share: float,
    sandal_straps: float = 0.0,
) -> torch.Tensor:
    """Each image of a (N, 1, 28, 28) batch in [0, 1], as preprocessing might hand over a photo of it.

    `top_view_share` of the footwear becomes a made-up top view (`top_view`; `sandal_straps` of the
    sandals' drawn with their straps), `spin_share` of it turns to any angle, and
    `style_share` of the batch ends with a random convolution (`random_convolution`).
    """
    draw = _Draws(len(x), generator, x.device)
    x = torch.where(draw.chance(0.5)[:, None, None, None], x.flip(-1), x)
    footwear = torch.isin(labels, torch.tensor(FOOTWEAR, device=labels.device))
    x = _shoes_as_photographed(x, labels, footwear, draw, top_view_share, sandal_straps)
    x = _placed(x, footwear, draw, spin_share)
    garment = (x > GARMENT_LEVEL).float()
    x = _lit(_textured(x, draw), garment, draw)
    # Blur, as the resize from a large photo leaves it.
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = _leftover_background(torch.where(draw.chance(0.3)[:, None, None, None], blurred, x), draw)
    if style_share == 0:  # no draws at all: the recipe without random convolutions, exactly
        return x
    styled = random_convolution(x, generator)
    return torch.where(draw.chance(style_share)[:, None, None, None], styled, x)


class _Draws:
    """One random value per image of a batch, from the batch's generator, on its device."""

    def __init__(self, n: int, generator: torch.Generator, device: torch.device) -> None:
        self.n, self.generator, self.device = n, generator, device

    def uniform(self, low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(self.n, generator=self.generator)).to(self.device)

    def chance(self, p: float) -> torch.Tensor:
        return (torch.rand(self.n, generator=self.generator) < p).to(self.device)


def _shoes_as_photographed(
    x: torch.Tensor, labels: torch.Tensor, footwear: torch.Tensor, draw: _Draws, top_view_share: float, straps: float
) -> torch.Tensor:
    """Footwear as people photograph it: a pair side by side, and seen from above, alone or as a pair."""
    upright = x.rot90(1, (2, 3))
    pair = torch.maximum(upright.roll(-PAIR_OFFSET, 3), upright.flip(-1).roll(PAIR_OFFSET, 3))
    x = torch.where((footwear & draw.chance(0.25))[:, None, None, None], pair, x)
    if top_view_share > 0:  # with 0 no draws at all: the recipe without top views, exactly
        seen_from_above = footwear & draw.chance(top_view_share)  # drawn before the views, as ever
        x = torch.where(seen_from_above[:, None, None, None], top_view(x, draw.generator, labels, straps), x)
    return x


def _placed(x: torch.Tensor, footwear: torch.Tensor, draw: _Draws, spin_share: float) -> torch.Tensor:
    """Scale, position and a small tilt; footwear turns any way `spin_share` of the time."""
    angle = draw.uniform(-12, 12) * math.pi / 180
    spin = footwear & draw.chance(spin_share)
    angle = torch.where(spin, draw.uniform(-math.pi, math.pi), angle)
    scale = draw.uniform(0.8, 1.08)
    shift = torch.stack([draw.uniform(-0.12, 0.12), draw.uniform(-0.12, 0.12)], 1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _textured(x: torch.Tensor, draw: _Draws) -> torch.Tensor:
    """Stripes or a print across the garment, as checks, stripes and logos leave."""
    yy, xx = torch.meshgrid(torch.arange(28.0, device=x.device), torch.arange(28.0, device=x.device), indexing="ij")
    direction = draw.uniform(0, math.pi)
    period = draw.uniform(2.5, 8)
    phase = draw.uniform(0, 2 * math.pi)
    along = xx * torch.cos(direction)[:, None, None] + yy * torch.sin(direction)[:, None, None]
    stripes = torch.sin(2 * math.pi * along / period[:, None, None] + phase[:, None, None])
    blotches = F.interpolate(
        torch.rand(draw.n, 1, 7, 7, generator=draw.generator).to(x.device), size=28, mode="bilinear"
    )
    pattern = torch.where(draw.chance(0.5)[:, None, None], 0.5 + 0.5 * stripes, blotches[:, 0])
    strength = draw.uniform(0, 0.5) * draw.chance(0.6)
    return x * (1 - strength[:, None, None, None] * pattern[:, None])


def _lit(x: torch.Tensor, garment: torch.Tensor, draw: _Draws) -> torch.Tensor:
    """The garment's own shading with another gamma and contrast, over a floor of brightness."""
    gamma = torch.exp(draw.uniform(math.log(0.5), math.log(2.0)))
    floor = draw.uniform(0, 0.45) * draw.chance(0.7)
    x = x.clamp(0, 1) ** gamma[:, None, None, None]
    x = garment * (floor[:, None, None, None] + (1 - floor[:, None, None, None]) * x)
    return x * draw.uniform(0.85, 1.0)[:, None, None, None]


def _leftover_background(x: torch.Tensor, draw: _Draws) -> torch.Tensor:
    """A dim band along one edge, where the segmentation kept some floor."""
    n = draw.n
    width = torch.randint(1, 4, (n,), generator=draw.generator).to(x.device)[:, None, None]
    side = torch.randint(0, 4, (n,), generator=draw.generator).to(x.device)
    row, col = torch.arange(28, device=x.device)[None, :, None], torch.arange(28, device=x.device)[None, None, :]
    edges = [row < width, row >= 28 - width, col < width, col >= 28 - width]
    edges = torch.stack([edge.expand(n, 28, 28) for edge in edges], 1)
    mask = edges[torch.arange(n, device=x.device), side].float()
    band = mask[:, None] * draw.uniform(0.1, 0.4)[:, None, None, None] * draw.chance(0.25)[:, None, None, None]
    return torch.maximum(x, band).clamp(0, 1)


def top_view(
    x: torch.Tensor, generator: torch.Generator, labels: torch.Tensor | None = None, sandal_straps: float = 0.0
) -> torch.Tensor:
    """Made-up top views of the shoes in `x`: what a phone photo of shoes on the floor shows.

    Fashion-MNIST shows one shoe from the side; from above a shoe is a sole-shaped oval, wider at
    the toe, with the opening for the foot at the heel. Each is shaded with its shoe's own mean
    brightness and a few blotches; half of them are a pair side by side, toes up (turned later
    by `photo_like`'s geometry).

    Drawn that way, every shoe looks the same from above, so the model can only learn which class
    such an oval most often is. `sandal_straps` of the sandals (given their `labels`) are drawn as a
    sandal looks from above instead (`_straps`): no opening, its footbed between straps lighter or
    darker than it. Sneakers and ankle boots keep the plain oval: from above, and in the three-quarter
    view of a shop photo, the openings of both look alike (drawing a sneaker's laces and a boot's wide
    shaft turned sneakers in shop photos into boots: docs/real-photos.md). With `sandal_straps` 0
    nothing more is drawn: the plain ovals, exactly.
    """
    n = len(x)

    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(n, generator=generator)).to(x.device)[:, None, None]

    yy, xx = torch.meshgrid(torch.arange(28.0, device=x.device), torch.arange(28.0, device=x.device), indexing="ij")
    pair = (torch.rand(n, generator=generator) < 0.5).to(x.device)[:, None, None]
    length = uniform(9.5, 13.0)  # half the sole's length, in pixels
    width = length * uniform(0.3, 0.42)  # half its width in the middle
    gap = uniform(-0.5, 1.5)  # between the two shoes of a pair; below 0 they touch
    centre = torch.where(pair, 14.0 - width - gap / 2, torch.full_like(width, 14.0))
    along = (yy - 14.0) / length  # -1 at the toe (top), 1 at the heel
    half_width = width * (1.05 - 0.25 * along) * (1 - along.clamp(-1, 1) ** 6).clamp(min=0).sqrt()
    # Across, from each shoe's centre line: the second shoe of a pair mirrors the first.
    across = [(xx - centre).abs(), torch.where(pair, (xx - (28.0 - centre)).abs(), torch.full_like(xx, 99.0))]
    sole = torch.zeros_like(xx.expand(n, 28, 28))
    opening = torch.zeros_like(sole, dtype=torch.bool)
    for distance in across:
        sole = torch.maximum(sole, ((distance <= half_width) & (along.abs() <= 1)).float())
        opening |= (distance / (0.6 * width)) ** 2 + ((along - 0.35) / 0.45) ** 2 <= 1
    garment = (x > GARMENT_LEVEL).float()
    brightness = (x * garment).flatten(1).sum(1) / garment.flatten(1).sum(1).clamp(min=1)
    shade = brightness[:, None, None] * uniform(0.85, 1.15)
    # The opening shows the insole or the floor: mostly darker than the shoe, sometimes lighter.
    inside = torch.where(opening, uniform(0.4, 1.1), torch.ones_like(shade))
    blotches = F.interpolate(torch.rand(n, 1, 5, 5, generator=generator).to(x.device), size=28, mode="bilinear")[:, 0]
    if sandal_straps > 0:  # with 0 no draws at all: the recipe with the same oval for every shoe, exactly
        if labels is None:
            raise ValueError("sandals drawn with their straps (sandal_straps > 0) need the images' labels")
        strapped = (labels == SANDAL).to(x.device)[:, None, None] & (uniform(0, 1) < sandal_straps)
        inside = torch.where(strapped, _straps(across, along, length, width, uniform), inside)
    return (sole * shade * inside * (0.85 + 0.3 * blotches)).clamp(0, 1)[:, None]


def _straps(
    across: list[torch.Tensor],
    along: torch.Tensor,
    length: torch.Tensor,
    width: torch.Tensor,
    uniform: Callable[[float, float], torch.Tensor],
) -> torch.Tensor:
    """A sandal from above, over `top_view`'s soles: a factor per pixel, 1 on the straps or on the footbed.

    The straps are a thong's V (from between the toes to both sides of the midfoot) or two bands
    across the foot, about two pixels wide; the footbed shows between them, lighter or darker.
    """
    toe_to_heel = along * length  # pixels along the shoe, negative towards the toe
    thong = uniform(0, 1) < 0.5
    strap = uniform(0.6, 1.1)  # half a strap's thickness, in pixels
    band_1, band_2 = uniform(-0.6, -0.25) * length, uniform(0.0, 0.4) * length
    darker = uniform(0.35, 0.75)
    light_straps = uniform(0, 1) < 0.5
    # The V in (across, along) pixels: from (0, -0.55 L) to (0.9 W, 0), mirrored by taking `across` unsigned.
    v_start, v_end = (
        torch.stack([torch.zeros_like(length), -0.55 * length]),
        torch.stack([0.9 * width, torch.zeros_like(length)]),
    )
    straps = torch.zeros_like(toe_to_heel.expand(len(length), 28, 28), dtype=torch.bool)
    for distance in across:
        on_v = _distance_to_segment(distance, toe_to_heel, v_start, v_end) <= strap
        on_bands = ((toe_to_heel - band_1).abs() <= strap) | ((toe_to_heel - band_2).abs() <= strap)
        straps |= torch.where(thong, on_v, on_bands)
    return torch.where(straps == light_straps, torch.ones_like(darker), darker)


def _distance_to_segment(u: torch.Tensor, v: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Distance of each point (u, v) from the segment start-end, one segment per image: (2, N, 1, 1) ends."""
    du, dv = end[0] - start[0], end[1] - start[1]
    t = (((u - start[0]) * du + (v - start[1]) * dv) / (du**2 + dv**2).clamp(min=1e-6)).clamp(0, 1)
    return ((u - start[0] - t * du) ** 2 + (v - start[1] - t * dv) ** 2).sqrt()


def random_convolution(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """RandConv (arXiv 2007.13003): each image through its own random k x k filter, blended with itself.

    The filtered garment is stretched to [0, 1] (a filter with a negative centre inverts the
    shading, as a light garment against a dark one does after preprocessing), given the
    preprocessing's floor of brightness, and blended with the original by a random weight. The
    background stays black and the silhouette unchanged: only the garment's style changes.
    """
    out = x.clone()
    sizes = torch.randint(0, len(KERNEL_SIZES), (len(x),), generator=generator)
    for i, k in enumerate(KERNEL_SIZES):
        chosen = (sizes == i).nonzero().flatten()
        if len(chosen) == 0:
            continue
        images = x[chosen]
        weight = torch.randn(len(chosen), 1, k, k, generator=generator) / k
        # One group per image, so that each image gets its own filter.
        filtered = F.conv2d(images.reshape(1, -1, 28, 28), weight.to(x), padding=k // 2, groups=len(chosen))
        filtered = filtered.reshape(images.shape)
        garment = images > GARMENT_LEVEL
        low = filtered.masked_fill(~garment, float("inf")).flatten(1).min(1).values.clamp(max=1e9)
        high = filtered.masked_fill(~garment, float("-inf")).flatten(1).max(1).values.clamp(min=-1e9)
        stretched = ((filtered - low[:, None, None, None]) / (high - low).clamp(min=1e-3)[:, None, None, None]).clamp(
            0, 1
        )
        alpha = torch.rand(len(chosen), 1, 1, 1, generator=generator).to(x)
        out[chosen] = alpha * images + (1 - alpha) * garment * (GARMENT_FLOOR + (1 - GARMENT_FLOOR) * stretched)
    return out


def augmented(
    x: torch.Tensor,
    labels: torch.Tensor,
    kind: str,
    generator: torch.Generator,
    *,
    photo_share: float,
    top_view_share: float,
    style_share: float,
    spin_share: float,
    sandal_straps: float = 0.0,
) -> torch.Tensor:
    """The batch as `--augment` asks: "none", "flip-shift", or "photo".

    "photo" makes `photo_share` of the batch (at random) photo-like (`photo_like`, with the
    other two shares) and flips and shifts the rest, so the model keeps seeing clean
    Fashion-MNIST images too.
    """
    if kind == "none":
        return x
    if kind == "flip-shift":
        return flip_and_shift(x, generator)
    if kind != "photo":
        raise ValueError(f"unknown augmentation {kind!r}; choose none, flip-shift or photo")
    chosen = torch.rand(len(x), generator=generator).to(x.device) < photo_share
    if not chosen.any():  # a small last batch may draw none, and photo_like needs at least one image
        return flip_and_shift(x, generator)
    shares = dict(
        top_view_share=top_view_share,
        style_share=style_share,
        spin_share=spin_share,
        sandal_straps=sandal_straps,
    )
    photo = photo_like(x[chosen], labels[chosen], generator, **shares)
    out = flip_and_shift(x, generator)
    out[chosen] = photo
    return out
