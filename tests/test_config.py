"""TrainConfig: each preset resolves to the recipe it always had, presets are changes, choices are validated."""

from __future__ import annotations

import json

import pytest

from model.training.config import PRESET_CHANGES, PRESETS, RECIPE_FIELDS, TrainConfig

# Every preset's recipe as it stood when each preset still spelled out all 17 fields (the presets became
# changes to the fields' defaults, and the runs they make must not change with them), with the options
# added since (spin_share, sandal_straps) at the values
# that make exactly those runs.
RECIPES = {
    "notebook": dict(
        epochs=3,
        batch_size=32,
        lr=0.1,
        optimizer="sgd",
        momentum=0.0,
        weight_decay=0.0,
        schedule="constant",
        hidden_units=[10, 10],
        batch_norm=False,
        dropout=0.0,
        normalize=False,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        spin_share=0.5,
        sandal_straps=0.0,
        precision="fp32",
        val_size=0,
    ),
    "fast": dict(
        epochs=1,
        batch_size=64,
        lr=0.01,
        optimizer="adamw",
        momentum=0.9,
        weight_decay=0.0,
        schedule="onecycle",
        hidden_units=[10, 10],
        batch_norm=False,
        dropout=0.0,
        normalize=True,
        augment="none",
        photo_share=0.0,
        top_view_share=0.0,
        style_share=0.0,
        spin_share=0.5,
        sandal_straps=0.0,
        precision="auto",
        val_size=0,
    ),
    "default": dict(
        epochs=30,
        batch_size=128,
        lr=0.1,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        hidden_units=[32, 64],
        batch_norm=True,
        dropout=0.0,
        normalize=True,
        augment="photo",
        photo_share=0.3,
        top_view_share=0.4,
        style_share=0.5,
        spin_share=0.5,
        sandal_straps=1.0,
        precision="auto",
        val_size=5000,
    ),
}


@pytest.mark.parametrize("preset", RECIPES)
def test_each_preset_resolves_to_the_recipe_it_always_had(preset):
    recipe = TrainConfig(preset=preset).resolve().recipe()

    assert recipe == {**RECIPES[preset], "seed": 42, "limit_train": None, "limit_test": None}


def test_presets_hold_every_recipe_value_of_each_preset():
    assert PRESETS == RECIPES
    assert RECIPE_FIELDS == (*RECIPES["default"], "seed", "limit_train", "limit_test")


def test_the_default_preset_is_the_fields_defaults():
    assert PRESET_CHANGES["default"] == {}
    assert TrainConfig.preset_values("default") == RECIPES["default"]


@pytest.mark.parametrize("preset", PRESET_CHANGES)
def test_a_preset_lists_only_recipe_fields_it_changes(preset):
    restated = {name for name, value in PRESET_CHANGES[preset].items() if value == RECIPES["default"].get(name)}

    assert set(PRESET_CHANGES[preset]) <= set(RECIPES["default"])
    assert not restated, f"{preset} restates the default of {sorted(restated)}"


def test_training_args_keep_their_keys_and_values():
    recipe = {name: value for name, value in RECIPES["fast"].items() if name != "val_size"}
    expected = {
        "preset": "fast",
        **recipe,
        "precision_used": None,
        "val_size": 0,
        "seed": 42,
        "data_dir": None,
        "output_dir": "runs/fast",
        "limit_train": None,
        "limit_test": None,
        "device": "auto",
        "resume": False,
        "overwrite": False,
        "no_progress": False,
        "push_to_hub": None,
    }

    args = json.loads(TrainConfig(preset="fast").resolve().to_json())

    assert list(args) == list(expected) and args == expected


def test_a_value_outside_a_fields_choices_is_refused_with_them_listed():
    with pytest.raises(ValueError, match="--optimizer must be one of sgd, adamw, got 'nadam'"):
        TrainConfig(optimizer="nadam").resolve()
    with pytest.raises(ValueError, match="--schedule must be one of constant, onecycle, got 'cosine'"):
        TrainConfig(schedule="cosine").resolve()


def test_an_unknown_preset_is_refused_with_the_presets_listed():
    with pytest.raises(ValueError, match="unknown preset 'tiny'; choose one of notebook, fast, default"):
        TrainConfig(preset="tiny").resolve()


def test_changing_a_resolved_config_leaves_the_presets_alone():
    config = TrainConfig(preset="notebook").resolve()
    config.hidden_units.append(99)

    assert PRESETS["notebook"]["hidden_units"] == [10, 10]
    assert TrainConfig(preset="notebook").resolve().hidden_units == [10, 10]
