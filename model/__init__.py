"""TinyVGG on Fashion-MNIST: the model and its one prediction path; training, publishing and the app are below it.

from model import TinyVGG, classify

answer = classify("photo.jpg", TinyVGG.from_pretrained("USER/REPO"))  # or a folder; a path, bytes or PIL image
print(answer.top_classes(), answer.warning)
"""

from model.predict import Answer, classify
from model.preprocess import ImageError
from model.tinyvgg import TinyVGG

__all__ = ["Answer", "ImageError", "TinyVGG", "classify"]
