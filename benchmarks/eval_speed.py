"""How fast `evaluate` scores the test set at each batch size, all measured in the same run.

    python benchmarks/eval_speed.py [--model model/pretrained] [--batch-sizes 1000 500 128 64] [--repeats 5]

train.py evaluates the validation and test sets after every epoch (15,000 images), and the
calibration scores them again at the end, so this is part of every epoch's time. Each repeat
times every batch size once, in turn, so that a busy moment of a shared machine falls on all of
them alike; the table gives the median and the spread (lowest to highest) in images per second,
and the ratio to the first batch size. The accuracy printed beside each is the same, as it must
be: the batch size changes only the speed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model.loading import load
from model.training.data import load_fashion_mnist
from model.training.engine import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="model/pretrained", help="model folder or Hub repo (default: %(default)s)")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[1000, 500, 128, 64], help="(default: 1000 500 128 64)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per batch size (default: 5)")
    args = parser.parse_args(argv)

    model = load(args.model).to(memory_format=torch.channels_last)  # as train.py holds it
    data = load_fashion_mnist()
    images, labels = data.test_images, data.test_labels
    seconds: dict[int, list[float]] = {size: [] for size in args.batch_sizes}
    accuracy: dict[int, float] = {}
    for size in args.batch_sizes:  # one untimed pass each, so oneDNN has built its kernels
        accuracy[size] = evaluate(model, images, labels, batch_size=size, memory_format=torch.channels_last).accuracy
    for _ in range(args.repeats):
        for size in args.batch_sizes:
            started = time.perf_counter()
            evaluate(model, images, labels, batch_size=size, memory_format=torch.channels_last)
            seconds[size].append(time.perf_counter() - started)

    print(f"{len(images):,} test images, {torch.get_num_threads()} threads, median of {args.repeats} passes")
    print("| batch | images/s (lowest-highest) | vs batch", args.batch_sizes[0], "| accuracy |")
    print("|---:|---:|---:|---:|")
    baseline = statistics.median(seconds[args.batch_sizes[0]])
    for size in args.batch_sizes:
        rates = sorted(len(images) / s for s in seconds[size])
        ratio = baseline / statistics.median(seconds[size])
        print(
            f"| {size} | {statistics.median(rates):,.0f} ({rates[0]:,.0f}-{rates[-1]:,.0f}) "
            f"| {ratio:.2f}x | {accuracy[size]:.2%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
