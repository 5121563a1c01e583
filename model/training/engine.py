"""The training loop: `train_one_epoch` and `evaluate`, and `fit`: the epochs, with checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from model import artifacts
from model.preprocess import to_inputs
from model.tinyvgg import TinyVGG
from model.training.augment import augmented
from model.training.checkpoint import load_checkpoint, save_checkpoint
from model.training.config import TRAIN_MEAN, TRAIN_STD, TrainConfig
from model.training.data import Splits
from model.training.device import precision_dtype
from model.training.distributed import Distributed
from model.training.signals import stop_on_signals

# Images per forward pass when scoring many (evaluation, calibration): larger batches are slower on a
# CPU (python benchmarks/eval_speed.py).
SCORING_BATCH = 128
# The pace of training is timed over these steps of an epoch, once oneDNN has built its kernels.
PACE_STEPS = (10, 60)

# (inputs, labels, generator) -> the inputs augmented: `augmentation(config)`.
Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


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
        normalize=[TRAIN_MEAN, TRAIN_STD] if config.normalize else None,
    )


def augmentation(config: TrainConfig) -> Augment:
    """`--augment` with the run's shares (model.training.augment.augmented), as one callable."""
    shares = dict(photo_share=config.photo_share, **config.photo_like_shares())
    return lambda x, labels, generator: augmented(x, labels, config.augment, generator, **shares)


@dataclass
class Batches:
    """An epoch's batches of in-memory uint8 images: shuffled, augmented, and under torchrun each process's shard.

    The shuffle and the augmentation draw from a generator seeded by (seed, epoch), whose state travels
    in the EpochState, so stopping after any batch and continuing later gives the same batches. Every
    process draws the same permutation and takes its own shard of it, `batch_size` being the global batch.
    """

    images: torch.Tensor
    labels: torch.Tensor
    batch_size: int
    seed: int
    augment: Augment
    group: Distributed = Distributed()
    memory_format: torch.memory_format = torch.contiguous_format

    def __len__(self) -> int:
        """Steps per epoch."""
        shard = math.ceil(len(self.images) / self.group.world_size)
        return math.ceil(shard / (self.batch_size // self.group.world_size))

    def epoch(self, state: EpochState) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs, labels) from batch `state.step` of `state.epoch` on; keeps the generator's state in `state`."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + state.epoch)
        order = torch.randperm(len(self.images), generator=generator).to(self.images.device)
        size = self.group.world_size
        if self.group.enabled:
            # Pad to a multiple of the group size, as DistributedSampler does, so every process runs the same steps.
            padded = math.ceil(len(order) / size) * size
            order = torch.cat([order, order[: padded - len(order)]])[self.group.rank :: size]
        if state.generator_state is not None:
            generator.set_state(state.generator_state)
        per_process = self.batch_size // size
        for step in range(state.step, len(self)):
            index = order[step * per_process : (step + 1) * per_process]
            x = self.augment(to_inputs(self.images[index]), self.labels[index], generator)
            state.generator_state = generator.get_state()
            yield x.contiguous(memory_format=self.memory_format), self.labels[index]


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    state: EpochState,
    precision: torch.dtype | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_step: Callable[[EpochState, torch.Tensor], None] | None = None,
) -> EpochState:
    """The notebook's loop over one epoch, from `state.step` on: forward, loss, backward, step.

    `precision` is the autocast dtype (None: fp32; the weights stay fp32). `on_step(state, loss_sum)`
    follows every step. Returns the updated state, with per-sample sums; `state.step` falls short of
    `len(batches)` only where `should_stop()` said so.
    """
    model.train()
    start = time.perf_counter()
    # Running sums stay on the device: reading them back every step would stall the loop.
    loss_sum = torch.tensor(state.loss_sum, dtype=torch.float64, device=batches.images.device)
    correct = torch.tensor(state.correct, dtype=torch.int64, device=batches.images.device)
    for x, y in batches.epoch(state):
        with torch.autocast(x.device.type, dtype=precision, enabled=precision is not None):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        state.step += 1
        state.seen += len(y)
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        if on_step is not None:
            on_step(state, loss_sum)
        if should_stop() and state.step < len(batches):
            break
    state.loss_sum, state.correct = loss_sum.item(), int(correct)
    state.seconds += time.perf_counter() - start
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


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the state was saved to `checkpoint`."""

    def __init__(self, signum: int, checkpoint: Path, epoch: int) -> None:
        self.signum, self.checkpoint, self.epoch = signum, checkpoint, epoch
        super().__init__(f"{signal.Signals(signum).name} during epoch {epoch}; state saved to {checkpoint}")


def fit(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    *,
    device: torch.device = torch.device("cpu"),
    log: Callable[[str], None] = print,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    group: Distributed = Distributed(),
) -> FitResult:
    """Train for `config.epochs`, evaluating and checkpointing after every epoch, into `config.output_dir`.

    With `config.resume`, continues from its checkpoint to the same result as an uninterrupted run. On
    SIGINT/SIGTERM saves the exact position and raises `TrainingInterrupted`. Under torchrun
    (`group.enabled`) each process trains on its shard through DistributedDataParallel, metrics are
    summed over the group, and only rank 0 writes. `on_epoch(record)` gets each epoch's metrics.
    """
    run = Run(model, splits, config, device, group)
    state, result = run.resume(log) if config.resume else (EpochState(epoch=1), FitResult())
    trained = run.wrapped()
    progress = Progress(config, len(run.batches), log, group)
    with stop_on_signals() as received:
        # Under torchrun every process must stop after the same step, or the others would wait forever.
        stop = (lambda: group.any(received() is not None)) if group.enabled else (lambda: received() is not None)
        while state.epoch <= config.epochs:
            on_step = progress.start(state)
            state = train_one_epoch(
                trained, run.batches, run.optimizer, run.scheduler, state, run.precision, stop, on_step
            )
            progress.close()
            if state.step < len(run.batches):
                run.save(run.summed(state), result)
                raise TrainingInterrupted(received() or signal.SIGTERM, run.checkpoint, state.epoch)
            record = run.record(run.summed(state), result)
            log(progress.summary(record))
            if on_epoch is not None:
                on_epoch(record)
            state = EpochState(epoch=state.epoch + 1)
            run.save(state, result)
            if stop() and state.epoch <= config.epochs:
                raise TrainingInterrupted(received() or signal.SIGTERM, run.checkpoint, state.epoch)
    model.to(memory_format=torch.contiguous_format)
    return result


class Run:
    """What `fit` trains with: the model and data on the device, batches, optimizer, schedule and checkpoint."""

    def __init__(
        self, model: nn.Module, splits: Splits, config: TrainConfig, device: torch.device, group: Distributed
    ) -> None:
        if config.batch_size % group.world_size:
            raise ValueError(
                f"--batch-size {config.batch_size} is the global batch; "
                f"it must divide evenly over {group.world_size} processes"
            )
        self.model, self.config, self.group, self.device = model, config, group, device
        self.checkpoint = Path(config.output_dir) / artifacts.CHECKPOINT
        # channels_last is faster for convolutions on CPU (oneDNN) and on recent GPUs
        # (benchmarks/profile_step.py --memory-format contiguous measures the difference).
        self.memory_format = torch.channels_last
        model.to(device=device, memory_format=self.memory_format)
        images, labels = (t.to(device) for t in splits.train)
        self.val = tuple(t.to(device) for t in splits.val) if splits.val is not None else None
        self.test = tuple(t.to(device) for t in splits.test)
        self.batches = Batches(
            images, labels, config.batch_size, config.seed, augmentation(config), group, self.memory_format
        )
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config, len(self.batches))
        self.precision = precision_dtype(config.precision_used or config.precision, device)
        torch.manual_seed(config.seed)
        # What a checkpoint saves and restores, and what it must match.
        self.parts = dict(
            model=model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            recipe=config.recipe(),
            world_size=group.world_size,
        )

    def resume(self, log: Callable[[str], None]) -> tuple[EpochState, FitResult]:
        """The position and history that the checkpoint holds, with the weights and generators restored."""
        progress = load_checkpoint(self.checkpoint, **self.parts)
        state = EpochState(**progress["epoch_state"])
        self.model.to(memory_format=self.memory_format)
        if not self.group.is_main:  # the saved running sums are the whole group's: count them once
            state.loss_sum, state.correct, state.seen = 0.0, 0, 0
        if state.epoch > self.config.epochs:
            log(f"{self.checkpoint} is already complete ({self.config.epochs} epochs); nothing to resume")
        else:
            log(f"resuming from {self.checkpoint}: epoch {state.epoch}, batch {state.step}/{len(self.batches)}")
        return state, FitResult(progress["history"], progress["train_seconds"], progress["train_images"])

    def wrapped(self) -> nn.Module:
        """The model as it trains: in DistributedDataParallel under torchrun."""
        if not self.group.enabled:
            return self.model
        return nn.parallel.DistributedDataParallel(
            self.model, device_ids=[self.device] if self.device.type == "cuda" else None
        )

    def summed(self, state: EpochState) -> EpochState:
        """`state` with the running sums of the whole group."""
        loss_sum, correct, seen = self.group.sum([state.loss_sum, state.correct, state.seen])
        return dataclasses.replace(state, loss_sum=loss_sum, correct=int(correct), seen=int(seen))

    def save(self, state: EpochState, result: FitResult) -> None:
        if self.group.is_main:
            progress = dict(epoch_state=vars(state).copy(), **dataclasses.asdict(result))
            save_checkpoint(self.checkpoint, progress=progress, **self.parts)
        self.group.barrier()

    def record(self, state: EpochState, result: FitResult) -> dict[str, float]:
        """The epoch's metrics, the model evaluated on the validation and test sets; added to `result`."""
        result.train_seconds += state.seconds
        result.train_images += state.seen
        record = {
            "epoch": state.epoch,
            "train_loss": state.loss_sum / state.seen,
            "train_accuracy": state.correct / state.seen,
        }
        # Evaluate (and save) the model rank 0 holds, on every process.
        self.group.share_buffers(self.model)
        if self.val is not None and len(self.val[0]):
            loss, accuracy = self._evaluate(*self.val)
            record |= {"val_loss": loss, "val_accuracy": accuracy}
        loss, accuracy = self._evaluate(*self.test)
        record |= {
            "test_loss": loss,
            "test_accuracy": accuracy,
            # The learning rate as the epoch ends: the schedule's value after the epoch's last step.
            "lr": self.scheduler.get_last_lr()[0] if self.scheduler is not None else self.config.lr,
            "epoch_seconds": state.seconds,
            "elapsed_seconds": result.train_seconds,
        }
        result.history.append(record)
        return record

    def _evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """Per-sample loss and accuracy over the whole split, each process scoring its slice."""
        rank, size = self.group.rank, self.group.world_size
        scored = evaluate(self.model, images[rank::size], labels[rank::size], memory_format=self.memory_format)
        n = scored.num_samples
        loss_sum, correct, total = self.group.sum([scored.loss * n, scored.accuracy * n, n])
        return loss_sum / max(total, 1), correct / max(total, 1)


class Progress:
    """What a person watching sees: a bar per epoch, the whole run's time once early, a line per epoch."""

    def __init__(self, config: TrainConfig, steps: int, log: Callable[[str], None], group: Distributed) -> None:
        self.epochs, self.batch_size, self.steps = config.epochs, config.batch_size, steps
        self.show_bar = not config.no_progress and group.is_main
        # A bar is on screen while training: tqdm.write prints above it instead of through it.
        self.say = tqdm.write if self.show_bar else log
        self.announced, self.bar = False, None
        self.start_time, self.epochs_done, self.first_epoch_end = time.perf_counter(), 0, 0.0

    def start(self, state: EpochState) -> Callable[[EpochState, torch.Tensor], None]:
        """The `on_step` of the epoch that starts at `state`."""
        bar = dict(total=self.steps, initial=state.step, desc=f"epoch {state.epoch}", leave=False)
        self.bar = tqdm(**bar, disable=not self.show_bar)
        first_step, epoch, paced = state.step, state.epoch, {}

        def on_step(state: EpochState, loss_sum: torch.Tensor) -> None:
            self.bar.update()
            if self.show_bar and state.step % 50 == 0:
                self.bar.set_postfix(loss=f"{loss_sum.item() / state.seen:.4f}", refresh=False)
            if not self.announced and state.step - first_step == PACE_STEPS[0]:
                paced["start"] = time.perf_counter()
            elif not self.announced and state.step - first_step == PACE_STEPS[1]:
                self.announce(
                    (time.perf_counter() - paced["start"]) / (PACE_STEPS[1] - PACE_STEPS[0]), epoch, state.step
                )

        return on_step

    def close(self) -> None:
        self.bar.close()

    def announce(self, seconds_per_step: float, epoch: int, step: int) -> None:
        """The whole run's time, once, from the pace of its first steps."""
        self.announced = True
        steps_left = self.steps - step + (self.epochs - epoch) * self.steps
        epochs = self.epochs - epoch + 1
        self.say(
            f"about {_duration(seconds_per_step * steps_left)} for {epochs} epoch{'s' * (epochs > 1)} "
            f"at {self.batch_size / seconds_per_step:,.0f} images/s"
        )

    def summary(self, record: dict[str, float]) -> str:
        """The epoch's line, with the time left: from the wall time per epoch, evaluation included.

        The first epoch of a process also builds oneDNN's kernels (seconds, in bf16), so later
        estimates average over the epochs after it.
        """
        now = time.perf_counter()
        self.epochs_done += 1
        if self.epochs_done == 1:
            per_epoch, self.first_epoch_end = now - self.start_time, now
        else:
            per_epoch = (now - self.first_epoch_end) / (self.epochs_done - 1)
        return _summary(record, self.epochs, per_epoch * (self.epochs - record["epoch"]))


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
