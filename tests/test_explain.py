"""Grad-CAM heatmaps on the shipped model and real test images."""

from __future__ import annotations

import pytest
import torch

from model.app.explain import grad_cam, overlay
from model.preprocess import to_inputs
from model.tinyvgg import TinyVGG
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def shipped() -> TinyVGG:
    return TinyVGG.from_pretrained(ROOT / "model" / "pretrained")


def test_the_heatmap_has_the_inputs_shape_and_lies_in_the_unit_interval(shipped, fashion_mnist):
    x = to_inputs(fashion_mnist.test_images[:1])

    cam = grad_cam(shipped, x)

    assert cam.shape == (28, 28)
    assert float(cam.min()) >= 0.0 and float(cam.max()) == pytest.approx(1.0)


def test_the_heatmap_changes_with_the_class_it_explains(shipped, fashion_mnist):
    x = to_inputs(fashion_mnist.test_images[:1])
    with torch.inference_mode():
        first, second = shipped(x)[0].topk(2).indices.tolist()

    assert not torch.allclose(grad_cam(shipped, x, first), grad_cam(shipped, x, second))


def test_images_predicted_as_different_classes_get_different_heatmaps(shipped, fashion_mnist):
    images = to_inputs(fashion_mnist.test_images[:50])
    with torch.inference_mode():
        predicted = shipped(images).argmax(1)
    a = 0
    b = int((predicted != predicted[a]).nonzero()[0])

    assert not torch.allclose(grad_cam(shipped, images[a : a + 1]), grad_cam(shipped, images[b : b + 1]))


def test_the_overlay_is_an_enlarged_colour_image(fashion_mnist, shipped):
    pixels = fashion_mnist.test_images[0].numpy()

    image = overlay(pixels, grad_cam(shipped, to_inputs(fashion_mnist.test_images[:1])), size=140)

    assert image.size == (140, 140) and image.mode == "RGB"
