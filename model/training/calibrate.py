"""After training: calibrated confidence (temperature scaling) and an out-of-distribution warning.

train.py calls `calibrate` after the last epoch; `python -m model.publishing.recalibrate FOLDER`
calibrates a trained folder again, and fits the photo calibration (`calibrate_photos`).

Everything is fitted on training images only: the temperature on the held-out validation images;
for the warning's score (the energy, log-sum-exp of the logits, less a penalty for roughness),
the roughness bound on the training images as they are and made photo-like by model.training.augment, and
the threshold on the validation images made photo-like. The test set, the out-of-distribution sets
(scikit-learn's digits, crops of its sample photos, uniform noise) and real photos are only measured.

The photo calibration (`calibrate_photos`) is the one step that uses real photos: two scalars, never the
weights. Phone photos are right far less often than Fashion-MNIST images, so their confidence
gets its own temperature, and a photo taken whole (nothing stood out) its own threshold.
"""

from __future__ import annotations

import dataclasses
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

from model.calibration import ood_score, roughness  # noqa: E402
from model.predict import answer_logits  # noqa: E402
from model.preprocess import FRAME, PHOTO_WAYS, ImageError, Prepared, prepare_image, to_inputs  # noqa: E402
from model.tinyvgg import TinyVGG  # noqa: E402
from model.training.augment import photo_like  # noqa: E402
from model.training.engine import SCORING_BATCH  # noqa: E402
from model.training.photoset import PhotoSet  # noqa: E402
from model.training.report import save_figure  # noqa: E402

BINS = 15
# The share of real garments that reach the whole-frame way (nothing stood out) that are answered
# rather than refused: chosen on real-photos-large, where the refused rest is a small share of all
# garments (benchmarks/real_photos.py reports it, as "no garment stands out").
FRAME_KEEP = 0.75
# The share of photo-like validation images that pass the warning threshold: chosen on the real
# photos, trading real garments warned against non-garments let through; benchmarks/real_photos.py
# measures the share of real garments warned, and the model card gives the share of each
# out-of-distribution set accepted.
KEEP = 0.98


def in_chunks(
    score: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int = SCORING_BATCH
) -> torch.Tensor:
    """`score` (a model, or its `ood_score`) on uint8 images, a chunk at a time: one huge batch is slower."""
    with torch.inference_mode():
        return torch.cat([score(to_inputs(chunk)) for chunk in images.split(batch_size)])


def recalibrated(model: TinyVGG, **values: float | None) -> TinyVGG:
    """A copy of `model`, same weights, with the calibration values named (model.calibration.Calibration's) replaced."""
    calibration = dataclasses.replace(model.calibration, **values)
    copy = TinyVGG(**{**model.config, "calibration": calibration.to_config()})
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def ood_scorer(model: TinyVGG) -> Callable[[torch.Tensor], torch.Tensor]:
    """The warning's score (model.calibration.ood_score) of `model`, for a batch of inputs."""
    return lambda x: ood_score(model.calibration, x, model(x))


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> float:
    """ECE with equal-width confidence bins, as a fraction."""
    confidence, predicted = probabilities.max(1)
    return confidence_error(confidence, predicted == labels, bins)


def confidence_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = BINS) -> float:
    """ECE of answers given with `confidence` (the top class's probability), `correct` or not."""
    correct = correct.float()
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


def photo_like_images(images: torch.Tensor, labels: torch.Tensor, seed: int, **shares: float) -> torch.Tensor:
    """uint8 images made photo-like (model.training.augment.photo_like, given its shares: PHOTO_LIKE_SHARES),
    as `--augment photo` makes a share of them."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat(
        [
            (photo_like(to_inputs(chunk), chunk_labels, generator, **shares) * 255).round().to(torch.uint8)[:, 0]
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
    **shares: float,
) -> tuple[TinyVGG, dict, dict[str, torch.Tensor]]:
    """Fit the temperature and the out-of-distribution detector; return the calibrated model and metrics.

    Photo-like images are made as the run's `--augment photo` made them (`shares`: TrainConfig.photo_like_shares).

    The returned model is a new TinyVGG with the same weights, whose config gains the
    temperature and the warning's roughness bound and threshold. The third value holds the test probabilities
    before and after, for the reliability diagram.
    """
    # The photo calibration depends on the temperature and the score: it is fitted anew afterwards.
    base = recalibrated(
        model.cpu(),
        temperature=1.0,
        max_roughness=None,
        ood_threshold=None,
        photo_temperature=None,
        frame_threshold=None,
    )

    temperature = fit_temperature(in_chunks(base, val[0]), val[1])
    test_logits = in_chunks(base, test[0])
    before, after = test_logits.softmax(1), (test_logits / temperature).softmax(1)

    with torch.inference_mode():
        # The roughest training image, as it is or made photo-like, bounds what a garment can be.
        photo_train = photo_like_images(*train, seed=0, **shares)
        max_roughness = float(torch.cat([in_chunks(roughness, images) for images in (train[0], photo_train)]).max())
        scorer = recalibrated(base, temperature=temperature, max_roughness=max_roughness)
        # Real photos reach the model looking like the validation images made photo-like, so
        # the threshold is set on those: KEEP of them pass.
        photo_val_scores = in_chunks(ood_scorer(scorer), photo_like_images(*val, seed=1, **shares))
        val_scores = in_chunks(ood_scorer(scorer), val[0])
        threshold = float(torch.quantile(photo_val_scores, 1 - KEEP))
        calibrated = recalibrated(base, temperature=temperature, max_roughness=max_roughness, ood_threshold=threshold)
        auroc, false_accept = {}, {}
        for name, images in ood_sets().items():
            scores = in_chunks(ood_scorer(calibrated), images)
            truth = np.r_[np.ones(len(val_scores)), np.zeros(len(scores))]
            auroc[name] = float(roc_auc_score(truth, np.r_[val_scores.numpy(), scores.numpy()]))
            false_accept[name] = float((scores >= threshold).float().mean())
        test_pass = float((in_chunks(ood_scorer(calibrated), test[0]) >= threshold).float().mean())

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


def calibrate_photos(model: TinyVGG, photo_sets: list[PhotoSet]) -> tuple[TinyVGG, dict, dict[str, torch.Tensor]]:
    """Fit `photo_temperature` and `frame_threshold` on labelled sets of real photos (`calibrate_prepared`).

    Returns the recalibrated model, the figures, and the photos' probabilities and correctness for the
    reliability diagram.
    """
    photos = []
    for photo_set in photo_sets:
        for label, path in photo_set.photos:
            if label in photo_set.right:
                try:
                    photos.append((prepare_image(path), photo_set.right[label]))
                except ImageError:
                    continue
    return calibrate_prepared(model, photos, [photo_set.folder.name for photo_set in photo_sets])


def calibrate_prepared(
    model: TinyVGG, photos: list[tuple[Prepared, list[str]]], names: list[str]
) -> tuple[TinyVGG, dict, dict[str, torch.Tensor]]:
    """Fit the photo calibration on prepared photos, each with the classes that count as right for it.

    These are the two scalars chosen on real photos (never the weights): the temperature that
    makes the confidence shown for segmented and whole-frame photos match how often they are
    right, and the score below which a whole-frame photo is refused as "no garment stands out",
    set so that FRAME_KEEP of the real garments that reach that way are answered. The
    temperature is fitted, as on Fashion-MNIST, on the photos whose label names one class: a
    label with several right classes (shoes: Sneaker, Sandal or Ankle boot) does not say which
    one the photo shows. `names` are the photo sets', for the figures.
    """
    if not photos:
        raise ValueError(f"no labelled photos to calibrate on in {', '.join(names)}")
    # Without a photo calibration, answer_logits gives the Fashion-MNIST-calibrated logits and refuses nothing.
    model = recalibrated(model, photo_temperature=None, frame_threshold=None)
    answers = [answer_logits(model, prepared) for prepared, _ in photos]
    logits, scores = torch.stack([found for found, _ in answers]), torch.tensor([score for _, score in answers])
    right = torch.tensor([[name in classes for name in model.class_names] for _, classes in photos])
    ways = [prepared.way for prepared, _ in photos]
    frame = torch.tensor([way == FRAME for way in ways])
    frame_threshold = float(torch.quantile(scores[frame], 1 - FRAME_KEEP)) if frame.any() else None
    # The photos the app answers (not those taken whole and refused), and of those the phone photos
    # whose label names one class: the temperature is fitted on these.
    answered = ~frame | (scores >= frame_threshold) if frame_threshold is not None else torch.ones_like(frame)
    on_photo_way = torch.tensor([way in PHOTO_WAYS for way in ways])
    fitted_on = on_photo_way & answered & (right.sum(1) == 1)
    if not fitted_on.any():
        raise ValueError("none of the photos is a phone photo with a label that names one class: nothing to fit on")
    # Undo the Fashion-MNIST temperature: the photo temperature divides the raw logits.
    raw = logits[fitted_on] * model.calibration.temperature
    photo_temperature = fit_temperature(raw, right[fitted_on].float().argmax(1))
    calibrated = recalibrated(model, photo_temperature=photo_temperature, frame_threshold=frame_threshold)
    # What the app shows for the photos it answers, from the app's own function.
    kept = [prepared for (prepared, _), keep in zip(photos, answered) if keep]
    shown = torch.stack([answer_logits(calibrated, prepared)[0] for prepared in kept]).softmax(1)
    figures = {"photo_temperature": photo_temperature, "frame_threshold": frame_threshold, "frame_keep": FRAME_KEEP}
    figures |= {"photos": names, "fitted_on": len(raw), "ways": {way: ways.count(way) for way in sorted(set(ways))}}
    figures |= _photo_errors(logits[answered].softmax(1), shown, right[answered])
    return calibrated, figures, {"before": logits[answered].softmax(1), "after": shown, "right": right[answered]}


def _photo_errors(before: torch.Tensor, after: torch.Tensor, right: torch.Tensor) -> dict:
    """The answered photos' calibration error, before and after, over all and over those whose label names one
    class (where the top class's probability can be checked against the one right class)."""
    correct_before = right[torch.arange(len(right)), before.argmax(1)]
    correct = right[torch.arange(len(right)), after.argmax(1)]
    single = right.sum(1) == 1
    return {
        "answered": len(after),
        "answered_single_class": int(single.sum()),
        "ece_before": confidence_error(before.max(1).values, correct_before),
        "ece_after": confidence_error(after.max(1).values, correct),
        "ece_single_class_before": confidence_error(before.max(1).values[single], correct_before[single]),
        "ece_single_class_after": confidence_error(after.max(1).values[single], correct[single]),
    }


def plot_reliability(probabilities: dict[str, torch.Tensor], labels: torch.Tensor, path: str | Path) -> None:
    """Accuracy against confidence per bin on the test set, before and after temperature scaling."""
    curves = {}
    for name in ("before", "after"):
        confidence, predicted = probabilities[name].max(1)
        curves[f"{name} temperature scaling"] = (confidence, predicted == labels)
    _plot_curves(curves, "Reliability on the Fashion-MNIST test set", path)


def plot_photo_reliability(probabilities: dict[str, torch.Tensor], path: str | Path) -> None:
    """Accuracy against confidence per bin on real photos (`calibrate_photos`'s third value), before and after."""
    right = probabilities["right"]
    curves = {}
    for name, label in (("before", "Fashion-MNIST temperature"), ("after", "photo temperature")):
        confidence, predicted = probabilities[name].max(1)
        curves[label] = (confidence, right[torch.arange(len(right)), predicted])
    # Where the label names one class, the top class's probability can be checked class by class.
    single = right.sum(1) == 1
    confidence, correct = curves["photo temperature"]
    curves["photo temperature, labels with one right class"] = (confidence[single], correct[single])
    _plot_curves(curves, f"Reliability on {len(right):,} real photos", path)


def _plot_curves(curves: dict[str, tuple[torch.Tensor, torch.Tensor]], title: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for (name, (confidence, correct)), style in zip(curves.items(), ("o-", "s-", "^--")):
        # Accuracy and mean confidence of the top class in each of BINS equal-width bins (empty ones left out).
        ys, xs = calibration_curve(correct.numpy(), confidence.numpy(), n_bins=BINS)
        ax.plot(xs, ys, style, label=f"{name} (ECE {confidence_error(confidence, correct):.2%})")
    ax.set(xlabel="confidence", ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path)
