"""The static Space: the bundle, and its page in Chromium answering as the Python app does, with no server."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest
import yaml
from PIL import Image

from benchmarks.bad_images import EXPECTED, make_cases
from benchmarks.static_page import StaticPage, compare, python_answer
from model import ImageError, TinyVGG, classify
from model.errors import BundleError
from model.publishing.hub import push as hub_push
from model.publishing.space import main as space_main
from model.publishing.space import push
from model.publishing.static_space import build_static, bundle_bytes
from tests.conftest import ROOT, require_chromium

pytestmark = pytest.mark.slow
REAL_PHOTOS = ROOT.parent / "shared" / "real-photos"
SUFFIXES = (".jpg", ".jpeg", ".png")


def front_matter(bundle: Path) -> dict:
    return yaml.safe_load((bundle / "README.md").read_text().split("---")[1])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_static(tmp_path_factory.mktemp("static") / "space")


@pytest.fixture(scope="module")
def page(bundle):
    require_chromium()
    with StaticPage(bundle) as opened:
        yield opened
    assert not opened.errors, opened.errors


@pytest.fixture(scope="module")
def shipped() -> TinyVGG:
    return TinyVGG.from_pretrained(ROOT / "model" / "pretrained")


def test_the_bundle_is_a_static_space_with_its_libraries_pinned_and_their_licences(bundle):
    data = front_matter(bundle)
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    declared = json.loads((ROOT / "package.json").read_text())["dependencies"]

    assert data["sdk"] == "static" and data["app_file"] == "index.html"
    for name, version in declared.items():
        assert version[0].isdigit(), f"{name} is pinned to one release in package.json"
        assert lock[f"node_modules/{name}"]["version"] == version, f"package-lock.json holds {name} {version}"
    for library in ("onnxruntime-web", "opencv-js"):
        assert (bundle / "vendor" / library / "LICENSE").stat().st_size > 500
    vendored = bundle / "vendor" / "opencv-js" / "opencv.js"
    assert vendored.read_bytes() == (ROOT / "node_modules/@techstark/opencv-js/dist/opencv.js").read_bytes()
    spec = json.loads((bundle / "model.json").read_text())
    assert spec["config"] == json.loads((ROOT / "model" / "pretrained" / "config.json").read_text())
    assert (bundle / "model.onnx").read_bytes() == (ROOT / "model" / "pretrained" / "model.onnx").read_bytes()
    assert 0 < bundle_bytes(bundle) < 40 * 2**20


def assert_same_answers(page: StaticPage, model: TinyVGG, photos: list[Path]) -> None:
    """The page's answers are the Python app's: top class on 98%, probabilities within 0.02, the same refusals."""
    rows = [compare(page.answer(path), python_answer(path, model)) for path in photos]

    answered = [row for row in rows if "same_top" in row]
    refused = [row for row in rows if "both_refused" in row]
    assert len(answered) >= 0.95 * len(photos)
    assert sum(row["same_top"] for row in answered) >= 0.98 * len(answered)
    assert max(row["max_probability_diff"] for row in answered) <= 0.02
    assert statistics.mean(row["mean_gray_diff"] for row in answered) <= 2
    assert all(row["same_warning"] for row in answered)
    assert all(row["both_refused"] and row["same_error"] for row in refused), "refusals and their messages agree"


def test_the_page_answers_as_the_python_app_on_the_examples_and_test_photos(page, shipped):
    photos = sorted(
        p for d in (ROOT / "examples", ROOT / "tests" / "photos") for p in d.iterdir() if p.suffix in SUFFIXES
    )

    assert len(photos) >= 25
    assert_same_answers(page, shipped, photos)


def test_the_page_answers_as_the_python_app_on_the_real_photos(page, shipped):
    if not REAL_PHOTOS.is_dir():
        pytest.skip(f"{REAL_PHOTOS} is not beside this checkout; benchmarks/static_space.py measures them")
    photos = sorted(p for p in REAL_PHOTOS.rglob("*") if p.suffix.lower() in SUFFIXES)

    assert len(photos) >= 300
    assert_same_answers(page, shipped, photos)


def test_the_bare_rug_is_refused_in_the_page_with_the_apps_message(page, shipped):
    rug = ROOT / "tests" / "photos" / "rug-no-garment.jpg"
    with pytest.raises(Exception) as refused:
        classify(rug, shipped)

    assert page.answer(rug)["error"] == str(refused.value)


def test_classifying_in_the_page_makes_no_network_request(page):
    page.reset_requests()

    for name in ("dress-on-rug.jpg", "shoes-from-above.jpg", "jacket-on-hanger.jpg"):
        assert "label" in page.answer(ROOT / "tests" / "photos" / name)
    page.page.locator("#file").set_input_files(ROOT / "examples" / "shop-bag.jpg")
    page.page.locator("#prediction li").first.wait_for()

    assert [url for url in page.requests if not url.startswith(("blob:", "data:"))] == []


@pytest.mark.parametrize("case", ["random_bytes.jpg", "text_file.png", "truncated.jpg", "bomb_30000x30000.png"])
def test_a_bad_file_gets_the_apps_message_on_the_page_and_the_next_photo_works(page, shipped, tmp_path, case):
    bad = make_cases(tmp_path)[case]
    ui = page.page
    with pytest.raises(ImageError) as python:
        classify(bad, shipped)

    ui.locator("#file").set_input_files(bad)
    ui.wait_for_function("document.getElementById('error').textContent.length > 0")
    message = ui.locator("#error").text_content()
    ui.locator("#file").set_input_files(ROOT / "examples" / "shop-trouser.jpg")
    ui.wait_for_function("document.querySelectorAll('#prediction li').length === 3")

    assert EXPECTED[case] in message and message == str(python.value)
    assert ui.locator("#error").text_content() == ""
    assert ui.locator("#prediction li").first.locator(".name").text_content() == "Trouser"


def test_an_image_wider_than_a_canvas_gets_a_clear_message_in_the_page(page, tmp_path):
    panorama = tmp_path / "panorama.png"
    Image.new("RGB", (40_000, 100), "white").save(panorama)

    assert "at most 32,767 pixels a side" in page.answer(panorama)["error"]


def test_window_tinyvgg_classify_resolves_to_the_mcp_tools_json_shape(page, shipped):
    answer = page.page.evaluate("window.tinyvgg.classify('./examples/phone-dress.jpg')")
    expected = classify(ROOT / "examples" / "phone-dress.jpg", shipped)

    assert set(answer) == {"top_classes", "warning"} and len(answer["top_classes"]) == 3
    assert [c["label"] for c in answer["top_classes"]] == [c["label"] for c in expected.top_classes()]
    for ours, theirs in zip(answer["top_classes"], expected.top_classes()):
        assert ours["probability"] == pytest.approx(theirs["probability"], abs=0.002)
    assert answer["warning"] == expected.warning


def test_building_into_a_folder_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "old.txt").write_text("a file from another build")

    with pytest.raises(BundleError, match="not empty"):
        build_static(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]


def test_push_static_publishes_the_bundle_as_a_static_space(bundle, hub_server, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)

    assert space_main(["push", "--static", str(bundle), "alice/tinyvgg-static"]) == 0

    space = hub_server.repo("alice/tinyvgg-static", "space")
    files = space.files()
    assert files["index.html"] == (bundle / "index.html").read_bytes()
    assert (
        files["vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"]
        == (bundle / "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm").read_bytes()
    )
    assert "alice/tinyvgg-static" in capsys.readouterr().out


def test_pushing_a_gradio_bundle_as_static_is_refused_with_the_build_command(tmp_path, hub_server):
    (tmp_path / "app.py").write_text("import gradio\n")
    (tmp_path / "README.md").write_text("---\nsdk: gradio\n---\n")

    with pytest.raises(BundleError, match="build --static"):
        push(tmp_path, "alice/not-static", static=True)


def test_a_hub_model_whose_onnx_was_exported_from_another_calibration_is_refused(hub_server, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    folder = Path(shutil.copytree(ROOT / "model" / "pretrained", tmp_path / "model"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"ood_threshold": config["ood_threshold"] + 1}))
    hub_push(folder, "alice/recalibrated", wheel=False)

    with pytest.raises(BundleError, match="exported from another config.json"):
        build_static(tmp_path / "space", "alice/recalibrated")
    assert not (tmp_path / "space").exists()


def test_a_bundle_for_a_hub_model_carries_that_repos_onnx_and_config_at_its_commit(hub_server, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    hub_push(ROOT / "model" / "pretrained", "alice/tinyvgg", wheel=False)
    commit = hub_server.repo("alice/tinyvgg").history()[0]

    out = build_static(tmp_path / "space", "alice/tinyvgg@main")

    spec = json.loads((out / "model.json").read_text())
    assert spec["source"] == {"model": "alice/tinyvgg", "revision": commit.oid}
    assert (out / "model.onnx").read_bytes() == (ROOT / "model" / "pretrained" / "model.onnx").read_bytes()
    assert front_matter(out)["models"] == ["alice/tinyvgg"]
