"""The docs' screenshots of the app, taken in Chromium as a person uses it: images/app.png and images/feedback.png.

    python benchmarks/screenshots.py [--out images]

app.png: `python app.py` answering a shirt on a rug (Shirt, with the closest classes and the image the model saw).
feedback.png: `python app.py --feedback TMP` after an answer, the right class chosen, before Send
(nothing is kept: the folder is a temporary one). Both apps run on free loopback ports and stop after.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: its neighbours are importable by name
    from app_server import ROOT, start_app, stop
    from static_page import CHROMIUM, CHROMIUM_ARGS
else:  # imported as benchmarks.screenshots
    from benchmarks.app_server import ROOT, start_app, stop
    from benchmarks.static_page import CHROMIUM, CHROMIUM_ARGS

SHIRT = ROOT / "tests" / "photos" / "shirt-on-rug.jpg"
SHOES = ROOT / "tests" / "photos" / "pair-of-shoes.jpg"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT = 60_000  # ms


def answer(page, url: str, photo: Path) -> None:
    """Open the app, upload `photo`, click Classify and wait for the heatmap, the last thing shown."""
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.locator("input[type=file]").first.set_input_files(photo)
    page.get_by_role("button", name="Classify", exact=True).click()
    page.locator("#heatmap img").wait_for()


def app_screenshot(browser, out: Path) -> None:
    proc, url = start_app()
    try:
        page = browser.new_page(viewport=VIEWPORT)
        answer(page, url, SHIRT)  # once to warm the app up: the time shown is then a usual one
        answer(page, url, SHIRT)
        page.screenshot(path=out)
    finally:
        stop(proc)


def feedback_screenshot(browser, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="feedback-") as folder:
        proc, url = start_app("--feedback", folder)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1100})
            answer(page, url, SHOES)
            page.locator("#feedback").first.wait_for(state="visible")
            page.locator("#feedback-class input").click()
            page.get_by_role("option", name="Sneaker", exact=True).click()
            page.wait_for_timeout(500)  # the dropdown's list closing
            # From the answer to the Send button, with the photo beside it.
            top = page.locator("#prediction").bounding_box()
            box = page.locator("#feedback").first.bounding_box()
            height = box["y"] + box["height"] - top["y"] + 24
            page.screenshot(path=out, clip={"x": 100, "y": top["y"] - 8, "width": 1000, "height": height})
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "images", help="folder for the PNGs (default: images/)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            app_screenshot(browser, args.out / "app.png")
            feedback_screenshot(browser, args.out / "feedback.png")
        finally:
            browser.close()
    print(f"wrote {args.out / 'app.png'} and {args.out / 'feedback.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
