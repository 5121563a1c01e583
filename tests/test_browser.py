"""A real browser (Debian's Chromium driven by Playwright) uses the app as a person would."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
@pytest.mark.parametrize("example, expected", [("shop-sneaker.jpg", "Sneaker"), ("1-trouser.png", "Trouser")])
def test_uploading_an_example_and_clicking_classify_shows_its_class(browser, server, tmp_path, example, expected):
    page = browser.new_page()
    try:
        page.goto(server)
        page.locator("input[type=file]").first.set_input_files(ROOT / "examples" / example)
        page.get_by_role("button", name="Classify", exact=True).click()

        label = page.locator("#prediction h2.output-class")
        label.wait_for(timeout=30_000)
        page.wait_for_function(
            "expected => document.querySelector('#prediction h2.output-class')?.textContent.trim() === expected",
            arg=expected,
            timeout=30_000,
        )
        # The chained event then shows what the model saw.
        preview = page.locator("#model-view img")
        preview.wait_for(timeout=30_000)
        page.locator("#heatmap img").wait_for(timeout=30_000)
        page.screenshot(path=tmp_path / "app.png", full_page=True)
        shown = label.text_content().strip()
    finally:
        page.close()

    assert shown == expected
    assert (tmp_path / "app.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_tip_on_the_best_photo_sits_beside_the_upload(browser, server):
    page = browser.new_page()
    try:
        page.goto(server)
        tip = page.locator("#photo-tip")
        tip.wait_for(timeout=30_000)
        text = tip.inner_text()
        tip_box, upload_box = tip.bounding_box(), page.locator("input[type=file]").first.locator("..").bounding_box()
    finally:
        page.close()

    assert "one item" in text and "plain background" in text
    assert abs(tip_box["x"] - upload_box["x"]) < 200, "the tip belongs to the photo column"
