"""A model with what its files say about it, for the app's "About this model": source, accuracy, calibration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError

from model import artifacts
from model.errors import HubError, ModelFolderError
from model.loading import Source, load, parse_source
from model.tinyvgg import TinyVGG


@dataclass
class LoadedModel:
    """A model, where it came from, and the facts its files record (each None where they record none)."""

    model: TinyVGG
    source: Source
    commit: str | None  # the Hub commit loaded; None for a folder
    test_accuracy: float | None  # from the card's eval results, else metrics.json
    metrics: dict[str, Any]  # metrics.json; empty when the model came without one
    confusion_matrix: Path | None

    @property
    def name(self) -> str:
        """The model as a record may name it: REPO@COMMIT, or a folder's own name (never a server's path)."""
        return f"{self.source.name}@{self.commit}" if self.commit else Path(self.source.name).resolve().name


def load_with_facts(spec: str | Path) -> LoadedModel:
    """`load(spec)`, with its card, metrics and confusion matrix when present.

    Raises:
        ModelFolderError, HubError: As `model.loading.load`; also for a metrics.json that is not a JSON object.
    """
    source = parse_source(spec)
    model = load(source)
    if source.is_folder:
        files = {name: Path(source.name) / name for name in artifacts.DESCRIPTION}
        files = {name: path for name, path in files.items() if path.is_file()}
        commit = None
    else:
        files = {name: path for name in artifacts.DESCRIPTION if (path := _optional_download(source, name))}
        # Cached files live in .../snapshots/<commit>/<name>: that commit is the exact revision loaded.
        commit = files[artifacts.CONFIG].parent.name if artifacts.CONFIG in files else source.revision or "main"
    metrics = _read_json(files[artifacts.METRICS], source) if artifacts.METRICS in files else {}
    accuracy = None
    if artifacts.CARD in files:
        results = ModelCard.load(files[artifacts.CARD]).data.eval_results or []
        accuracy = next((r.metric_value for r in results if r.metric_type == "accuracy"), None)
    if accuracy is None:
        accuracy = metrics.get("test_accuracy")
    return LoadedModel(model, source, commit, accuracy, metrics, files.get(artifacts.CONFUSION_MATRIX))


def about(loaded: LoadedModel) -> str:
    """The "About this model" panel, in Markdown."""
    accuracy = f"{loaded.test_accuracy:.2%}" if loaded.test_accuracy is not None else "not recorded"
    lines = [
        f"- **Source:** `{loaded.source.name}`",
        f"- **Revision:** `{loaded.commit}`" if loaded.commit else "- **Revision:** local folder",
        f"- **Parameters:** {loaded.model.num_parameters:,}",
        f"- **Test accuracy:** {accuracy} (Fashion-MNIST test set, 28x28 images)",
        f"- **Classes:** {', '.join(loaded.model.class_names)}",
        confidence(loaded),
    ]
    return "\n".join(lines)


def confidence(loaded: LoadedModel) -> str:
    """What the percentage shown means, with the figures the model's files record."""
    metrics = loaded.metrics
    if "calibration" not in metrics:
        return "- **What the percentage means:** the model's probability, not calibrated on held-out images."
    text = (
        "- **What the percentage means:** it is a calibrated probability: of the answers shown with 70%, "
        "about 70% are right. On Fashion-MNIST images the calibration error is "
        f"{metrics['calibration']['ece_after']:.1%}."
    )
    photos = metrics.get("photo_calibration")
    if loaded.model.calibration.photo_temperature is not None and photos:
        text += (
            " Phone photos are right less often than Fashion-MNIST images, so their confidence has a calibration "
            f"of its own, fitted on {photos['fitted_on']:,} real photos whose label names one class; on such photos "
            f"the calibration error is {photos['ece_single_class_after']:.1%}."
        )
    real = metrics.get("real_photos")
    if real and "top3_mean" in real:
        text += (
            f" On real photos the top class is right {real['mean_accuracy']:.0%} of the time and the right class "
            f"is among the three shown {real['top3_mean']:.0%} of the time (mean over the labels)."
        )
    return text


def _optional_download(source: Source, filename: str) -> Path | None:
    try:
        return Path(hf_hub_download(source.name, filename, revision=source.revision))
    except EntryNotFoundError:
        return None


def _read_json(path: Path, source: Source) -> dict[str, Any]:
    error = ModelFolderError if source.is_folder else HubError
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON ({err}); restore it from the training run.") from None
    if not isinstance(found, dict):
        raise error(f"{path} is not a JSON object; restore it from the training run.")
    return found
