"""TinyVGG: architecture, config and the save/load round trip through the Hub mixin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from model.calibration import photo_logits
from model.classes import CLASS_NAMES
from model.errors import ConfigError, ModelFolderError
from model.tinyvgg import CONFIG_KEYS, TinyVGG, current_config
from tests.conftest import ROOT


class NotebookTinyVGG(nn.Module):
    """The model exactly as the original notebook (and the course) writes it."""

    def __init__(self, input_shape: int, hidden_units: int, output_shape: int) -> None:
        super().__init__()
        self.conv_block_1 = nn.Sequential(
            nn.Conv2d(input_shape, hidden_units, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_units, hidden_units, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.conv_block_2 = nn.Sequential(
            nn.Conv2d(hidden_units, hidden_units, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_units, hidden_units, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(hidden_units * 7 * 7, output_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv_block_2(self.conv_block_1(x)))


def test_default_tinyvgg_has_the_notebooks_7740_parameters():
    assert TinyVGG().num_parameters == 7740


def test_default_tinyvgg_computes_exactly_what_the_notebook_model_computes():
    torch.manual_seed(0)
    notebook = NotebookTinyVGG(input_shape=1, hidden_units=10, output_shape=10).eval()
    ours = TinyVGG().eval()

    ours.load_state_dict(notebook.state_dict(), strict=True)
    x = torch.rand(5, 1, 28, 28)

    assert torch.equal(ours(x), notebook(x))


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(hidden_units=[32, 64], batch_norm=True, dropout=0.2, normalize=[0.286, 0.353])],
)
def test_forward_maps_a_batch_to_one_logit_per_class(kwargs):
    model = TinyVGG(**kwargs).eval()

    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_the_largest_shipped_architecture_stays_under_100k_parameters():
    assert TinyVGG(hidden_units=[32, 64], batch_norm=True).num_parameters <= 100_000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden_units=[8, 8, 8]), "hidden_units"),
        (dict(hidden_units=0), "hidden_units"),
        (dict(num_classes=3), "class_names"),
        (dict(normalize=[0.3, 0.0]), "normalize"),
        (dict(calibration={"temperature": 0.0}), "temperatures must be positive"),
        (dict(calibration={"temprature": 1.0}), "calibration takes temperature"),
    ],
)
def test_invalid_arguments_are_refused_with_the_argument_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TinyVGG(**kwargs)


def test_config_json_carries_the_class_names_and_every_init_argument(tmp_path):
    TinyVGG(hidden_units=[12, 24], batch_norm=True, dropout=0.1).save_pretrained(tmp_path)

    config = json.loads((tmp_path / "config.json").read_text())

    assert config["class_names"] == list(CLASS_NAMES)
    assert config["hidden_units"] == [12, 24]
    assert config["batch_norm"] is True and config["dropout"] == 0.1


def test_save_and_load_round_trip_gives_identical_logits(tmp_path):
    torch.manual_seed(1)
    model = TinyVGG(hidden_units=[8, 16], batch_norm=True, normalize=[0.3, 0.4], calibration={"temperature": 1.5})
    # Make the BatchNorm statistics non-trivial, then save in eval mode.
    model.train()(torch.rand(16, 1, 28, 28))
    model.eval().save_pretrained(tmp_path)

    loaded = TinyVGG.from_pretrained(tmp_path)
    x = torch.rand(4, 1, 28, 28)

    assert not loaded.training
    assert loaded.class_names == list(CLASS_NAMES)
    assert torch.equal(loaded(x), model(x))


def test_loading_refuses_weights_with_a_missing_tensor(tmp_path):
    model = TinyVGG()
    model.save_pretrained(tmp_path)
    state = {k: v for k, v in model.state_dict().items() if k != "classifier.1.bias"}
    save_file(state, tmp_path / "model.safetensors")

    # The mixin's own default is strict=False, which would leave that bias random.
    with pytest.raises(RuntimeError, match="classifier.1.bias"):
        TinyVGG.from_pretrained(tmp_path)


def test_loading_refuses_a_config_that_does_not_match_the_weights(tmp_path):
    TinyVGG().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["hidden_units"] = 12
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(RuntimeError, match="size mismatch"):
        TinyVGG.from_pretrained(tmp_path)


def test_a_folder_with_only_a_pickle_is_refused_without_unpickling_it(tmp_path):
    TinyVGG().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    # A pickle that would create a file if anyone unpickled it.
    marker = tmp_path / "unpickled"
    (tmp_path / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")

    with pytest.raises(ModelFolderError, match="has no model.safetensors"):
        TinyVGG.from_pretrained(tmp_path)
    assert not marker.exists()


def test_the_package_exports_the_model_and_its_prediction_path_without_hiding_its_submodules():
    import model
    import model.predict
    import model.preprocess
    from model.tinyvgg import TinyVGG as Direct

    assert model.TinyVGG is Direct and model.classify is model.predict.classify
    assert set(model.__all__) == {"TinyVGG", "classify", "Answer", "ImageError"}
    assert callable(model.preprocess.prepare_image), "model.preprocess stays the module"


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_a_config_without_an_argument_is_refused_naming_it(tmp_path, key):
    TinyVGG(hidden_units=4, calibration={"temperature": 1.2}).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config[key]
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(ConfigError, match=f"config.json lacks {key}: "):
        TinyVGG.from_pretrained(tmp_path)


# config.json as the shipped model had it until `normalize` and `calibration` took in its loose values.
OLDER_CONFIG = json.loads((ROOT / "tests" / "data" / "config-before-calibration-argument.json").read_text())


def older_folder(folder: Path, config: dict) -> tuple[Path, TinyVGG]:
    """A folder with `config` (the older format) and weights of its architecture; the same model as this version
    builds it."""
    current = current_config(config, str(folder))
    torch.manual_seed(0)
    model = TinyVGG(**current).eval()
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config))
    return folder, model


def test_a_config_from_before_normalize_and_calibration_loads_and_answers_as_it_did(tmp_path):
    folder, expected = older_folder(tmp_path, OLDER_CONFIG)

    model = TinyVGG.from_pretrained(folder)

    assert model.calibration.temperature == OLDER_CONFIG["temperature"]
    assert model.calibration.ood_threshold == OLDER_CONFIG["ood_threshold"]
    assert model.calibration.photo_temperature == OLDER_CONFIG["photo_temperature"]
    assert (model.mean, model.std) == (OLDER_CONFIG["input_mean"], OLDER_CONFIG["input_std"])
    x = torch.rand(4, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(model(x), expected(x))


@pytest.mark.parametrize("key", ["input_mean", "input_std", "temperature", "ood_threshold", "max_roughness"])
def test_an_older_config_without_a_value_that_changes_the_output_is_refused(tmp_path, key):
    folder, _ = older_folder(tmp_path, OLDER_CONFIG)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in OLDER_CONFIG.items() if k != key}))

    with pytest.raises(ConfigError, match=f"config.json lacks {key}: "):
        TinyVGG.from_pretrained(folder)


def test_an_older_config_from_before_the_photo_calibration_loads_without_it(tmp_path):
    before_photos = {k: v for k, v in OLDER_CONFIG.items() if k not in ("photo_temperature", "frame_threshold")}
    folder, _ = older_folder(tmp_path, before_photos)

    model = TinyVGG.from_pretrained(folder)

    assert model.calibration.photo_temperature is None and model.calibration.frame_threshold is None
    logits = torch.randn(2, 10)
    assert torch.equal(photo_logits(model.calibration, logits), logits), "photos get the Fashion-MNIST temperature"


def test_a_config_that_asks_for_the_mirror_average_is_refused_saying_it_is_gone(tmp_path):
    folder, _ = older_folder(tmp_path, OLDER_CONFIG)
    (folder / "config.json").write_text(json.dumps({**OLDER_CONFIG, "mirror_average": True}))

    with pytest.raises(ConfigError, match="mirror_average.*no longer has"):
        TinyVGG.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**OLDER_CONFIG, "mirror_average": False}))
    assert TinyVGG.from_pretrained(folder).calibration.temperature == OLDER_CONFIG["temperature"]
