"""R1 against R1-Zero at equal problems, over seeds.

    python benchmarks/fair_comparison.py                 # seeds 0-4, base fixed
    python benchmarks/fair_comparison.py --commit        # also copy the table to benchmarks/results/

For each seed N, chapter 2's pipeline at `seed=N, base.seed=0` runs (or loads) R1, R1-Zero and
the fair control `r1_zero_same_problems` (R1-Zero's RL on the problem lengths R1's SFT set has)
in runs/benchmarks/seeds/seed<N>/, the folders benchmarks/seeds.py uses: after a seed study,
only the control trains (about a minute) and the three are scored on the five splits.

Writes fair_comparison.json next to the seed folders (runs/benchmarks/seeds/): {"seeds",
"runs": {seed: {model: {"pass1", "tokens", "sampled_mixing_rate"}}}, "summary": {split:
{"r1_minus_control": [points per seed], "r1_minus_r1_zero": [...]}}}, and prints the two
differences per split with their range. It runs outside CI.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ch02_r1_pipeline.chapter import FAIR_CONTROL  # noqa: E402
from ch02_r1_pipeline.runner import open_pipeline  # noqa: E402
from ch02_r1_pipeline.splits import SPLITS  # noqa: E402
from course.runtime import runs_dir, write_json  # noqa: E402

MODELS = {"r1": "r1", "control": FAIR_CONTROL, "r1_zero": "r1_zero"}


def measure(seed: int, root: Path, preset: str = "cpu") -> dict:
    """pass@1 and tokens per split and the T=1 mixing rate of R1, the control and R1-Zero."""
    pipeline = open_pipeline(preset, root / f"seed{seed}", progress=False,
                             overrides={"seed": seed, "base.seed": 0})
    out = {}
    for key, stage in MODELS.items():
        ev = pipeline.run(stage)["eval"]
        out[key] = {"pass1": ev["splits"]["pass1"], "tokens": ev["splits"]["tokens"],
                    "sampled_mixing_rate": ev["sampled"]["mixing_rate"]}
    return out


def summarize(runs: dict) -> dict:
    """{split: {"r1_minus_control": [points], "r1_minus_r1_zero": [points]}}, one per seed."""
    return {s: {f"r1_minus_{other}": [100 * (r["r1"]["pass1"][s] - r[other]["pass1"][s])
                                      for r in runs.values()]
                for other in ("control", "r1_zero")} for s in SPLITS}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--root", type=Path, default=runs_dir("benchmarks") / "seeds",
                        help="the seed folders (benchmarks/seeds.py's)")
    parser.add_argument("--preset", default="cpu", help="tiny: a dry run of the plumbing")
    parser.add_argument("--commit", action="store_true",
                        help="copy the table to benchmarks/results/fair_comparison.json")
    args = parser.parse_args(argv)
    runs = {}
    for seed in args.seeds:
        runs[seed] = measure(seed, args.root, args.preset)
        print(f"seed {seed}: " + ", ".join(f"{k} {v['pass1']['harder']:.1%}"
                                           for k, v in runs[seed].items()) + " on harder", flush=True)
    table = {"seeds": args.seeds, "runs": runs, "summary": summarize(runs)}
    path = args.root / "fair_comparison.json"
    write_json(path, table)
    for split, diffs in table["summary"].items():
        print(f"{split:<16}" + "  ".join(f"{name} {min(v):+.1f} to {max(v):+.1f} pt"
                                         for name, v in diffs.items()))
    if args.commit:
        shutil.copy(path, ROOT / "benchmarks" / "results" / "fair_comparison.json")
    return table


if __name__ == "__main__":
    main()
