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
from pathlib import Path
from typing import Any

import torch

from model import artifacts
from model.files import check_writable, move_into, remove_stale_temporaries, write_text
from model.metrics import Metrics, write_metrics
from model.publishing.card import render_card
from model.tinyvgg import TinyVGG
from model.training.calibrate import calibrate, plot_reliability
from model.training.checkpoint import CheckpointError
from model.training.config import PRESET_CHANGES, TrainConfig, flag
from model.training.curves import CurveLog
from model.training.data import DataError, load_fashion_mnist, split
from model.training.device import native_bf16, processor_name, resolve_precision, select_device
from model.training.distributed import Distributed, init_distributed, shutdown
from model.training.engine import TrainingInterrupted, build_model, evaluate, fit
from model.training.report import per_class_scores, plot_confusion_matrix, plot_loss_curves
from model.training.run_folder import FolderTaken, refuse_to_replace

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


def write_artifacts(
    model: TinyVGG,
    output_dir: Path,
    *,
    config: TrainConfig,
    metrics: Metrics,
    test_labels: torch.Tensor,
    predictions: torch.Tensor,
    probabilities: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write every artifact into a scratch folder, then move each into place with one rename."""
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".artifacts-") as tmp:
        scratch = Path(tmp)
        write_metrics(scratch, metrics)
        write_text(scratch / artifacts.TRAINING_ARGS, config.to_json())
        plot_confusion_matrix(test_labels, predictions, model.class_names, scratch / artifacts.CONFUSION_MATRIX)
        plot_loss_curves(metrics["history"], scratch / artifacts.LOSS_CURVES)
        if probabilities is not None:
            plot_reliability(probabilities, test_labels, scratch / artifacts.RELIABILITY)
        # Weights, config.json and the card, which reports the metrics and shows the figures above.
        model.save_pretrained(scratch, model_card_kwargs={"card": render_card(scratch, model, location=output_dir)})
        move_into(scratch, output_dir)
    # What an earlier run in this folder left that this one did not write would describe other weights.
    stale = dict(artifacts.STALE_AFTER_TRAINING)
    if probabilities is None:
        stale[artifacts.RELIABILITY] = "this run held out no images to draw it from"
    for line in artifacts.remove_stale(output_dir, stale):
        print(line)


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
        return run(config, argv, group, device, why)
    finally:
        shutdown(group)


def run(config: TrainConfig, argv: list[str], group: Distributed, device: torch.device, precision_why: str) -> int:
    """Train as one process, or as one of a torchrun group, where rank 0 alone prints and writes.

    `config.precision_used` is what `--precision` resolved to on `device`, for the reason `precision_why`.
    """
    say = print if group.is_main else (lambda *args, **kwargs: None)
    launcher = ["torchrun", f"--nproc-per-node={group.world_size}"] if group.enabled else ["python"]
    output_dir = Path(config.output_dir)
    try:
        check_writable(output_dir)
    except OSError as err:
        say(f"error: {err}. Choose another --output-dir.", file=sys.stderr)
        return 1
    try:
        refuse_to_replace(
            output_dir, resume=config.resume, overwrite=config.overwrite, command=[*launcher, "train.py", *argv]
        )
    except FolderTaken as err:
        say(f"error: {err}", file=sys.stderr)
        return 1
    if group.is_main:
        for path in remove_stale_temporaries(output_dir):
            say(f"removed {path}, left half-written by an earlier run that was killed")

    torch.manual_seed(config.seed)
    try:
        data = load_fashion_mnist(config.data_dir)
        train, val, test = split(data, config.limit_train, config.limit_test, config.val_size, config.seed)
    except (DataError, ValueError) as err:
        say(f"error: {err}", file=sys.stderr)
        return 1
    model = build_model(config, data.class_names)
    processes = f" x {group.world_size} processes" if group.enabled else ""
    say(
        f"TinyVGG with {model.num_parameters:,} parameters on {device}{processes}; {len(train[0]):,} training, "
        f"{len(val[0]) if val else 0:,} validation and {len(test[0]):,} test images from {data.source}"
    )
    say(f"precision: {config.precision_used} ({precision_why})")
    if config.precision_used == "bf16" and not native_bf16(device):
        say(
            f"WARNING: bfloat16 is emulated on this {device.type} (no AVX512-BF16 or AMX): training will be "
            "several times slower than in fp32. Use --precision auto or fp32 unless you mean to measure this.",
            file=sys.stderr,
        )

    curves = CurveLog(output_dir, resume=config.resume) if group.is_main else None
    try:
        result = fit(
            model, train, test, config, output_dir, val=val, device=device, log=say, on_epoch=curves, group=group
        )
    except TrainingInterrupted as stop:
        command = shlex.join(
            [*launcher, "train.py", *[a for a in argv if a not in ("--resume", "--overwrite")], "--resume"]
        )
        say(f"\n{stop}. Continue with:\n  {command}", file=sys.stderr)
        return 128 + stop.signum
    except (CheckpointError, ValueError) as err:
        say(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if curves is not None:
            curves.close()
    if not group.is_main:
        return 0

    model.cpu()
    probabilities = None
    if val is not None:
        # Calibrated confidence and the "not clothing" detector, fitted on training images only.
        model, calibration, probabilities = calibrate(model, train, val, test, **config.photo_like_shares())
    scored = evaluate(model, *test)
    metrics: Metrics = {
        "test_accuracy": scored.accuracy,
        "test_loss": scored.loss,
        "num_parameters": model.num_parameters,
        "train_seconds": result.train_seconds,
        "train_images_per_second": result.train_images / max(result.train_seconds, 1e-9),
        "history": result.history,
        "per_class": per_class_scores(test[1], scored.predictions, model.class_names),
        # The command that reproduces these weights; --resume, --overwrite and --no-progress do not change them.
        "command": shlex.join([*launcher, "train.py", *[a for a in argv if a not in NOT_THE_RECIPE]]),
        "data": {
            "source": str(data.source),
            "sha256": data.sha256,
            "train_images": len(train[0]),
            "val_images": len(val[0]) if val else 0,
            "test_images": len(test[0]),
        },
        "environment": {
            "device": (str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)) + processes,
            "precision": config.precision_used,
            "cpu": processor_name(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": _version("torchvision"),
            "huggingface_hub": _version("huggingface_hub"),
            "safetensors": _version("safetensors"),
        },
    }
    if probabilities is not None:
        metrics |= calibration
    # Artifacts are short to write; finish them even if Ctrl-C arrives now.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        write_artifacts(
            model,
            output_dir,
            config=config,
            metrics=metrics,
            test_labels=test[1],
            predictions=scored.predictions,
            probabilities=probabilities,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    print(
        f"test accuracy {scored.accuracy:.2%}, test loss {scored.loss:.4f}, {result.train_seconds:.0f}s of training; "
        f"artifacts in {output_dir}/"
    )
    if config.push_to_hub:
        from model.errors import HubError
        from model.publishing.hub import onnx_note, push

        try:
            print(f"pushed to {push(output_dir, config.push_to_hub)}")
            print(onnx_note(output_dir), end="")
        except HubError as err:
            retry = shlex.join(["python", "-m", "model.publishing.hub", "push", str(output_dir), config.push_to_hub])
            print(
                f"error: {err}\nThe trained model is safe in {output_dir}/; retry the upload with:\n  {retry}",
                file=sys.stderr,
            )
            return 1
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
