"""TinyVGG: the small VGG-style CNN of the course notebook, with Hub save, push and pull built in."""

from __future__ import annotations

import inspect
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
from torch import nn

from model import artifacts
from model.calibration import Calibration
from model.classes import CLASS_NAMES
from model.errors import ConfigError, ModelFolderError
from model.files import atomic_path, write_json
from model.hub_errors import find_on_hub


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
    rebuilds the same model. `hidden_units` is one width for both blocks or one per block;
    `normalize` is the training pixels' [mean, std], which `forward` standardizes with (None: as
    they are); `calibration` holds the values fitted after training (model.calibration.Calibration).
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden_units: int | list[int] = 10,
        num_classes: int = 10,
        class_names: Sequence[str] = CLASS_NAMES,
        batch_norm: bool = False,
        dropout: float = 0.0,
        normalize: list[float] | None = None,
        calibration: dict[str, float | None] | None = None,
    ) -> None:
        super().__init__()
        self.widths = block_widths(hidden_units)  # refuses anything but one or two positive ints
        self.class_names = list(class_names)
        if len(self.class_names) != num_classes:
            raise ValueError(f"got {len(self.class_names)} class_names for num_classes={num_classes}")
        self.mean, self.std = normalize if normalize is not None else (0.0, 1.0)
        if self.std <= 0:
            raise ValueError(f"normalize is [mean, std] with a positive std, got {normalize}")
        self.calibration = Calibration.from_config(calibration)
        # The module names are the notebook's, so its state dicts load unchanged.
        self.conv_block_1 = conv_block(in_channels, self.widths[0], batch_norm)
        self.conv_block_2 = conv_block(self.widths[0], self.widths[1], batch_norm)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Two 2x2 poolings turn 28x28 into 7x7.
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(self.widths[1] * 7 * 7, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated logits for a batch of images in [0, 1], shape (N, in_channels, 28, 28)."""
        x = (x - self.mean) / self.std if (self.mean, self.std) != (0.0, 1.0) else x
        logits = self.classifier(self.dropout(self.conv_block_2(self.conv_block_1(x))))
        temperature = self.calibration.temperature
        return logits / temperature if temperature != 1.0 else logits

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model: what config.json holds."""
        return dict(self._hub_mixin_config)

    # The mixin's hooks: what `save_pretrained`, `push_to_hub` and `from_pretrained` do for this class.

    def save_pretrained(self, save_directory: str | Path, *, model_card_kwargs: dict | None = None, **kwargs) -> Any:
        """Write weights, config.json and the card; `model_card_kwargs` may hold `card`, the card to write, and
        `files`, path in the repo -> file (figures, metrics, ONNX), copied beside them. `push_to_hub` sends the same."""
        save_directory = Path(save_directory)
        for name, path in ((model_card_kwargs or {}).get("files") or {}).items():
            target = save_directory / name
            if not target.exists() or not target.samefile(path):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return super().save_pretrained(save_directory, model_card_kwargs=model_card_kwargs or {}, **kwargs)

    def generate_model_card(self, card: ModelCard | None = None, **_: Any) -> ModelCard:
        """The card the mixin writes: `card` when given, else a short one with this class's metadata."""
        info = self._hub_mixin_info
        return card or ModelCard.from_template(info.model_card_data, template_str=SHORT_CARD, model=self)

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
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> TinyVGG:
        """The mixin's loader, in eval mode, reading any version's config.json (`current_config`).

        Raises:
            ModelFolderError, HubError: At once, for a name that is no folder nor a repo the Hub (or cache) has.
            ConfigError: config.json lacks an argument, or asks for what this version cannot do.
        """
        name = str(pretrained_model_name_or_path)
        if not kwargs.get("local_files_only"):
            find_on_hub(name, kwargs.get("revision"), token=kwargs.get("token"), cache_dir=kwargs.get("cache_dir"))
        config = _read_config(name, kwargs)
        return super().from_pretrained(name, **(current_config(config, name) if config else {}), **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, **kwargs) -> TinyVGG:
        # The mixin defaults to non-strict loading and falls back to a pickled `pytorch_model.bin`;
        # we only ever read safetensors, with every key checked.
        hub, device = {name: kwargs.pop(name) for name in HUB_OPTIONS}, kwargs.pop("map_location", "cpu")
        kwargs.pop("strict", None)
        weights = Path(model_id) / artifacts.WEIGHTS
        if not os.path.isdir(model_id):
            weights = hf_hub_download(model_id, artifacts.WEIGHTS, revision=revision, **hub)
        elif not weights.is_file():
            raise ModelFolderError(
                f"{model_id} has no {artifacts.WEIGHTS}, so there is no model in it. "
                f"Train one with `python train.py --output-dir {model_id}`."
            )
        _require(kwargs, CONFIG_KEYS, model_id)
        model = cls(**kwargs)
        safetensors.torch.load_model(model, str(weights), strict=True, device=device)
        return model.eval()


# The card of a model saved on its own, without a training run to report (model.publishing.card renders that one).
SHORT_CARD = """---
{{ card_data }}
---

# TinyVGG

A TinyVGG with {{ "{:,}".format(model.num_parameters) }} parameters ({{ model.widths | join(" and ") }} channels)
for the classes {{ model.class_names | join(", ") }}, after the course notebook's network; Fashion-MNIST:
https://arxiv.org/abs/1708.07747.

This folder was saved without an evaluation, so it reports no accuracy. `python train.py` trains,
evaluates and writes a card with the measured results.
"""

# What the mixin hands `_from_pretrained` besides the model's arguments, for the download.
HUB_OPTIONS = ("cache_dir", "force_download", "local_files_only", "token")
# Every key a config.json must hold: the mixin would fill a missing one with the argument's default,
# and silently build a model that predicts differently.
CONFIG_KEYS = tuple(inspect.signature(TinyVGG.__init__).parameters)[1:]  # all but self
# What config.json held before `normalize` and `calibration` took these values in (and the calibration
# values that a config.json from then may lack).
LOOSE_KEYS = ("input_mean", "input_std", "temperature", "ood_threshold", "max_roughness")
LOOSE_OPTIONAL = ("photo_temperature", "frame_threshold")


def current_config(config: dict[str, Any], source: str) -> dict[str, Any]:
    """config.json's arguments as this version's `TinyVGG.__init__` takes them, from any version's file.

    Raises:
        ConfigError: An argument is missing, or the file asks for what this version no longer does.
    """
    config = dict(config)
    if config.pop("mirror_average", False):
        raise ConfigError(
            f"{source}: config.json asks to average each answer with its mirror image's (mirror_average), an option "
            "this version no longer has (it lost on phone photos: docs/real-photos.md). Retrain with `python "
            "train.py`, or load it with the version that wrote it."
        )
    if any(key in config for key in (*LOOSE_KEYS, *LOOSE_OPTIONAL)):
        _require(config, LOOSE_KEYS, source)
        mean, std = config.pop("input_mean"), config.pop("input_std")
        config["normalize"] = None if (mean, std) == (0.0, 1.0) else [mean, std]
        config["calibration"] = {key: config.pop(key) for key in (*LOOSE_KEYS[2:], *LOOSE_OPTIONAL) if key in config}
    _require(config, CONFIG_KEYS, source)
    return config


def _require(config: dict[str, Any], keys: Sequence[str], source: str) -> None:
    missing = [name for name in keys if name not in config]
    if missing:
        raise ConfigError(
            f"{source}: config.json lacks {', '.join(missing)}: it was edited, cut short or written by an "
            "older version. Restore it from the training run, or retrain with `python train.py`."
        )


def _read_config(name: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """config.json of a folder or repo as a dict, or None where there is none (then every key is missing)."""
    if os.path.isdir(name):
        path = Path(name) / artifacts.CONFIG
    else:
        hub = {key: kwargs[key] for key in ("revision", *HUB_OPTIONS) if key in kwargs}
        try:
            path = Path(hf_hub_download(name, artifacts.CONFIG, **hub))
        except EntryNotFoundError:
            return None
    return json.loads(path.read_text()) if path.is_file() else None


def block_widths(hidden_units: int | Sequence[int]) -> list[int]:
    """The channels of the two conv blocks: `hidden_units` for both, or one value per block."""
    widths = [hidden_units, hidden_units] if isinstance(hidden_units, int) else list(hidden_units)
    if len(widths) != 2 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"hidden_units must be a positive int or two positive ints, got {hidden_units!r}")
    return widths
