"""The training loop: train_one_epoch, evaluate, and fit, which runs the epochs with checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from model import artifacts
from model.preprocess import to_inputs
from model.tinyvgg import SCORING_BATCH, TinyVGG
from model.training.augment import augmented
from model.training.checkpoint import load_checkpoint, save_checkpoint
from model.training.config import TRAIN_MEAN, TRAIN_STD, TrainConfig
from model.training.device import precision_dtype
from model.training.distributed import Distributed
from model.training.signals import stop_on_signals

# The pace of training is timed over these steps of an epoch, once oneDNN has built its kernels.
PACE_STEPS = (10, 60)


@dataclass
class Evaluation:
    """Per-sample loss and accuracy over a whole split, plus every prediction."""

    loss: float
    accuracy: float
    predictions: torch.Tensor
    num_samples: int


@dataclass
class EpochState:
    """Where training stands inside one epoch; saved on interruption so resume is exact."""

    epoch: int
    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    generator_state: torch.Tensor | None = None


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    train_images: int = 0


def build_model(config: TrainConfig, class_names: Sequence[str]) -> TinyVGG:
    """The untrained TinyVGG that a resolved `config` describes, with one output per class name."""
    return TinyVGG(
        hidden_units=config.hidden_units,
        num_classes=len(class_names),
        class_names=list(class_names),
        batch_norm=config.batch_norm,
        dropout=config.dropout,
        input_mean=TRAIN_MEAN if config.normalize else 0.0,
        input_std=TRAIN_STD if config.normalize else 1.0,
        mirror_average=config.mirror_average,
    )


def augmentation(config: TrainConfig) -> dict[str, str | float]:
    """`train_one_epoch`'s augmentation and loss arguments, as a resolved `config` sets them: their one source."""
    return dict(
        augment=config.augment,
        photo_share=config.photo_share,
        **config.photo_like_shares(),
        erase_share=config.erase_share,
        label_smoothing=config.label_smoothing,
    )


def weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """The moving average of `model`'s weights and BatchNorm statistics that `--ema-decay` keeps; None for 0."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the state was saved to `checkpoint`."""

    def __init__(self, signum: int, checkpoint: Path, epoch: int) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.epoch = epoch
        super().__init__(f"{signal.Signals(signum).name} during epoch {epoch}; state saved to {checkpoint}")


def train_one_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int,
    state: EpochState,
    seed: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    averaged: AveragedModel | None = None,
    augment: str,
    photo_share: float,
    top_view_share: float,
    style_share: float,
    spin_share: float,
    sandal_straps: float,
    erase_share: float,
    label_smoothing: float,
    memory_format: torch.memory_format = torch.contiguous_format,
    autocast_dtype: torch.dtype | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_pace: Callable[[float, int], None] | None = None,
    progress: bool = False,
    group: Distributed = Distributed(),
) -> EpochState:
    """Train over one shuffled pass of the in-memory images, from `state.step` on.

    The shuffle and augmentation come from a generator seeded by (seed, epoch),
    whose state travels in `state`, so stopping after any batch and continuing
    later gives the same weights as never stopping. Under torchrun every process
    draws the same permutation and takes its own shard of it, with `batch_size`
    the global batch. Returns the updated state; `state.step` is short of the
    batch count only if `should_stop()` said so. With `autocast_dtype` the forward
    pass and the loss run under autocast in that dtype; the weights stay fp32.
    `averaged`, if given, takes in the weights after every step.
    `on_pace(seconds_per_step, step)` is called once, early in the call, so the
    caller can tell how long the run will take.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + state.epoch)
    order = torch.randperm(len(images), generator=generator).to(images.device)
    if group.enabled:
        # Pad to a multiple of the group size, as DistributedSampler does, so every
        # process runs the same number of steps.
        padded = math.ceil(len(order) / group.world_size) * group.world_size
        order = torch.cat([order, order[: padded - len(order)]])[group.rank :: group.world_size]
        batch_size //= group.world_size
    if state.generator_state is not None:
        generator.set_state(state.generator_state)
    num_batches = math.ceil(len(order) / batch_size)
    model.train()
    bar = tqdm(total=num_batches, initial=state.step, desc=f"epoch {state.epoch}", leave=False, disable=not progress)
    start = time.perf_counter()
    # Running sums stay on the device: reading them back every step would stall the loop.
    loss_sum = torch.tensor(state.loss_sum, dtype=torch.float64, device=images.device)
    correct = torch.tensor(state.correct, dtype=torch.int64, device=images.device)
    first_step = state.step
    shares = dict(
        photo_share=photo_share,
        top_view_share=top_view_share,
        style_share=style_share,
        spin_share=spin_share,
        sandal_straps=sandal_straps,
        erase_share=erase_share,
    )
    for step in range(state.step, num_batches):
        index = order[step * batch_size : (step + 1) * batch_size]
        x = to_inputs(images[index])
        y = labels[index]
        x = augmented(x, y, augment, generator, **shares)
        with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(x.contiguous(memory_format=memory_format))
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if averaged is not None:
            averaged.update_parameters(model)

        state.step = step + 1
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        state.seen += len(y)
        bar.update()
        if progress and state.step % 50 == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / state.seen:.4f}", refresh=False)
        if on_pace is not None and state.step - first_step == PACE_STEPS[0]:
            pace_start = time.perf_counter()
        elif on_pace is not None and state.step - first_step == PACE_STEPS[1]:
            on_pace((time.perf_counter() - pace_start) / (PACE_STEPS[1] - PACE_STEPS[0]), state.step)
        if should_stop() and state.step < num_batches:
            break
    bar.close()
    state.loss_sum, state.correct = loss_sum.item(), int(correct)
    state.seconds += time.perf_counter() - start
    state.generator_state = generator.get_state()
    return state


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = SCORING_BATCH,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Evaluation:
    """Per-sample cross-entropy and accuracy of `model` on uint8 images."""
    model.eval()
    loss_sum = 0.0
    predictions = []
    for start in range(0, len(images), batch_size):
        x = to_inputs(images[start : start + batch_size]).contiguous(memory_format=memory_format)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, labels[start : start + batch_size], reduction="sum"))
        predictions.append(logits.argmax(1))
    predicted = torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)
    n = len(labels)
    return Evaluation(
        loss=loss_sum / max(n, 1),
        accuracy=float((predicted == labels).sum()) / max(n, 1),
        predictions=predicted.cpu(),
        num_samples=n,
    )


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
        )
    return None


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    config: TrainConfig,
    output_dir: Path,
    *,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device = torch.device("cpu"),
    log: Callable[[str], None] = print,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    group: Distributed = Distributed(),
) -> FitResult:
    """Train for `config.epochs`, evaluating and checkpointing after every epoch.

    With `config.resume`, continues from `output_dir/checkpoint.pt` to the same
    result as an uninterrupted run. On SIGINT/SIGTERM saves the exact position
    and raises `TrainingInterrupted`. Under torchrun (`group.enabled`) the model
    is wrapped in DistributedDataParallel, each process trains on its shard,
    metrics are summed over all processes, and only rank 0 writes the checkpoint.
    `on_epoch(record)` gets each epoch's metrics as they are logged.
    """
    if config.batch_size % group.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} is the global batch; "
            f"it must divide evenly over {group.world_size} processes"
        )
    checkpoint_path = output_dir / artifacts.CHECKPOINT
    # channels_last is faster for convolutions on CPU (oneDNN) and on recent GPUs;
    # benchmarks/profile_step.py --memory-format contiguous measures the difference.
    memory_format = torch.channels_last
    model.to(device=device, memory_format=memory_format)
    train_images, train_labels = (t.to(device) for t in train)
    test_images, test_labels = (t.to(device) for t in test)
    if val is not None:
        val = tuple(t.to(device) for t in val)

    shard = math.ceil(len(train_images) / group.world_size)
    steps_per_epoch = math.ceil(shard / (config.batch_size // group.world_size))
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    precision = precision_dtype(config.precision_used or config.precision, device)
    torch.manual_seed(config.seed)
    averaged = weight_average(model, config.ema_decay)
    # The weights that are evaluated after every epoch and returned: the average, where one is kept.
    kept = averaged.module if averaged is not None else model
    # What a checkpoint saves and restores, and what it must match.
    parts = dict(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        averaged=averaged,
        recipe=config.recipe(),
        world_size=group.world_size,
    )

    result = FitResult()
    state = EpochState(epoch=1)
    if config.resume:
        progress = load_checkpoint(checkpoint_path, **parts)
        state = EpochState(**progress["epoch_state"])
        result = FitResult(progress["history"], progress["train_seconds"], progress["train_images"])
        model.to(memory_format=memory_format)
        kept.to(memory_format=memory_format)
        if not group.is_main:  # the saved running sums are the whole group's: count them once
            state.loss_sum, state.correct, state.seen = 0.0, 0, 0
        if state.epoch > config.epochs:
            log(f"{checkpoint_path} is already complete ({config.epochs} epochs); nothing to resume")
            return result
        log(f"resuming from {checkpoint_path}: epoch {state.epoch}, batch {state.step}/{steps_per_epoch}")
    trained = model
    if group.enabled:
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    def save(state: EpochState) -> None:
        if group.is_main:
            progress = dict(epoch_state=vars(state).copy(), **dataclasses.asdict(result))
            save_checkpoint(checkpoint_path, progress=progress, **parts)
        group.barrier()

    progress_bar = not config.no_progress and group.is_main
    # A bar is on screen while training: tqdm.write prints above it instead of through it.
    clock = _Clock(config, steps_per_epoch, tqdm.write if progress_bar else log)
    with stop_on_signals() as received:
        # Under torchrun every process must stop after the same step, or the others would wait forever.
        stop = (lambda: group.any(received() is not None)) if group.enabled else (lambda: received() is not None)
        while state.epoch <= config.epochs:
            state = train_one_epoch(
                trained,
                train_images,
                train_labels,
                optimizer,
                batch_size=config.batch_size,
                state=state,
                seed=config.seed,
                scheduler=scheduler,
                averaged=averaged,
                **augmentation(config),
                memory_format=memory_format,
                autocast_dtype=precision,
                should_stop=stop,
                on_pace=clock.pace_hook(state.epoch),
                progress=progress_bar,
                group=group,
            )
            loss_sum, correct, seen = group.sum([state.loss_sum, state.correct, state.seen])
            if state.step < steps_per_epoch:
                save(dataclasses.replace(state, loss_sum=loss_sum, correct=int(correct), seen=int(seen)))
                raise TrainingInterrupted(received() or signal.SIGTERM, checkpoint_path, state.epoch)

            result.train_seconds += state.seconds
            result.train_images += int(seen)
            record = {"epoch": state.epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen}
            # Evaluate (and save) the model rank 0 holds, on every process.
            group.share_buffers(kept)
            if val is not None and len(val[0]):
                loss, accuracy = _evaluate_group(kept, *val, group, memory_format)
                record |= {"val_loss": loss, "val_accuracy": accuracy}
            loss, accuracy = _evaluate_group(kept, test_images, test_labels, group, memory_format)
            record |= {
                "test_loss": loss,
                "test_accuracy": accuracy,
                # The learning rate as the epoch ends: the schedule's value after the epoch's last step.
                "lr": scheduler.get_last_lr()[0] if scheduler is not None else config.lr,
                "epoch_seconds": state.seconds,
                "elapsed_seconds": result.train_seconds,
            }
            result.history.append(record)
            log(_summary(record, config.epochs, clock.epoch_done(state.epoch)))
            if on_epoch is not None:
                on_epoch(record)

            state = EpochState(epoch=state.epoch + 1)
            save(state)
            if stop() and state.epoch <= config.epochs:
                raise TrainingInterrupted(received() or signal.SIGTERM, checkpoint_path, state.epoch)

    if averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    model.to(memory_format=torch.contiguous_format)
    return result


def _evaluate_group(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    group: Distributed,
    memory_format: torch.memory_format,
) -> tuple[float, float]:
    """Per-sample loss and accuracy over the whole split, each process scoring its slice."""
    scored = evaluate(
        model,
        images[group.rank :: group.world_size],
        labels[group.rank :: group.world_size],
        memory_format=memory_format,
    )
    n = scored.num_samples
    loss_sum, correct, total = group.sum([scored.loss * n, scored.accuracy * n, n])
    return loss_sum / max(total, 1), correct / max(total, 1)


class _Clock:
    """How long the run will take: once from the pace of its first steps, then after every epoch."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int, say: Callable[[str], None]) -> None:
        self.epochs, self.batch_size, self.steps_per_epoch, self.say = (
            config.epochs,
            config.batch_size,
            steps_per_epoch,
            say,
        )
        self.announced = False
        self.start, self.epochs_done, self.first_epoch_end = time.perf_counter(), 0, 0.0

    def pace_hook(self, epoch: int) -> Callable[[float, int], None] | None:
        """For `train_one_epoch(on_pace=...)`: says the whole run's time once, early in the first epoch."""
        if self.announced:
            return None

        def announce(seconds_per_step: float, step: int) -> None:
            self.announced = True
            steps_left = self.steps_per_epoch - step + (self.epochs - epoch) * self.steps_per_epoch
            epochs = self.epochs - epoch + 1
            self.say(
                f"about {_duration(seconds_per_step * steps_left)} for {epochs} epoch{'s' * (epochs > 1)} "
                f"at {self.batch_size / seconds_per_step:,.0f} images/s"
            )

        return announce

    def epoch_done(self, epoch: int) -> float:
        """Seconds left after `epoch`, from the wall time per epoch, evaluation included.

        The first epoch of a process also builds oneDNN's kernels (seconds, in bf16), so later
        estimates average over the epochs after it.
        """
        now = time.perf_counter()
        self.epochs_done += 1
        if self.epochs_done == 1:
            per_epoch, self.first_epoch_end = now - self.start, now
        else:
            per_epoch = (now - self.first_epoch_end) / (self.epochs_done - 1)
        return per_epoch * (self.epochs - epoch)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _summary(record: dict[str, float], epochs: int, seconds_left: float) -> str:
    parts = [
        f"epoch {record['epoch']}/{epochs}",
        f"train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.2%}",
    ]
    if "val_loss" in record:
        parts.append(f"val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.2%}")
    parts += [
        f"test loss {record['test_loss']:.4f} acc {record['test_accuracy']:.2%}",
        f"{record['epoch_seconds']:.1f}s",
    ]
    if record["epoch"] < epochs:
        parts.append(f"~{_duration(seconds_left)} left")
    return " | ".join(parts)
