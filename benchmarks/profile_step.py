"""Where a training step's time goes: torch.profiler over train.py's own loop, one table by operator.

    python benchmarks/profile_step.py [--preset notebook] [--images 9600]
    python benchmarks/profile_step.py --preset default --precision fp32   # against bf16 (auto, on AVX512-BF16/AMX)
    python benchmarks/profile_step.py --memory-format contiguous          # against channels_last

Trains the preset's model on the first IMAGES training images with `train_one_epoch`, as
train.py does (channels_last, the preset's batch size, optimizer and precision; no schedule): one pass to warm
up, one timed, one under the profiler. Prints the operators sorted by their own CPU time.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from model.classes import CLASS_NAMES
from model.training.config import PRECISIONS, PRESETS, TrainConfig
from model.training.data import load_fashion_mnist
from model.training.device import resolve_precision
from model.training.engine import Batches, EpochState, augmentation, build_model, make_optimizer, train_one_epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="notebook", help="(default: notebook)")
    parser.add_argument("--images", type=int, default=9600, help="training images per pass (default: 9600)")
    parser.add_argument("--precision", choices=PRECISIONS, help="instead of the preset's (default: the preset's)")
    parser.add_argument(
        "--memory-format",
        choices=["channels_last", "contiguous"],
        default="channels_last",
        help="layout of the weights and batches; train.py uses channels_last (default: channels_last)",
    )
    parser.add_argument("--rows", type=int, default=15, help="operators to list (default: 15)")
    args = parser.parse_args(argv)

    config = TrainConfig(preset=args.preset, precision=args.precision).resolve()
    precision, _ = resolve_precision(config.precision, torch.device("cpu"))  # auto: bf16 only where native
    memory_format = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    data = load_fashion_mnist()
    images, labels = data.train_images[: args.images], data.train_labels[: args.images]
    torch.manual_seed(config.seed)
    model = build_model(config, CLASS_NAMES).to(memory_format=memory_format)
    optimizer = make_optimizer(model, config)

    batches = Batches(images, labels, config.batch_size, config.seed, augmentation(config), memory_format=memory_format)
    autocast = torch.bfloat16 if precision == "bf16" else None

    def one_pass(epoch: int) -> EpochState:
        return train_one_epoch(model, batches, optimizer, None, EpochState(epoch=epoch), autocast)

    one_pass(1)  # oneDNN builds its kernels on first use
    timed = one_pass(2)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        profiled = one_pass(3)
    steps = profiled.step
    print(
        f"--preset {args.preset}, {precision}, {args.memory_format}: "
        f"{args.images:,} images in {steps} steps of {config.batch_size}; "
        f"{args.images / timed.seconds:,.0f} images/s unprofiled, {1000 * profiled.seconds / steps:.2f} ms "
        f"per step under the profiler"
    )
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
