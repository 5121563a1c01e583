"""Training checkpoints: everything an interrupted run needs to continue to the same weights.

A checkpoint holds the weights, optimizer and scheduler state, the random number generators,
the position inside the epoch and the history so far, with the recipe and the number of
processes that wrote it: resuming under another recipe or another process count would not
give the weights of an uninterrupted run, so it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.files import atomic_path
from model.training.config import BEFORE_THE_OPTION


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or belongs to a different run."""


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    progress: dict[str, Any],
    recipe: dict[str, Any],
    world_size: int,
) -> None:
    """Write the checkpoint atomically: a kill at any moment leaves the previous one whole.

    Args:
        progress: Where the run stands (the epoch state, history and totals), as plain values.
        recipe: The fields that define the run's result (`TrainConfig.recipe()`).
        world_size: How many processes train together.
    """
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "progress": progress,
        "recipe": recipe,
        "world_size": world_size,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    recipe: dict[str, Any],
    world_size: int,
) -> dict[str, Any]:
    """Restore the model, optimizer, scheduler and generators from `path`; return the saved progress.

    Raises:
        CheckpointError: The file is missing or unreadable, or was written by another recipe
            or another number of processes; the message says what to do.
    """
    if not path.is_file():
        raise CheckpointError(f"--resume was given but {path} does not exist; run once without --resume first")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated file raises assorted errors
        raise CheckpointError(f"{path} cannot be read ({err}); delete it and start again without --resume") from err
    if "progress" not in checkpoint:
        raise CheckpointError(f"{path} was written by an older version of train.py; start again without --resume")
    _check_same_run(path, checkpoint, recipe, world_size)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng_state"])
    if checkpoint["cuda_rng_state"]:
        torch.cuda.set_rng_state_all(checkpoint["cuda_rng_state"])
    return checkpoint["progress"]


def _check_same_run(path: Path, checkpoint: dict[str, Any], recipe: dict[str, Any], world_size: int) -> None:
    """Refuse a checkpoint that this run would not continue to the weights of an uninterrupted one."""
    # A checkpoint from before an option existed was trained with what that option now calls BEFORE_THE_OPTION.
    saved = BEFORE_THE_OPTION | checkpoint["recipe"]
    # One from before an option was removed resumes only where that option was off: this version cannot do it.
    removed = {k: v for k, v in checkpoint["recipe"].items() if k not in recipe and v not in (0, 0.0, False, None)}
    if removed:
        described = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in removed.items())
        raise CheckpointError(
            f"{path} was trained with {described}, an option this version of train.py no longer has "
            "(docs/real-photos.md says why it went): it cannot continue that run. Start again without --resume "
            "(--overwrite), or continue with the version that wrote it."
        )
    different = {key: (value, saved.get(key)) for key, value in recipe.items() if saved.get(key) != value}
    if different:
        described = ", ".join(f"{k}: now {now!r}, checkpoint {then!r}" for k, (now, then) in different.items())
        raise CheckpointError(
            f"{path} was written by a different recipe ({described}); "
            "rerun with the original flags, or use another --output-dir"
        )
    saved_size = checkpoint["world_size"]
    if saved_size != world_size:
        # Each process draws its own shard of every batch: another count gives other batches.
        raise CheckpointError(
            f"{path} was written by {_processes(saved_size)}, and this run has {_processes(world_size)}: "
            f"the same weights are only promised with the same count. Resume with {_processes(saved_size)}, "
            "or use another --output-dir"
        )


def _processes(count: int) -> str:
    return "1 process" if count == 1 else f"{count} processes"
