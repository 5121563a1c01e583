"""ONNX weights beside the safetensors, checked against PyTorch on the test set before they are kept.

    python -m model.publishing.export FOLDER [--opset 18] [--data-dir DIR]

Writes FOLDER/model.onnx: input "pixels", float32 (N, 1, 28, 28) in [0, 1]; outputs "logits" and
"photo_logits", float32 (N, 10). The input normalisation and the calibration temperatures are inside
the graph, as they are inside `TinyVGG.forward` and `model.calibration.photo_logits`, and the class names travel in the
model's metadata_props.
The file replaces an old one only when ONNX Runtime agrees with PyTorch on the 10,000 test images.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from model import artifacts
from model.calibration import photo_logits
from model.errors import ModelFolderError
from model.files import atomic_path
from model.loading import load_folder
from model.preprocess import to_inputs
from model.publishing.card import write_card
from model.tinyvgg import TinyVGG
from model.training.data import DataError, load_fashion_mnist
from model.training.metrics import MetricsError

INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
PHOTO_OUTPUT_NAME = "photo_logits"
# torch's exporter implements the operators at opset 18 and up (lower ones go through a lossy
# version converter); 18 is the oldest, so the one most runtimes read (ONNX Runtime 1.14 on).
MIN_OPSET = 18
MAX_OPSET = 23  # the newest that torch 2.14's exporter knows
# What the check demands. Both runtimes compute in float32 but fuse and order the sums
# differently (the exporter folds BatchNorm into the convolutions), so logits differ by rounding
# error, far below MAX_ABS_DIFF; the export prints the largest difference it found.
MIN_AGREEMENT = 0.999
MAX_ABS_DIFF = 1e-4
INPUT_DOC = (
    "pixels: float32 (N, 1, 28, 28), a light garment on a black background scaled to [0, 1] "
    "(model.preprocess); the model normalises it itself"
)
OUTPUT_DOC = (
    "logits: float32 (N, num_classes), already divided by the calibration temperature: "
    "softmax gives calibrated probabilities, in the order of class_names; photo_logits: the same "
    "divided by the photo temperature instead, for phone photos that were segmented or taken whole"
)


class ExportError(RuntimeError):
    """The folder cannot be exported, or the export disagrees with PyTorch; the message says what to do."""


@dataclass(frozen=True)
class Agreement:
    """How closely ONNX Runtime reproduces PyTorch on a set of images."""

    images: int
    same_class: float  # share of images whose top class is the same
    max_abs_diff: float  # largest |logit difference| over all images and classes

    @property
    def ok(self) -> bool:
        return self.same_class >= MIN_AGREEMENT and self.max_abs_diff <= MAX_ABS_DIFF


class _BothLogits(torch.nn.Module):
    """The graph's two outputs: logits for Fashion-MNIST-like images and for phone photos."""

    def __init__(self, model: TinyVGG) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        return logits, photo_logits(self.model.calibration, logits)


def export(model: TinyVGG, path: str | Path, opset: int = MIN_OPSET) -> Path:
    """Write `model` as one self-contained ONNX file with a dynamic batch dimension, atomically.

    The model is traced in eval mode (BatchNorm's running statistics, no dropout).
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    was_training = model.training
    model.eval()
    try:
        # A batch of 2, not 1: torch.export specialises a dimension whose example size is 1.
        program = torch.onnx.export(
            _BothLogits(model).eval(),
            (torch.rand(2, 1, 28, 28),),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, PHOTO_OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    finally:
        model.train(was_training)
    # Each node records the stack trace that made it: absolute paths and line numbers of this checkout.
    # Dropped, so the same weights export to the same bytes wherever the checkout is.
    for node in program.model.graph.all_nodes():
        node.metadata_props.clear()
    program.model.doc_string = "TinyVGG trained on Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist)"
    program.model.metadata_props.update(
        {
            "class_names": json.dumps(list(model.class_names)),
            "input": INPUT_DOC,
            "output": OUTPUT_DOC,
            # The arguments of TinyVGG, for what the graph does not compute (the out-of-distribution score).
            "config": json.dumps(model.config),
        }
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        program.save(tmp, external_data=False)
    return path


def check(onnx_path: str | Path, model: TinyVGG, inputs: torch.Tensor, batch_size: int = 1000) -> Agreement:
    """Run the ONNX file in ONNX Runtime and `model` (in eval mode) in PyTorch on `inputs` (N, 1, 28, 28).

    Both outputs are compared: the logits and the photo logits.
    """
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    same, max_diff = 0, 0.0
    with torch.inference_mode():
        for batch in inputs.split(batch_size):
            logits = model(batch)
            expected = (logits.numpy(), photo_logits(model.calibration, logits).numpy())
            got = session.run([OUTPUT_NAME, PHOTO_OUTPUT_NAME], {INPUT_NAME: batch.numpy()})
            same += int((got[0].argmax(1) == expected[0].argmax(1)).sum())
            max_diff = max(max_diff, *(float(np.abs(g - e).max()) for g, e in zip(got, expected)))
    return Agreement(images=len(inputs), same_class=same / len(inputs), max_abs_diff=max_diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.publishing.export", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a folder written by train.py (e.g. model/pretrained); model.onnx goes there")
    parser.add_argument(
        "--opset",
        type=int,
        default=MIN_OPSET,
        help=f"ONNX operator set, {MIN_OPSET} to {MAX_OPSET} (default: {MIN_OPSET}, read by the most runtimes)",
    )
    parser.add_argument(
        "--data-dir",
        help="folder with the Fashion-MNIST IDX files (default: as `python -m model.training.data` finds them)",
    )
    args = parser.parse_args(argv)
    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        parser.error(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}, got {args.opset}")

    try:
        model = load_folder(args.folder)
        # The check needs the test set: find that out before spending seconds on the export.
        inputs = to_inputs(load_fashion_mnist(args.data_dir).test_images)
        path = Path(args.folder) / artifacts.ONNX
        # Export and check under a temporary name, so a failed check leaves any previous model.onnx as it was.
        with atomic_path(path) as tmp:
            export(model, tmp, opset=args.opset)
            agreement = check(tmp, model, inputs)
            print(
                f"ONNX Runtime vs PyTorch on the {agreement.images:,} test images: same class for "
                f"{agreement.same_class:.2%}, max |logit difference| {agreement.max_abs_diff:.1e}"
            )
            if not agreement.ok:
                raise ExportError(
                    f"the ONNX model disagrees with PyTorch (needs the same class for at least {MIN_AGREEMENT:.1%} "
                    f"and logits within {MAX_ABS_DIFF:.0e}), so {path} was not written. Try another --opset, "
                    "or report it with the versions of torch, onnxscript and onnxruntime."
                )
    except (ExportError, DataError, ModelFolderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path} (opset {args.opset}, {path.stat().st_size / 1024:.0f} KiB)")
    if (Path(args.folder) / artifacts.CARD).is_file():
        try:
            print(f"updated {write_card(args.folder, model)}")  # the card now shows how to run model.onnx
        except MetricsError as err:
            print(f"error: the card was not updated: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
