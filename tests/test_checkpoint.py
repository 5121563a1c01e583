"""Checkpoints: a resume continues only the run that wrote them."""

from __future__ import annotations

import pytest
import torch

from model.tinyvgg import TinyVGG
from model.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.training.engine import weight_average

RECIPE = {"epochs": 2, "lr": 0.1, "seed": 0}


def parts(seed: int) -> dict:
    torch.manual_seed(seed)
    model = TinyVGG(hidden_units=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    averaged = weight_average(model, decay=0.99)
    averaged.update_parameters(model)
    return dict(model=model, optimizer=optimizer, scheduler=None, averaged=averaged)


def test_a_checkpoint_restores_the_weights_their_average_and_the_progress(tmp_path):
    saved = parts(seed=0)
    progress = {"epoch_state": {"epoch": 2, "step": 5}, "history": [{"epoch": 1}]}
    save_checkpoint(tmp_path / "c.pt", **saved, progress=progress, recipe=RECIPE, world_size=1)

    restored = parts(seed=1)
    loaded = load_checkpoint(tmp_path / "c.pt", **restored, recipe=RECIPE, world_size=1)

    assert loaded == progress
    for part in ("model", "averaged"):
        for name, tensor in saved[part].state_dict().items():
            assert torch.equal(restored[part].state_dict()[name], tensor), (part, name)


def test_resuming_with_another_number_of_processes_is_refused(tmp_path):
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe=RECIPE, world_size=2)

    with pytest.raises(CheckpointError, match="written by 2 processes, and this run has 1 process.*same count"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe=RECIPE, world_size=1)


def test_resuming_with_another_recipe_names_what_differs(tmp_path):
    save_checkpoint(tmp_path / "c.pt", **parts(seed=0), progress={}, recipe=RECIPE, world_size=1)

    with pytest.raises(CheckpointError, match=r"different recipe \(lr: now 0.05, checkpoint 0.1\)"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe={**RECIPE, "lr": 0.05}, world_size=1)


def test_a_checkpoint_from_before_an_option_resumes_only_with_the_value_it_was_trained_with(tmp_path):
    # As train.py wrote it before --ema-decay existed: no such recipe key and no average.
    save_checkpoint(tmp_path / "c.pt", **{**parts(seed=0), "averaged": None}, progress={}, recipe=RECIPE, world_size=1)
    checkpoint = torch.load(tmp_path / "c.pt", weights_only=True)
    del checkpoint["averaged"]
    torch.save(checkpoint, tmp_path / "c.pt")

    restored = {**parts(seed=1), "averaged": None}
    assert load_checkpoint(tmp_path / "c.pt", **restored, recipe={**RECIPE, "ema_decay": 0.0}, world_size=1) == {}
    with pytest.raises(CheckpointError, match=r"different recipe \(ema_decay: now 0.99, checkpoint 0.0\)"):
        load_checkpoint(tmp_path / "c.pt", **parts(seed=1), recipe={**RECIPE, "ema_decay": 0.99}, world_size=1)
