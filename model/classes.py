"""The ten Fashion-MNIST classes, in the dataset's label order: the model's default outputs."""

# https://github.com/zalandoresearch/fashion-mnist#labels
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
