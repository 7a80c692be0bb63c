"""Run all of chapter 3 headless: the CLI and the notebook call this.

It loads chapter 2's models (training any that are missing), counts what each cost to train,
runs the comparison harness, the scaling curves and the budget-forcing curves on chapter 2's
held-out test set, and writes runs/ch03/results.json and the plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt

from ch02_r1_pipeline.runner import open_pipeline
from course.cache import seal
from course.overrides import override, split_overrides
from course.runtime import (
    runs_dir,
    write_json,
)
from course.setting_ranges import check_settings

from .budget_forcing import budget_curve
from .harness import Entry, Harness, harness_for
from .plots import plot_budget, plot_methods, plot_o1_vs_r1, plot_scaling
from .training_costs import training_costs
from .where_they_differ import SPLIT, method_gap, o1_like, split_harness, split_rows

METHODS = ("inference-time scaling", "pure RL", "SFT + RL", "pure SFT / distillation")


@dataclass(frozen=True)
class Settings:
    pool_size: int = 16                     # samples per problem: N goes up to this
    headline_n: int = 16                    # the N of the table's voting rows
    budgets: tuple = (0, 8, 16, 24, 32, 48, 64)
    beam: tuple = (4, 4)                    # beam width, expansions per beam
    pooled_models: tuple = ("base", "distill")   # the models with a sample pool (the widget's)


SETTINGS = {"tiny": Settings(pool_size=4, headline_n=4, budgets=(0, 4, 8), beam=(2, 2)),
            "cpu": Settings(),
            "gpu": Settings(pool_size=64, headline_n=64, budgets=(0, 8, 16, 24, 32, 48, 64, 96))}


def entries(n: int) -> list[Entry]:
    """The table's rows: the four methods, plus the plain models they start from."""
    return [
        Entry("none", "base", "greedy"),
        Entry("inference-time scaling", "base", "cot_prompt"),
        Entry("inference-time scaling", "base", f"majority@{n}"),
        Entry("inference-time scaling", "base", f"best_of_n_verifier@{n}"),
        Entry("inference-time scaling", "base", "beam_search"),
        Entry("pure RL", "r1_zero", "greedy"),
        Entry("SFT + RL", "r1", "greedy"),
        Entry("none", "student_base", "greedy"),
        Entry("pure RL", "student_rl", "greedy"),
        Entry("pure SFT / distillation", "distill", "greedy"),
        Entry("pure SFT / distillation", "distill", f"best_of_n_verifier@{n}"),
    ]


def run_chapter(preset: str | None = None, root=None, progress: bool = True,
                overrides: dict | None = None) -> dict:
    """`overrides`: this chapter's settings by name ({"pool_size": 8}); any other key goes to
    chapter 2's pipeline ({"r1_zero.lr": 2e-4} retrains R1-Zero and what depends on it).

    The notebook takes the same steps one section at a time, with the same functions."""
    start = time.perf_counter()
    pipeline, s = open_chapter(preset, root, progress, overrides)
    costs = training_costs(pipeline)
    harness = make_harness(pipeline, s, costs, progress)
    rows = harness.table(entries(s.headline_n))
    by_model = {m: harness.scaling(m, list(range(1, s.pool_size + 1))) for m in s.pooled_models}
    budgets = budget_curves(harness, pipeline, s, progress)
    on_split = split_rows(split_harness(pipeline, s, costs, progress), pipeline, s.headline_n)
    results = collect_results(pipeline.preset.name, str(pipeline.device), rows, by_model, budgets,
                              costs, len(pipeline.test), s.headline_n, on_split=on_split)
    results["seconds"] = time.perf_counter() - start
    results["seed"] = pipeline.settings.seed
    save_results(results, runs_dir("ch03", root))
    return results


def open_chapter(preset: str | None = None, root=None, progress: bool = True,
                 overrides: dict | None = None):
    """Chapter 2's pipeline (its models load or train when first asked for) and this chapter's
    settings, every one checked before any work."""
    mine, theirs = split_overrides(Settings(), overrides)
    pipeline = open_pipeline(preset, root, progress, overrides=theirs)
    s = override(SETTINGS[pipeline.preset.name], mine)
    # in range before any work (the pipeline checked its own keys when it opened)
    check_settings(s, context={"model_stages": pipeline.model_stages()})
    return pipeline, s


def make_harness(pipeline, s: Settings, costs: dict, progress: bool = True) -> Harness:
    """Every chapter 2 model (loaded on first use) on chapter 2's held-out test set, each
    charged its total training FLOPs."""
    return harness_for(pipeline, s, costs, pipeline.test, progress)


def budget_curves(harness: Harness, pipeline, s: Settings, progress: bool = True) -> dict:
    """Accuracy against the thinking budget for the base (made to start thinking) and R1."""
    tok, test = pipeline.tokenizer, pipeline.test
    return {"base": budget_curve(harness.model("base"), tok, test, s.budgets, must_think=True,
                                 progress=progress),
            "r1": budget_curve(harness.model("r1"), tok, test, s.budgets, progress=progress)}


def four_methods(rows: list[dict]) -> list[dict]:
    """One row per method: inference-time scaling's most accurate strategy on the base model,
    then R1-Zero (pure RL), R1 (SFT + RL) and the distilled student (greedy)."""
    best = max((r for r in rows if r["method"] == METHODS[0]), key=lambda r: r["accuracy"])
    pick = {"pure RL": "r1_zero", "SFT + RL": "r1", "pure SFT / distillation": "distill"}
    return [best] + [next(r for r in rows if r["model"] == model and r["strategy"] == "greedy")
                     for method, model in pick.items()]


def o1_vs_r1(rows: list[dict], base_scaling: dict, n_problems: int) -> dict:
    """Spend compute on training (R1-Zero) or at inference (the base, best-of-N)?

    `matched_n`: the smallest N at which verifier best-of-N on the base reaches R1-Zero's
    accuracy (None if no N in the pool does). `break_even_problems`: how many questions must
    be answered before R1-Zero's extra training compute is repaid by its cheaper answers
    (against best-of-N at matched_n, or at the largest N when none matches).
    """
    row = {r["model"]: r for r in rows if r["strategy"] == "greedy"}
    base, rl = row["base"], row["r1_zero"]
    curve, flops = base_scaling["best_of_n_verifier"], base_scaling["inference_flops_per_problem"]
    matched = [n for n in sorted(curve) if curve[n] >= rl["accuracy"]]
    n_ref = matched[0] if matched else max(curve)
    extra_training = rl["train_flops"] - base["train_flops"]
    saving = flops[n_ref] - rl["inference_flops_per_problem"]
    return {"r1_zero_accuracy": rl["accuracy"], "matched_n": matched[0] if matched else None,
            "reference_n": n_ref, "reference_accuracy": curve[n_ref],
            "extra_training_flops": extra_training,
            "base_inference_flops_per_problem": flops[n_ref],
            "r1_zero_inference_flops_per_problem": rl["inference_flops_per_problem"],
            "break_even_problems": extra_training / saving if saving > 0 else None,
            "test_problems": n_problems}


def collect_results(preset, device, rows, by_model, budgets, costs, n_problems, headline_n,
                    on_split: list[dict] | None = None) -> dict:
    """The results.json contract (keys are never renamed; new ones may be added). `on_split`:
    the rows scored on chapter 2's harder split, where the methods differ (where_they_differ.py)."""
    base = by_model["base"]
    by_name = {r["model"]: r for r in rows if r["strategy"] == "greedy"}
    rows = [{**r, "split": r.get("split", "test")} for r in rows]   # chapter 2's test set, 3-5 ops
    results = {
        "preset": preset, "device": device, "seconds": None,
        "methods": rows,
        "four_methods": four_methods(rows),
        "scaling": {k: base[k] for k in ("majority", "best_of_n_verifier", "pass_at_n")},
        "scaling_flops_per_problem": base["inference_flops_per_problem"],
        "scaling_by_model": by_model,
        "headline_n": headline_n,
        "budget_forcing": budgets,
        "training_flops": costs,
        "distill_vs_rl": {m: {"accuracy": by_name[m]["accuracy"], "own_flops": costs[m]["own"],
                              "total_flops": costs[m]["total"], "params": by_name[m]["params"]}
                          for m in ("student_base", "distill", "student_rl")},
        "o1_vs_r1": o1_vs_r1(rows, base, n_problems),
        "test_problems": n_problems,
    }
    if on_split:
        # o1 as the post frames it: SFT + RL plus inference-time scaling, where methods differ
        results["o1_vs_r1"].update(o1_like(on_split, headline_n), split=SPLIT)
        results.update(methods_on_split=on_split, method_gap=method_gap(on_split),
                       split_problems=on_split[0]["problems"])
    return results


def save_results(results: dict, out_dir) -> None:
    plot_scaling(results["scaling"], results["scaling_flops_per_problem"],
                 path=out_dir / "scaling.png")
    plot_budget(results["budget_forcing"], path=out_dir / "budget_forcing.png")
    plot_methods(results["methods"], path=out_dir / "methods.png")
    plot_o1_vs_r1(results, path=out_dir / "o1_vs_r1.png")
    if "methods_on_split" in results:
        plot_methods(results["methods_on_split"], path=out_dir / "methods_on_split.png",
                     title=split_title(results))
    write_json(out_dir / "results.json", seal(results))   # chapter 4 checks the seal
    plt.close("all")


def summary_table(results: dict) -> str:
    lines = [f"preset {results['preset']} on {results['device']}: {results['seconds']:.0f} s, "
             f"{results['test_problems']} held-out problems (chapter 2's test set)", "",
             f"{'method':<24} {'model':<13} {'strategy':<22} {'accuracy':>8} {'train FLOPs':>12} "
             f"{'infer FLOPs/problem':>20}"]
    for r in results["methods"]:
        lines.append(f"{r['method']:<24} {r['model']:<13} {r['strategy']:<22} {r['accuracy']:>8.1%} "
                     f"{r['train_flops']:>12.2e} {r['inference_flops_per_problem']:>20.2e}")
    o = results["o1_vs_r1"]
    match = (f"best-of-{o['matched_n']} on the base matches R1-Zero" if o["matched_n"]
             else f"no N up to {o['reference_n']} matches R1-Zero ({o['reference_accuracy']:.1%} "
                  f"vs {o['r1_zero_accuracy']:.1%})")
    repaid = (f"R1-Zero's training pays for itself after {o['break_even_problems']:,.0f} questions"
              if o["break_even_problems"] else "R1-Zero never pays for itself here")
    lines += ["", f"o1 vs R1: {match}; {repaid}."]
    if "methods_on_split" in results:
        lines += ["", split_table(results)]
    return "\n".join(lines)


def split_title(results: dict) -> str:
    return (f"on the {results['o1_vs_r1']['split']} split ({results['split_problems']} held-out "
            f"problems of 6 operations)")


def split_table(results: dict) -> str:
    """The rows scored on the harder split, with chapter 2's pass@1 where there is one, the gap
    between the best and the worst trained method, and the o1-like recipe against R1 alone."""
    lines = [split_title(results) + "; FLOPs: to train, and per answer",
             f"{'method':<34} {'model · strategy':<31} {'accuracy':>8} {'pass@1':>7} {'train':>9} "
             f"{'per answer':>10}"]
    for r in results["methods_on_split"]:
        pass1 = f"{r['pass1']:>7.1%}" if "pass1" in r else f"{'':>7}"
        lines.append(f"{r['method']:<34} {r['model'] + ' · ' + r['strategy']:<31} "
                     f"{r['accuracy']:>8.1%} {pass1} {r['train_flops']:>9.2e} "
                     f"{r['inference_flops_per_problem']:>10.2e}")
    g, o = results["method_gap"], results["o1_vs_r1"]
    lines += ["", f"trained methods by pass@1: best {g['best']}, worst {g['worst']}, "
              f"{g['points']:.1f} points apart",
              f"o1-like (R1 + best-of-N) {o['o1_like']['accuracy']:.1%} vs R1 alone "
              f"{o['r1_alone']['accuracy']:.1%} vs the base with best-of-N "
              f"{o['base_best_of_n']['accuracy']:.1%}"]
    return "\n".join(lines)
