"""The static Space: the app's prediction path in the browser, with no server (`space build --static`).

The bundle holds index.html and its ES modules (web/), model.onnx, model.json (the model's config,
class names, and every constant and message of model.preprocess and model.predict that the port
needs, written from the Python package so the two cannot drift apart), the examples, and the
JavaScript libraries vendored from node_modules (`npm ci` installs them at the versions of
package-lock.json), each with its licence.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from huggingface_hub import hf_hub_download

from model import artifacts, preprocess
from model.calibration import ROUGHNESS_PENALTY, Calibration
from model.errors import HubError
from model.hub_errors import describe_error
from model.loading import Source
from model.predict import (
    TOP_CLASSES,
    UNLIKE_TRAINING,
    UNSURE,
    UNSURE_BELOW,
    UNSURE_HEADLINE,
    UNSURE_NOTE,
    UNSURE_PERCENT,
)
from model.publishing import export
from model.publishing.bundle import BundleError, bundle_folder, hub_commit, hub_source, static_card
from model.tinyvgg import current_config

WEB = artifacts.CHECKOUT / "web"
NODE_MODULES = artifacts.CHECKOUT / "node_modules"
PAGE_FILES = ("index.html", "page.js", "tinyvgg.js")
# Vendored file -> where it comes from in node_modules.
VENDORED = {
    "vendor/onnxruntime-web/ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs": "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
    "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm": "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
    "vendor/opencv-js/opencv.js": "@techstark/opencv-js/dist/opencv.js",
    "vendor/opencv-js/LICENSE": "@techstark/opencv-js/LICENSE",
}
# onnxruntime-web's npm package names its licence (MIT) but ships no LICENSE file: this is the
# text of https://github.com/microsoft/onnxruntime/blob/main/LICENSE.
ONNXRUNTIME_LICENSE = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
# The constants and messages of model.preprocess that the port reads from model.json: every number
# it compares against and every message it shows that the Python app also shows.
PREPROCESS_NAMES = (
    "SIZE",
    "MAX_PIXELS",
    "MEGAPIXEL",
    "MIN_SIDE",
    "MARGIN",
    "DRAFT_SIDE",
    "DRAFT_ABOVE",
    "PLAIN_BORDER",
    "SMALL_SIDE",
    "WORK_SIDE",
    "GRABCUT_INSET",
    "GRABCUT_ITERATIONS",
    "GRABCUT_SEED",
    "SMOOTHING",
    "OPENING",
    "CONNECTIVITY",
    "MIN_GARMENT_SHARE",
    "GARMENT_FLOOR",
    "SHADING_PERCENTILES",
    "MIN_SHADING_RANGE",
    "LIGHT_BACKGROUND",
    "BLANK_PEAK",
    "STANDS_OUT",
    "SUBSAMPLE",
    "SMALL",
    "PLAIN",
    "SEGMENTED",
    "FRAME",
    "PHOTO_WAYS",
    "NO_GARMENT",
    # A template: the page fills in the formats its browser decodes, which are not all of Pillow's.
    "UNREADABLE",
    "TOO_LARGE",
    "TOO_SMALL",
    "TRUNCATED",
    "BLANK",
    "PIL_BOMB_PIXELS",
    "TOO_MANY_PIXELS",
)


def model_spec(config: dict, model_id: str | None = None, revision: str | None = None) -> dict:
    """model.json: what tinyvgg.js needs beside model.onnx."""
    return {
        "source": {"model": model_id, "revision": revision},
        "config": config,
        # Every calibration value, None where the model has none (model.calibration.Calibration).
        "calibration": Calibration.from_config(config["calibration"]).to_config(),
        "class_names": config["class_names"],
        "input_name": export.INPUT_NAME,
        "output_name": export.OUTPUT_NAME,
        "photo_output_name": export.PHOTO_OUTPUT_NAME,
        "top_classes": TOP_CLASSES,
        "unlike_training": UNLIKE_TRAINING,
        "unsure_below": UNSURE_BELOW,
        "unsure_percent": UNSURE_PERCENT,
        "unsure": UNSURE,
        "unsure_headline": UNSURE_HEADLINE,
        "unsure_note": UNSURE_NOTE,
        "roughness_penalty": ROUGHNESS_PENALTY,
        "preprocess": {name: getattr(preprocess, name) for name in PREPROCESS_NAMES},
    }


def build_static(
    out_dir: str | Path, model_id: str | None = None, title: str = "TinyVGG Fashion-MNIST", *, overwrite: bool = False
) -> Path:
    """Write the static Space folder; `model_id` (REPO_ID[@REVISION]) takes model.onnx and config.json from the Hub.

    The folder appears only once the whole bundle is written; `overwrite` replaces an earlier bundle there.

    Raises:
        BundleError: The output folder holds something (`bundle.bundle_folder`), the JavaScript libraries are not
            installed (`npm ci`), the shipped model has no model.onnx, or a model.onnx does not match its config.json.
        HubError: The Hub repo, or its model.onnx, cannot be read.
    """
    with bundle_folder(out_dir, overwrite=overwrite) as out:
        model = hub_source(model_id)
        missing = [source for source in VENDORED.values() if not (NODE_MODULES / source).is_file()]
        if missing:
            raise BundleError(
                f"{NODE_MODULES} lacks {', '.join(missing)}: install the JavaScript libraries with `npm ci` "
                "(make setup runs it)."
            )
        onnx, config_path, revision = _model_files(model)
        where = str(model) if model else str(onnx.parent)
        config = current_config(json.loads(config_path.read_text()), where)
        check_onnx(onnx, config, where)
        for name in PAGE_FILES:
            shutil.copy2(WEB / name, out / name)
        for target, source in VENDORED.items():
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(NODE_MODULES / source, out / target)
        (out / "vendor" / "onnxruntime-web" / "LICENSE").write_text(ONNXRUNTIME_LICENSE)
        shutil.copy2(onnx, out / artifacts.ONNX)
        spec = model_spec(config, model and model.name, revision)
        (out / "model.json").write_text(json.dumps(spec, indent=2) + "\n")
        examples = sorted(p for p in (artifacts.CHECKOUT / "examples").iterdir() if p.suffix in (".png", ".jpg"))
        (out / "examples").mkdir()
        for path in examples:
            shutil.copy2(path, out / "examples" / path.name)
        (out / "examples.json").write_text(json.dumps([p.name for p in examples]) + "\n")
        (out / "README.md").write_text(str(static_card(model, title)), encoding="utf-8")
    return Path(out_dir)


def _model_files(model: Source | None) -> tuple[Path, Path, str | None]:
    """(model.onnx, config.json, the commit they come from): the Hub repo's, or the shipped model's (no commit)."""
    if model is None:
        folder = artifacts.PRETRAINED
        onnx = folder / artifacts.ONNX
        if not onnx.is_file():
            raise BundleError(f"{onnx} is missing: write it with `python -m model.publishing.export {folder}`.")
        return onnx, folder / artifacts.CONFIG, None
    hub_commit(model)  # at once, in plain words, when the Hub lacks the repo or cannot be reached
    try:
        onnx = Path(hf_hub_download(model.name, artifacts.ONNX, revision=model.revision))
        config_path = Path(hf_hub_download(model.name, artifacts.CONFIG, revision=model.revision))
    except Exception as err:
        raise HubError(
            describe_error(err, model.name, model.revision, action="pull", filename=artifacts.ONNX)
            + f" The static Space needs the repo's {artifacts.ONNX}: `python -m model.publishing.export FOLDER` "
            "writes it, and `python -m model.publishing.hub push FOLDER REPO_ID` uploads it with the rest."
        ) from err
    return onnx, config_path, config_path.parent.name  # the commit of the snapshot


def check_onnx(onnx: Path, config: dict, source: str) -> None:
    """Refuse a model.onnx that is not the export of this config.json: the page reads both.

    Raises:
        BundleError: It lacks an output the page needs, or was exported before the calibration changed.
    """
    import onnx as onnx_lib

    graph = onnx_lib.load(str(onnx), load_external_data=False)
    outputs = {output.name for output in graph.graph.output}
    exported = json.loads({p.key: p.value for p in graph.metadata_props}.get("config", "null"))
    redo = "Export it again with `python -m model.publishing.export FOLDER` (and push it) before building the Space."
    if not {export.OUTPUT_NAME, export.PHOTO_OUTPUT_NAME} <= outputs:
        raise BundleError(
            f"{source}: {artifacts.ONNX} has no {export.PHOTO_OUTPUT_NAME} output (an older export). {redo}"
        )
    # Either may be written by an older version: compare what they mean (model.tinyvgg.current_config).
    if exported is None or current_config(exported, source) != current_config(config, source):
        raise BundleError(
            f"{source}: {artifacts.ONNX} was exported from another {artifacts.CONFIG} (calibration). {redo}"
        )


def downloaded_files(out_dir: str | Path) -> list[Path]:
    """What a browser downloads to open the page and answer: every file but the README and the examples."""
    return [p for p in Path(out_dir).rglob("*") if p.is_file() and p.name != "README.md" and "examples" not in p.parts]


def bundle_bytes(out_dir: str | Path) -> int:
    """The size of `downloaded_files`."""
    return sum(p.stat().st_size for p in downloaded_files(out_dir))
