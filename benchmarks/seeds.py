"""Do the chapters' headline effects hold on other seeds?

    python benchmarks/seeds.py                       # chapters 2-3 on seeds 0-4, base fixed
    python benchmarks/seeds.py --base-seeds 0 1 2    # and chapters 1-3 with the base retrained
    python benchmarks/seeds.py --commit              # also copy the table to benchmarks/results/

Every effect a chapter notebook asserts (its assert cells) is listed in EFFECTS with the same
threshold. Each seed runs the chapter CLIs in its own runs folder, runs/benchmarks/seeds/:
- `seed<N>/`: chapters 2 and 3 with `--set seed=N --set base.seed=0`: every stage of chapter 2
  (RL prompts and samples, SFT batches, rejection sampling, evaluation draws, the aha run) on a
  new seed, the base pretrained once (seed 0, chapter 1's); then chapter 3 scores the methods
  with that seed's models and sampling draws. About 11 minutes per seed for chapter 2 and
  about 5 for chapter 3 on a 2-core AMD EPYC; the folders are caches, so a study that
  stops resumes where it stopped.
- `base<N>/`: chapters 1, 2 and 3 with `--set seed=N`: the base pretrained again too (about 18
  minutes per seed for chapters 1-2).

Writes runs/benchmarks/seeds.json, {"seeds", "base_seeds", "effects": {name: {"target",
"values", "holds", ...}}}, and prints one row per effect: the seed-0 value (the committed
notebooks' run), the mean, min and max, and on how many seeds the notebook's threshold holds.
It runs outside CI (`pytest` never starts it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ch01_what_is_reasoning.effects import EFFECTS as CH01_EFFECTS  # noqa: E402
from ch02_r1_pipeline.effects import EFFECTS as CH02_EFFECTS  # noqa: E402
from ch03_four_methods.effects import EFFECTS as CH03_EFFECTS  # noqa: E402
from course.effects import spread  # noqa: E402
from course.runtime import runs_dir, write_json  # noqa: E402

SEEDS = (0, 1, 2, 3, 4)


# chapter -> (its CLI module, its effects: one per assert of its notebook's checks)
CHAPTERS = {"ch01": ("ch01_what_is_reasoning", CH01_EFFECTS),
            "ch02": ("ch02_r1_pipeline", CH02_EFFECTS),
            "ch03": ("ch03_four_methods", CH03_EFFECTS)}
BASE_FIXED = ("ch02", "ch03")   # the chapters a seed of chapter 2's stages (base fixed) runs


def run_cli(module: str, runs: Path, sets: list[str], reuse: bool = False) -> dict:
    """Run one chapter's CLI into `runs` (quietly; its log next to it); its results.json. With
    `reuse`, a results.json already there (written by this command before) is read instead."""
    chapter = module[:4]
    saved = runs / chapter / "results.json"
    if reuse and saved.exists():
        return json.loads(saved.read_text())
    runs.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", module, "--runs", str(runs), "--quiet"]
    for item in sets:
        args += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with open(runs / f"{chapter}.log", "w") as log:
        subprocess.run(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return json.loads(saved.read_text())


def with_base(folder: Path, checkpoint: Path | None) -> None:
    """Put chapter 1's seed-0 base (`checkpoint`) into `folder`, so that it is not pretrained
    again (the cache checks it: one made by other settings is retrained anyway)."""
    base = folder / "ch01" / "base.pt"
    if checkpoint and not base.exists():
        base.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(checkpoint, base)


def study(root: Path, seeds, base_seeds, base_checkpoint: Path | None, reuse: bool = False) -> dict:
    """{"seeds", "base_seeds", "effects"}: every effect's value on every seed. Chapter 2's
    effects are measured on `seeds` (the base fixed) and, with chapter 1's, on `base_seeds`."""
    values = {name: [] for _, effects in CHAPTERS.values() for name in effects}
    base_values = {name: [] for name in values}
    for seed in seeds:                   # chapter 2's stages on a new seed, the base fixed
        folder = root / f"seed{seed}"
        with_base(folder, base_checkpoint)
        print(f"seed {seed}: chapters 2 and 3 (base seed 0) in {folder}", flush=True)
        for chapter in BASE_FIXED:       # chapter 3 scores the methods with this seed's models
            module, effects = CHAPTERS[chapter]
            results = run_cli(module, folder, [f"seed={seed}", "base.seed=0"], reuse)
            for name, effect in effects.items():
                values[name].append(effect.value(results))
    for seed in base_seeds:              # the base pretrained again too
        folder = root / f"base{seed}"
        if seed == 0:
            with_base(folder, base_checkpoint)
        print(f"base seed {seed}: chapters 1 and 2 in {folder}", flush=True)
        for module, effects in CHAPTERS.values():
            results = run_cli(module, folder, [f"seed={seed}"], reuse)
            for name, effect in effects.items():
                base_values[name].append(effect.value(results))
    out = {}
    for chapter, (_, effects) in CHAPTERS.items():
        for name, effect in effects.items():
            entry = {"chapter": chapter, "target": effect.target,
                     "threshold": [effect.op, effect.threshold]}
            for key, measured in (("", values[name]), ("base_", base_values[name])):
                if measured:
                    entry[f"{key}values"] = measured
                    entry[f"{key}holds"] = sum(effect.holds(v) for v in measured)
                    entry[f"{key}spread"] = spread(measured)
            if "values" in entry or "base_values" in entry:
                out[name] = entry
    return {"seeds": list(seeds), "base_seeds": list(base_seeds), "effects": out}


def table(result: dict) -> str:
    lines = [f"{'effect':<40} {'seed 0':>8} {'mean':>8} {'min':>8} {'max':>8}  holds"]
    for name, e in result["effects"].items():
        for key, label in (("", ""), ("base_", " (base too)")):
            if f"{key}values" not in e:
                continue
            s = e[f"{key}spread"]
            seeds = result[f"{key}seeds"]
            first = e[f"{key}values"][seeds.index(0)] if 0 in seeds else None
            row = [first, s["mean"], s["min"], s["max"]]
            cells = " ".join(f"{v:8.3f}" if v is not None else f"{'-':>8}" for v in row)
            lines.append(f"{(name + label)[:40]:<40} {cells}  {e[f'{key}holds']}/{len(e[f'{key}values'])}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS),
                        help="seeds of chapter 2's stages, the base fixed (default 0-4)")
    parser.add_argument("--base-seeds", type=int, nargs="*", default=[],
                        help="seeds that pretrain the base again too (chapters 1 and 2)")
    parser.add_argument("--root", default=None, help="folder of the seeds' runs folders "
                        "(default runs/benchmarks/seeds)")
    parser.add_argument("--reuse", action="store_true",
                        help="read the results.json a seed's folder already holds instead of "
                             "running its chapter again (the table of a finished study, again)")
    parser.add_argument("--commit", action="store_true",
                        help="also write benchmarks/results/seeds.json (the committed table)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else runs_dir("benchmarks") / "seeds"
    base = runs_dir("ch01") / "base.pt"
    result = study(root, args.seeds, args.base_seeds, base if base.exists() else None, args.reuse)
    print(table(result))
    write_json(runs_dir("benchmarks") / "seeds.json", result)
    if args.commit:
        write_json(ROOT / "benchmarks" / "results" / "seeds.json", result)
    return result


if __name__ == "__main__":
    main()
