"""benchmarks/candidates.py: the table of steps agrees with the two photo benchmarks it stands for."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmarks import candidates, product_photos, real_photos
from model.loading import load
from model.training.photoset import read_photo_set
from tests.conftest import ROOT
from tests.test_product_photos import write_product_folder

PHOTOS = ROOT / "tests" / "photos"
PHONE = {  # label -> photos, right classes
    "dress": (["dress-on-rug.jpg"], ["Dress"]),
    "outwear": (["jacket-on-hanger.jpg"], ["Coat"]),
    "shoes": (
        ["pair-of-shoes.jpg", "pair-of-sandals.jpg", "shoes-from-above.jpg"],
        ["Sneaker", "Sandal", "Ankle boot"],
    ),
    "shirt": (["shirt-on-rug.jpg"], ["Shirt"]),
}


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    """A folder laid out like ../shared: two small phone-photo sets and a small product-photo set."""
    root = tmp_path_factory.mktemp("shared")
    for name in candidates.PHONE_SETS:
        for label, (files, _) in PHONE.items():
            (root / name / label).mkdir(parents=True)
            for file in files:
                shutil.copy(PHOTOS / file, root / name / label / file)
        classes = {label: right for label, (_, right) in PHONE.items()}
        (root / name / "labels.json").write_text(json.dumps({"classes": classes}))
    write_product_folder(root / candidates.PRODUCT_SET)  # the product benchmark's own made-up set
    return root


def test_each_row_holds_the_figures_the_photo_benchmarks_measure(photo_root, capsys):
    shipped = ROOT / "model" / "pretrained"
    model = load(shipped)
    product = product_photos.measure(product_photos.read_labels(photo_root / candidates.PRODUCT_SET), model)
    phone = read_photo_set(photo_root / "real-photos")
    phone_mean = real_photos.summarize(real_photos.classify_folder(phone, model), phone.right)["mean_accuracy"]

    assert candidates.main([str(shipped), "--photos", str(photo_root)]) == 0

    header, rule, row = capsys.readouterr().out.strip().splitlines()
    cells = [cell.strip().strip("*") for cell in row.strip("|").split("|")]
    assert len(cells) == len(header.strip("|").split("|")) == len(rule.strip("|").split("|"))
    assert cells[0] == str(shipped)
    assert cells[1] == f"{product['mean_accuracy']:.1%}"
    assert cells[2] == " / ".join(f"{product['per_class'][c]['accuracy']:.1%}" for c in ("Sandal", "Sneaker", "Bag"))
    assert cells[3] == cells[7] == f"{phone_mean:.1%}", "both phone sets are the same photos here"
    assert cells[9] == f"{json.loads((shipped / 'metrics.json').read_text())['test_accuracy']:.2%}"
    assert not np.isnan(float(cells[6].rstrip("%")))


def test_the_trade_off_plot_puts_each_candidate_at_its_figures(photo_root, tmp_path, capsys):
    shipped = str(ROOT / "model" / "pretrained")
    sets = candidates.prepared_sets(photo_root)
    found = {shipped: candidates.figures(shipped, sets)}
    found["other"] = {**found[shipped], "product_mean": 0.5, "large_mean": 0.7, "test_accuracy": 0.9}

    figure = candidates.plot_tradeoff(found, tmp_path / "plot.png")

    axes = figure.axes[0]
    points = axes.collections[0].get_offsets()
    assert np.allclose(points, [[found[shipped]["product_mean"] * 100, found[shipped]["large_mean"] * 100], [50, 70]])
    assert [text.get_text() for text in axes.texts] == [
        f"pretrained\n{found[shipped]['test_accuracy']:.2%}",
        "other\n90.00%",
    ]
    product_target, phone_target = axes.lines
    assert float(product_target.get_xdata()[0]) == 78.0 and float(phone_target.get_ydata()[0]) == 68.0
    with Image.open(tmp_path / "plot.png") as png:
        assert png.format == "PNG" and png.size == (840, 600)

    assert candidates.main([shipped, "--photos", str(photo_root), "--plot", str(tmp_path / "again.png")]) == 0
    assert f"trade-off plot: {tmp_path / 'again.png'}" in capsys.readouterr().out
    assert (tmp_path / "again.png").stat().st_size > 10_000


def test_a_folder_without_the_photo_sets_says_which_is_missing(tmp_path, capsys):
    assert candidates.main([str(ROOT / "model" / "pretrained"), "--photos", str(tmp_path)]) == 1

    assert "has no labels.json" in capsys.readouterr().err


def test_record_stores_every_run_and_the_card_says_which_way_each_leans(photo_root, notebook_run, tmp_path, capsys):
    tiny_run = notebook_run  # a real, weak candidate
    this = tmp_path / "shipped"
    shutil.copytree(ROOT / "model" / "pretrained", this)
    argv = [f"shipped={this}", f"tiny={tiny_run}", "--photos", str(photo_root), "--record", str(this)]

    assert candidates.main(argv) == 0

    out = capsys.readouterr().out
    rows = {
        line.split("|")[1].strip(): line
        for line in out.splitlines()
        if line.startswith("| shipped") or line.startswith("| tiny")
    }
    recorded = json.loads((this / "metrics.json").read_text())["candidates"]
    assert recorded["this"]["name"] == "shipped" and [run["name"] for run in recorded["runs"]] == ["tiny"]
    for run in (recorded["this"], *recorded["runs"]):
        cells = [cell.strip().strip("*") for cell in rows[run["name"]].strip("|").split("|")]
        assert cells[1] == f"{run['product_photos']:.1%}" and cells[3] == f"{run['phone_photos_large']:.1%}"
        assert cells[7] == f"{run['phone_photos']:.1%}" and cells[9] == f"{run['test_accuracy']:.2%}"
    tiny, shipped = recorded["runs"][0], recorded["this"]
    assert tiny["test_accuracy"] < shipped["test_accuracy"] - 0.1, "one epoch on 1,000 images is far behind"
    assert recorded["command"].startswith("python benchmarks/candidates.py shipped=")

    card = (this / "README.md").read_text()
    assert "### Candidates" in card
    line = next(line for line in card.splitlines() if line.startswith("| tiny |"))
    test_points = 100 * (tiny["test_accuracy"] - shipped["test_accuracy"])
    assert f"Fashion-MNIST ({test_points:+.2f})" in line.split("behind on")[1]
    minutes = json.loads((tiny_run / "metrics.json").read_text())["train_seconds"] / 60
    assert line.split("|")[6].strip() == f"{minutes:.1f}" == f"{tiny['train_minutes']:.1f}", "the minutes it trained"
    for key, name in (("product_photos", "product photos"), ("phone_photos_large", "the large phone set")):
        points = round(100 * (tiny[key] - shipped[key]), 1)
        side = "ahead on" if points > 0 else "behind on" if points < 0 else None
        if side:
            assert f"{name} ({points:+.1f})" in line.split(side)[1].split(";")[0]
        else:
            assert name not in line


def test_record_refuses_a_folder_that_is_not_among_the_runs(photo_root, tmp_path, capsys):
    this = tmp_path / "shipped"
    shutil.copytree(ROOT / "model" / "pretrained", this)
    before = (this / "metrics.json").read_bytes()

    assert (
        candidates.main([str(ROOT / "model" / "pretrained"), "--photos", str(photo_root), "--record", str(this)]) == 1
    )

    assert f"{this} is not among the runs; give it as NAME={this}" in capsys.readouterr().err
    assert (this / "metrics.json").read_bytes() == before
