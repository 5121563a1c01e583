"""TinyVGG on Fashion-MNIST: the model, its one prediction path, and the training, report and Hub tools.

    from model import TinyVGG, classify

    model = TinyVGG.from_pretrained("USER/REPO")  # or a folder written by train.py
    answer = classify("photo.jpg", model)        # a path, bytes or a PIL image
    print(answer.top_classes(), answer.warning)

Each submodule holds one part (`model.predict`, `model.preprocess`, `model.training.data`, `model.publishing.hub`, ...).
"""

from model.predict import Answer, classify
from model.preprocess import ImageError
from model.tinyvgg import TinyVGG

__all__ = ["Answer", "ImageError", "TinyVGG", "classify"]
