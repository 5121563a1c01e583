"""Preprocessing: any photo becomes a Fashion-MNIST-like 28x28 image, or a clear error."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.bad_images import EXPECTED, garment, make_cases
from model.preprocess import ImageError, open_image, prepare_image, to_inputs
from model.publishing.examples import shop_photo
from model.tinyvgg import TinyVGG
from tests.conftest import ROOT, missing_under_ci


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return make_cases(tmp_path_factory.mktemp("bad-images"))


@pytest.fixture(scope="module")
def shipped() -> TinyVGG:
    return TinyVGG.from_pretrained(ROOT / "model" / "pretrained")


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_result_is_one_channel_28x28_in_the_unit_interval():
    x = to_inputs(prepare_image(png(garment())).pixels[None])

    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_a_dark_garment_on_white_becomes_a_light_garment_on_black():
    prepared = prepare_image(png(garment())).pixels.numpy()

    assert prepared[0, 0] == 0 and prepared[-1, -1] == 0, "background must be black"
    assert prepared[14, 14] == 255, "the garment's body must be bright"


def test_light_on_black_and_dark_on_white_give_the_same_input():
    assert torch.equal(prepare_image(png(garment())).pixels, prepare_image(png(255 - garment())).pixels)


def test_a_small_garment_in_a_corner_is_cropped_and_centred():
    canvas = np.full((600, 900), 255, dtype=np.uint8)
    canvas[20:220, 30:230] = garment()  # 200x200 garment in the top-left corner

    assert torch.equal(prepare_image(png(canvas)).pixels, prepare_image(png(garment())).pixels)


def test_the_aspect_ratio_is_kept_by_padding_not_stretching():
    tall = np.full((300, 300), 255, dtype=np.uint8)
    tall[0:300, 120:180] = 0  # a 60x300 trouser leg

    prepared = prepare_image(png(tall)).pixels.numpy()

    columns = np.flatnonzero(prepared.max(axis=0) > 128)
    assert 4 <= len(columns) <= 8, f"60/300 of 28 pixels is about 6 columns, got {len(columns)}"
    assert abs((columns[0] + columns[-1]) / 2 - 13.5) <= 1, "the garment must be centred"


def test_shop_photos_reach_the_model_about_as_crisp_as_fashion_mnists_own_images(fashion_mnist):
    # Fashion-MNIST's images were subsampled, which keeps straps and edges crisp; box-filtered alone the
    # shop photos came out smoother (mean roughness 15% lower). Subsampled (SUBSAMPLE) they match it.
    from benchmarks.product_photos import DEFAULT_DIR, read_labels, restored
    from model.calibration import roughness

    if not (DEFAULT_DIR / "labels.csv").is_file():
        missing_under_ci(f"{DEFAULT_DIR} is missing: the product photos sit beside the checkout (../shared)")
    photos = read_labels(DEFAULT_DIR)
    classes = sorted({fashion_mnist.class_names.index(label) for _, label in photos})
    ours = roughness(to_inputs(torch.stack([prepare_image(restored(path)).pixels for path, _ in photos])))
    theirs = roughness(
        to_inputs(fashion_mnist.test_images[torch.isin(fashion_mnist.test_labels, torch.tensor(classes))])
    )

    assert float(ours.mean()) == pytest.approx(float(theirs.mean()), rel=0.05)


@pytest.mark.parametrize("name", [n for n, outcome in EXPECTED.items() if outcome != "ok"])
def test_unusable_files_get_a_clear_error(cases, name):
    with pytest.raises(ImageError, match=EXPECTED[name]):
        prepare_image(cases[name]).pixels


@pytest.mark.parametrize(
    "name",
    [
        "gray16.png",
        "cmyk.jpg",
        "palette_transparent.png",
        "rgba_transparent_background.png",
        "animated.gif",
        "exif_rotated.jpg",
    ],
)
def test_awkward_but_valid_files_look_like_the_plain_garment(cases, name):
    plain = prepare_image(png(garment())).pixels.float()

    prepared = prepare_image(cases[name]).pixels.float()

    # JPEG cases carry compression noise; everything else must be exact.
    tolerance = 8.0 if name.endswith(".jpg") else 0.0
    assert (prepared - plain).abs().mean() <= tolerance


# Run in a fresh process: the peak memory of a whole test session says nothing about one call.
BOMB_CHECK = """
import resource, sys
from model.preprocess import ImageError, prepare_image

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
try:
    prepare_image(sys.argv[1]).pixels
except ImageError as err:
    print("refused:", err)
print("grew_kib:", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.slow
def test_the_decompression_bomb_is_refused_before_decoding(cases):
    result = subprocess.run(
        [sys.executable, "-c", BOMB_CHECK, str(cases["bomb_30000x30000.png"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "megapixels" in result.stdout
    # Decoding 30000x30000 gray pixels would need about 900 MB.
    grew = int(result.stdout.rsplit("grew_kib:", 1)[1])
    assert grew < 100 * 1024, f"the peak memory grew by {grew / 1024:.0f} MiB"


def test_real_test_images_through_the_app_pipeline_keep_their_predictions(fashion_mnist, shipped):
    images = fashion_mnist.test_images[:500]

    prepared = torch.stack([prepare_image(png(image.numpy())).pixels for image in images])

    with torch.inference_mode():
        direct = shipped(to_inputs(images)).argmax(1)
        via_pipeline = shipped(to_inputs(prepared)).argmax(1)
    assert float((direct == via_pipeline).float().mean()) >= 0.97


def test_shop_photos_mostly_get_the_prediction_of_their_original(fashion_mnist, shipped):
    # benchmarks/shop_photos.py measured 94.75% agreement on 2,000 images; allow for a smaller sample.
    images = fashion_mnist.test_images[:400]
    rng = np.random.default_rng(1)

    photos = torch.stack([prepare_image(shop_photo(image, rng)).pixels for image in images])

    with torch.inference_mode():
        agreement = (shipped(to_inputs(images)).argmax(1) == shipped(to_inputs(photos)).argmax(1)).float().mean()
    assert float(agreement) >= 0.90


@pytest.mark.parametrize("kind", ["JPEG", "MPO"])
def test_a_large_jpeg_is_decoded_at_a_reduced_scale_also_when_it_carries_more_pictures(kind):
    # Phones write MPO: a JPEG with more pictures after the first, which Pillow names apart.
    photo = Image.fromarray(np.full((1000, 1200, 3), 128, np.uint8))
    data = io.BytesIO()
    photo.save(data, kind, **({"save_all": True, "append_images": [photo]} if kind == "MPO" else {}))

    image = open_image(data.getvalue())

    assert image.format == kind and image.size == (600, 500)  # 1/2: the largest scale still 400 pixels a side


@pytest.mark.parametrize(
    "make, said", [(lambda tmp: tmp / "no-such.jpg", "does not exist"), (lambda tmp: tmp, "is a folder")]
)
def test_a_path_that_is_no_file_says_so_rather_than_calling_the_file_broken(tmp_path, make, said):
    path = make(tmp_path)

    with pytest.raises(ImageError, match=f"{re.escape(str(path))} {said}.*Check the path") as raised:
        prepare_image(str(path))
    assert "not an image" not in str(raised.value)
