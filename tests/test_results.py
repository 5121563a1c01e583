"""The README and docs/: figures generated from metrics.json, short enough for a newcomer, links that resolve."""

from __future__ import annotations

import re

import pytest

from model.publishing.results import FIGURES, main, pages, render
from model.training.metrics import read_metrics
from tests.conftest import ROOT

SHIPPED = read_metrics(ROOT / "model" / "pretrained")


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_page_states_the_figures_of_the_shipped_models_metrics(page):
    text = page.read_text()

    assert render(text, SHIPPED) == text, f"run `python -m model.publishing.results`: {page.name} is out of date"


def test_the_readme_block_and_the_figure_markers_are_filled_from_metrics_json():
    readme = (ROOT / "README.md").read_text()
    assert "<!-- results:start -->" in readme and "<!-- figure:" in (ROOT / "docs" / "performance.md").read_text()
    retrained = SHIPPED | {"test_accuracy": 0.9012, "num_parameters": 12_345}

    rendered = render(readme, retrained) + render((ROOT / "docs" / "performance.md").read_text(), retrained)

    assert "**90.12%** on the" in rendered and "12,345" in rendered
    assert f"{SHIPPED['test_accuracy']:.2%}" not in rendered


def test_a_page_that_states_another_figure_fails_the_check(tmp_path, capsys):
    page = ROOT / "docs" / "performance.md"
    stale = re.sub(r"(<!-- figure:test_accuracy -->)[^<]*", r"\g<1>91.00%", page.read_text(), count=1)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "performance.md").write_text(stale)
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())

    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "performance.md states other figures" in capsys.readouterr().err
    assert (
        main(["--root", str(tmp_path)]) == 0 and (tmp_path / "docs" / "performance.md").read_text() == page.read_text()
    )


def test_a_marker_that_names_no_figure_is_an_error():
    with pytest.raises(KeyError, match="names no figure"):
        render("<!-- figure:test_acuracy -->93%<!-- /figure -->", SHIPPED)
    assert "test_accuracy" in FIGURES


def test_the_readme_fits_a_newcomers_reading_and_every_section_links_to_its_docs_page():
    readme = (ROOT / "README.md").read_text()
    sections = re.split(r"^## ", readme, flags=re.M)[1:]

    assert len(readme.splitlines()) <= 250
    assert {"make demo", "make test"} <= set(re.findall(r"make \w+", readme.split("## ")[0]))
    for section in sections:
        title = section.splitlines()[0]
        if title not in ("The shipped model", "License"):
            assert "docs/" in section, f"the README section {title!r} links to no page of docs/"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if not re.match(r"[a-z]+:", target):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
