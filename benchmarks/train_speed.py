"""Training speed: the original notebook's pipeline against train.py's engine, in the same run.

    python benchmarks/train_speed.py [--epochs 3] [--seed 42]

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
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import train  # noqa: E402
from model.data import find_data_dir  # noqa: E402
from model.engine import evaluate  # noqa: E402
from model.tinyvgg import TinyVGG  # noqa: E402


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
    import json

    args = ["--preset", preset, "--seed", str(seed), "--no-progress", "--output-dir", str(out)]
    if epochs:
        args += ["--epochs", str(epochs)]
    assert train.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
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
    parser.add_argument("--seed", type=int, default=42, help="(default: 42)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        original = notebook(args.epochs, args.seed, torchvision_root(tmp / "data"))
        engine = ours("notebook", args.epochs, args.seed, tmp / "notebook")
        fast = ours("fast", None, args.seed, tmp / "fast")

    speedup = engine["images_per_second"] / original["images_per_second"]
    difference = 100 * (engine["test_accuracy"] - original["test_accuracy"])
    print(f"{args.epochs} epochs of the notebook recipe:")
    for name, run in (("notebook pipeline", original), ("train.py --preset notebook", engine)):
        print(
            f"  {name:28s} {run['images_per_second']:6.0f} images/s, "
            f"test accuracy {run['test_accuracy']:.2%}, {run['seconds']:.1f} s of training"
        )
    print(f"  speed-up {speedup:.2f}x, accuracy difference {difference:+.2f} points")
    reached = fast["seconds_to_88"]
    if reached is None:
        print(f"train.py --preset fast never reached 88% ({fast['test_accuracy']:.2%})")
    else:
        print(
            f"train.py --preset fast: 88% test accuracy after {reached:.1f} s of training "
            f"({fast['test_accuracy']:.2%} at the end), {original['seconds'] / reached:.1f}x less than "
            f"the notebook's {args.epochs} epochs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
