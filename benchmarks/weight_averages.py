"""Weight averages of one training run, for the table of steps: several for the cost of one run.

    python benchmarks/weight_averages.py OUT [--decays 0.998 0.999] [--last-epochs 5 10] [-- TRAIN_FLAGS]
    python benchmarks/candidates.py OUT OUT-ema0.998 OUT-ema0.999 OUT-last5 OUT-last10

Trains once, as `python train.py TRAIN_FLAGS --output-dir OUT` does, and meanwhile takes the weights
and BatchNorm statistics in after every optimizer step: into an exponential moving average for each
decay (PyTorch's `AveragedModel`, as `train.py --ema-decay` keeps it) and into a uniform average of
the steps of the last K epochs for each K (stochastic weight averaging, without its extra BatchNorm
pass). Taking weights in does not change the run, so OUT holds exactly what train.py writes, and
OUT-emaD the weights that `python train.py TRAIN_FLAGS --ema-decay D` saves. Each average becomes a
model folder beside OUT: a copy of it with the average's weights, calibrated again on the held-out
images (`python -m model.publishing.recalibrate`) and measured again on the test set; its training
history stays the run's. One process only (no torchrun).
"""

from __future__ import annotations

import argparse
import math
import shlex
import shutil
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.optim.swa_utils import AveragedModel

if __package__ in (None, ""):  # run as a script: train.py lies in the checkout, one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import train
from model import artifacts
from model.loading import load_folder
from model.metrics import read_metrics, write_metrics
from model.publishing.recalibrate import calibrate_folder
from model.tinyvgg import TinyVGG
from model.training.config import TrainConfig
from model.training.data import DataError, Split, load_fashion_mnist, split
from model.training.engine import evaluate, weight_average
from model.training.report import per_class_scores


class Averages:
    """The averages of one run, fed by PyTorch's global hooks: no change to train.py or the engine."""

    def __init__(self, decays: list[float], last_epochs: list[int], epochs: int, steps_per_epoch: int) -> None:
        self.decays, self.last_epochs, self.epochs, self.steps_per_epoch = decays, last_epochs, epochs, steps_per_epoch
        self.model: nn.Module | None = None
        self.averages: dict[str, tuple[AveragedModel, int]] = {}  # name -> (average, first step it takes in)
        self.steps = 0

    def capture(self, module: nn.Module, _inputs: tuple) -> None:
        """The first TinyVGG that runs forward in training mode is the model being trained."""
        if self.model is None and isinstance(module, TinyVGG) and module.training:
            self.model = module
            for decay in self.decays:
                self.averages[f"ema{decay}"] = (weight_average(module, decay), 0)
            for k in self.last_epochs:
                first = (self.epochs - k) * self.steps_per_epoch
                self.averages[f"last{k}"] = (AveragedModel(module, use_buffers=True), first)

    def take_in(self, optimizer: torch.optim.Optimizer, _args: tuple, _kwargs: dict) -> None:
        """After a step of the optimizer that trains the model; not of those that calibrate it afterwards."""
        if self.model is None or optimizer.param_groups[0]["params"][0] is not next(self.model.parameters()):
            return
        for average, first in self.averages.values():
            if self.steps >= first:
                average.update_parameters(self.model)
        self.steps += 1


def write_average(
    run: Path, name: str, average: AveragedModel, test: Split, data_dir: str | None, command: str
) -> Path:
    """A copy of the run folder with `average`'s weights, calibrated (on `data_dir`'s images) and measured again."""
    folder = run.with_name(f"{run.name}-{name}")
    shutil.rmtree(folder, ignore_errors=True)
    leave_out = shutil.ignore_patterns(artifacts.CHECKPOINT, "tensorboard", *artifacts.STALE_AFTER_TRAINING)
    shutil.copytree(run, folder, ignore=leave_out)
    model = load_folder(folder)
    model.load_state_dict(average.module.state_dict())
    model.save_pretrained(folder)
    calibrate_folder(folder, data_dir)  # the temperature and the warning's threshold, for these weights
    model = load_folder(folder)
    scored = evaluate(model, *test)
    metrics = read_metrics(folder) | {
        "test_accuracy": scored.accuracy,
        "test_loss": scored.loss,
        "per_class": per_class_scores(test[1], scored.predictions, model.class_names),
        "command": command,
    }
    write_metrics(folder, metrics)
    return folder


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `--` is train.py's (argparse's REMAINDER would also swallow this script's options).
    ours, flags = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="%(prog)s OUTPUT_DIR [--decays D...] [--last-epochs K...] [-- TRAIN_FLAGS]",
    )
    parser.add_argument("output_dir", type=Path, help="where the run goes; the averages go beside it")
    parser.add_argument("--decays", type=float, nargs="*", default=[0.998, 0.999], help="EMA decays per step")
    parser.add_argument(
        "--last-epochs", type=int, nargs="*", default=[5, 10], help="uniform averages over the last K epochs"
    )
    args = parser.parse_args(ours)
    flags = [*flags, "--output-dir", str(args.output_dir)]
    config = TrainConfig(**vars(train.build_parser().parse_args(flags))).resolve()
    if any(not 0 < d < 1 for d in args.decays) or any(not 0 < k <= config.epochs for k in args.last_epochs):
        parser.error(f"decays must be in (0, 1) and last epochs in 1..{config.epochs}")

    # The run's own split, as train.py makes it: its training images set the steps per epoch.
    try:
        data = load_fashion_mnist(config.data_dir)
        train_split, _, test = split(data, config.limit_train, config.limit_test, config.val_size, config.seed)
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    steps_per_epoch = math.ceil(len(train_split[0]) / config.batch_size)
    averages = Averages(args.decays, args.last_epochs, config.epochs, steps_per_epoch)
    hooks = [register_module_forward_pre_hook(averages.capture), register_optimizer_step_post_hook(averages.take_in)]
    try:
        status = train.main(flags)
    finally:
        for hook in hooks:
            hook.remove()
    if status != 0:
        return status
    this = shlex.join(["python", "benchmarks/weight_averages.py", *argv])
    for name, (average, _) in averages.averages.items():
        folder = write_average(args.output_dir, name, average, test, config.data_dir, this)
        print(f"{folder}: test accuracy {read_metrics(folder)['test_accuracy']:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
