"""Feedback in the running app, used through a real browser: off by default, one record per correction,
a full store, and a Hub dataset that is slow, down or up."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.app_server import start_app, stop
from model.app.feedback import FULL, read_records
from model.predict import UNSURE, UNSURE_HEADLINE
from tests.conftest import ROOT
from tests.hub_server import HubServer

PHOTO = ROOT / "tests" / "photos" / "pair-of-shoes.jpg"
NEXT_PHOTO = ROOT / "examples" / "1-trouser.png"
REPO = "alice/tinyvgg-feedback"
TIMEOUT = 60_000  # ms, for the page: a shared 2-core machine runs the app, the browser and the tests


def classify_in(page, url: str, photo: Path) -> str:
    """Open the app, upload `photo`, click Classify; the headline shown."""
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.locator("input[type=file]").first.set_input_files(photo)
    page.get_by_role("button", name="Classify", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#model-view img') && document.querySelector('#prediction h2.output-class')"
    )
    return page.locator("#prediction h2.output-class").text_content().strip()


def classify_next(page, photo: Path, expected: str) -> str:
    """Upload another photo and click Classify; the headline, once it shows `expected` (or the timeout)."""
    page.locator("input[type=file]").first.set_input_files(photo)
    page.get_by_role("button", name="Classify", exact=True).click()
    try:
        page.wait_for_function(
            "expected => document.querySelector('#prediction h2.output-class')?.textContent.trim() === expected",
            arg=expected,
        )
    except Exception:  # the assertion below then says what was shown instead
        pass
    return page.locator("#prediction h2.output-class").text_content().strip()


def choose(page, right_class: str) -> None:
    page.locator("#feedback").first.wait_for(state="visible")
    page.locator("#feedback-class input").click()
    page.get_by_role("option", name=right_class, exact=True).click()


def send(page) -> str:
    """Click Send; the thanks shown."""
    page.locator("#feedback-send").click()
    page.wait_for_function("() => document.querySelector('#feedback-thanks')?.textContent.includes('record')")
    return page.locator("#feedback-thanks").inner_text()


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def dataset_files(hub: HubServer) -> dict[str, bytes]:
    return hub.repo(REPO, "dataset").files() if ("dataset", REPO) in hub.repos else {}


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture(scope="module")
def feedback_app(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`python app.py --feedback DIR`: its URL and its folder."""
    folder = tmp_path_factory.mktemp("feedback")
    proc, url = start_app("--feedback", str(folder))
    yield url, folder
    stop(proc)


@pytest.mark.slow
def test_without_feedback_turned_on_the_app_shows_no_control(browser, server):
    page = browser.new_page()
    try:
        classify_in(page, server, PHOTO)
        controls = page.locator("#feedback").count() + page.get_by_text("Was the answer wrong?").count()
    finally:
        page.close()
    assert controls == 0


@pytest.mark.slow
def test_a_correction_in_the_browser_lands_as_one_record_in_the_folder(browser, feedback_app):
    url, folder = feedback_app
    page = browser.new_page()
    try:
        shown = classify_in(page, url, PHOTO)
        choose(page, "Sneaker")
        consent = page.locator("#feedback-consent").inner_text()
        before_send = files_in(folder)
        thanks = send(page)
        hidden_after = not page.locator("#feedback").first.is_visible()
    finally:
        page.close()

    assert before_send == {}, "nothing is kept before the click"
    assert "without its metadata" in consent and "never trained" in consent and "no IP address" in consent
    [record] = read_records(folder)
    assert record.id in thanks
    assert record.chosen == "Sneaker"
    assert shown == (UNSURE_HEADLINE if record.answer == UNSURE else record.answer), "the answer the person saw"
    assert record.model == "pretrained", "the model by its folder's name, never the server's path to it"
    assert hidden_after, "sent once: the control goes until the next answer"


@pytest.mark.slow
def test_the_control_hides_when_the_image_changes_until_the_new_one_is_answered(browser, feedback_app):
    url, _ = feedback_app
    page = browser.new_page()
    try:
        classify_in(page, url, PHOTO)
        box = page.locator("#feedback").first
        box.wait_for(state="visible")
        page.locator("input[type=file]").first.set_input_files(NEXT_PHOTO)
        box.wait_for(state="hidden")
        hidden_on_change = not box.is_visible()
        page.get_by_role("button", name="Classify", exact=True).click()
        box.wait_for(state="visible")
        shown_again = box.is_visible()
    finally:
        page.close()

    assert hidden_on_change, "no feedback on an image that was not answered"
    assert shown_again


@pytest.mark.slow
def test_a_full_store_refuses_in_the_browser_with_the_message_and_loses_nothing(browser, tmp_path):
    old = tmp_path / "2026-11"
    old.mkdir()
    (old / "20261101T000000Z-00000000.jpg").write_bytes(PHOTO.read_bytes())
    (old / "20261101T000000Z-00000000.json").write_text(json.dumps({"id": "20261101T000000Z-00000000"}))
    before = files_in(tmp_path)
    limit_mb = (sum(len(data) for data in before.values()) + 1000) / 2**20
    proc, url = start_app("--feedback", str(tmp_path), "--feedback-max-mb", f"{limit_mb:.6f}")
    page = browser.new_page()
    try:
        classify_in(page, url, PHOTO)
        choose(page, "Sneaker")
        page.locator("#feedback-send").click()
        message = page.get_by_text("its store is full")
        message.first.wait_for()
        shown = message.first.inner_text()
        answered_after = classify_next(page, NEXT_PHOTO, "Trouser")
    finally:
        page.close()
        stop(proc)

    assert FULL.split(".")[0] in shown
    assert files_in(tmp_path) == before
    assert answered_after == "Trouser", "the app keeps answering"


def _hub_app(folder: Path, hub: HubServer, every: str) -> tuple:
    env = os.environ | {"HF_TOKEN": hub.token}
    return start_app("--feedback", str(folder), "--feedback-repo", REPO, "--feedback-every", every, env=env)


@pytest.mark.slow
def test_with_a_dataset_repo_the_record_arrives_on_the_test_hub_in_a_commit_at_the_latest_on_exit(
    browser, hub_server, tmp_path
):
    proc, url = _hub_app(tmp_path, hub_server, every="60")  # no upload on schedule during the test
    page = browser.new_page()
    try:
        classify_in(page, url, PHOTO)
        choose(page, "Sneaker")
        send(page)
    finally:
        page.close()
    [record] = read_records(tmp_path)
    path = f"{record.photo.parent.name}/{record.id}.jpg"
    waiting = path not in dataset_files(hub_server)

    stop(proc)  # SIGTERM, as a Space stops its app: the waiting records are uploaded first

    assert waiting
    assert proc.returncode == 0
    assert dataset_files(hub_server)[path] == record.photo.read_bytes()
    dataset = hub_server.repo(REPO, "dataset")
    assert dataset.private
    assert [c.title for c in dataset.history()][0] == "Scheduled Commit"


@pytest.mark.slow
def test_the_hub_down_keeps_the_record_locally_and_the_app_answers_the_next_photo(browser, hub_server, tmp_path):
    proc, url = _hub_app(tmp_path, hub_server, every="0.02")  # tries every 1.2 s
    page = browser.new_page()
    try:
        classify_in(page, url, PHOTO)
        hub_server.fail_next("/commit/", status=503, times=10**6)  # the Hub goes down
        choose(page, "Sneaker")
        send(page)
        [record] = read_records(tmp_path)
        path = f"{record.photo.parent.name}/{record.id}.jpg"
        tried = wait_for(lambda: sum("/commit/" in p for _, p in hub_server.requests) >= 2)
        kept_locally = record.photo.is_file() and path not in dataset_files(hub_server)
        answered = classify_next(page, NEXT_PHOTO, "Trouser")

        hub_server.faults.clear()  # the Hub is back
        arrived = wait_for(lambda: path in dataset_files(hub_server))
    finally:
        page.close()
        stop(proc)

    assert tried, "the app tried to upload while the Hub was down"
    assert kept_locally
    assert answered == "Trouser"
    assert arrived, "uploaded on the next schedule once the Hub is back"
