"""TinyVGG: the small VGG-style CNN of the course, with Hub save/push/pull built in."""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from safetensors.torch import load_model, save_file
from torch import nn

from model import artifacts
from model.classes import CLASS_NAMES
from model.files import atomic_path, write_json

# Energy lost per unit of roughness beyond the training images' largest: 0.1 more than the
# largest costs 10, more than the whole range of garments' energies.
ROUGHNESS_PENALTY = 100.0


# The card's metadata: the mixin writes it into every card it saves or pushes, which is ours (generate_model_card).
class TinyVGG(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="pytorch",
    license="mit",
    pipeline_tag="image-classification",
    tags=["image-classification", "fashion-mnist", "tinyvgg"],
    paper_url="https://arxiv.org/abs/1708.07747",  # Fashion-MNIST's; the project has no public code host to name
):
    """Two blocks of conv3x3-ReLU-conv3x3-ReLU-maxpool2, then one linear layer.

    `TinyVGG()` is exactly the model of the original notebook (10 channels, 7,740
    parameters). Every argument is JSON-able, so the Hub mixin stores it in
    `config.json` and `from_pretrained` rebuilds the same architecture.

    Args:
        in_channels: Channels of the input images (1 for Fashion-MNIST).
        hidden_units: Channels of both blocks, or a list with one width per block.
        num_classes: Size of the output layer.
        class_names: One name per output, in label order; they travel with the weights.
        batch_norm: Add BatchNorm after every convolution.
        dropout: Dropout probability before the classifier (0 disables it).
        input_mean: Subtracted from the [0, 1] input inside `forward`.
        input_std: The input is divided by it inside `forward`.
        temperature: Logits are divided by it, so that softmax probabilities are calibrated
            (fitted on held-out training images by model.calibrate).
        ood_threshold: `ood_score` below it means "not like the training images".
        max_roughness: The largest mean difference between neighbouring pixels that the
            training images show; `ood_score` counts anything rougher (noise) against the image.
        photo_temperature: The temperature for phone photos (model.preprocess.PHOTO_WAYS), which
            the model gets right less often than Fashion-MNIST images: chosen on real photos by
            model.calibrate; None means `temperature`.
        frame_threshold: A photo in which nothing stands out is taken whole (the "frame" way)
            and answered only when its `ood_score` reaches this; below it, the app says that no
            garment stands out. None answers every such photo.
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
        temperature: float = 1.0,
        ood_threshold: float | None = None,
        max_roughness: float | None = None,
        photo_temperature: float | None = None,
        frame_threshold: float | None = None,
    ) -> None:
        super().__init__()
        widths = block_widths(hidden_units)
        if len(class_names) != num_classes:
            raise ValueError(f"got {len(class_names)} class_names for num_classes={num_classes}")
        if input_std <= 0:
            raise ValueError(f"input_std must be positive, got {input_std}")
        self.class_names = list(class_names)
        self.widths = widths
        self.input_mean = float(input_mean)
        self.input_std = float(input_std)
        # The module names are the notebook's, so its state dicts load unchanged.
        self.conv_block_1 = _conv_block(in_channels, widths[0], batch_norm)
        self.conv_block_2 = _conv_block(widths[0], widths[1], batch_norm)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Two 2x2 poolings turn 28x28 into 7x7.
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(widths[1] * 7 * 7, num_classes))
        if temperature <= 0 or (photo_temperature is not None and photo_temperature <= 0):
            raise ValueError(f"temperatures must be positive, got {temperature} and {photo_temperature}")
        self.temperature = float(temperature)
        self.photo_temperature = float(photo_temperature) if photo_temperature is not None else None
        self.ood_threshold = ood_threshold
        self.max_roughness = max_roughness
        self.frame_threshold = frame_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images in [0, 1], shape (N, in_channels, 28, 28)."""
        return self.head(self.conv_block_2(self.conv_block_1(self.normalize(x))))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_mean != 0.0 or self.input_std != 1.0:
            x = (x - self.input_mean) / self.input_std
        return x

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (divided by the temperature) from the last block's feature maps."""
        logits = self.classifier(self.dropout(features))
        return logits / self.temperature if self.temperature != 1.0 else logits

    def photo_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """`logits` from `forward`, recalibrated for phone photos: divided by `photo_temperature` instead."""
        if self.photo_temperature is None:
            return logits
        return logits * (self.temperature / self.photo_temperature)

    def ood_score(self, x: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """How much an image looks like the training images, one score per image; low means unlike.

        The energy score (log-sum-exp of the calibrated logits: low when no class claims the
        image), less a steep penalty for roughness beyond `max_roughness`, since noise can
        draw confident logits while no garment is that rough. Pass `logits` (this model's for
        `x`) when they are at hand, to skip a second forward pass.
        """
        score = torch.logsumexp(self(x) if logits is None else logits, dim=1)
        if self.max_roughness is not None:
            score = score - ROUGHNESS_PENALTY * (roughness(x) - self.max_roughness).clamp(min=0)
        return score

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
        )

    def recalibrated(self, **values: float | None) -> TinyVGG:
        """A copy with the same weights and new calibration values (the arguments in CALIBRATION)."""
        unknown = set(values) - set(CALIBRATION)
        if unknown:
            raise ValueError(f"recalibrated() takes {', '.join(CALIBRATION)}, not {unknown}")
        model = type(self)(**{**self.config, **values})
        model.load_state_dict(self.state_dict())
        return model.eval()

    def save_pretrained(
        self, save_directory: str | Path, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs
    ) -> str | None:
        """Write weights, config.json and the model card (`model.card.build_card`) into `save_directory`.

        `model_card_kwargs` holds what the card reports beyond the model itself: `metrics`,
        `training_args`, `files` (path in the repo -> file: metrics, figures, ONNX weights, TensorBoard
        logs), copied beside the card, which shows them, and
        `repo_id` (the Hub repo the card is for) or `folder` (where its snippets load from;
        default: `save_directory`).
        `model.card.read_run(folder)` collects them from a folder written by train.py, so that
        `model.push_to_hub(repo_id, model_card_kwargs=read_run(folder))` publishes what
        `python -m model.hub push folder repo_id` does.
        """
        save_directory = Path(save_directory)
        card_kwargs = {"folder": save_directory.as_posix(), **(model_card_kwargs or {})}
        save_directory.mkdir(parents=True, exist_ok=True)
        for name, path in (card_kwargs.get("files") or {}).items():
            target = save_directory / name
            if not target.exists() or not target.samefile(path):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return super().save_pretrained(save_directory, model_card_kwargs=card_kwargs, **kwargs)

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs) -> str:
        """The mixin's upload of what `save_pretrained` writes, with a card whose snippet loads `repo_id`."""
        return super().push_to_hub(
            repo_id, model_card_kwargs={**(model_card_kwargs or {}), "repo_id": repo_id}, **kwargs
        )

    def generate_model_card(self, **card_kwargs) -> ModelCard:
        """The full model card: `model.card.build_card` for this model and `card_kwargs` (see `save_pretrained`)."""
        # Imported here: the app and the Space load models but never write cards, so they ship without it.
        from model.card import build_card

        info = self._hub_mixin_info
        return build_card(
            self.config,
            num_parameters=self.num_parameters,
            architecture=self.architecture,
            card_data=info.model_card_data,
            paper_url=info.paper_url,
            **card_kwargs,
        )

    def _save_pretrained(self, save_directory: Path) -> None:
        # .contiguous(): weights trained in channels_last memory format are saved in the standard layout.
        state = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        with atomic_path(save_directory / artifacts.WEIGHTS) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        write_json(save_directory / artifacts.CONFIG, self._hub_mixin_config)
        # The mixin writes its card only where no README.md exists, so an old card would survive a
        # re-save: remove it, and the mixin renders ours (generate_model_card) with the new numbers.
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
                raise FileNotFoundError(
                    f"{weights} not found: a TinyVGG folder needs {artifacts.WEIGHTS} next to config.json "
                    "(train one with `python train.py`)"
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
        load_model(model, str(weights), strict=strict, device=map_location)
        return model.eval()


# The arguments of TinyVGG fitted after training (model.calibrate), not by it.
CALIBRATION = ("temperature", "max_roughness", "ood_threshold", "photo_temperature", "frame_threshold")


class ConfigError(ValueError):
    """A model's config.json lacks an argument that changes what the model computes."""


# Added after models were published; a config.json without them means what their default means (no photo
# calibration yet), so an older model still loads and `python -m model.calibrate FOLDER --photos` can add them.
OPTIONAL_KEYS = ("photo_temperature", "frame_threshold")


def config_keys() -> list[str]:
    """The keys a config.json must hold: every argument of `TinyVGG.__init__` but OPTIONAL_KEYS."""
    return [name for name in inspect.signature(TinyVGG.__init__).parameters if name not in ("self", *OPTIONAL_KEYS)]


def block_widths(hidden_units: int | Sequence[int]) -> list[int]:
    """The channels of the two conv blocks: `hidden_units` for both, or one value per block."""
    widths = [hidden_units, hidden_units] if isinstance(hidden_units, int) else list(hidden_units)
    if len(widths) != 2 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"hidden_units must be a positive int or two positive ints, got {hidden_units!r}")
    return widths


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between horizontally and vertically neighbouring pixels, per image."""
    across = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    down = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return across + down


def _conv_block(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        # A conv followed by BatchNorm needs no bias: BN's shift replaces it.
        layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(kernel_size=2))
    return nn.Sequential(*layers)
