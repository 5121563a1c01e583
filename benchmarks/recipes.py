"""Training recipes side by side on several seeds: operations, time, and every figure the shipped model answers for.

    python benchmarks/recipes.py [RECIPE ...] [--seeds 42 43 44] [--runs runs/recipes] [--photos ../shared]
                                 [--measure-only] [--json OUT] [--plot PNG]

Each recipe (RECIPES: train.py flags) is trained once per seed with `python train.py --preset default FLAGS
--seed S --output-dir RUNS/RECIPE/seed-S`; a folder that already holds that finished run is measured as it is,
and one that holds its checkpoint is resumed, so the benchmark can be stopped and run again. Every run is
then calibrated on phone photos as `make pretrained` does it (`model.training.calibrate.calibrate_prepared` on
../shared/real-photos-large, the same function as `python -m model.publishing.recalibrate --photos`) and
measured as the shipped model is:

- operations per image: one training step (the augmentation, forward and backward passes) counted by
  `torch.utils.flop_counter.FlopCounterMode`, divided by the batch; images seen: the epochs times the
  training images; TFLOP: their product, evaluation excluded;
- the time: train.py's own training seconds (evaluation excluded) and the whole command's wall time, each on
  the machine that ran it (the benchmark says which);
- Fashion-MNIST test accuracy and its calibration error (ECE) from the run's metrics.json;
- the product photos' mean of the per-class accuracies; both phone sets' mean of the per-label accuracies and
  the right class among the three shown; the share of phone photos of garments warned as unlike the training
  images; the share of hats, shorts and skirts answered 80% sure or more without a warning; the share of the
  small set's photos (the first 40 of each label) whose answer changes when upscaled to 4,000 pixels.

Each photo is decoded and preprocessed once (`model.preprocess.prepare_image`, cached in RUNS/prepared.pt) and
answered by every model with `model.predict.answer_logits`, the second half of `classify`; a run's figures are kept in
its folder (recipe-figures.json) and measured again only when the run or the photos change. Per recipe the
table gives the mean over the seeds and the spread (lowest to highest).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

if __package__ in (None, ""):  # run as a script: its neighbours are importable by name
    from candidates import prepared_or_none, product_photos, scores
    from real_photos import SURE, upscale_choice, upscaled
else:  # imported as benchmarks.recipes (the tests)
    from benchmarks.candidates import prepared_or_none, product_photos, scores
    from benchmarks.real_photos import SURE, upscale_choice, upscaled
from model import artifacts
from model.loading import load_folder
from model.predict import answer_logits, ood_warning
from model.preprocess import ImageError, Prepared
from model.training.calibrate import calibrate_prepared
from model.training.config import TrainConfig
from model.training.device import processor_name
from model.training.engine import augmentation, build_model
from model.training.metrics import read_metrics
from model.training.photoset import read_photo_set
from model.training.run_folder import checkpoint_position, finished_run

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ROOT.parent / "shared"
DEFAULT_RUNS = ROOT / "runs" / "recipes"
SEEDS = (42, 43, 44)
FIGURES = "recipe-figures.json"  # a run's measured figures, beside its metrics.json
BENCH = "bench.json"  # the whole command's wall time, written by this benchmark beside the run
# Decided before any run was measured: the recipe that ships is shipped from this seed's run.
SHIPPED_SEED = 42
LARGE, SMALL, PRODUCT = "real-photos-large", "real-photos", "product-photos"
UPSCALE_SIDE = 4000  # a 12-megapixel phone photo's long side

# What each recipe changes in the `default` preset. BASELINE pins the default preset's recipe as it was when
# cutting its operations was weighed (issue 39), so that it stays measurable whatever the preset becomes; it is
# the recipe the others are held against (the floors of TARGETS).
BASELINE = "default, 30 epochs"
PINNED = ["--epochs", "30", "--hidden-units", "32,64", "--batch-size", "128", "--lr", "0.1"]
RECIPES: dict[str, list[str]] = {
    BASELINE: PINNED,
    "20 epochs": [*PINNED, "--epochs", "20"],
    "10 epochs": [*PINNED, "--epochs", "10"],
    "16,64 x 16 epochs": [*PINNED, "--hidden-units", "16,64", "--epochs", "16"],
    "16,48 x 24 epochs": [*PINNED, "--hidden-units", "16,48", "--epochs", "24"],
}


def run_folder(runs: Path, recipe: str, seed: int) -> Path:
    return runs / recipe.replace(" ", "-").replace(",", "") / f"seed-{seed}"


def train(recipe: str, seed: int, folder: Path, threads: int) -> None:
    """Train `recipe` with `seed` into `folder` on `threads` threads, or continue its checkpoint; nothing where the
    run is there."""
    position = checkpoint_position(folder / artifacts.CHECKPOINT)
    resume = position is not None and (position[0] <= position[2] or finished_run(folder) is None)
    if finished_run(folder) is not None and not resume:
        return
    command = [sys.executable, "train.py", "--preset", "default", *RECIPES[recipe], "--seed", str(seed)]
    command += ["--output-dir", str(folder), "--no-progress", *(["--resume"] if resume else [])]
    print(f"training {recipe}, seed {seed}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    log = folder.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, cwd=ROOT, check=True, stdout=out, stderr=subprocess.STDOUT, env=env)
    # The whole command's time, beside train.py's own: a resumed run's is only its last part.
    bench = {"wall_seconds": time.perf_counter() - started, "resumed": resume, "threads": threads}
    (folder / BENCH).write_text(json.dumps(bench) + "\n")


def operations_per_image(flags: list[str]) -> float:
    """FLOPs of one training step per image: the augmentation, forward and backward passes of the recipe's model."""
    args = {name: value for name, value in zip(flags[::2], flags[1::2]) if name.startswith("--")}
    config = TrainConfig(
        hidden_units=[int(w) for w in args.get("--hidden-units", "32,64").split(",")],
        batch_size=int(args.get("--batch-size", "128")),
    ).resolve()
    model = build_model(config, [str(i) for i in range(10)]).train()
    images = torch.randint(0, 256, (config.batch_size, 1, 28, 28)).float() / 255
    labels = torch.arange(config.batch_size) % 10
    with FlopCounterMode(display=False) as counter:
        x = augmentation(config)(images, labels, torch.Generator().manual_seed(0))
        torch.nn.functional.cross_entropy(model(x), labels).backward()
    return counter.get_total_flops() / config.batch_size


def prepared_photos(photos: Path, cache: Path) -> dict[str, list]:
    """Every photo prepared once: (label, right classes or None for a label of no class, Prepared or None)."""
    if cache.is_file():
        return torch.load(cache, weights_only=False)
    sets = {}
    for name in (LARGE, SMALL):
        photo_set = read_photo_set(photos / name)
        sets[name] = [(label, photo_set.right.get(label), prepared_or_none(path)) for label, path in photo_set.photos]
        if name == SMALL:
            sets["upscaled"] = [
                (prepared_or_none(path), prepared_or_none(upscaled(path, UPSCALE_SIDE)))
                for _, path in upscale_choice(photo_set)
            ]
    sets[PRODUCT] = product_photos(photos / PRODUCT)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sets, cache)
    return sets


def answered(model, prepared: Prepared | None) -> tuple[list[str], float, bool] | None:
    """The classes ranked, the top probability and the warning of the app's answer; None where it refuses."""
    if prepared is None:
        return None
    try:
        logits, score = answer_logits(model, prepared)
    except ImageError:
        return None
    probabilities = logits.softmax(0)
    ranked = [model.class_names[i] for i in probabilities.argsort(descending=True)]
    return ranked, float(probabilities.max()), bool(ood_warning(score, model))


def measured(folder: Path, sets: dict[str, list], prepared: Path) -> dict[str, float]:
    """The figures of the run in `folder`, measured once: kept in FIGURES beside its metrics.json, and measured
    again when the run or the photos `prepared` changed since."""
    kept = folder / FIGURES
    newest = max((folder / artifacts.METRICS).stat().st_mtime, prepared.stat().st_mtime)
    if kept.is_file() and kept.stat().st_mtime > newest:
        return json.loads(kept.read_text())
    found = measure(folder, sets)
    kept.write_text(json.dumps(found, indent=2) + "\n")
    return found


def measure(folder: Path, sets: dict[str, list]) -> dict[str, float]:
    """The figures of the run in `folder`, with the photo calibration fitted as `make pretrained` fits it."""
    metrics = read_metrics(folder)
    calibrated, _, _ = calibrate_prepared(
        load_folder(folder), [(p, right) for _, right, p in sets[LARGE] if right and p is not None], [LARGE]
    )
    found = {"test_accuracy": metrics["test_accuracy"], "ece": metrics["calibration"]["ece_after"]}
    found["train_minutes"] = metrics["train_seconds"] / 60
    found["product"] = _mean_per_label(calibrated, sets[PRODUCT])[0]
    warned, others_sure = [], []
    for name, key in ((LARGE, "large"), (SMALL, "small")):
        found[key], found[f"{key}_top3"] = _mean_per_label(calibrated, [p for p in sets[name] if p[1]])
        for label, right, prepared in sets[name]:
            answer = answered(calibrated, prepared)
            if right:
                warned.append(answer is not None and answer[2])
            elif answer is not None:
                others_sure.append(answer[1] >= SURE and not answer[2])
    found["warned"] = statistics.mean(warned)
    found["others_sure"] = statistics.mean(others_sure)
    changed = []
    for small, large in sets["upscaled"]:
        first, second = answered(calibrated, small), answered(calibrated, large)
        changed.append((first and first[0][0]) != (second and second[0][0]))
    found["upscaled_changed"] = statistics.mean(changed)
    bench = json.loads((folder / BENCH).read_text()) if (folder / BENCH).is_file() else None
    whole = bench is not None and not bench["resumed"]  # a resumed run's whole-command time is only its last part
    found["wall_minutes"] = bench["wall_seconds"] / 60 if whole else float("nan")
    return found


def _mean_per_label(model, photos: list) -> tuple[float, float]:
    """The mean over labels of the share whose top class is right, and of the share with the right class among
    the three shown; a refused photo counts as wrong."""
    found = scores(model, photos)
    return statistics.mean(found["accuracy"].values()), statistics.mean(found["top3"].values())


# The figures in the table: key -> (heading, as a percentage with this many decimals).
COLUMNS = {
    "test_accuracy": ("Fashion-MNIST", 2),
    "ece": ("its ECE", 2),
    "product": ("product photos", 1),
    "large": ("large phone set", 1),
    "large_top3": ("large set, among 3", 1),
    "small": ("small phone set", 1),
    "small_top3": ("small set, among 3", 1),
    "warned": ("warned", 1),
    "others_sure": ("hats etc. >=80%", 1),
    "upscaled_changed": ("other answer at 4,000 px", 1),
}


def summary(runs: list[dict[str, float]], key: str, digits: int) -> str:
    """`mean (lowest-highest)` of one figure over the seeds, in percent."""
    values = [100 * run[key] for run in runs]
    return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(results: dict[str, dict]) -> str:
    header = ["recipe", "seeds", "GFLOP/image", "images seen", "TFLOP", "training min", "wall min"]
    header += [heading for heading, _ in COLUMNS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for recipe, result in results.items():
        runs = result["runs"]
        cells = [
            recipe,
            ", ".join(str(seed) for seed in result["seeds"]),
            f"{result['flops_per_image'] / 1e9:.3f}",
            f"{result['images_seen']:,}",
            f"{result['tflop']:.1f}",
            f"{statistics.mean(r['train_minutes'] for r in runs):.1f}",
            _wall(runs),
        ]
        cells += [summary(runs, key, digits) for key, (_, digits) in COLUMNS.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _wall(runs: list[dict]) -> str:
    """The mean wall minutes of the runs trained in one go; a resumed run's whole-command time is only its last part."""
    whole = [run["wall_minutes"] for run in runs if math.isfinite(run["wall_minutes"])]
    return f"{statistics.mean(whole):.1f} ({len(whole)} of {len(runs)})" if whole else "-"


def record(folder: Path, this: str, results: dict[str, dict], command: str) -> None:
    """Store the recipes' figures in `folder`'s metrics.json (model.training.metrics.Recipes) and rewrite its card."""
    from model.publishing.card import record_figures

    recipes = []
    for name, result in results.items():
        runs = result["runs"]
        recipes.append(
            {
                "name": name,
                "flags": RECIPES[name],
                "seeds": result["seeds"],
                "tflop": result["tflop"],
                "train_minutes": statistics.mean(run["train_minutes"] for run in runs),
                "means": {key: statistics.mean(run[key] for run in runs) for key in COLUMNS},
                "lowest": {key: min(run[key] for run in runs) for key in COLUMNS},
                "highest": {key: max(run[key] for run in runs) for key in COLUMNS},
            }
        )
    figures = {"this": this, "recipes": recipes, "machine": processor_name(), "command": command}
    record_figures(folder, load_folder(folder), "recipes", figures)


# The frontier's panels: figure -> the floor a recipe must hold, given the baseline's mean.
TARGETS = {
    "test_accuracy": lambda baseline: 0.935,
    "product": lambda baseline: baseline - 0.01,
    "large": lambda baseline: baseline - 0.01,
    "small": lambda baseline: baseline - 0.01,
    "large_top3": lambda baseline: baseline - 0.01,
    "small_top3": lambda baseline: baseline - 0.01,
}


def plot_frontier(results: dict[str, dict], path: Path, baseline: str = BASELINE) -> None:
    """Each figure against the recipes' TFLOP: the mean over the seeds, the spread as a bar, the floor dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(12, 7), dpi=110)
    for axis, (key, floor) in zip(axes.flat, TARGETS.items()):
        for recipe, result in results.items():
            values = [100 * run[key] for run in result["runs"]]
            mean = statistics.mean(values)
            spread = [[mean - min(values)], [max(values) - mean]]
            axis.errorbar(result["tflop"], mean, yerr=spread, fmt="o", capsize=3)
            axis.annotate(recipe, (result["tflop"], mean), textcoords="offset points", xytext=(4, 3), fontsize=6)
        if baseline in results:
            held = statistics.mean(run[key] for run in results[baseline]["runs"])
            axis.axhline(100 * floor(held), color="grey", linestyle="--", linewidth=1)
            axis.axvline(results[baseline]["tflop"] / 3, color="grey", linestyle=":", linewidth=1)
        axis.set_title(COLUMNS[key][0], fontsize=9)
        axis.set_xlabel("TFLOP of training", fontsize=8)
        axis.set_ylabel("%", fontsize=8)
    figure.suptitle(
        f"Recipes: mean and spread over the seeds; dashed: the floor; dotted: a third of {baseline}'s operations"
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def train_all(recipes: list[str], seeds: list[int], runs: Path, jobs: int) -> None:
    """Train every recipe on every seed into RUNS, `jobs` at a time, each on its share of the cores."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ThreadPoolExecutor(jobs) as pool:
        done = [
            pool.submit(train, recipe, seed, run_folder(runs, recipe, seed), threads)
            for recipe in recipes
            for seed in seeds
        ]
        for future in done:
            future.result()


def measure_all(recipes: list[str], seeds: list[int], runs: Path, photos: Path) -> dict[str, dict]:
    """Per recipe with a finished run: its operations, images seen and TFLOP, and the figures of each run."""
    prepared = runs / "prepared.pt"
    sets = prepared_photos(photos, prepared)
    results = {}
    for recipe in recipes:
        folders = [run_folder(runs, recipe, seed) for seed in seeds]
        done = [(seed, folder) for seed, folder in zip(seeds, folders) if finished_run(folder)]
        if not done:
            continue
        metrics = read_metrics(done[0][1])
        flops = operations_per_image(RECIPES[recipe])
        seen = len(metrics["history"]) * metrics["data"]["train_images"]
        results[recipe] = {
            "seeds": [seed for seed, _ in done],
            "flops_per_image": flops,
            "images_seen": seen,
            "tflop": flops * seen / 1e12,
            "runs": [measured(folder, sets, prepared) for _, folder in done],
        }
        print(f"measured {recipe}", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", help=f"among {', '.join(RECIPES)} (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help=f"(default: {SEEDS})")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help=f"where the runs go (default: {DEFAULT_RUNS})")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help=f"(default: {DEFAULT_PHOTOS})")
    parser.add_argument("--measure-only", action="store_true", help="train nothing; measure the finished runs")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="trainings at once, each on the cores divided among them (default: 1, alone on every core)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also draw the frontier: each figure against TFLOP")
    parser.add_argument(
        "--record",
        nargs=2,
        metavar=("FOLDER", "RECIPE"),
        help="also store the table in FOLDER/metrics.json, FOLDER being a model trained with RECIPE, and rewrite "
        "its card",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose among {', '.join(RECIPES)}")
    recipes = args.recipes or list(RECIPES)
    if not args.measure_only:
        train_all(recipes, args.seeds, args.runs, args.jobs)
    results = measure_all(recipes, args.seeds, args.runs, args.photos)
    print(f"On {processor_name()}; the shipped seed is {SHIPPED_SEED}, chosen before any run was measured.")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        plot_frontier(results, args.plot)
        print(f"frontier: {args.plot}")
    if args.record:
        folder, this = Path(args.record[0]), args.record[1]
        if this not in results:
            parser.error(f"--record: {this} is not among the recipes measured ({', '.join(results)})")
        record(folder, this, results, shlex.join(["python", "benchmarks/recipes.py", *(argv or sys.argv[1:])]))
        print(f"recorded in {folder / artifacts.METRICS} and its model card")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
