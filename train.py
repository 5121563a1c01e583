"""Train TinyVGG on Fashion-MNIST and write weights, config, model card, metrics and figures."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import signal
import sys
import tempfile
from pathlib import Path

import torch

from model import artifacts
from model.files import check_writable, move_into, remove_stale_temporaries, write_text
from model.metrics import Metrics, write_metrics
from model.publishing.card import render_card
from model.tinyvgg import TinyVGG
from model.training.calibrate import calibrate, plot_reliability
from model.training.checkpoint import CheckpointError
from model.training.config import AUGMENTATIONS, PRECISIONS, PRESETS, TrainConfig
from model.training.curves import CurveLog
from model.training.data import DEBIAN_DIR, ENV_VAR, DataError, load_fashion_mnist, split
from model.training.device import native_bf16, processor_name, resolve_precision, select_device
from model.training.distributed import Distributed, init_distributed, shutdown
from model.training.engine import TrainingInterrupted, build_model, evaluate, fit
from model.training.report import per_class_scores, plot_confusion_matrix, plot_loss_curves


def _preset_default(name: str) -> str:
    values = ", ".join(f"{preset}: {PRESETS[preset][name]}" for preset in PRESETS)
    return f"(default: from the preset; {values})"


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Flags given on the command line override the preset.",
    )
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="notebook: the original notebook's recipe; fast: 88%% in the least time; "
        "default: the shipped model (default: default)",
    )
    p.add_argument("--epochs", type=int, help=f"passes over the training set {_preset_default('epochs')}")
    p.add_argument(
        "--batch-size",
        type=int,
        help="images per step; under torchrun the global batch, split over the processes "
        + _preset_default("batch_size"),
    )
    p.add_argument("--lr", type=float, help=f"(peak) learning rate {_preset_default('lr')}")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], help=_preset_default("optimizer"))
    p.add_argument("--momentum", type=float, help=f"SGD momentum, Nesterov when > 0 {_preset_default('momentum')}")
    p.add_argument("--weight-decay", type=float, help=_preset_default("weight_decay"))
    p.add_argument(
        "--schedule", choices=["constant", "onecycle"], help=f"learning-rate schedule {_preset_default('schedule')}"
    )
    p.add_argument(
        "--hidden-units",
        type=_hidden_units,
        help=f"channels of both conv blocks, or one per block as 32,64 {_preset_default('hidden_units')}",
    )
    p.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        help=f"BatchNorm after each conv {_preset_default('batch_norm')}",
    )
    p.add_argument("--dropout", type=float, help=f"dropout before the classifier {_preset_default('dropout')}")
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        help=f"standardize pixels inside the model {_preset_default('normalize')}",
    )
    p.add_argument(
        "--augment",
        choices=AUGMENTATIONS,
        help="none; flip-shift: random flips and 2-pixel shifts; photo: also scale, tilt, texture, light, blur and "
        f"leftover background, as phone photos arrive (model/training/augment.py) {_preset_default('augment')}",
    )
    p.add_argument(
        "--photo-share",
        type=float,
        help=f"with --augment photo, the share of each batch made photo-like {_preset_default('photo_share')}",
    )
    p.add_argument(
        "--top-view-share",
        type=float,
        help="with --augment photo, the share of photo-like shoes replaced by a made-up top view, alone or as a "
        f"pair {_preset_default('top_view_share')}",
    )
    p.add_argument(
        "--style-share",
        type=float,
        help="with --augment photo, the share of photo-like images passed through a random convolution "
        f"(RandConv: new shading and texture, same shape) {_preset_default('style_share')}",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="bf16: bfloat16 autocast for the forward and backward passes (the weights stay fp32), about 1.7x "
        "faster on CPUs with AVX512-BF16 or AMX and on recent GPUs, but emulated and several times slower on "
        "other CPUs; fp32: plain fp32; auto: bf16 where the device has native bfloat16, fp32 elsewhere "
        + _preset_default("precision"),
    )
    p.add_argument(
        "--val-size",
        type=int,
        help="training images held out for validation, never trained on; with --limit-train, the preset's value "
        f"is capped at a tenth of the limit {_preset_default('val_size')}",
    )
    p.add_argument("--seed", type=int, default=42, help="seed for weights, shuffling and augmentation (default: 42)")
    p.add_argument(
        "--data-dir",
        help=f"folder with the four Fashion-MNIST IDX files, .gz or not (default: ${ENV_VAR}, else {DEBIAN_DIR}, "
        "else download with torchvision)",
    )
    p.add_argument("--output-dir", help="where artifacts and the checkpoint go (default: runs/PRESET)")
    p.add_argument("--limit-train", type=int, help="use only the first N training images (default: all)")
    p.add_argument("--limit-test", type=int, help="use only the first N test images (default: all)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "mps"],
        default="auto",
        help="auto: cuda, then mps, then cpu (default: auto)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt (default: off)")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bars, only one line per epoch (default: off)"
    )
    p.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="after training, upload the artifacts to this Hub repo in one commit; the token comes from "
        "$HF_TOKEN or `hf auth login` (default: no upload)",
    )
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
        command = shlex.join([*launcher, "train.py", *[a for a in argv if a != "--resume"], "--resume"])
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
        model, calibration, probabilities = calibrate(
            model, train, val, test, top_view_share=config.top_view_share, style_share=config.style_share
        )
    scored = evaluate(model, *test)
    metrics: Metrics = {
        "test_accuracy": scored.accuracy,
        "test_loss": scored.loss,
        "num_parameters": model.num_parameters,
        "train_seconds": result.train_seconds,
        "train_images_per_second": result.train_images / max(result.train_seconds, 1e-9),
        "history": result.history,
        "per_class": per_class_scores(test[1], scored.predictions, model.class_names),
        # The command that reproduces these weights; --resume and --no-progress do not change them.
        "command": shlex.join([*launcher, "train.py", *[a for a in argv if a not in ("--resume", "--no-progress")]]),
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
        from model.publishing.hub import push

        try:
            print(f"pushed to {push(output_dir, config.push_to_hub)}")
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
