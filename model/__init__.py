"""TinyVGG on Fashion-MNIST: data, model, training, reports and the model card.

`from model import TinyVGG` is the model; each submodule holds one part (`model.preprocess`,
`model.data`, `model.hub`, ...).
"""

from model.tinyvgg import TinyVGG

__all__ = ["TinyVGG"]
