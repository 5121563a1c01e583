"""Training speed: the original notebook's pipeline against train.py's engine, in the same run.

    python benchmarks/train_speed.py [--epochs 3] [--seeds 42 0 1 2 3]

1. Same recipe, faster engine: the notebook (torchvision FashionMNIST with a per-image ToTensor,
   a DataLoader with batch 32, SGD lr 0.1, TinyVGG with 10 channels) against
   `train.py --preset notebook`, which does the same arithmetic on in-memory tensors in
   channels_last. Reports training images per second and test accuracy after the same epochs.
2. Time to accuracy: `train.py --preset fast` against the notebook's training time for its epochs.
Both are measured in this run on this machine, so the ratios hold on a noisy, shared machine.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from model.tinyvgg import TinyVGG
from model.training.data import find_data_dir
from model.training.engine import evaluate
from model.training.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent  # the checkout, where train.py is


def torchvision_root(tmp: Path) -> Path:
    """torchvision's FashionMNIST wants <root>/FashionMNIST/raw/<decompressed files>: put the local copy there."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    source = find_data_dir()
    if source is None:
        raise SystemExit("no local Fashion-MNIST: install dataset-fashion-mnist or set FASHION_MNIST_DIR")
    for path in source.iterdir():
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        (raw / path.name.removesuffix(".gz")).write_bytes(data)
    return tmp


def notebook(epochs: int, seed: int, root: Path) -> dict:
    """The notebook's training loop, as written there (per-image PIL -> tensor, DataLoader, batch 32)."""
    from torchvision import datasets
    from torchvision.transforms import ToTensor

    torch.manual_seed(seed)
    train_data = datasets.FashionMNIST(root=str(root), train=True, download=False, transform=ToTensor())
    test_data = datasets.FashionMNIST(root=str(root), train=False, download=False, transform=ToTensor())
    train_loader = DataLoader(train_data, batch_size=32, shuffle=True)
    model = TinyVGG()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seconds = 0.0
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - started
    images = (test_data.data, test_data.targets)
    accuracy = evaluate(model, *images).accuracy
    return {"seconds": seconds, "images_per_second": epochs * len(train_data) / seconds, "test_accuracy": accuracy}


def ours(preset: str, epochs: int | None, seed: int, out: Path) -> dict:
    args = ["--preset", preset, "--seed", str(seed), "--no-progress", "--output-dir", str(out)]
    if epochs:
        args += ["--epochs", str(epochs)]
    subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, check=True)
    metrics = read_metrics(out)
    reached = next((h["elapsed_seconds"] for h in metrics["history"] if h["test_accuracy"] >= 0.88), None)
    return {
        "seconds": metrics["train_seconds"],
        "images_per_second": metrics["train_images_per_second"],
        "test_accuracy": metrics["test_accuracy"],
        "seconds_to_88": reached,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the notebook recipe (default: 3)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[42],
        help="one round of all three runs per seed; accuracies vary with the seed (default: 42)",
    )
    args = parser.parse_args(argv)

    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = torchvision_root(tmp / "data")
        for seed in args.seeds:
            # The three runs of a round follow each other, so each ratio compares runs minutes apart.
            rounds.append(
                {
                    "seed": seed,
                    "original": notebook(args.epochs, seed, root),
                    "engine": ours("notebook", args.epochs, seed, tmp / f"notebook-{seed}"),
                    "fast": ours("fast", None, seed, tmp / f"fast-{seed}"),
                }
            )

    print(f"{args.epochs} epochs of the notebook recipe, then --preset fast, per seed:")
    print("  seed | notebook pipeline     | train.py --preset notebook | speed-up | --preset fast: 88% after")
    for r in rounds:
        original, engine, fast = r["original"], r["engine"], r["fast"]
        reached = fast["seconds_to_88"]
        faster = "never" if reached is None else f"{reached:.1f} s, {original['seconds'] / reached:.1f}x less"
        print(
            f"  {r['seed']:4d} | {original['images_per_second']:5.0f} img/s, {original['test_accuracy']:.2%} | "
            f"{engine['images_per_second']:5.0f} img/s, {engine['test_accuracy']:.2%}      | "
            f"{engine['images_per_second'] / original['images_per_second']:5.2f}x   | {faster}"
        )
    speedups = [r["engine"]["images_per_second"] / r["original"]["images_per_second"] for r in rounds]
    notebook_accuracy = [r["original"]["test_accuracy"] for r in rounds]
    engine_accuracy = [r["engine"]["test_accuracy"] for r in rounds]
    time_ratios = [
        r["original"]["seconds"] / r["fast"]["seconds_to_88"] if r["fast"]["seconds_to_88"] else 0.0 for r in rounds
    ]
    print(f"median speed-up {statistics.median(speedups):.2f}x (min {min(speedups):.2f}x)")
    print(
        f"mean test accuracy: notebook pipeline {statistics.mean(notebook_accuracy):.2%} "
        f"({min(notebook_accuracy):.2%} to {max(notebook_accuracy):.2%}), train.py --preset notebook "
        f"{statistics.mean(engine_accuracy):.2%} ({min(engine_accuracy):.2%} to {max(engine_accuracy):.2%}), "
        f"difference {100 * (statistics.mean(engine_accuracy) - statistics.mean(notebook_accuracy)):+.2f} points"
    )
    print(
        f"--preset fast reached 88% in {sum(r['fast']['seconds_to_88'] is not None for r in rounds)} of "
        f"{len(rounds)} runs; median {statistics.median(time_ratios):.1f}x less time than the notebook's "
        f"{args.epochs} epochs (min {min(time_ratios):.1f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
