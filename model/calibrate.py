"""After training: calibrated confidence (temperature scaling) and an out-of-distribution warning.

    python -m model.calibrate FOLDER     # calibrate a trained folder in place (train.py does it itself)

Everything is fitted on training images only: the temperature on the held-out validation images;
for the "not clothing" score (the energy, log-sum-exp of the logits, less a penalty for roughness),
the roughness bound on the training images as they are and made photo-like by model.augment, and
the threshold on the validation images made photo-like. The test set, the out-of-distribution sets
(scikit-learn's digits, crops of its sample photos, uniform noise) and real photos are only measured.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from model.augment import photo_like  # noqa: E402
from model.card import read_run  # noqa: E402
from model.preprocess import to_inputs  # noqa: E402
from model.report import save_figure  # noqa: E402
from model.tinyvgg import TinyVGG, roughness  # noqa: E402

BINS = 15
# The share of photo-like validation images that pass the warning threshold: chosen on the real
# photos of benchmarks/real_photos.py, where it warns 6.2% of real garments with the shipped model.
KEEP = 0.98


def in_chunks(
    score: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """`score` (a model, or its `ood_score`) on uint8 images, a chunk at a time.

    One huge batch is slower and needs gigabytes.
    """
    with torch.inference_mode():
        return torch.cat([score(to_inputs(chunk)) for chunk in images.split(batch_size)])


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> float:
    """ECE with equal-width confidence bins, as a fraction."""
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.float().mean().item() * abs(confidence[inside].mean() - correct[inside].mean()).item()
    return error


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature that minimises the cross-entropy of `logits / T` (fitted in log space)."""
    logits = logits.clone()  # a normal tensor: inference-mode tensors cannot take part in autograd
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def photo_like_images(images: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """uint8 images made photo-like (model.augment.photo_like), as `--augment photo` makes a share of them."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat(
        [
            (photo_like(to_inputs(chunk), chunk_labels, generator) * 255).round().to(torch.uint8)[:, 0]
            for chunk, chunk_labels in zip(images.split(500), labels.split(500))
        ]
    )


def ood_sets(seed: int = 0) -> dict[str, torch.Tensor]:
    """Images that are not clothing, as uint8 (N, 28, 28) light-on-dark like Fashion-MNIST."""
    from sklearn.datasets import load_digits, load_sample_images

    rng = np.random.default_rng(seed)
    digits = [
        np.pad(np.asarray(Image.fromarray((d * 255 / 16).astype(np.uint8)).resize((20, 20), Image.BILINEAR)), 4)
        for d in load_digits().images
    ]
    photos = []
    for photo in load_sample_images().images:
        gray = np.asarray(Image.fromarray(photo).convert("L"))
        for _ in range(1000):
            side = int(rng.integers(28, 200))
            y, x = rng.integers(0, gray.shape[0] - side), rng.integers(0, gray.shape[1] - side)
            photos.append(np.asarray(Image.fromarray(gray[y : y + side, x : x + side]).resize((28, 28), Image.BOX)))
    noise = rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    return {
        name: torch.from_numpy(np.stack(images))
        for name, images in (("digits", digits), ("photos", photos), ("noise", noise))
    }


def calibrate(
    model: TinyVGG,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
) -> tuple[TinyVGG, dict, dict[str, torch.Tensor]]:
    """Fit the temperature and the out-of-distribution detector; return the calibrated model and metrics.

    The returned model is a new TinyVGG with the same weights, whose config gains the
    temperature and the warning's roughness bound and threshold. The third value holds the test probabilities
    before and after, for the reliability diagram.
    """
    base = model.cpu().recalibrated(temperature=1.0, max_roughness=None, ood_threshold=None)

    temperature = fit_temperature(in_chunks(base, val[0]), val[1])
    test_logits = in_chunks(base, test[0])
    before, after = test_logits.softmax(1), (test_logits / temperature).softmax(1)

    with torch.inference_mode():
        # The roughest training image, as it is or made photo-like, bounds what a garment can be.
        photo_train = photo_like_images(*train, seed=0)
        max_roughness = float(torch.cat([in_chunks(roughness, images) for images in (train[0], photo_train)]).max())
        scorer = base.recalibrated(temperature=temperature, max_roughness=max_roughness)
        # Real photos reach the model looking like the validation images made photo-like, so
        # the threshold is set on those: KEEP of them pass.
        photo_val_scores = in_chunks(scorer.ood_score, photo_like_images(*val, seed=1))
        val_scores = in_chunks(scorer.ood_score, val[0])
        threshold = float(torch.quantile(photo_val_scores, 1 - KEEP))
        calibrated = base.recalibrated(temperature=temperature, max_roughness=max_roughness, ood_threshold=threshold)
        auroc, false_accept = {}, {}
        for name, images in ood_sets().items():
            scores = in_chunks(calibrated.ood_score, images)
            truth = np.r_[np.ones(len(val_scores)), np.zeros(len(scores))]
            auroc[name] = float(roc_auc_score(truth, np.r_[val_scores.numpy(), scores.numpy()]))
            false_accept[name] = float((scores >= threshold).float().mean())
        test_pass = float((in_chunks(calibrated.ood_score, test[0]) >= threshold).float().mean())

    metrics = {
        "calibration": {
            "temperature": temperature,
            "ece_before": expected_calibration_error(before, test[1]),
            "ece_after": expected_calibration_error(after, test[1]),
            "bins": BINS,
        },
        "ood": {
            "method": "the energy score (log-sum-exp of the calibrated logits), less a penalty for "
            "more pixel-to-pixel roughness than any training image has",
            "max_roughness": max_roughness,
            "auroc": auroc,
            "false_accept": false_accept,
            "threshold": threshold,
            "keep": KEEP,
            "test_pass_rate": test_pass,
        },
    }
    return calibrated, metrics, {"before": before, "after": after}


def plot_reliability(probabilities: dict[str, torch.Tensor], labels: torch.Tensor, path: str | Path) -> None:
    """Accuracy against confidence per bin, before and after temperature scaling."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for name, style in (("before", "o-"), ("after", "s-")):
        confidence, predicted = probabilities[name].max(1)
        # Accuracy and mean confidence of the top class in each of BINS equal-width bins (empty ones left out).
        ys, xs = calibration_curve((predicted == labels).numpy(), confidence.numpy(), n_bins=BINS)
        ece = expected_calibration_error(probabilities[name], labels)
        ax.plot(xs, ys, style, label=f"{name} temperature scaling (ECE {ece:.2%})")
    ax.set(xlabel="confidence", ylabel="accuracy", title="Reliability on the test set", xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    save_figure(fig, path)


def calibrate_folder(folder: str | Path, data_dir: str | None = None) -> dict:
    """Calibrate a folder written by train.py in place: weights, config, metrics, card, reliability diagram."""
    from model.data import load_fashion_mnist, split

    folder = Path(folder)
    args = json.loads((folder / "training_args.json").read_text())
    if not args.get("val_size"):
        raise ValueError(f"{folder} was trained without held-out images (--val-size 0): nothing to calibrate on")
    data = load_fashion_mnist(data_dir)
    train, val, test = split(data, args["limit_train"], args["limit_test"], args["val_size"], args["seed"])
    calibrated, found, probabilities = calibrate(TinyVGG.from_pretrained(folder), train, val, test)
    metrics = json.loads((folder / "metrics.json").read_text()) | found
    from model.files import write_json

    write_json(folder / "metrics.json", metrics)
    plot_reliability(probabilities, test[1], folder / "reliability_diagram.png")
    # The ONNX graph holds the old temperature: export it again (python -m model.export) to have one.
    (folder / "model.onnx").unlink(missing_ok=True)
    # Weights, config.json and the card, which now reports all this.
    calibrated.save_pretrained(folder, model_card_kwargs=read_run(folder))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a folder written by train.py with a --val-size > 0")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files (default: as model.data)")
    args = parser.parse_args(argv)
    found = calibrate_folder(args.folder, args.data_dir)
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
