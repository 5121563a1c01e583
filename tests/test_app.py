"""The Gradio app: predict() in-process, and the running server through gradio_client and raw HTTP."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import httpx
import pytest
import torch
from gradio.data_classes import ImageData
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from benchmarks.app_server import free_port, start_app, stop
from benchmarks.bad_images import EXPECTED, make_cases
from model.app.facts import about, load_with_facts
from model.predict import UNLIKE_TRAINING, UNSURE_HEADLINE, classify
from model.preprocess import ImageError, prepare_image
from model.publishing.hub import push
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*"))
REAL_EXAMPLES = [p for p in EXAMPLES if p.suffix == ".png"]
FOOTWEAR = {"Sandal", "Sneaker", "Ankle boot"}
CONFIG = json.loads((ROOT / "model" / "pretrained" / "config.json").read_text())


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return make_cases(tmp_path_factory.mktemp("bad-images"))


@pytest.mark.parametrize("path", REAL_EXAMPLES, ids=lambda p: p.name)
def test_predict_recognises_each_real_test_example(path):
    expected = CONFIG["class_names"][int(path.name.split("-")[0])]

    probabilities = app.predict(path)

    assert max(probabilities, key=probabilities.get) == expected
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert list(probabilities) == CONFIG["class_names"]


def test_classify_is_the_one_path_predict_and_the_buttons_take():
    photo = ROOT / "examples" / "phone-dress.jpg"
    model = app.default_model().model

    answer = classify(photo, model)

    assert torch.equal(answer.pixels, prepare_image(photo).pixels), "the 28x28 image the preview and heatmap will show"
    assert answer.probabilities == app.predict(photo)
    assert answer.warning == "" and answer.milliseconds > 0


@pytest.mark.parametrize(
    "name, right", [("phone-dress.jpg", {"Dress"}), ("phone-jacket.jpg", {"Coat"}), ("phone-sandals.jpg", FOOTWEAR)]
)
def test_predict_recognises_each_phone_photo_example(name, right):
    probabilities = app.predict(ROOT / "examples" / name)

    assert max(probabilities, key=probabilities.get) in right


def test_predict_raises_a_clear_error_for_a_file_that_is_not_an_image(cases):
    with pytest.raises(ImageError, match="not an image"):
        app.predict(cases["text_file.png"])


@pytest.mark.slow
def test_the_api_returns_the_label_and_the_time_but_no_image(client):
    label, warning, timing = client.predict(handle_file(ROOT / "examples" / "shop-sneaker.jpg"), api_name="/predict")

    assert label["label"] == "Sneaker"
    assert {c["label"] for c in label["confidences"]} <= set(CONFIG["class_names"])
    assert timing.endswith(" ms")
    assert warning == "", "a shop photo of a sneaker is clothing"
    # /predict and /predict_sketch stay callable but undocumented: every documented endpoint is an MCP tool.
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/classify_clothing"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED), ids=str)
def test_each_bad_input_gets_an_answer_and_the_next_request_works(client, cases, name):
    if EXPECTED[name] == "ok":
        label, *_ = client.predict(handle_file(cases[name]), api_name="/predict")
        assert label["label"] in CONFIG["class_names"]
    else:
        with pytest.raises(AppError, match=EXPECTED[name]):
            client.predict(handle_file(cases[name]), api_name="/predict")

    label, *_ = client.predict(handle_file(REAL_EXAMPLES[1]), api_name="/predict")
    assert label["label"] == "Trouser"


@pytest.mark.slow
def test_the_server_refuses_uploads_over_the_size_limit(server, client):
    too_big = b"\xff\xd8" + bytes(11 * 1024 * 1024)  # 11 MB, over the 10 MB limit

    response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.jpg", too_big, "image/jpeg")})

    assert response.status_code == 413
    label, *_ = client.predict(handle_file(REAL_EXAMPLES[0]), api_name="/predict")
    assert label["label"] == CONFIG["class_names"][0]


@pytest.mark.slow
def test_sixteen_concurrent_identical_uploads_all_succeed(server):
    photo = handle_file(ROOT / "examples" / "shop-bag.jpg")

    def one(_):
        return Client(server, verbose=False).predict(photo, api_name="/predict")[0]["label"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        labels = list(pool.map(one, range(16)))

    assert labels == ["Bag"] * 16


@pytest.mark.slow
def test_the_app_serves_a_model_from_the_hub(hub_server, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    folder = shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "model")
    push(folder, "alice/tinyvgg-app")
    monkeypatch.delenv("HF_TOKEN")  # a public repo needs no token to read
    commit = hub_server.repo("alice/tinyvgg-app").branches["main"]

    proc, url = start_app("--model", "alice/tinyvgg-app")
    try:
        label, *_ = Client(url, verbose=False).predict(handle_file(REAL_EXAMPLES[7]), api_name="/predict")
        page_config = httpx.get(f"{url}config").text
    finally:
        stop(proc)

    assert label["label"] == "Sneaker"
    assert "alice/tinyvgg-app" in page_config and commit in page_config


@pytest.mark.slow
def test_a_model_that_cannot_be_loaded_stops_start_up_with_the_reason(hub_server):
    result = subprocess.run(
        [sys.executable, "app.py", "--model", "alice/no-such-model", "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
    )

    assert result.returncode == 1
    assert "cannot load the model from alice/no-such-model" in result.stderr
    assert "not found" in result.stderr and "--model" in result.stderr


@pytest.mark.slow
def test_model_id_environment_variable_picks_the_model(tmp_path):
    folder = Path(shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "chosen"))
    (folder / "model.safetensors").unlink()

    result = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MODEL_ID": str(folder)},
    )

    assert result.returncode == 1
    assert f"cannot load the model from {folder}" in result.stderr and "has no model.safetensors" in result.stderr


@pytest.mark.slow
def test_the_api_warns_when_an_image_is_unlike_the_training_images(client, tmp_path):
    from PIL import Image

    from model.training.calibrate import ood_sets

    noise = tmp_path / "noise.png"
    Image.fromarray(ood_sets()["noise"][0].numpy(), mode="L").save(noise)

    label, notes, _ = client.predict(handle_file(noise), api_name="/predict")

    assert notes.endswith(UNLIKE_TRAINING)
    assert label["label"] in [*CONFIG["class_names"], UNSURE_HEADLINE], (
        "an answer is still given, the warning beside it"
    )


def test_classify_clothing_answers_json_with_the_top_three_classes_best_first():
    answer = json.loads(app.classify_clothing(ROOT / "examples" / "shop-trouser.jpg"))

    probabilities = [c["probability"] for c in answer["top_classes"]]
    assert answer["top_classes"][0]["label"] == "Trouser" and len(probabilities) == 3
    assert probabilities == sorted(probabilities, reverse=True) and answer["warning"] == ""
    assert answer["answer"] == "Trouser"


def test_classify_clothing_turns_a_bad_image_into_the_apps_message(cases):
    with pytest.raises(gr.Error, match=EXPECTED["text_file.png"]):
        app.classify_clothing(cases["text_file.png"])


def inline(raw: bytes) -> ImageData:
    return ImageData(url="data:image/png;base64," + base64.b64encode(raw).decode())


def test_an_inline_image_over_the_size_limit_is_refused_before_it_is_decoded():
    with pytest.raises(gr.Error, match=r"too large \(13.0 MB\); the limit is 10 MB"):
        app.PhotoInput(type="filepath", image_mode=None).preprocess(inline(bytes(13 * 2**20)))


@pytest.mark.slow
def test_an_inline_data_url_over_the_limit_sent_to_predict_is_refused_and_the_server_keeps_serving(server, client):
    big = {"path": None, "url": inline(bytes(13 * 2**20)).url, "meta": {"_type": "gradio.FileData"}}

    event = httpx.post(f"{server}gradio_api/call/predict", json={"data": [big]}, timeout=60).json()["event_id"]
    answer = httpx.get(f"{server}gradio_api/call/predict/{event}", timeout=60).text

    assert "event: error" in answer and "too large (13.0 MB); the limit is 10 MB" in answer
    label, *_ = client.predict(handle_file(REAL_EXAMPLES[1]), api_name="/predict")
    assert label["label"] == "Trouser"


def test_an_inline_data_url_that_is_not_base64_gets_a_clear_error():
    broken = ImageData(url="data:image/svg+xml,%3Csvg%3E%3C/svg%3E")

    with pytest.raises(gr.Error, match="not a valid base64 data URL"):
        app.PhotoInput(type="filepath", image_mode=None).preprocess(broken)


def test_an_image_sent_inline_as_a_data_url_is_classified_like_an_upload():
    value = app.PhotoInput(type="filepath", image_mode=None).preprocess(inline(REAL_EXAMPLES[1].read_bytes()))

    assert app.predict(value) == app.predict(REAL_EXAMPLES[1])


def test_about_this_model_says_what_the_percentage_means_with_the_recorded_figures():
    loaded = load_with_facts(str(ROOT / "model" / "pretrained"))
    photos = json.loads((ROOT / "model" / "pretrained" / "metrics.json").read_text())["photo_calibration"]

    facts = about(loaded)

    assert "What the percentage means" in facts and "about 70% are right" in facts
    assert f"{photos['fitted_on']:,} real photos" in facts
    assert f"calibration error is {photos['ece_single_class_after']:.1%}" in facts
