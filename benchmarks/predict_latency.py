"""Prediction latency: the model alone, in-process, through the HTTP API against a trivial Gradio app, and start-up.

    python benchmarks/predict_latency.py [--repeats 5] [--model-calls 2000] [--calls 200] [--http-calls 100]
                                         [--model-only]

The machines are shared and noisy, so parts 0 and 1 run --repeats times: each figure is the median
of those runs' medians, with the lowest and highest run beside it.

0. The shipped model alone on one preprocessed 28x28 image (a 1x1x28x28 float32 input), one
   thread each: PyTorch (`model(x)` under inference_mode) and ONNX Runtime (model/pretrained/model.onnx,
   one intra-op thread), measured the same way in the same run, median over --model-calls.
1. `model.classify` in-process (what `app.predict` calls), with the app's thread setting, decoding and
   preprocessing (GrabCut included) counted: a 1000x1000 phone JPEG of a dress on a rug, and a 28x28
   PNG, median over --calls after a warm-up.
2. `/predict` through gradio_client against a trivial Gradio app that returns a fixed label for
   the same phone JPEG, the two called alternately, in the same run: median round trips and ratio.
3. Start-up: from starting `python app.py` to its first successful prediction.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app_server import ROOT, free_port  # beside this script, shared with the tests
from PIL import Image

from model.training.device import processor_name

PRETRAINED = ROOT / "model" / "pretrained"

TRIVIAL_APP = """
import sys, gradio as gr

def predict(image):
    return {"Sneaker": 1.0}, "", "0 ms"
with gr.Blocks() as demo:
    image = gr.Image(type="filepath")
    label, warning, timing = gr.Label(), gr.Textbox(), gr.Textbox()
    gr.Button().click(predict, image, [label, warning, timing], api_name="predict")
demo.queue(default_concurrency_limit=4).launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""


def photo_1000(tmp: Path) -> Path:
    """A 1000x1000 phone JPEG: a dress on a patterned rug (tests/photos), stretched to a square."""
    with Image.open(ROOT / "tests" / "photos" / "dress-on-rug.jpg") as photo:
        square = photo.convert("RGB").resize((1000, 1000), Image.Resampling.BICUBIC)
    path = tmp / "photo-1000.jpg"
    square.save(path, quality=90)
    return path


def median_ms(fn, calls: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def over_runs(values: list[float], digits: int = 2) -> str:
    """A figure measured once per run: the median of the runs, and their range."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f} ms"
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} ms ({low:.{digits}f}-{high:.{digits}f} over {len(values)} runs)"


def model_latency(calls: int) -> tuple[float, float]:
    """Median ms of one single-image forward pass: (PyTorch, ONNX Runtime), fp32 on one thread each."""
    import onnxruntime
    import torch

    from model import artifacts
    from model.preprocess import prepare_image, to_inputs
    from model.publishing.export import INPUT_NAME, OUTPUT_NAME
    from model.tinyvgg import TinyVGG

    onnx_path = PRETRAINED / artifacts.ONNX
    if not onnx_path.is_file():
        raise SystemExit(f"{onnx_path} not found: write it with `python -m model.publishing.export model/pretrained`")
    model = TinyVGG.from_pretrained(PRETRAINED)
    pixels = to_inputs(prepare_image(ROOT / "examples" / "7-sneaker.png").pixels[None])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {INPUT_NAME: pixels.numpy()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            torch_ms = median_ms(lambda: model(pixels), calls)
    finally:
        torch.set_num_threads(threads)
    onnx_ms = median_ms(lambda: session.run([OUTPUT_NAME], feed), calls)
    return torch_ms, onnx_ms


def launch(command: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([*command, str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/"


def wait_for_prediction(url: str, image: Path, proc: subprocess.Popen, timeout: float = 120):
    from gradio_client import Client, handle_file

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            client = Client(url, verbose=False)
            client.predict(handle_file(image), api_name="/predict")
            return client
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-calls", type=int, default=2000, help="model-only calls per runtime (default: 2000)")
    parser.add_argument("--calls", type=int, default=200, help="in-process calls per image (default: 200)")
    parser.add_argument("--http-calls", type=int, default=100, help="HTTP calls per app (default: 100)")
    parser.add_argument("--model-only", action="store_true", help="measure only the model alone (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the model and in-process parts (default: 5)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    print(f"CPU: {processor_name()}")

    torch_runs, onnx_runs = zip(*(model_latency(args.model_calls) for _ in range(args.repeats)))
    ratios = [t / o for t, o in zip(torch_runs, onnx_runs)]
    print(
        f"model alone, one 28x28 image, 1 thread: PyTorch {over_runs(list(torch_runs), 3)}, "
        f"ONNX Runtime {over_runs(list(onnx_runs), 3)}; PyTorch / ONNX Runtime {statistics.median(ratios):.2f}x"
    )
    if args.model_only:
        return 0

    import torch

    from model import TinyVGG, classify
    from model.predict import PREDICTION_THREADS

    torch.set_num_threads(PREDICTION_THREADS)  # as `python app.py` does
    model = TinyVGG.from_pretrained(PRETRAINED)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = photo_1000(tmp)
        small = ROOT / "examples" / "7-sneaker.png"
        jpeg_runs, png_runs = [], []
        for _ in range(args.repeats):
            jpeg_runs.append(median_ms(lambda: classify(big, model), args.calls))
            png_runs.append(median_ms(lambda: classify(small, model), args.calls))
        print(f"in-process predict, 1000x1000 phone JPEG: {over_runs(jpeg_runs)}")
        print(f"in-process predict, 28x28 PNG:      {over_runs(png_runs)}")

        started = time.perf_counter()
        ours, our_url = launch([sys.executable, "app.py", "--port"])
        try:
            client = wait_for_prediction(our_url, small, ours)
            print(f"start-up, python app.py to first prediction: {time.perf_counter() - started:.1f} s")
            (tmp / "trivial_app.py").write_text(TRIVIAL_APP)
            trivial, trivial_url = launch([sys.executable, str(tmp / "trivial_app.py")])
            try:
                from gradio_client import handle_file

                baseline = wait_for_prediction(trivial_url, small, trivial)
                ours_times, trivial_times = [], []
                for _ in range(args.http_calls):
                    for target, times in ((client, ours_times), (baseline, trivial_times)):
                        begun = time.perf_counter()
                        target.predict(handle_file(big), api_name="/predict")
                        times.append(time.perf_counter() - begun)
            finally:
                trivial.terminate()
        finally:
            ours.terminate()
    ours_ms, trivial_ms = 1000 * statistics.median(ours_times), 1000 * statistics.median(trivial_times)
    print(
        f"HTTP /predict round trip, median: app {ours_ms:.1f} ms, trivial app {trivial_ms:.1f} ms, "
        f"ratio {ours_ms / trivial_ms:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
