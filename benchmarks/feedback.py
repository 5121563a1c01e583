"""How the model does on the photos people sent back from the app (`app.py --feedback`), as a Markdown table.

    python benchmarks/feedback.py [FOLDER] [--repo USER/NAME] [--model SPEC] [--first N]

FOLDER is the app's feedback folder (default: feedback); --repo reads the Hub dataset the app
uploads to instead. Each record holds a photo, the answer the app showed and the class the person
chose as right (model.app.feedback). Per chosen class: how many records, how often the answer shown
was that class, and how often it was among the three classes shown; the answers given instead; the
share answered "unsure". Then the photos to look at first: the wrong answers given with the most
confidence. With --model, every photo is answered again through `model.classify` by that model (a
new one, say) and the figures are its answers'.

What the figures mean: people mostly send feedback when the answer was wrong, so "answered right"
here is far below the model's accuracy on photos in general. It says which classes people find
wrong and what the model says instead; benchmarks/real_photos.py measures how often it is right.
The output is Markdown, for a model card or an issue.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from model import ImageError, classify
from model.app.feedback import DEFAULT_FOLDER, NONE_OF_THESE, FeedbackError, Record, read_records
from model.errors import HubError, ModelFolderError
from model.hub_errors import describe_error
from model.loading import load
from model.predict import TOP_CLASSES, UNSURE
from model.tinyvgg import TinyVGG

FIRST = 10  # photos to look at first, by default


@dataclass(frozen=True)
class Seen:
    """A record's photo as answered (then by the app, or now by --model), beside the class the person chose."""

    record: Record
    answer: str  # a class, UNSURE, or "(refused)"
    top: list[str]  # the classes shown, best first
    confidence: float  # the top class's probability (0 for a refusal)


def as_answered(records: list[Record]) -> list[Seen]:
    """The answers the app showed, as the records keep them."""
    return [
        Seen(r, r.answer, [c["label"] for c in r.top_classes], max(c["probability"] for c in r.top_classes))
        for r in records
    ]


def answered_by(records: list[Record], model: TinyVGG) -> list[Seen]:
    """The answers `model` gives the same photos now, through `classify` as the app does."""
    seen = []
    for r in records:
        try:
            answer = classify(r.photo, model)
        except ImageError:
            seen.append(Seen(r, "(refused)", [], 0.0))
            continue
        top = answer.top_classes()
        seen.append(Seen(r, answer.answer, [c["label"] for c in top], top[0]["probability"]))
    return seen


def summarize(seen: list[Seen]) -> dict:
    """Per chosen class: records, answered right, right among those shown, what was answered; and the totals."""
    classes = {}
    for chosen in sorted({s.record.chosen for s in seen}):
        mine = [s for s in seen if s.record.chosen == chosen]
        classes[chosen] = {
            "records": len(mine),
            # An "unsure" answer names no class, so it is not right; its closest classes were shown.
            "right": sum(s.answer == chosen for s in mine) / len(mine),
            "in_top": sum(chosen in s.top[:TOP_CLASSES] for s in mine) / len(mine),
            "unsure": sum(s.answer == UNSURE for s in mine) / len(mine),
            "answers": dict(Counter(s.answer if s.answer != UNSURE else f"unsure ({s.top[0]})" for s in mine)),
        }
    named = {name: figures for name, figures in classes.items() if name != NONE_OF_THESE}
    return {
        "records": len(seen),
        "classes": classes,
        "mean_right": _mean([f["right"] for f in named.values()]),
        "mean_in_top": _mean([f["in_top"] for f in named.values()]),
        "ways": dict(Counter(s.record.way for s in seen)),
        "first": look_first(seen),
    }


def look_first(seen: list[Seen]) -> list[Seen]:
    """Wrong answers, the most confident first: where the model is surest and wrong, something is to learn."""
    wrong = [s for s in seen if s.answer not in (s.record.chosen, UNSURE)]
    return sorted(wrong, key=lambda s: s.confidence, reverse=True)


def markdown(found: dict, source: str, answered_by_what: str, first: int = FIRST) -> str:
    """The report: what the figures mean, the table per chosen class, and the photos to look at first."""
    lines = [
        f"### Feedback: {found['records']} record{'s' if found['records'] != 1 else ''} from {source}",
        "",
        f"Answers: {answered_by_what}. People mostly send feedback when the answer was wrong, so "
        '"answered right" is far below the accuracy on photos in general: it shows which classes people '
        "find wrong, and what the model says instead.",
        "",
        f"| right class (as chosen) | records | answered right | among the {TOP_CLASSES} shown | answered unsure "
        "| answers given |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, f in found["classes"].items():
        answers = ", ".join(f"{answer} {count}" for answer, count in sorted(f["answers"].items(), key=_most))
        right, in_top = (f"{f['right']:.0%}", f"{f['in_top']:.0%}") if name != NONE_OF_THESE else ("n/a", "n/a")
        lines.append(f"| {name} | {f['records']} | {right} | {in_top} | {f['unsure']:.0%} | {answers} |")
    if found["mean_right"] is not None:
        lines.append(
            f"| **mean over the classes** | | **{found['mean_right']:.0%}** | **{found['mean_in_top']:.0%}** | | |"
        )
    lines += [
        "",
        "How the photos reached the model: " + ", ".join(f"{w} {n}" for w, n in sorted(found["ways"].items())),
    ]
    if found["first"]:
        lines += [
            "",
            "#### Photos to look at first: the most confident wrong answers",
            "",
            "| record | right class | answered | confidence | photo |",
            "|---|---|---|---:|---|",
        ]
        for s in found["first"][:first]:
            photo = f"{s.record.photo.parent.name}/{s.record.photo.name}"  # its path in the folder and the dataset
            lines.append(f"| {s.record.id} | {s.record.chosen} | {s.answer} | {s.confidence:.0%} | {photo} |")
    return "\n".join(lines) + "\n"


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def download(repo_id: str, into: Path) -> Path:
    """The dataset's files, downloaded into `into` (private datasets need HF_TOKEN).

    Not into the Hub cache: people's photos should not outlive the report on this machine.

    Raises:
        HubError: The dataset cannot be found or read.
    """
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", local_dir=into))
    except Exception as err:
        raise HubError(describe_error(err, repo_id, None, action="pull")) from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, default=DEFAULT_FOLDER, help="the app's feedback folder (default: feedback)"
    )
    parser.add_argument("--repo", metavar="USER/NAME", help="read this Hub dataset instead of a folder")
    parser.add_argument(
        "--model",
        help="answer every photo again with this model folder or REPO_ID[@REVISION] (default: the answers kept)",
    )
    parser.add_argument("--first", type=int, default=FIRST, help=f"photos to look at first (default: {FIRST})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="feedback-") as scratch:  # a dataset's photos, deleted afterwards
        try:
            folder = download(args.repo, Path(scratch)) if args.repo else args.folder
            records = read_records(folder)
            if not records:
                raise FeedbackError(f"{args.repo or folder} holds no feedback records yet.")
            if args.model:
                seen, by = answered_by(records, load(args.model)), f"those of {args.model}, now"
            else:
                seen, by = as_answered(records), "those the app showed"
        except (FeedbackError, HubError, ModelFolderError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    print(markdown(summarize(seen), args.repo or str(folder), by, args.first), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
