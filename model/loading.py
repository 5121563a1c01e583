"""Load a TinyVGG from a folder or a Hub repo, the way its users will, with every failure in plain words."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import ModelCard, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
from safetensors import SafetensorError

from model import artifacts
from model.hub_errors import HubError, describe_error
from model.metrics import Metrics, MetricsError, read_metrics
from model.tinyvgg import ConfigError, TinyVGG


def load_folder(folder: str | Path) -> TinyVGG:
    """The model in a trained folder, or a HubError that says what is wrong with the folder.

    Raises:
        HubError: No weights, a broken config.json, or a config that does not match the weights.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder. Train one with `python train.py --output-dir {folder}`.")
    if not (folder / artifacts.WEIGHTS).is_file():
        raise HubError(
            f"{folder} has no {artifacts.WEIGHTS}, so there is no model in it. "
            f"Train with `python train.py --output-dir {folder}` first."
        )
    try:
        config = json.loads((folder / artifacts.CONFIG).read_text())
    except FileNotFoundError:
        raise HubError(
            f"{folder / artifacts.CONFIG} is missing; it holds the architecture. Retrain or restore it."
        ) from None
    except json.JSONDecodeError as err:
        raise HubError(
            f"{folder / artifacts.CONFIG} is not valid JSON ({err}). Restore it from the training run."
        ) from None
    if not isinstance(config, dict):
        raise HubError(f"{folder / artifacts.CONFIG} is not a JSON object. Restore it from the training run.")
    return _from_pretrained(folder, config=folder / artifacts.CONFIG, weights=folder / artifacts.WEIGHTS)


def load_pretrained(repo_id_or_folder: str, revision: str | None = None, **kwargs) -> TinyVGG:
    """`TinyVGG.from_pretrained` with its errors turned into a HubError that says what to do.

    Raises:
        HubError: The repo, revision or weights cannot be found or read, or the Hub cannot be reached.
    """
    if Path(repo_id_or_folder).is_dir():
        return load_folder(repo_id_or_folder)
    config = f"{repo_id_or_folder}: {artifacts.CONFIG}"
    return _from_pretrained(repo_id_or_folder, config=config, weights=artifacts.WEIGHTS, revision=revision, **kwargs)


def _from_pretrained(
    source: str | Path, *, config: str | Path, weights: str | Path, revision: str | None = None, **kwargs
) -> TinyVGG:
    """`TinyVGG.from_pretrained(source)`; every failure a HubError naming `config` or `weights` as users know them."""
    try:
        return TinyVGG.from_pretrained(source, revision=revision, **kwargs)
    except ConfigError as err:
        raise HubError(str(err)) from None
    except (HFValidationError, HfHubHTTPError) as err:  # some of them are ValueErrors too
        raise HubError(describe_error(err, str(source), revision, action="pull")) from err
    except (ValueError, TypeError) as err:  # values TinyVGG refuses, such as hidden_units: 0
        raise HubError(f"{config} holds values that build no TinyVGG: {err}. Restore it.") from None
    except SafetensorError as err:
        raise HubError(f"{weights} is not a readable safetensors file ({err}); it may be truncated.") from None
    except RuntimeError as err:
        raise HubError(f"{config} does not match {weights}: {_mismatch(err)}") from None
    except Exception as err:
        raise HubError(describe_error(err, str(source), revision, action="pull")) from err


@dataclass
class LoadedModel:
    """A model with what its files say about it: where it came from, its card's accuracy, its metrics."""

    model: TinyVGG
    source: str  # the folder or Hub repo id it was loaded from
    revision: str | None  # the commit loaded from the Hub; None for a folder
    test_accuracy: float | None  # from the card's eval results, else metrics.json
    metrics: Metrics | None  # metrics.json, when the model came with one
    confusion_matrix: Path | None


def load_model(spec: str | Path) -> LoadedModel:
    """Load `FOLDER` or `REPO_ID[@REVISION]`, with its card, metrics and confusion matrix when present.

    Raises:
        HubError: The model cannot be loaded; the message names the source and what to do.
    """
    source, _, revision = str(spec).partition("@")
    if Path(source).is_dir():
        model = load_folder(source)
        files = {name: Path(source) / name for name in artifacts.DESCRIPTION if (Path(source) / name).is_file()}
        revision = None
    elif "/" not in source or Path(source).exists():
        raise HubError(f"{source} is neither a model folder nor a Hub repo id of the form user/name.")
    else:
        model = load_pretrained(source, revision=revision or None)
        files = {
            name: path for name in artifacts.DESCRIPTION if (path := _optional_download(source, name, revision or None))
        }
        # Cached files live in .../snapshots/<commit>/<name>: that commit is the exact revision loaded.
        revision = files[artifacts.CONFIG].parent.name if artifacts.CONFIG in files else revision or "main"
    try:
        metrics = read_metrics(files[artifacts.METRICS]) if artifacts.METRICS in files else None
    except MetricsError as err:
        raise HubError(str(err)) from None
    accuracy = None
    if artifacts.CARD in files:
        results = ModelCard.load(files[artifacts.CARD]).data.eval_results or []
        accuracy = next((r.metric_value for r in results if r.metric_type == "accuracy"), None)
    if accuracy is None and metrics:
        accuracy = metrics.get("test_accuracy")
    return LoadedModel(model, source, revision, accuracy, metrics, files.get(artifacts.CONFUSION_MATRIX))


def _optional_download(repo_id: str, filename: str, revision: str | None) -> Path | None:
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except EntryNotFoundError:
        return None


def _mismatch(err: RuntimeError) -> str:
    """The useful part of load_state_dict's error: which tensors, which shapes."""
    sizes = re.findall(
        r"size mismatch for ([\w.]+): copying a param with shape torch.Size\((\[.*?\])\) from checkpoint, "
        r"the shape in current model is torch.Size\((\[.*?\])\)",
        str(err),
    )
    if sizes:
        return "; ".join(
            f"{name} is {saved} in the weights but {built} in the model config.json describes"
            for name, saved, built in sizes
        )
    return str(err).splitlines()[0] if str(err) else repr(err)
