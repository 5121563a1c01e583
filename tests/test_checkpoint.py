"""Checkpoints: a resume continues only the run that wrote them."""

from __future__ import annotations

import pytest
import torch

from model.tinyvgg import TinyVGG
from model.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

RECIPE = {"epochs": 2, "lr": 0.1, "seed": 0}


def parts(seed: int) -> dict:
    torch.manual_seed(seed)
    model = TinyVGG(hidden_units=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return dict(model=model, optimizer=optimizer, scheduler=None)


def test_a_checkpoint_restores_the_weights_and_the_progress(tmp_path):
    saved = parts(seed=0)
    progress = {"epoch_state": {"epoch": 2, "step": 5}, "history": [{"epoch": 1}]}
    save_checkpoint(tmp_path / "c.pt", **saved, progress=progress, recipe=RECIPE, world_size=1)

    restored = parts(seed=1)
    loaded = load_checkpoint(tmp_path / "c.pt", **restored, recipe=RECIPE, world_size=1)

    assert loaded == progress
    for name, tensor in saved["model"].state_dict().items():
        assert torch.equal(restored["model"].state_dict()[name], tensor), name


def test_resuming_with_another_number_of_processes_is_refused(tmp_path):
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe=RECIPE, world_size=2)

    with pytest.raises(CheckpointError, match="written by 2 processes, and this run has 1 process.*same count"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe=RECIPE, world_size=1)


def test_resuming_with_another_recipe_names_what_differs(tmp_path):
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe=RECIPE, world_size=1)

    with pytest.raises(CheckpointError, match=r"different recipe \(lr: now 0.05, checkpoint 0.1\)"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe={**RECIPE, "lr": 0.05}, world_size=1)


def test_a_checkpoint_from_before_an_option_resumes_only_with_the_value_it_was_trained_with(tmp_path):
    # As train.py wrote it before --sandal-straps existed: no such recipe key (BEFORE_THE_OPTION: 0).
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe=RECIPE, world_size=1)

    assert (
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe={**RECIPE, "sandal_straps": 0.0}, world_size=1) == {}
    )
    with pytest.raises(CheckpointError, match=r"different recipe \(sandal_straps: now 1.0, checkpoint 0.0\)"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe={**RECIPE, "sandal_straps": 1.0}, world_size=1)


@pytest.mark.parametrize("removed, value", [("ema_decay", 0.0), ("mirror_average", False), ("label_smoothing", 0.0)])
def test_a_checkpoint_written_with_a_removed_option_off_resumes(tmp_path, removed, value):
    # As train.py wrote it while the option existed and was off: the run it continues is this version's.
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe={**RECIPE, removed: value}, world_size=1)

    assert load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe=RECIPE, world_size=1) == {}


def test_a_checkpoint_written_with_a_removed_option_on_is_refused_saying_why(tmp_path):
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe={**RECIPE, "ema_decay": 0.99}, world_size=1)

    with pytest.raises(CheckpointError, match=r"trained with --ema-decay 0.99, an option this version of train.py no"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe=RECIPE, world_size=1)
