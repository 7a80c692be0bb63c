"""Run all of chapter 1 headless: the CLI and the notebook's summary call this."""

from __future__ import annotations

import time

from course.overrides import override
from course.runtime import get_preset, pick_device, runs_dir, seed_everything, write_json
from course.setting_ranges import check_settings

from .arithmetic import sample_problems
from .experiments import (
    accuracy_by_operations,
    cost,
    knowledge,
    overthinking,
    pretrain_base,
    sample_efficiency,
)
from .plots import plot_by_style, plot_costs, plot_loss

LEVELS = (1, 2, 3, 4, 5)  # numbers of operations the chapter shows


def run_chapter(preset: str | None = None, root=None, progress: bool = True,
                overrides: dict | None = None) -> dict:
    """Train (or load) the base model, run every experiment, write results.json and plots.

    `overrides` changes preset settings by name ({"pretrain_steps": 2000}, or --set on the CLI;
    {"seed": 3} reseeds the base's pretraining and the sample-efficiency runs)."""
    start = time.perf_counter()
    device = pick_device()
    preset = override(get_preset(preset, device), overrides)
    check_settings(preset)   # every setting in its range before any work (setting_ranges.py)
    out_dir = runs_dir("ch01", root)
    seed_everything(preset.seed)
    model, tokenizer, info = pretrain_base(preset, device, out_dir / "base.pt", progress=progress)
    n = preset.eval_problems
    results = collect_results(
        preset, device, info,
        by_ops=accuracy_by_operations(model, tokenizer, LEVELS, n, progress=progress),
        efficiency=sample_efficiency(preset, device, seed=preset.seed, progress=progress),
        cost_=cost(model, tokenizer, hardest_problems(n)),
        knowledge_=knowledge(model, tokenizer),
        overthinking_=overthinking(model, tokenizer, easy_problems(n)),
        seconds=time.perf_counter() - start)
    save_results(results, info, out_dir)
    return results


def hardest_problems(n: int):
    return sample_problems(n, LEVELS[-1], split="test", seed=2)


def easy_problems(n: int):
    return sample_problems(n, 1, split="test", seed=2)


def collect_results(preset, device, info, *, by_ops, efficiency, cost_, knowledge_,
                    overthinking_, seconds) -> dict:
    """The results.json contract (keys are never renamed; new ones may be added)."""
    return {
        "preset": preset.name,
        "seed": preset.seed,
        "device": str(device),
        "seconds": seconds,
        "tokens_per_second": info["tokens_per_second"],
        "params": info["params"],
        "pretrain_seconds": info["seconds"],
        "base_model_loaded_from_cache": info["loaded"],
        "hardest_level": LEVELS[-1],
        "accuracy_by_operations": by_ops,
        "sample_efficiency": efficiency,
        "cost": cost_,
        "knowledge": knowledge_,
        "overthinking": overthinking_,
    }


def save_results(results: dict, info: dict, out_dir) -> None:
    """results.json plus the chapter's plots, in `out_dir`."""
    plot_loss(info["history"], path=out_dir / "pretraining_loss.png")
    plot_by_style(results["accuracy_by_operations"], "number of operations",
                  "accuracy vs problem length", path=out_dir / "accuracy_by_operations.png")
    plot_by_style(results["sample_efficiency"], "training examples", "sample efficiency",
                  path=out_dir / "sample_efficiency.png", logx=True)
    plot_costs(results["cost"], results["overthinking"], results["knowledge"],
               path=out_dir / "when_not_to_reason.png")
    write_json(out_dir / "results.json", results)
    import matplotlib.pyplot as plt

    plt.close("all")


def summary_table(results: dict) -> str:
    by_ops = results["accuracy_by_operations"]
    lines = [f"preset {results['preset']} on {results['device']}: {results['seconds']:.0f} s, "
             f"{results['tokens_per_second']:.0f} training tokens/s",
             "", "ops   direct   step-by-step"]
    for n in by_ops["direct"]:
        lines.append(f"{n:>3}   {by_ops['direct'][n]:6.1%}   {by_ops['step_by_step'][n]:6.1%}")
    se = results["sample_efficiency"]
    lines += ["", "examples   direct   step-by-step"]
    for n in se["direct"]:
        lines.append(f"{n:>8}   {se['direct'][n]:6.1%}   {se['step_by_step'][n]:6.1%}")
    c, o, k = results["cost"], results["overthinking"], results["knowledge"]
    lines += ["", f"cost at {LEVELS[-1]} ops: direct {c['direct']['tokens']:.1f} tokens "
              f"{c['direct']['ms']:.0f} ms, step-by-step {c['step_by_step']['tokens']:.1f} tokens "
              f"{c['step_by_step']['ms']:.0f} ms",
              f"knowledge: seen {k['seen_accuracy']:.1%}, unseen {k['unseen_accuracy']:.1%} "
              f"(chance {k['chance_accuracy']:.1%}), unseen answered {k['unseen_answer_rate']:.1%}",
              f"easy (1 op): direct {o['direct']['accuracy']:.1%} in {o['direct']['tokens']:.1f} "
              f"tokens, step-by-step {o['step_by_step']['accuracy']:.1%} in "
              f"{o['step_by_step']['tokens']:.1f} tokens"]
    return "\n".join(lines)
