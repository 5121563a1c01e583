"""Training augmentations: the plain flips and shifts, and the photo-like ones, on real images."""

from __future__ import annotations

import pytest
import torch

from model.preprocess import to_inputs
from model.training.augment import (
    FOOTWEAR,
    SANDAL,
    augmented,
    flip_and_shift,
    photo_like,
    random_convolution,
    top_view,
)
from model.training.config import PHOTO_LIKE_SHARES, PRESETS

# Fashion-MNIST's labels of the other two footwear classes.
SNEAKER, ANKLE_BOOT = 7, 9

# The shipped recipe's shares of top views, random convolutions and spun shoes.
SHARES = {name: PRESETS["default"][name] for name in PHOTO_LIKE_SHARES}
# Every shoe a top view, no random convolutions, and half of the shoes spun.
ONLY_TOP_VIEWS = {"top_view_share": 1.0, "style_share": 0.0, "spin_share": 0.5}


@pytest.fixture(scope="module")
def batch(fashion_mnist) -> tuple[torch.Tensor, torch.Tensor]:
    return to_inputs(fashion_mnist.train_images[:256]), fashion_mnist.train_labels[:256]


def test_photo_like_images_keep_their_shape_and_range_and_follow_the_seed(batch):
    x, labels = batch

    out = photo_like(x, labels, torch.Generator().manual_seed(0), **SHARES)

    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, photo_like(x, labels, torch.Generator().manual_seed(0), **SHARES)), "same seed, same batch"
    assert not torch.equal(out, photo_like(x, labels, torch.Generator().manual_seed(1), **SHARES))


def test_photo_like_images_stay_garments_on_black(batch):
    x, labels = batch

    out = photo_like(x, labels, torch.Generator().manual_seed(0), **SHARES)

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

    turned = _axis_degrees(photo_like(images, sneakers, torch.Generator().manual_seed(0), **SHARES))
    upright = _axis_degrees(photo_like(images, shirts, torch.Generator().manual_seed(0), **SHARES))

    # A band of leftover background at an edge can pull the axis of a few; most stay near level.
    assert float(upright.quantile(0.9)) < 20, "garments lie at most a little askew"
    assert float((turned > 30).float().mean()) > 0.3, "shoes on a floor point any way"


def test_spin_share_is_the_share_of_footwear_turned_any_way():
    bar = torch.zeros(1, 1, 28, 28)
    bar[0, 0, 12:16, 4:24] = 1.0  # long and flat, like a sneaker from the side

    def far_from_level(spin_share: float) -> float:
        shares = {**SHARES, "top_view_share": 0.0, "spin_share": spin_share}
        images = photo_like(bar.repeat(2000, 1, 1, 1), torch.full((2000,), 7), torch.Generator(), **shares)
        return float((_axis_degrees(images) > 30).float().mean())

    never, quarter, always = far_from_level(0.0), far_from_level(0.25), far_from_level(1.0)

    # Pairs stand upright whatever the share (a quarter of the shoes); the spun rest grows with it.
    assert never < 0.12 and always > 0.55
    assert quarter - never == pytest.approx(0.25 * (always - never), abs=0.04)


def test_photo_augmentation_mixes_photo_like_and_plain_images(batch):
    x, labels = batch

    shares = {"photo_share": 0.5, **SHARES}
    out = augmented(x, labels, "photo", torch.Generator().manual_seed(0), **shares)
    plain = augmented(x, labels, "flip-shift", torch.Generator().manual_seed(0), **shares)

    assert out.shape == x.shape
    assert torch.equal(augmented(x, labels, "none", torch.Generator(), **shares), x)
    assert not torch.equal(out, plain)
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        augmented(x, labels, "mixup", torch.Generator(), **shares)


def test_a_batch_that_draws_no_photo_like_image_is_flipped_and_shifted(batch):
    x, labels = batch
    one = x[:1], labels[:1]

    # A last batch of one image, with a share that draws none of it, as a small --limit-train leaves.
    out = augmented(*one, "photo", torch.Generator().manual_seed(0), photo_share=0.0, **SHARES)

    generator = torch.Generator().manual_seed(0)
    torch.rand(1, generator=generator)  # the draw that chose none
    assert torch.equal(out, flip_and_shift(one[0], generator))


def test_top_views_replace_footwear_only(batch):
    x, labels = batch
    footwear = torch.isin(labels, torch.tensor(FOOTWEAR))

    # Both draw the same random numbers (a share of 0 would skip the draws); only whether a top view is taken differs.
    with_top_views = photo_like(
        x, labels, torch.Generator().manual_seed(0), top_view_share=1.0, style_share=0.0, spin_share=0.5
    )
    without = photo_like(
        x, labels, torch.Generator().manual_seed(0), top_view_share=1e-12, style_share=0.0, spin_share=0.5
    )

    changed = (with_top_views - without).abs().flatten(1).amax(1) > 0
    assert bool(changed[footwear].all()) and not bool(changed[~footwear].any())


def test_a_top_view_of_a_side_view_shoe_is_an_upright_oval():
    side = torch.zeros(200, 1, 28, 28)
    side[:, 0, 14:22, 2:26] = 0.8  # long and flat, like a sneaker from the side
    sneakers = torch.full((200,), 7)

    # No spin: photo_like turns half of the shoes; the other half keeps the top view's upright axis.
    seen = photo_like(
        side, sneakers, torch.Generator().manual_seed(0), top_view_share=1.0, style_share=0.0, spin_share=0.5
    )

    assert float((_axis_degrees(seen) > 60).float().mean()) > 0.3, "soles run toe to heel, up the frame"


@pytest.fixture(scope="module")
def shoes(fashion_mnist) -> torch.Tensor:
    """64 real side views of shoes, whatever their class: their top views get the class they are told."""
    footwear = torch.isin(fashion_mnist.train_labels, torch.tensor(FOOTWEAR))
    return to_inputs(fashion_mnist.train_images[footwear][:64])


def _seen_from_above(shoes: torch.Tensor, label: int, sandal_straps: float) -> torch.Tensor:
    # One seed for every class: the same soles, pairs and shading, drawn as each class.
    labels = torch.full((len(shoes),), label)
    return top_view(shoes, torch.Generator().manual_seed(0), labels, sandal_straps)[:, 0]


def test_plain_top_views_are_the_same_oval_whatever_the_class(shoes):
    as_sandals, as_boots = (_seen_from_above(shoes, label, sandal_straps=0.0) for label in (SANDAL, ANKLE_BOOT))

    assert torch.equal(as_sandals, as_boots), "without straps a sandal and a boot look alike from above"
    assert torch.equal(as_sandals, top_view(shoes, torch.Generator().manual_seed(0))[:, 0]), "labels are not needed"
    with pytest.raises(ValueError, match="labels"):
        top_view(shoes, torch.Generator().manual_seed(0), sandal_straps=0.5)


def test_a_sandal_from_above_shows_straps_across_its_footbed(shoes):
    dim = shoes * 0.5  # dim shoes: no pixel of a top view reaches 1, so none is clipped
    plain = _seen_from_above(dim, SANDAL, sandal_straps=0.0)
    sandal = _seen_from_above(dim, SANDAL, sandal_straps=1.0)
    sneaker, boot = (_seen_from_above(dim, label, sandal_straps=1.0) for label in (SNEAKER, ANKLE_BOOT))
    sole = plain > 0

    assert torch.equal(sandal > 0, sole), "the same sole outline; only its surface differs"
    assert torch.equal(sneaker, plain) and torch.equal(boot, plain), "sneakers and boots keep the plain oval"
    for one in range(len(dim)):
        # The same shading and blotches as the plain oval, so the ratio to it is the sandal's surface. The
        # front of the foot (toes up) has no opening in the plain oval: there the ratio is the straps or the footbed.
        rows = sole[one].nonzero()[:, 0]
        front = sole[one] & (torch.arange(28)[:, None] < rows.min() + 0.42 * (rows.max() - rows.min()))
        ratio = (sandal[one] / plain[one].clamp(min=1e-6))[front].mul(1e4).round().div(1e4)
        levels, counts = ratio.unique(return_counts=True)
        assert len(levels) == 2 and 1.0 in levels, "straps and the footbed between them"
        assert 0.34 <= float(levels.min() / levels.max()) <= 0.76, "the straps stand out from the footbed"
        assert 0.05 < float(counts.min() / counts.sum()) < 0.6, "the straps cover part of the foot"


def test_a_random_convolution_changes_the_shading_but_not_the_silhouette(batch):
    x, _ = batch

    styled = random_convolution(x, torch.Generator().manual_seed(0))

    assert float(styled[x == 0].abs().max()) == 0.0, "the background stays black"
    garment = x > 0.1
    assert float((styled[garment] > 0.04).float().mean()) > 0.95, "the garment stays visible"
    assert float((styled - x).abs().flatten(1).mean(1).median()) > 0.02, "its shading changes"


def test_flips_and_shifts_move_each_image_by_at_most_two_pixels():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10, 3] = 1.0  # one bright pixel, off-centre
    batch = image.repeat(64, 1, 1, 1)

    out = flip_and_shift(batch, torch.Generator().manual_seed(0))

    positions = {tuple((o[0] == 1).nonzero()[0].tolist()) for o in out}
    assert all(8 <= r <= 12 and (1 <= c <= 5 or 22 <= c <= 26) for r, c in positions)
