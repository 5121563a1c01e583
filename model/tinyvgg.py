"""TinyVGG: the small VGG-style CNN of the course notebook, with Hub save, push and pull built in."""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from torch import nn

from model import artifacts
from model.classes import CLASS_NAMES
from model.errors import ConfigError, ModelFolderError
from model.files import atomic_path, write_json
from model.hub_errors import find_on_hub

# Images per forward pass when scoring many (evaluation, calibration). Larger batches are slower on
# a CPU: a batch of 1,000 spills its 28x28 activations out of the caches and ran at half the speed
# of 128 on an AVX2 EPYC (python benchmarks/eval_speed.py).
SCORING_BATCH = 128


def conv_block(in_channels: int, out_channels: int, batch_norm: bool = False) -> nn.Sequential:
    """conv3x3-ReLU-conv3x3-ReLU-maxpool2, as in the notebook (with BatchNorm after each conv if asked)."""
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        # A conv followed by BatchNorm needs no bias: BN's shift replaces it.
        layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
        layers += [nn.BatchNorm2d(out_channels)] if batch_norm else []
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(kernel_size=2))
    return nn.Sequential(*layers)


# The class keywords are the card's metadata: the mixin writes them into every card it saves or pushes.
class TinyVGG(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="pytorch",
    license="mit",
    pipeline_tag="image-classification",
    tags=["image-classification", "fashion-mnist", "tinyvgg"],
    paper_url="https://arxiv.org/abs/1708.07747",  # Fashion-MNIST's; the project has no public code host to name
):
    """Two conv blocks, then one linear layer. `TinyVGG()` is exactly the notebook's model (7,740 parameters).

    Every argument is JSON-able, so the Hub mixin stores it in `config.json` and `from_pretrained`
    rebuilds the same model. The last five are fitted after training (model.training.calibrate) and
    used at prediction time (model.calibration).

    Args:
        in_channels: Channels of the input images (1 for Fashion-MNIST).
        hidden_units: Channels of both blocks, or a list with one width per block.
        num_classes: Size of the output layer.
        class_names: One name per output, in label order; they travel with the weights.
        batch_norm: Add BatchNorm after every convolution.
        dropout: Dropout probability before the classifier (0 disables it).
        input_mean: Subtracted from the [0, 1] input inside `forward`.
        input_std: The input is divided by it inside `forward`.
        mirror_average: In eval mode, answer with the mean of the logits of each image and of its mirror
            image (flipped left to right), a test-time augmentation: Fashion-MNIST's shoes all point
            left, a photo's point either way. Training sees one view at a time (with random flips).
        temperature: Logits are divided by it, so that softmax probabilities are calibrated.
        ood_threshold: An `ood_score` below it means "not like the training images".
        max_roughness: The roughest training image's roughness; `ood_score` counts more against the image.
        photo_temperature: The temperature for phone photos; None means `temperature`.
        frame_threshold: A photo taken whole (nothing stood out) is answered only when its `ood_score`
            reaches this; None answers every such photo.
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden_units: int | list[int] = 10,
        num_classes: int = 10,
        class_names: Sequence[str] = CLASS_NAMES,
        batch_norm: bool = False,
        dropout: float = 0.0,
        input_mean: float = 0.0,
        input_std: float = 1.0,
        mirror_average: bool = False,
        temperature: float = 1.0,
        ood_threshold: float | None = None,
        max_roughness: float | None = None,
        photo_temperature: float | None = None,
        frame_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.widths = block_widths(hidden_units)  # refuses anything but one or two positive ints
        _check_arguments(num_classes, class_names, input_std, temperature, photo_temperature)
        # The module names are the notebook's, so its state dicts load unchanged.
        self.conv_block_1 = conv_block(in_channels, self.widths[0], batch_norm)
        self.conv_block_2 = conv_block(self.widths[0], self.widths[1], batch_norm)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Two 2x2 poolings turn 28x28 into 7x7.
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(self.widths[1] * 7 * 7, num_classes))

        self.class_names = list(class_names)
        self.input_mean, self.input_std = float(input_mean), float(input_std)
        self.mirror_average = bool(mirror_average)
        self.temperature = float(temperature)
        self.photo_temperature = float(photo_temperature) if photo_temperature is not None else None
        self.ood_threshold, self.max_roughness, self.frame_threshold = ood_threshold, max_roughness, frame_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated logits for a batch of images in [0, 1], shape (N, in_channels, 28, 28)."""
        if self.mirror_average and not self.training:
            # Both views in one batch, then their mean: the same sum in either order, so an image and
            # its mirror image get the same answer.
            return self.one_view(torch.cat([x, x.flip(-1)])).unflatten(0, (2, -1)).mean(0)
        return self.one_view(x)

    def one_view(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated logits of the images as they are, whatever `mirror_average` says."""
        return self.head(self.conv_block_2(self.conv_block_1(self.normalize(x))))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_mean != 0.0 or self.input_std != 1.0:
            x = (x - self.input_mean) / self.input_std
        return x

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (divided by the temperature) from the last block's feature maps."""
        logits = self.classifier(self.dropout(features))
        return logits / self.temperature if self.temperature != 1.0 else logits

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model: what config.json holds."""
        return dict(self._hub_mixin_config)

    @property
    def architecture(self) -> str:
        """The layers in a few words, for the model card."""
        config = self.config
        return (
            f"2 conv blocks of {self.widths[0]} and {self.widths[1]} channels"
            + (", batch norm" if config["batch_norm"] else "")
            + (f", dropout {config['dropout']}" if config["dropout"] else "")
            + (", answers averaged with the mirror image's" if config["mirror_average"] else "")
        )

    # The mixin's hooks: what `save_pretrained`, `push_to_hub` and `from_pretrained` do for this class.

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        **kwargs,
    ) -> TinyVGG:
        """The mixin's loader, once the name is known to be a folder, or a repo that the Hub (or the cache) has.

        Raises:
            ModelFolderError, HubError: At once and in plain words, for a name that is neither (the client
                alone would retry for about 25 s, then blame the connection).
        """
        if not local_files_only:
            find_on_hub(str(pretrained_model_name_or_path), revision, token=token, cache_dir=cache_dir)
        return super().from_pretrained(
            pretrained_model_name_or_path,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            **kwargs,
        )

    def save_pretrained(
        self, save_directory: str | Path, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs
    ) -> str | None:
        """Write weights, config.json and the model card into `save_directory`.

        `model_card_kwargs` may hold `card`, the card to write (model.publishing.card renders the
        full one from a training run), and `files`, path in the repo -> file, copied beside it
        (metrics, figures, ONNX weights, TensorBoard logs). `push_to_hub` uploads the same.
        """
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        for name, path in ((model_card_kwargs or {}).get("files") or {}).items():
            target = save_directory / name
            if not target.exists() or not target.samefile(path):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return super().save_pretrained(save_directory, model_card_kwargs=model_card_kwargs or {}, **kwargs)

    def generate_model_card(self, card: ModelCard | None = None, **_: Any) -> ModelCard:
        """The card the mixin writes: `card` when given, else a short one with this class's metadata."""
        if card is not None:
            return card
        info = self._hub_mixin_info
        return ModelCard.from_template(
            info.model_card_data, template_str=SHORT_CARD, model=self, paper_url=info.paper_url
        )

    def _save_pretrained(self, save_directory: Path) -> None:
        # .contiguous(): weights trained in channels_last memory format are saved in the standard layout.
        state = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        with atomic_path(save_directory / artifacts.WEIGHTS) as tmp:
            safetensors.torch.save_file(state, str(tmp), metadata={"format": "pt"})
        write_json(save_directory / artifacts.CONFIG, self._hub_mixin_config)
        # The mixin writes its card only where no README.md exists, so an old card would survive a
        # re-save: remove it, and the mixin writes the one `generate_model_card` gives.
        (save_directory / artifacts.CARD).unlink(missing_ok=True)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ) -> TinyVGG:
        # The mixin defaults to non-strict loading and falls back to a pickled
        # `pytorch_model.bin`; we only ever read safetensors, with every key checked.
        if os.path.isdir(model_id):
            weights = Path(model_id) / artifacts.WEIGHTS
            if not weights.is_file():
                raise ModelFolderError(
                    f"{model_id} has no {artifacts.WEIGHTS}, so there is no model in it. "
                    f"Train one with `python train.py --output-dir {model_id}`."
                )
        else:
            weights = hf_hub_download(
                repo_id=model_id,
                filename=artifacts.WEIGHTS,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        # The mixin fills a key missing from config.json with the argument's default, which would
        # silently build a model that predicts differently: every argument must be there.
        missing = [name for name in config_keys() if name not in model_kwargs]
        if missing:
            raise ConfigError(
                f"{model_id}: config.json lacks {', '.join(missing)}: it was edited, cut short or written by an "
                "older version. Restore it from the training run, or retrain with `python train.py`."
            )
        model = cls(**model_kwargs)
        safetensors.torch.load_model(model, str(weights), strict=strict, device=map_location)
        return model.eval()


# The card of a model saved on its own, without a training run to report (model.publishing.card renders that one).
SHORT_CARD = """---
{{ card_data }}
---

# TinyVGG

A TinyVGG with {{ "{:,}".format(model.num_parameters) }} parameters ({{ model.architecture }}) for the classes
{{ model.class_names | join(", ") }}, after the course notebook's network; Fashion-MNIST: {{ paper_url }}.

This folder was saved without an evaluation, so it reports no accuracy. `python train.py` trains,
evaluates and writes a card with the measured results.
"""

# Added after models were published; a config.json without them means what their default means (no photo
# calibration yet, one view), so an older model still loads, answers as it did, and its photo calibration
# can be fitted later.
OPTIONAL_KEYS = ("photo_temperature", "frame_threshold", "mirror_average")


def with_optional_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with each of OPTIONAL_KEYS it lacks set to its default: what the model it loads as holds."""
    parameters = inspect.signature(TinyVGG.__init__).parameters
    return {name: parameters[name].default for name in OPTIONAL_KEYS} | config


def config_keys() -> list[str]:
    """The keys a config.json must hold: every argument of `TinyVGG.__init__` but OPTIONAL_KEYS."""
    return [name for name in inspect.signature(TinyVGG.__init__).parameters if name not in ("self", *OPTIONAL_KEYS)]


def block_widths(hidden_units: int | Sequence[int]) -> list[int]:
    """The channels of the two conv blocks: `hidden_units` for both, or one value per block."""
    widths = [hidden_units, hidden_units] if isinstance(hidden_units, int) else list(hidden_units)
    if len(widths) != 2 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"hidden_units must be a positive int or two positive ints, got {hidden_units!r}")
    return widths


def _check_arguments(
    num_classes: int,
    class_names: Sequence[str],
    input_std: float,
    temperature: float,
    photo_temperature: float | None,
) -> None:
    if len(class_names) != num_classes:
        raise ValueError(f"got {len(class_names)} class_names for num_classes={num_classes}")
    if input_std <= 0:
        raise ValueError(f"input_std must be positive, got {input_std}")
    if temperature <= 0 or (photo_temperature is not None and photo_temperature <= 0):
        raise ValueError(f"temperatures must be positive, got {temperature} and {photo_temperature}")
