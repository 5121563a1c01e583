"""Load a TinyVGG from a folder or a Hub repo, the way its users will, with every failure in plain words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from safetensors import SafetensorError

from model.hub_errors import HubError, describe_error
from model.tinyvgg import CONFIG_FILE, WEIGHTS_FILE, ConfigError, TinyVGG

# What describes a model beside its weights: read by the app's "About this model" panel, shipped in Spaces.
MODEL_FILES = (CONFIG_FILE, "README.md", "metrics.json", "confusion_matrix.png")


def load_folder(folder: str | Path) -> TinyVGG:
    """The model in a trained folder, or a HubError that says what is wrong with the folder.

    Raises:
        HubError: No weights, a broken config.json, or a config that does not match the weights.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder. Train one with `python train.py --output-dir {folder}`.")
    if not (folder / WEIGHTS_FILE).is_file():
        raise HubError(
            f"{folder} has no {WEIGHTS_FILE}, so there is no model in it. "
            f"Train with `python train.py --output-dir {folder}` first."
        )
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise HubError(
            f"{folder / CONFIG_FILE} is missing; it holds the architecture. Retrain or restore it."
        ) from None
    except json.JSONDecodeError as err:
        raise HubError(f"{folder / CONFIG_FILE} is not valid JSON ({err}). Restore it from the training run.") from None
    if not isinstance(config, dict):
        raise HubError(f"{folder / CONFIG_FILE} is not a JSON object. Restore it from the training run.")
    return _from_pretrained(folder, config=folder / CONFIG_FILE, weights=folder / WEIGHTS_FILE)


def load_pretrained(repo_id_or_folder: str, revision: str | None = None, **kwargs) -> TinyVGG:
    """`TinyVGG.from_pretrained` with its errors turned into a HubError that says what to do.

    Raises:
        HubError: The repo, revision or weights cannot be found or read, or the Hub cannot be reached.
    """
    if Path(repo_id_or_folder).is_dir():
        return load_folder(repo_id_or_folder)
    config = f"{repo_id_or_folder}: {CONFIG_FILE}"
    return _from_pretrained(repo_id_or_folder, config=config, weights=WEIGHTS_FILE, revision=revision, **kwargs)


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
