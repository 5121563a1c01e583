"""Training augmentations: the plain flips and shifts, and the photo-like ones, on real images."""

from __future__ import annotations

import pytest
import torch

from model.augment import augmented, flip_and_shift, photo_like
from model.preprocess import to_inputs


@pytest.fixture(scope="module")
def batch(fashion_mnist) -> tuple[torch.Tensor, torch.Tensor]:
    return to_inputs(fashion_mnist.train_images[:256]), fashion_mnist.train_labels[:256]


def test_photo_like_images_keep_their_shape_and_range_and_follow_the_seed(batch):
    x, labels = batch

    out = photo_like(x, labels, torch.Generator().manual_seed(0))

    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, photo_like(x, labels, torch.Generator().manual_seed(0))), "same seed, same batch"
    assert not torch.equal(out, photo_like(x, labels, torch.Generator().manual_seed(1)))


def test_photo_like_images_stay_garments_on_black(batch):
    x, labels = batch

    out = photo_like(x, labels, torch.Generator().manual_seed(0))

    # Each image changes, but keeps most of its brightness on the garment, not on the background.
    assert (out - x).abs().flatten(1).mean(1).min() > 0.005
    garment_share = (out > 0.1).float().flatten(1).mean(1)
    assert 0.05 < float(garment_share.median()) < 0.8
    corners = out[:, 0, 10:18, 10:18].mean() - out[:, 0, :3, :3].mean()
    assert corners > 0.2, "the middle of the frame must stay far brighter than its corners"


def _axis_degrees(images: torch.Tensor) -> torch.Tensor:
    """The angle of each image's principal axis, from its second moments, in [0, 90] away from horizontal."""
    w = images[:, 0]
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = w.sum((1, 2))
    my, mx = (w * yy).sum((1, 2)) / total, (w * xx).sum((1, 2)) / total
    dy, dx = yy - my[:, None, None], xx - mx[:, None, None]
    cxx, cyy, cxy = (w * dx * dx).sum((1, 2)), (w * dy * dy).sum((1, 2)), (w * dx * dy).sum((1, 2))
    return torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy)).abs()


def test_only_footwear_is_turned_far_from_upright():
    bar = torch.zeros(1, 1, 28, 28)
    bar[0, 0, 12:16, 4:24] = 1.0  # long and flat, like a sneaker from the side
    images = bar.repeat(400, 1, 1, 1)
    sneakers, shirts = torch.full((400,), 7), torch.full((400,), 6)

    turned = _axis_degrees(photo_like(images, sneakers, torch.Generator().manual_seed(0)))
    upright = _axis_degrees(photo_like(images, shirts, torch.Generator().manual_seed(0)))

    # A band of leftover background at an edge can pull the axis of a few; most stay near level.
    assert float(upright.quantile(0.9)) < 20, "garments lie at most a little askew"
    assert float((turned > 30).float().mean()) > 0.3, "shoes on a floor point any way"


def test_photo_augmentation_mixes_photo_like_and_plain_images(batch):
    x, labels = batch

    out = augmented(x, labels, "photo", torch.Generator().manual_seed(0))
    plain = augmented(x, labels, "flip-shift", torch.Generator().manual_seed(0))

    assert out.shape == x.shape
    assert torch.equal(augmented(x, labels, "none", torch.Generator()), x)
    assert not torch.equal(out, plain)
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        augmented(x, labels, "mixup", torch.Generator())


def test_flips_and_shifts_move_each_image_by_at_most_two_pixels():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10, 3] = 1.0  # one bright pixel, off-centre
    batch = image.repeat(64, 1, 1, 1)

    out = flip_and_shift(batch, torch.Generator().manual_seed(0))

    positions = {tuple((o[0] == 1).nonzero()[0].tolist()) for o in out}
    assert all(8 <= r <= 12 and (1 <= c <= 5 or 22 <= c <= 26) for r, c in positions)
