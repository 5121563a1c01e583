"""Train TinyVGG on Fashion-MNIST and write weights, config, model card, metrics and figures."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import signal
import sys
import tempfile
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from model import artifacts
from model.files import remove_stale_temporaries, write_text
from model.publishing.card import render_card
from model.tinyvgg import TinyVGG
from model.training import run_folder
from model.training.calibrate import calibrate, plot_reliability
from model.training.checkpoint import CheckpointError
from model.training.config import PRESET_CHANGES, TrainConfig, flag
from model.training.curves import CurveLog
from model.training.data import DataError, FashionMNIST, Splits, load_fashion_mnist, split
from model.training.device import native_bf16, processor_name, resolve_precision, select_device
from model.training.distributed import Distributed, init_distributed, shutdown
from model.training.engine import FitResult, TrainingInterrupted, build_model, evaluate, fit
from model.training.metrics import Metrics, write_metrics
from model.training.report import per_class_scores, plot_confusion_matrix, plot_loss_curves
from model.training.run_folder import FolderTaken, check_writable, move_into, refuse_to_replace

# Flags that change how a run goes, not the weights it ends with.
NOT_THE_RECIPE = ("--resume", "--overwrite", "--no-progress")


def _hidden_units(text: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one or two integers like 10 or 32,64, got {text!r}") from None
    if len(widths) == 1:
        widths *= 2
    if len(widths) != 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected one or two positive integers like 10 or 32,64, got {text!r}")
    return widths


# How a flag's text becomes a field's value, by the field's type; hidden_units is the one list.
_READERS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str, list[int]: _hidden_units}


def _without_none(hint: Any) -> Any:
    """`int | None` -> int; any other type as it is."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (kind,) = [t for t in typing.get_args(hint) if t is not type(None)]
        return kind
    return hint


def build_parser(config_type: type[TrainConfig] = TrainConfig) -> argparse.ArgumentParser:
    """One flag per field of `config_type` that has help, typed, with that help and the default it states."""
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Flags given on the command line override the preset.",
    )
    presets = {name: config_type.preset_values(name) for name in PRESET_CHANGES}
    hints = typing.get_type_hints(config_type)
    for f in dataclasses.fields(config_type):
        if "help" not in f.metadata:
            continue
        kind = _without_none(hints[f.name])
        if "preset_default" in f.metadata:
            values = ", ".join(f"{preset}: {presets[preset][f.name]}" for preset in presets)
            default = f"from the preset; {values}"
        else:
            default = f.metadata.get("default_text") or ("off" if f.default is False else f.default)
        text = " ".join(filter(None, [f.metadata["help"], f"(default: {default})"]))
        settings: dict[str, Any] = {"default": f.default, "help": text.replace("%", "%%")}
        if kind is bool:
            # A preset's switch can be turned either way; a switch that is off unless given, only on.
            settings["action"] = argparse.BooleanOptionalAction if f.default is None else "store_true"
        else:
            settings["type"] = _READERS[kind]
        if f.metadata.get("choices"):
            settings["choices"] = f.metadata["choices"]
        if f.metadata.get("metavar"):
            settings["metavar"] = f.metadata["metavar"]
        p.add_argument(flag(f.name), **settings)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # One line per epoch should reach a log file as it happens, not when the buffer fills.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = TrainConfig(**vars(args)).resolve()
        group, device = init_distributed(select_device(config.device))
        precision, why = resolve_precision(config.precision, device)
    except ValueError as err:
        parser.error(str(err))
    config = dataclasses.replace(config, precision_used=precision)
    try:
        return run(config, Launch(argv, group, device, why))
    finally:
        shutdown(group)


@dataclass
class Launch:
    """How this run was started: the flags as given, the torchrun group (if any), the device and why its precision."""

    argv: list[str]
    group: Distributed
    device: torch.device
    precision_why: str

    def command(self, leave_out: tuple[str, ...] = ()) -> list[str]:
        """The command line that started this run, without the flags `leave_out`."""
        group = self.group
        launcher = ["torchrun", f"--nproc-per-node={group.world_size}"] if group.enabled else ["python"]
        return [*launcher, "train.py", *[a for a in self.argv if a not in leave_out]]

    def say(self, *args, **kwargs) -> None:
        """print, on rank 0 alone."""
        if self.group.is_main:
            print(*args, **kwargs)


def run(config: TrainConfig, launch: Launch) -> int:
    """Train, measure, write, push: as one process, or as one of a torchrun group, where rank 0 alone writes."""
    try:
        ready_output_dir(config, launch)
        data = load_fashion_mnist(config.data_dir)
        splits = split(data, config.limit_train, config.limit_test, config.val_size, config.seed)
        model, result = train(config, splits, data, launch)
    except TrainingInterrupted as stop:
        command = shlex.join([*launch.command(leave_out=("--resume", "--overwrite")), "--resume"])
        launch.say(f"\n{stop}. Continue with:\n  {command}", file=sys.stderr)
        return 128 + stop.signum
    except (FolderTaken, DataError, CheckpointError, ValueError) as err:
        launch.say(f"error: {err}", file=sys.stderr)
        return 1
    if not launch.group.is_main:
        return 0
    model, metrics, figures = measure(model, splits, data, result, config, launch)
    # Artifacts are short to write; finish them even if Ctrl-C arrives now.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        write_artifacts(model, Path(config.output_dir), config, metrics, figures)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(
        f"test accuracy {metrics['test_accuracy']:.2%}, test loss {metrics['test_loss']:.4f}, "
        f"{result.train_seconds:.0f}s of training; artifacts in {config.output_dir}/"
    )
    return push(config) if config.push_to_hub else 0


def ready_output_dir(config: TrainConfig, launch: Launch) -> None:
    """Before any data is loaded: the output folder takes files, and holds nothing this run would replace unasked.

    Raises:
        FolderTaken: It cannot be written, or holds a run (model.training.run_folder.refuse_to_replace).
    """
    output_dir = Path(config.output_dir)
    try:
        check_writable(output_dir)
    except OSError as err:
        raise FolderTaken(f"{err}. Choose another --output-dir.") from None
    refuse_to_replace(output_dir, resume=config.resume, overwrite=config.overwrite, command=launch.command())
    if launch.group.is_main:
        for path in remove_stale_temporaries(output_dir):
            launch.say(f"removed {path}, left half-written by an earlier run that was killed")


def train(config: TrainConfig, splits: Splits, data: FashionMNIST, launch: Launch) -> tuple[TinyVGG, FitResult]:
    """The model the config describes, trained by `fit` (its curves go to TensorBoard), and the run's history."""
    group, device = launch.group, launch.device
    torch.manual_seed(config.seed)
    model = build_model(config, data.class_names)
    processes = f" x {group.world_size} processes" if group.enabled else ""
    train_images, test_images = len(splits.train[0]), len(splits.test[0])
    val_images = len(splits.val[0]) if splits.val else 0
    launch.say(
        f"TinyVGG with {model.num_parameters:,} parameters on {device}{processes}; {train_images:,} training, "
        f"{val_images:,} validation and {test_images:,} test images from {data.source}"
    )
    launch.say(f"precision: {config.precision_used} ({launch.precision_why})")
    if config.precision_used == "bf16" and not native_bf16(device):
        launch.say(
            f"WARNING: bfloat16 is emulated on this {device.type} (no AVX512-BF16 or AMX): training will be "
            "several times slower than in fp32. Use --precision auto or fp32 unless you mean to measure this.",
            file=sys.stderr,
        )
    curves = CurveLog(config.output_dir, resume=config.resume) if group.is_main else None
    try:
        return model, fit(model, splits, config, device=device, log=launch.say, on_epoch=curves, group=group)
    finally:
        if curves is not None:
            curves.close()


@dataclass
class Figures:
    """What the figures of a run are drawn from: the test labels, the predictions, the calibration's probabilities."""

    test_labels: torch.Tensor
    predictions: torch.Tensor
    probabilities: dict[str, torch.Tensor] | None  # None where the run held out no images to calibrate on


def measure(
    model: TinyVGG, splits: Splits, data: FashionMNIST, result: FitResult, config: TrainConfig, launch: Launch
) -> tuple[TinyVGG, Metrics, Figures]:
    """The trained model calibrated on the held-out images (where there are any), and what metrics.json holds."""
    model.cpu()
    calibration, probabilities = {}, None
    if splits.val is not None:
        # Calibrated confidence and the "not clothing" detector, fitted on training images only.
        model, calibration, probabilities = calibrate(model, *splits, **config.photo_like_shares())
    scored = evaluate(model, *splits.test)
    device = launch.device
    processes = f" x {launch.group.world_size} processes" if launch.group.enabled else ""
    metrics: Metrics = {
        "test_accuracy": scored.accuracy,
        "test_loss": scored.loss,
        "num_parameters": model.num_parameters,
        "train_seconds": result.train_seconds,
        "train_images_per_second": result.train_images / max(result.train_seconds, 1e-9),
        "history": result.history,
        "per_class": per_class_scores(splits.test[1], scored.predictions, model.class_names),
        # The command that reproduces these weights.
        "command": shlex.join(launch.command(leave_out=NOT_THE_RECIPE)),
        "data": {
            "source": str(data.source),
            "sha256": data.sha256,
            "train_images": len(splits.train[0]),
            "val_images": len(splits.val[0]) if splits.val else 0,
            "test_images": len(splits.test[0]),
        },
        "environment": {
            "device": (str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)) + processes,
            "precision": config.precision_used,
            "cpu": processor_name(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            **{package: version(package) for package in ("torchvision", "huggingface_hub", "safetensors")},
        },
    }
    return model, metrics | calibration, Figures(splits.test[1], scored.predictions, probabilities)


def write_artifacts(model: TinyVGG, output_dir: Path, config: TrainConfig, metrics: Metrics, figures: Figures) -> None:
    """Write every artifact into a scratch folder, then move each into place with one rename."""
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".artifacts-") as tmp:
        scratch = Path(tmp)
        write_metrics(scratch, metrics)
        write_text(scratch / artifacts.TRAINING_ARGS, config.to_json())
        plot_confusion_matrix(
            figures.test_labels, figures.predictions, model.class_names, scratch / artifacts.CONFUSION_MATRIX
        )
        plot_loss_curves(metrics["history"], scratch / artifacts.LOSS_CURVES)
        if figures.probabilities is not None:
            plot_reliability(figures.probabilities, figures.test_labels, scratch / artifacts.RELIABILITY)
        # Weights, config.json and the card, which reports the metrics and shows the figures above.
        model.save_pretrained(scratch, model_card_kwargs={"card": render_card(scratch, model, location=output_dir)})
        move_into(scratch, output_dir)
    # What an earlier run in this folder left that this one did not write would describe other weights.
    stale = dict(run_folder.STALE_AFTER_TRAINING)
    if figures.probabilities is None:
        stale[artifacts.RELIABILITY] = "this run held out no images to draw it from"
    for line in run_folder.remove_stale(output_dir, stale):
        print(line)


def push(config: TrainConfig) -> int:
    """Upload the run folder to `--push-to-hub`; on failure the artifacts stay, with the command that retries."""
    from model.errors import HubError
    from model.publishing.hub import onnx_note
    from model.publishing.hub import push as push_folder

    try:
        print(f"pushed to {push_folder(config.output_dir, config.push_to_hub)}")
        print(onnx_note(config.output_dir), end="")
    except HubError as err:
        retry = shlex.join(["python", "-m", "model.publishing.hub", "push", config.output_dir, config.push_to_hub])
        print(
            f"error: {err}\nThe trained model is safe in {config.output_dir}/; retry the upload with:\n  {retry}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
