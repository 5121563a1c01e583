"""The one way to load a TinyVGG: a folder or REPO_ID[@REVISION], with every failure in plain words.

    from model.loading import load
    model = load("model/pretrained")           # a folder written by train.py
    model = load("your-name/tinyvgg@v1")       # a Hub repo at a branch, tag or commit

`TinyVGG.from_pretrained` is the mixin's loader underneath; `load` adds the errors a user can act on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
)
from safetensors import SafetensorError

from model import artifacts
from model.errors import ConfigError, HubError, ModelFolderError
from model.hub_errors import describe_error
from model.tinyvgg import TinyVGG


@dataclass(frozen=True)
class Source:
    """Where a model comes from: a local folder, or a Hub repo at a revision (None: the default branch)."""

    name: str  # the folder's path or the repo id
    revision: str | None = None
    is_folder: bool = False

    def __str__(self) -> str:
        return f"{self.name}@{self.revision}" if self.revision else self.name


def parse_source(spec: str | Path, revision: str | None = None) -> Source:
    """`FOLDER` or `REPO_ID[@REVISION]`; `revision`, when given, wins over the one after @.

    An existing folder is a folder, whatever its name; anything else is a Hub repo id.
    """
    if Path(spec).is_dir():
        return Source(str(spec), None, is_folder=True)
    name, _, at = str(spec).partition("@")
    return Source(name, revision or at or None)


def load(spec: str | Path | Source, revision: str | None = None, *, cache_dir: str | Path | None = None) -> TinyVGG:
    """The model in a folder or a Hub repo (`parse_source`), in eval mode; a repo is cached in `cache_dir`
    (default: the Hub client's cache).

    Raises:
        ModelFolderError: A folder that holds no model (missing, no weights, broken config.json).
        HubError: The repo, revision or weights cannot be found or read, or the Hub cannot be reached.
    """
    source = spec if isinstance(spec, Source) else parse_source(spec, revision)
    if source.is_folder:
        return _load_folder(Path(source.name))
    # A typo in a folder's name looks like a repo id: TinyVGG.from_pretrained says that no such folder exists either.
    return _from_pretrained(source.name, source.revision, HubError, cache_dir=cache_dir)


def load_folder(folder: str | Path) -> TinyVGG:
    """`load` for a path that must be a folder (to push, export or bundle it): never looked up on the Hub."""
    return load(Source(str(folder), is_folder=True))


def _load_folder(folder: Path) -> TinyVGG:
    if not folder.is_dir():
        raise ModelFolderError(f"{folder} is not a folder. Train one with `python train.py --output-dir {folder}`.")
    config_file = folder / artifacts.CONFIG
    if config_file.is_file():
        try:
            config = json.loads(config_file.read_text())
        except json.JSONDecodeError as err:
            raise ModelFolderError(
                f"{config_file} is not valid JSON ({err}). Restore it from the training run."
            ) from None
        if not isinstance(config, dict):
            raise ModelFolderError(f"{config_file} is not a JSON object. Restore it from the training run.")
    elif (folder / artifacts.WEIGHTS).is_file():
        # Without config.json the mixin would build the default TinyVGG around these weights.
        raise ModelFolderError(f"{config_file} is missing; it holds the architecture. Retrain or restore it.")
    # TinyVGG.from_pretrained names missing weights.
    return _from_pretrained(folder, None, ModelFolderError)


def _from_pretrained(
    source: str | Path, revision: str | None, error: type[Exception], cache_dir: str | Path | None = None
) -> TinyVGG:
    """`TinyVGG.from_pretrained(source)`; each failure an `error` that names config.json or the weights."""
    local = isinstance(source, Path)
    config = source / artifacts.CONFIG if local else f"{source}: {artifacts.CONFIG}"
    weights = source / artifacts.WEIGHTS if local else artifacts.WEIGHTS
    try:
        return TinyVGG.from_pretrained(source, revision=revision, cache_dir=cache_dir)
    except ConfigError as err:
        raise error(str(err)) from None
    except (HubError, ModelFolderError) as err:  # already in plain words (model.hub_errors.find_on_hub)
        raise (error if local else type(err))(str(err)) from err.__cause__
    except (HFValidationError, HfHubHTTPError) as err:  # some of them are ValueErrors too
        raise error(describe_error(err, str(source), revision, action="pull")) from err
    except (ValueError, TypeError) as err:  # values TinyVGG refuses, such as hidden_units: 0
        raise error(f"{config} holds values that build no TinyVGG: {err}. Restore it.") from None
    except SafetensorError as err:
        raise error(f"{weights} is not a readable safetensors file ({err}); it may be truncated.") from None
    except RuntimeError as err:
        raise error(f"{config} does not match {weights}: {_mismatch(err)}") from None
    except Exception as err:
        raise error(describe_error(err, str(source), revision, action="pull")) from err


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
