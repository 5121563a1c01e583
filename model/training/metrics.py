"""The schema of metrics.json: what train.py writes, what calibration and the real-photo benchmark add.

The card, the app's "About this model" panel, the README's results block and the benchmarks read
metrics.json through `read_metrics`, which checks it against these types, so a file written by
another version fails with a message naming the key instead of a KeyError deep in a template.
"""

import json
import types
import typing
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from model.artifacts import METRICS
from model.files import write_json


class Epoch(TypedDict):
    epoch: int
    train_loss: float
    train_accuracy: float
    lr: float
    epoch_seconds: float
    elapsed_seconds: float  # since training began, evaluation excluded
    val_loss: NotRequired[float]  # absent when the run held out no validation images
    val_accuracy: NotRequired[float]
    test_accuracy: NotRequired[float]  # on a test subset, for the curves; never used to choose anything
    test_loss: NotRequired[float]


class ClassScores(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


class Data(TypedDict):
    source: str  # the folder or download the images came from
    sha256: dict[str, str]  # file name -> SHA-256 of its decompressed bytes
    train_images: int
    val_images: int
    test_images: int


class Environment(TypedDict):
    device: str
    precision: NotRequired[str]  # what --precision resolved to; older runs did not record it
    cpu: NotRequired[str]  # the processor's model name; older runs did not record it
    python: str
    torch: str


class Calibration(TypedDict):
    """The Fashion-MNIST temperature (model.training.calibrate.calibrate), fitted on the validation images."""

    temperature: float
    ece_before: float  # on the test set, 15 bins
    ece_after: float
    bins: int


class Ood(TypedDict):
    """The warning's score (how unlike the training images an image is) and its threshold (model.training.calibrate)."""

    method: str
    max_roughness: float
    threshold: float
    keep: float  # the share of held-out training images, made photo-like, that pass
    auroc: dict[str, float]  # image kind -> AUROC against held-out training images
    false_accept: dict[str, float]
    test_pass_rate: float


class PhotoCalibration(TypedDict):
    """`python -m model.publishing.recalibrate FOLDER --photos DIR`: the photo temperature and the frame threshold."""

    photo_temperature: float
    frame_threshold: float | None
    frame_keep: float
    photos: list[str]  # the photo sets it was fitted on
    fitted_on: int
    answered: int
    answered_single_class: int
    ways: dict[str, int]
    ece_before: float
    ece_after: float
    ece_single_class_before: float
    ece_single_class_after: float


class RealPhotos(TypedDict):
    """`python benchmarks/real_photos.py DIR --record FOLDER`: the model on people's own photos."""

    photos: int
    mapped_photos: int
    per_label: dict[str, float]  # label -> accuracy
    mean_accuracy: float  # the mean of per_label
    warned: float
    right: dict[str, list[str]]  # label -> the classes that count as right
    source_url: str
    license: str
    command: str
    top3_per_label: NotRequired[dict[str, float]]
    top3_mean: NotRequired[float]
    ece: NotRequired[float | None]  # None where no photo qualifies
    ece_bins: NotRequired[int]
    ece_single_class: NotRequired[float | None]  # None where no photo qualifies
    ece_noise_floor: NotRequired[float | None]  # None where no photo qualifies
    mean_confidence: NotRequired[float | None]  # None where no photo qualifies
    answered_accuracy: NotRequired[float | None]  # None where no photo qualifies
    refused: NotRequired[float]
    others_sure: NotRequired[float | None]  # None where no photo qualifies
    unsure: NotRequired[float | None]  # None where no photo qualifies
    right_when_unsure: NotRequired[float | None]  # None where no photo qualifies
    right_when_sure: NotRequired[float | None]  # None where no photo qualifies
    others_unsure: NotRequired[float | None]  # None where no photo qualifies
    ways: NotRequired[dict[str, int]]
    errors: NotRequired[int]
    confusion: NotRequired[dict[str, dict[str, int]]]
    ms_per_photo_median: NotRequired[float]


class ProductClass(TypedDict):
    photos: int
    accuracy: float
    answers: dict[str, int]  # class shown -> photos, the right one included


class ProductPhotos(TypedDict):
    """`python benchmarks/product_photos.py DIR --record FOLDER`: the model on shop photos of footwear and bags."""

    photos: int
    per_class: dict[str, ProductClass]
    mean_accuracy: float  # the mean of the per-class accuracies
    warned: float
    refused: float
    unsure: float
    source: str
    license: str
    command: str


class ShopPhotos(TypedDict):
    """`python benchmarks/shop_photos.py --record FOLDER`: the test images as shop photos, through the app's
    preprocessing, against the 28x28 originals."""

    images: int
    original_accuracy: float
    accuracy: float
    same_prediction: float  # the share of images answered as their 28x28 original is
    ms_per_photo: float  # decoding and preprocessing
    command: str


class Candidate(TypedDict):
    name: str  # what the run is, as `benchmarks/candidates.py NAME=RUN` named it
    product_photos: float  # the product photos' mean of the per-class accuracies
    phone_photos_large: float  # real-photos-large's mean of the per-label accuracies
    phone_photos: float  # real-photos' (the 290) mean of the per-label accuracies
    test_accuracy: float  # Fashion-MNIST, from the run's metrics.json
    # The run's train_seconds / 60, on the machine it trained on; absent in records from before it.
    train_minutes: NotRequired[float]


class Candidates(TypedDict):
    """`python benchmarks/candidates.py NAME=RUN... --record FOLDER`: the runs weighed against this model, all
    measured the same way, and this model itself."""

    this: Candidate
    runs: list[Candidate]
    command: str


class Recipe(TypedDict):
    """One recipe of `benchmarks/recipes.py`, over its seeds: each figure's mean, lowest and highest."""

    name: str
    flags: list[str]  # what it changes in the default preset (train.py flags)
    seeds: list[int]
    tflop: float  # the operations of its training, evaluation excluded
    train_minutes: float  # the mean over the seeds, on the machine of `Recipes.machine`
    means: dict[str, float]  # figure -> mean over the seeds
    lowest: dict[str, float]
    highest: dict[str, float]


class Recipes(TypedDict):
    """`python benchmarks/recipes.py ... --record FOLDER`: the recipes weighed for this model, on several seeds."""

    this: str  # the recipe this model was trained with
    recipes: list[Recipe]
    machine: str
    command: str


class Metrics(TypedDict):
    """metrics.json."""

    test_accuracy: float
    test_loss: float
    num_parameters: int
    train_seconds: float
    train_images_per_second: float
    history: list[Epoch]
    per_class: dict[str, ClassScores]
    command: str  # the train.py command line that reproduces the run
    data: Data
    environment: Environment
    calibration: NotRequired[Calibration]  # absent when the run held out no validation images
    ood: NotRequired[Ood]
    photo_calibration: NotRequired[PhotoCalibration]
    real_photos: NotRequired[RealPhotos]
    product_photos: NotRequired[ProductPhotos]
    shop_photos: NotRequired[ShopPhotos]
    candidates: NotRequired[Candidates]
    recipes: NotRequired[Recipes]


class MetricsError(ValueError):
    """A metrics.json that does not follow the schema."""


def read_metrics(path: str | Path) -> Metrics:
    """metrics.json, from a run folder or the file itself, checked against `Metrics`.

    Raises:
        MetricsError: It is not JSON, or a key is missing or of the wrong type; the message names it.
        FileNotFoundError: There is no metrics.json.
    """
    path = Path(path)
    path = path / METRICS if path.is_dir() else path
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise MetricsError(f"{path} is not valid JSON ({err}); restore it from the training run.") from None
    return check_metrics(metrics, source=str(path))


def write_metrics(folder: str | Path, metrics: Metrics) -> Path:
    """Check `metrics` against the schema and write it as `folder`/metrics.json, atomically."""
    path = Path(folder) / METRICS
    write_json(path, check_metrics(metrics, source=str(path)))
    return path


def check_metrics(metrics: Any, source: str = METRICS) -> Metrics:
    """`metrics` itself when it follows `Metrics`.

    Raises:
        MetricsError: Naming the first key that is missing or of the wrong type.
    """
    _check(metrics, Metrics, source, "")
    return metrics


def _check(value: Any, kind: Any, source: str, where: str) -> None:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if typing.is_typeddict(kind):
        if not isinstance(value, dict):
            raise MetricsError(f"{source}: {where or 'the file'} should be an object, not {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        for key in sorted(kind.__required_keys__ - value.keys()):
            raise MetricsError(f"{source} lacks {where}{key}; it was written by another version or edited.")
        for key in hints.keys() & value.keys():
            _check(value[key], hints[key], source, f"{where}{key}.")
    elif origin in (types.UnionType, typing.Union):
        if not any(_matches(value, arg) for arg in args):
            raise MetricsError(f"{source}: {where[:-1]} is {value!r}, which is none of {kind}")
    elif origin is dict:
        if not isinstance(value, dict):
            raise MetricsError(f"{source}: {where[:-1]} should be an object, not {type(value).__name__}")
        for key, item in value.items():
            _check(item, args[1], source, f"{where}{key}.")
    elif origin is list:
        if not isinstance(value, list):
            raise MetricsError(f"{source}: {where[:-1]} should be a list, not {type(value).__name__}")
        for i, item in enumerate(value):
            _check(item, args[0], source, f"{where}{i}.")
    elif not _matches(value, kind):
        raise MetricsError(f"{source}: {where[:-1]} should be {kind.__name__}, not {value!r}")


def _matches(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is float:  # JSON writes 1.0 as 1.0 but a hand-made 1 is a number too
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(kind) is not None or typing.is_typeddict(kind):
        try:
            _check(value, kind, "", "")
        except MetricsError:
            return False
        return True
    return isinstance(value, kind)
