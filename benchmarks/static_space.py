"""The static Space in Chromium against the Python app's classify, on the same photos, in one run.

    python benchmarks/static_space.py [PHOTO_DIR ...] [--bundle DIR] [--json]

Builds the static bundle (python -m model.publishing.space build --static) unless --bundle names one, serves it
on a free loopback port, opens the page in Chromium and classifies every photo (default:
../shared/real-photos, examples/ and tests/photos) both in the page and with `model.classify` in
this process. Reports how often the top class agrees, the largest probability difference, the mean
gray-level difference of the 28x28 images, whether warnings and refusals agree, the bundle's size
(as stored, and gzip-compressed as a server that compresses would send it), the time from opening
the page to its first answer, and milliseconds per photo in the page against in-process Python.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from static_page import StaticPage, compare, python_answer  # beside this script, shared with the tests

from model import TinyVGG
from model.predict import PREDICTION_THREADS
from model.publishing.static_space import build_static, bundle_bytes, downloaded_files

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = [ROOT.parent / "shared" / "real-photos", ROOT / "examples", ROOT / "tests" / "photos"]
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


def photos_in(folders: list[Path]) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def measure(bundle: Path, photos: list[Path], model: TinyVGG) -> dict:
    torch.set_num_threads(PREDICTION_THREADS)  # as the app runs
    rows = []
    with StaticPage(bundle) as page:
        first = page.answer(photos[0])  # the page's first answer, right after it loaded
        load_seconds = page.load_seconds
        page.reset_requests()
        for path in photos:
            in_page, in_python = page.answer(path), python_answer(path, model)
            rows.append(
                {
                    "photo": str(path),
                    **compare(in_page, in_python),
                    "page_ms": in_page.get("ms"),
                    "python_ms": in_python["ms"],
                }
            )
        requests = page.network_requests()
    answered = [r for r in rows if "same_top" in r]
    refused = [r for r in rows if "both_refused" in r]
    size = bundle_bytes(bundle)
    gzipped = sum(len(gzip.compress(p.read_bytes(), 6)) for p in downloaded_files(bundle))
    return {
        "photos": len(rows),
        "answered_by_both": len(answered),
        "top_class_agreement": sum(r["same_top"] for r in answered) / max(len(answered), 1),
        "max_probability_diff": max((r["max_probability_diff"] for r in answered), default=0.0),
        "mean_gray_diff": statistics.mean(r["mean_gray_diff"] for r in answered) if answered else 0.0,
        "warning_agreement": sum(r["same_warning"] for r in answered) / max(len(answered), 1),
        "way_agreement": sum(r["same_way"] for r in answered) / max(len(answered), 1),
        "refusals_in_one_only": sum(not r["both_refused"] for r in refused),
        "refusals_in_both": sum(r["both_refused"] for r in refused),
        "requests_while_classifying": requests,
        "bundle_mib": size / 2**20,
        "bundle_gzip_mib": gzipped / 2**20,
        "open_to_first_answer_s": load_seconds + first["ms"] / 1000,
        "page_ms_median": statistics.median(r["page_ms"] for r in answered),
        "python_ms_median": statistics.median(r["python_ms"] for r in answered),
        "disagreements": [r for r in answered if not r["same_top"]][:20],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "folders",
        nargs="*",
        type=Path,
        help="folders of photos (default: ../shared/real-photos, examples, tests/photos)",
    )
    parser.add_argument("--bundle", type=Path, help="a folder built with --static (default: build one now)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    photos = photos_in(args.folders or [d for d in DEFAULT_DIRS if d.is_dir()])
    model = TinyVGG.from_pretrained(ROOT / "model" / "pretrained")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or build_static(Path(tmp) / "static")
        found = measure(bundle, photos, model)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(
        f"{found['photos']} photos, {found['answered_by_both']} answered by both, "
        f"{found['refusals_in_both']} refused by both, {found['refusals_in_one_only']} refused by one only"
    )
    print(
        f"same top class: {found['top_class_agreement']:.1%}; largest probability difference "
        f"{found['max_probability_diff']:.4f}; 28x28 image: {found['mean_gray_diff']:.2f} gray levels apart on average"
    )
    print(f"same warning: {found['warning_agreement']:.1%}; same way: {found['way_agreement']:.1%}")
    print(f"requests while classifying: {len(found['requests_while_classifying'])}")
    print(f"bundle: {found['bundle_mib']:.1f} MiB ({found['bundle_gzip_mib']:.1f} MiB gzip-compressed)")
    print(f"open the page to its first answer: {found['open_to_first_answer_s']:.1f} s")
    print(
        f"per photo, median: page {found['page_ms_median']:.1f} ms, Python classify {found['python_ms_median']:.1f} ms"
    )
    for row in found["disagreements"]:
        print("  differs:", row["photo"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
