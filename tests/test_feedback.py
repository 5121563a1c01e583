"""Feedback records: what is kept of a photo and an answer, the store's bound, the Hub dataset, the report."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from benchmarks import feedback as report
from model import TinyVGG, classify
from model.app.feedback import FULL, MAX_SIDE, NONE_OF_THESE, FeedbackError, FeedbackStore, delete_record, read_records
from model.errors import HubError
from tests.conftest import ROOT
from tests.hub_server import HubServer

PHOTOS = ROOT / "tests" / "photos"
REPO = "alice/tinyvgg-feedback"
# What a record says, and nothing else: no address, browser or account of the person.
FIELDS = {"id", "chosen", "answer", "top_classes", "warning", "way", "model", "time"}


@pytest.fixture(scope="module")
def model() -> TinyVGG:
    return TinyVGG.from_pretrained(ROOT / "model" / "pretrained")


@pytest.fixture
def stores() -> Iterator[list[FeedbackStore]]:
    """Stores a test opens; their schedulers are stopped at the end, so none uploads after the test."""
    opened: list[FeedbackStore] = []
    yield opened
    for store in opened:
        store.close()


def phone_jpeg_with_gps(path: Path) -> bytes:
    """A real phone photo enlarged to 3000x2250, as a phone writes it: EXIF with a GPS position, camera,
    owner, and an orientation (6: turn it 90 degrees clockwise to view it)."""
    with Image.open(path) as photo:
        large = photo.convert("RGB").resize((3000, 2250))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.Artist] = "Jane Doe"
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
        }
    )
    buffer = io.BytesIO()
    large.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def test_a_kept_photo_carries_no_metadata_and_at_most_1024_pixels_upright(tmp_path, model):
    sent = phone_jpeg_with_gps(PHOTOS / "shirt-on-rug.jpg")
    with Image.open(io.BytesIO(sent)) as original:  # the test's own photo does carry them
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    store = FeedbackStore(tmp_path)

    record = store.keep(sent, classify(sent, model), "Shirt", model="model/pretrained")

    kept = record.photo.read_bytes()
    with Image.open(record.photo) as photo:
        assert photo.format == "JPEG"
        assert dict(photo.getexif()) == {} and "exif" not in photo.info
        assert max(photo.size) == MAX_SIDE
        assert photo.size[1] > photo.size[0], "turned upright by its orientation, as the model saw it"
    for trace in (b"Exif", b"PhoneMaker", b"Jane Doe", b"Phone 12"):
        assert trace not in kept


def test_a_kept_png_loses_its_text_chunks_and_colour_profile(tmp_path, model):
    from PIL import ImageCms, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("Comment", "taken at 52.52N 13.41E", lang="en")
    with Image.open(PHOTOS / "jacket-on-hanger.jpg") as photo:
        buffer = io.BytesIO()
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        photo.convert("RGB").save(buffer, "PNG", pnginfo=info, icc_profile=profile)
    sent = buffer.getvalue()
    assert b"Jane Doe" in sent

    record = FeedbackStore(tmp_path).keep(sent, classify(sent, model), "Coat", model="m")

    kept = record.photo.read_bytes()
    with Image.open(record.photo) as photo:
        assert "icc_profile" not in photo.info and "exif" not in photo.info
    assert b"Jane Doe" not in kept and b"52.52N" not in kept and b"ICC_PROFILE" not in kept


def test_a_record_holds_the_answer_shown_the_class_chosen_and_nothing_about_the_person(tmp_path, model):
    photo = PHOTOS / "pair-of-shoes.jpg"
    answer = classify(photo, model)
    store = FeedbackStore(tmp_path)

    record = store.keep(photo, answer, "Sneaker", model="model/pretrained")

    saved = json.loads(record.photo.with_suffix(".json").read_text())
    assert set(saved) == FIELDS
    assert saved["chosen"] == "Sneaker" and saved["answer"] == answer.answer
    assert saved["top_classes"] == answer.top_classes() and saved["way"] == answer.way
    assert saved["warning"] == answer.warning and saved["model"] == "model/pretrained"
    assert saved["time"].endswith("Z") and saved["id"] == record.id
    assert record.photo.parent.name == saved["time"][:7], "one folder per month"
    assert read_records(tmp_path) == [record]


def test_the_kept_photo_gets_the_same_answer_as_the_large_photo_sent(tmp_path, model):
    photo = phone_jpeg_with_gps(PHOTOS / "pair-of-shoes.jpg")  # 3000 pixels: decoded reduced, then resized
    answer = classify(photo, model)

    record = FeedbackStore(tmp_path).keep(photo, answer, "Sneaker", model="model/pretrained")

    again = classify(record.photo, model)
    assert again.answer == answer.answer
    assert abs(max(again.probabilities.values()) - max(answer.probabilities.values())) < 0.05


def test_a_photo_that_is_gone_is_refused_with_a_message(tmp_path, model):
    answer = classify(PHOTOS / "pair-of-shoes.jpg", model)
    with pytest.raises(FeedbackError, match="cannot be read any more"):
        FeedbackStore(tmp_path / "feedback").keep(tmp_path / "cleared-from-the-cache.jpg", answer, "Sneaker", model="m")


def test_half_a_record_left_by_a_killed_app_is_removed_when_the_store_opens(tmp_path, model):
    photo = PHOTOS / "pair-of-shoes.jpg"
    record = FeedbackStore(tmp_path).keep(photo, classify(photo, model), "Sneaker", model="m")
    orphan = record.photo.with_name("20261203T000000Z-deadbeef.jpg")
    orphan.write_bytes(record.photo.read_bytes())  # its JSON file was never written

    store = FeedbackStore(tmp_path)

    assert not orphan.exists()
    assert read_records(tmp_path) == [record]
    assert store.used == record.photo.stat().st_size + record.photo.with_suffix(".json").stat().st_size


def test_a_choice_that_is_no_class_is_refused(tmp_path, model):
    answer = classify(PHOTOS / "pair-of-shoes.jpg", model)
    with pytest.raises(FeedbackError, match="not one of the classes"):
        FeedbackStore(tmp_path).keep(PHOTOS / "pair-of-shoes.jpg", answer, "Shoe", model="m")
    assert list(tmp_path.iterdir()) == []


def test_a_full_store_refuses_new_feedback_and_keeps_what_it_has(tmp_path, model):
    photo = PHOTOS / "pair-of-shoes.jpg"
    answer = classify(photo, model)
    first = FeedbackStore(tmp_path).keep(photo, answer, "Sneaker", model="m")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    # Reopened, as after a restart: what is there already counts.
    full = FeedbackStore(tmp_path, max_bytes=sum(len(data) for data in before.values()) + 1000)

    with pytest.raises(FeedbackError) as refused:
        full.keep(photo, answer, "Sandal", model="m")

    assert str(refused.value) == FULL
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
    assert read_records(tmp_path) == [first]


def test_a_record_is_deleted_by_its_id(tmp_path, model):
    photo = PHOTOS / "pair-of-shoes.jpg"
    store = FeedbackStore(tmp_path)
    kept = store.keep(photo, classify(photo, model), "Sneaker", model="m")
    other = store.keep(photo, classify(photo, model), "Sandal", model="m")

    deleted = delete_record(kept.id, tmp_path)

    assert sorted(deleted) == sorted([str(kept.photo), str(kept.photo.with_suffix(".json"))])
    assert read_records(tmp_path) == [other]
    with pytest.raises(FeedbackError, match="No feedback record"):
        delete_record(kept.id, tmp_path)


def _dataset_files(hub: HubServer) -> dict[str, bytes]:
    """The files of the test dataset on the test Hub; none before it is created."""
    return hub.repo(REPO, "dataset").files() if ("dataset", REPO) in hub.repos else {}


@pytest.mark.slow
def test_with_a_dataset_repo_the_record_arrives_on_the_hub_in_a_commit(
    tmp_path, model, hub_server, monkeypatch, stores
):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    # The operator's own files in the folder are not records: they are never uploaded.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "secret.json").write_text("{}")
    (tmp_path / "config.json").write_text("{}")
    store = FeedbackStore(tmp_path, repo_id=REPO, every=60)
    stores.append(store)
    photo = PHOTOS / "pair-of-shoes.jpg"

    record = store.keep(photo, classify(photo, model), "Sneaker", model="model/pretrained")
    store.upload_now()

    dataset = hub_server.repo(REPO, "dataset")
    assert dataset.private, "other people's photos: the dataset is created private"
    month = record.photo.parent.name
    files = _dataset_files(hub_server)
    assert files[f"{month}/{record.id}.jpg"] == record.photo.read_bytes()
    assert json.loads(files[f"{month}/{record.id}.json"])["chosen"] == "Sneaker"
    assert set(files) - {".gitattributes"} == {f"{month}/{record.id}.jpg", f"{month}/{record.id}.json"}
    assert dataset.history()[0].title == "Scheduled Commit"


@pytest.mark.slow
def test_a_public_dataset_is_refused_at_start_and_nothing_is_uploaded(tmp_path, model, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    from huggingface_hub import HfApi

    HfApi().create_repo(REPO, repo_type="dataset", private=False)
    photo = PHOTOS / "pair-of-shoes.jpg"
    FeedbackStore(tmp_path).keep(photo, classify(photo, model), "Sneaker", model="m")  # kept before, locally

    with pytest.raises(FeedbackError, match="is public"):
        FeedbackStore(tmp_path, repo_id=REPO, every=60)

    assert set(_dataset_files(hub_server)) <= {".gitattributes"}


@pytest.mark.slow
def test_a_refused_token_stops_the_start_with_the_reason(tmp_path, hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token_the_hub_knows")

    with pytest.raises(FeedbackError, match="refused the token"):
        FeedbackStore(tmp_path, repo_id=REPO, every=60)


@pytest.mark.slow
def test_the_hub_failing_keeps_the_record_in_the_folder_for_the_next_upload(
    tmp_path, model, hub_server, monkeypatch, stores
):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    store = FeedbackStore(tmp_path, repo_id=REPO, every=60)
    stores.append(store)
    photo = PHOTOS / "pair-of-shoes.jpg"
    record = store.keep(photo, classify(photo, model), "Sneaker", model="m")
    hub_server.fail_next("/commit/", status=503)

    with pytest.raises(HubError, match="503"):
        store.upload_now()
    assert f"{record.photo.parent.name}/{record.id}.json" not in _dataset_files(hub_server)
    assert read_records(tmp_path) == [record]

    store.upload_now()
    assert f"{record.photo.parent.name}/{record.id}.json" in _dataset_files(hub_server)


@pytest.mark.slow
def test_the_hub_down_at_start_keeps_records_and_connects_later(tmp_path, model, hub_server, monkeypatch, stores):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    hub_server.fail_next("/api/repos/create", mode="drop")
    store = FeedbackStore(tmp_path, repo_id=REPO, every=0.02)  # tries again after 1.2 s
    stores.append(store)
    photo = PHOTOS / "pair-of-shoes.jpg"

    assert store.scheduler is None
    record = store.keep(photo, classify(photo, model), "Sneaker", model="m")
    path = f"{record.photo.parent.name}/{record.id}.json"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and path not in _dataset_files(hub_server):
        time.sleep(0.2)
    assert path in _dataset_files(hub_server)


@pytest.mark.slow
def test_records_already_on_the_hub_count_toward_the_bound_after_a_restart(
    tmp_path, model, hub_server, monkeypatch, stores
):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    first = FeedbackStore(tmp_path / "before", repo_id=REPO, every=60)
    stores.append(first)
    photo = PHOTOS / "pair-of-shoes.jpg"
    first.keep(photo, classify(photo, model), "Sneaker", model="m")
    first.upload_now()

    restarted = FeedbackStore(tmp_path / "after", repo_id=REPO, every=60)  # a Space's new, empty folder
    stores.append(restarted)

    assert restarted.used == first.used > 0


@pytest.mark.slow
def test_a_record_is_deleted_from_the_hub_dataset_too(tmp_path, model, hub_server, monkeypatch, stores):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    store = FeedbackStore(tmp_path, repo_id=REPO, every=60)
    stores.append(store)
    photo = PHOTOS / "pair-of-shoes.jpg"
    record = store.keep(photo, classify(photo, model), "Sneaker", model="m")
    store.upload_now()

    deleted = delete_record(record.id, tmp_path, REPO)

    assert len(deleted) == 4, "the photo and the JSON file, here and on the Hub"
    assert not any(record.id in name for name in _dataset_files(hub_server))
    assert read_records(tmp_path) == []


def test_without_a_token_a_dataset_repo_is_refused_at_start(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(FeedbackError, match="HF_TOKEN"):
        FeedbackStore(tmp_path, repo_id=REPO)


# ---- the report (benchmarks/feedback.py) on a made-up feedback folder ----


def write_record(folder: Path, record_id: str, chosen: str, shown: list[tuple[str, float]], way: str = "plain") -> None:
    """One record as the app writes it: a photo and its JSON file, with the answer `shown` (best first)."""
    month = folder / "2026-12"
    month.mkdir(parents=True, exist_ok=True)
    Image.open(PHOTOS / "pair-of-shoes.jpg").save(month / f"{record_id}.jpg")
    answer = shown[0][0] if shown[0][1] >= 0.45 else "unsure"
    fields = {
        "id": record_id,
        "chosen": chosen,
        "answer": answer,
        "top_classes": [{"label": name, "probability": p} for name, p in shown],
        "warning": "",
        "way": way,
        "model": "model/pretrained",
        "time": "2026-12-03T04:00:00Z",
    }
    (month / f"{record_id}.json").write_text(json.dumps(fields))


@pytest.fixture
def feedback_folder(tmp_path: Path) -> Path:
    """Six made-up records: four sneakers (one answered right), a bag answered right, a hat."""
    write_record(tmp_path, "a", "Sneaker", [("Ankle boot", 0.9), ("Sneaker", 0.05), ("Sandal", 0.03)], "segmented")
    write_record(tmp_path, "b", "Sneaker", [("Ankle boot", 0.6), ("Sandal", 0.3), ("Bag", 0.05)], "segmented")
    write_record(tmp_path, "c", "Sneaker", [("Sneaker", 0.7), ("Sandal", 0.2), ("Ankle boot", 0.05)])
    write_record(tmp_path, "d", "Sneaker", [("Sandal", 0.4), ("Sneaker", 0.35), ("Ankle boot", 0.2)])
    write_record(tmp_path, "e", "Bag", [("Bag", 0.8), ("Coat", 0.1), ("Shirt", 0.05)])
    write_record(tmp_path, "f", NONE_OF_THESE, [("Bag", 0.5), ("Shirt", 0.3), ("Coat", 0.1)], "segmented")
    return tmp_path


def test_the_report_counts_per_chosen_class_the_answers_right_and_among_the_three_shown(feedback_folder):
    found = report.summarize(report.as_answered(read_records(feedback_folder)))

    sneaker = found["classes"]["Sneaker"]
    assert sneaker["records"] == 4
    assert sneaker["right"] == 1 / 4  # c
    assert sneaker["in_top"] == 3 / 4  # a, c, d
    assert sneaker["unsure"] == 1 / 4  # d: 40%, below the line
    assert sneaker["answers"] == {"Ankle boot": 2, "Sneaker": 1, "unsure (Sandal)": 1}
    assert found["classes"]["Bag"]["right"] == 1.0
    assert found["mean_right"] == (1 / 4 + 1) / 2, "the mean over the chosen classes, none of these ten left out"
    assert found["ways"] == {"segmented": 3, "plain": 3}
    assert [s.record.id for s in found["first"]] == ["a", "b", "f"], "wrong and sure first; unsure is not wrong"


def test_the_report_prints_a_markdown_table(feedback_folder, capsys):
    assert report.main([str(feedback_folder)]) == 0
    out = capsys.readouterr().out

    assert "| Sneaker | 4 | 25% | 75% | 25% | Ankle boot 2, Sneaker 1, unsure (Sandal) 1 |" in out
    assert f"| {NONE_OF_THESE} | 1 | n/a | n/a | 0% | Bag 1 |" in out
    assert "| **mean over the classes** | | **62%** | **88%** | | |" in out
    assert "| a | Sneaker | Ankle boot | 90% | 2026-12/a.jpg |" in out
    assert "mostly send feedback when the answer was wrong" in out


def test_the_report_answers_the_photos_again_with_another_model(feedback_folder, model):
    records = read_records(feedback_folder)
    again = report.answered_by(records, model)

    expected = classify(PHOTOS / "pair-of-shoes.jpg", model)
    assert {s.answer for s in again} == {expected.answer}, "every record holds that one photo"
    assert again[0].top == [c["label"] for c in expected.top_classes()]


def test_the_report_names_a_file_that_is_no_record(feedback_folder, capsys):
    (feedback_folder / "2026-12" / "a.json").write_text('{"id": "a"}')

    assert report.main([str(feedback_folder)]) == 1
    assert "a.json is not a feedback record" in capsys.readouterr().err


def test_the_report_on_an_empty_folder_says_so(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 1
    assert "holds no feedback records yet" in capsys.readouterr().err


@pytest.mark.slow
def test_the_report_reads_a_dataset_repo(tmp_path, model, hub_server, monkeypatch, stores, capsys):
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    store = FeedbackStore(tmp_path, repo_id=REPO, every=60)
    stores.append(store)
    photo = PHOTOS / "pair-of-shoes.jpg"
    answer = classify(photo, model)
    store.keep(photo, answer, "Sneaker", model="m")
    store.upload_now()

    assert report.main(["--repo", REPO]) == 0

    out = capsys.readouterr().out
    assert f"1 record from {REPO}" in out
    assert f"| Sneaker | 1 | {100 * (answer.answer == 'Sneaker'):.0f}% |" in out


def test_the_delete_command_names_what_it_deleted_and_an_unknown_id_ends_with_a_message(tmp_path, model, capsys):
    from model.app.feedback import main

    photo = PHOTOS / "pair-of-shoes.jpg"
    record = FeedbackStore(tmp_path).keep(photo, classify(photo, model), "Sneaker", model="m")

    assert main(["delete", record.id, "--dir", str(tmp_path)]) == 0
    assert f"deleted {record.photo}" in capsys.readouterr().out
    assert main(["delete", record.id, "--dir", str(tmp_path)]) == 1
    assert f"error: No feedback record {record.id} in {tmp_path}" in capsys.readouterr().err


def test_an_id_of_another_form_is_told_apart_from_an_unknown_one(tmp_path):
    with pytest.raises(FeedbackError, match="'feedback-42' is not a feedback record id: ids look like 20261203T"):
        delete_record("feedback-42", tmp_path)
    with pytest.raises(FeedbackError) as unknown:
        delete_record("20261203T041512Z-1a2b3c4d", tmp_path)
    assert "ids look like" not in str(unknown.value), "an id of the right form is only unknown"


def test_a_missing_feedback_folder_is_called_missing(tmp_path):
    with pytest.raises(FeedbackError, match=f"There is no feedback folder {tmp_path / 'nosuch'}"):
        delete_record("20261203T041512Z-1a2b3c4d", tmp_path / "nosuch")
