"""Run all of chapter 2 headless: the CLI and the notebook's summary call this."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt

from course.runtime import write_json

from .off_rule import OFF_RULE_STAGES, off_rule_questions, probe
from .plots import (
    plot_aha,
    plot_fair_comparison,
    plot_off_rule,
    plot_r1_zero_curves,
    plot_rollouts,
    plot_splits,
    plot_stages,
)
from .runner import Pipeline, open_pipeline
from .slip_world import run_aha
from .splits import PASS1_SAMPLES, PASS1_TEMPERATURE, PASS1_TOP_P, SPLITS

HEADLINE_STAGES = ("base", "r1_zero", "r1", "distill", "student_rl")  # results.json contract
FAIR_CONTROL = "r1_zero_same_problems"   # R1-Zero's RL on the problem lengths R1's SFT set has
METRICS = ("accuracy", "format_rate", "mean_response_tokens", "mixing_rate")
NAME = 22   # the stage-name column of the tables: the longest name, r1_zero_same_problems, and a space


def run_chapter(preset: str | None = None, root=None, progress: bool = True,
                overrides: dict | None = None) -> dict:
    """Run (or load) every stage, then write results.json and the plots. `overrides` changes
    settings by name: {"r1_zero.lr": 2e-4} (one stage), {"test_problems": 300} (the chapter)."""
    start = time.perf_counter()
    pipeline = open_pipeline(preset, root, progress, overrides=overrides)
    pipeline.run_all()
    run_aha(pipeline)
    results = collect_results(pipeline, seconds=time.perf_counter() - start)
    save_results(results, pipeline.dir)
    return results


def stage_metrics(info: dict) -> dict:
    e = info["eval"]
    return {**{k: e[k] for k in METRICS}, "consistency": e["consistency"],
            "thinking_rate": e["thinking_rate"], "sampled_accuracy": e["sampled"]["accuracy"],
            "sampled_mixing_rate": e["sampled"]["mixing_rate"],
            "train_seconds": info.get("seconds"), "loaded_from_cache": info.get("loaded"),
            # the R1 paper's protocol on five splits (splits.py)
            "pass1": e["splits"]["pass1"], "tokens": e["splits"]["tokens"],
            "greedy_by_split": e["splits"]["greedy"]}


def curve(info: dict, keys=("accuracy", "mean_response_tokens", "mixing_rate")) -> dict:
    return {"step": [p["step"] for p in info["curve"]], **{k: [p[k] for p in info["curve"]]
                                                           for k in keys}}


def rollout_log(info: dict) -> dict:
    keys = ("reward", "accuracy", "mean_response_tokens", "mixing_rate", "wait_rate", "kl",
            "clip_fraction", "entropy")
    return {"step": [h["step"] for h in info["history"]],
            **{k: [h[k] for h in info["history"]] for k in keys}}


def data_summary(info: dict) -> dict:
    """What a rejection-sampling stage sampled and kept (its recipe left out)."""
    return {k: v for k, v in info.items() if k not in ("preset", "recipe")}


AHA_KEYS = ("accuracy", "mean_response_tokens", "self_correction_rate", "wrong_step_rate",
            "productive_correction_rate")


def aha_windows(info: dict, every: int) -> dict:
    """The rollouts of a GRPO run averaged over windows of `every` steps: {step: [first step of
    each window], accuracy, mean_response_tokens, self_correction_rate,
    productive_correction_rate, wrong_step_rate} (at the rollout temperature, 64 samples a step)."""
    history = info["history"]
    missing = sorted({k for h in history for k in AHA_KEYS if k not in h})
    if missing:   # a checkpoint from before the course logged these: no silent zeros
        stage = info.get("stage", "this stage")
        raise ValueError(f"{stage}: its GRPO log has no {', '.join(missing)} (it was trained by an "
                         f"older version of the course); delete runs/ch02/{stage}.pt and run again "
                         f"to retrain it")
    windows = [history[i:i + every] for i in range(0, len(history), every)]
    out = {"step": [w[0]["step"] for w in windows],
           **{k: [sum(h[k] for h in w) / len(w) for w in windows] for k in AHA_KEYS}}
    # A sample with a productive fix always writes 'wait', so the samples whose waits fix
    # nothing are exactly the difference of the two shares.
    out["superficial_correction_rate"] = [max(0.0, a - b) for a, b in zip(
        out["self_correction_rate"], out["productive_correction_rate"])]
    return out


def longest_rise(values: list) -> int:
    """The most consecutive points each above the one before (1 for a flat or falling curve)."""
    best = run = 1 if values else 0
    for before, after in zip(values, values[1:]):
        run = run + 1 if after > before else 1
        best = max(best, run)
    return best


def aha_summary(aha: dict, steps: int = 10) -> dict:
    """What the aha targets read: productive self-corrections, accuracy and length over the
    first and the last `steps` steps (means of their points), and the longest rise in length."""
    every = max(1, aha["step"][1] - aha["step"][0]) if len(aha["step"]) > 1 else 1
    n = max(1, steps // every)

    def mean(values):
        return sum(values) / max(1, len(values))

    out = {f"{key}_{end}": mean(aha[key][:n] if end == "first" else aha[key][-n:])
           for key in (*AHA_KEYS, "superficial_correction_rate") if key in aha
           for end in ("first", "last")}
    out["length_rising_points"] = longest_rise(aha["mean_response_tokens"])
    return out


def grpo_steps_per_second(info: dict) -> float:
    return len(info["history"]) / max(1e-9, sum(h["seconds"] for h in info["history"]))


def collect_results(pipeline: Pipeline, seconds: float) -> dict:
    """The results.json contract (keys are never renamed; new ones may be added)."""
    info = pipeline.info
    stages = {s: stage_metrics(info[s]) for s in pipeline.model_stages()}
    return {
        "preset": pipeline.preset.name,
        "seed": pipeline.settings.seed,         # the course seed of this chapter's stages
        "base_seed": pipeline.preset.seed,      # the base's (the same unless base.seed is set)
        "device": str(pipeline.device),
        "seconds": seconds,
        **{s: stages[s] for s in HEADLINE_STAGES},
        "stages": stages,
        "curves": {s: curve(info[s]) for s, stage in pipeline.stages.items() if stage.curve},
        "rollouts": {s: rollout_log(info[s]) for s in pipeline.of_kind("grpo")},
        "grpo_steps_per_second": grpo_steps_per_second(info["r1_zero"]),
        **{name: data_summary(info[name]) for name in pipeline.of_kind("rejection_sampling")},
        "fair_comparison": fair_comparison(stages),
        # when not to think, on kinds of easy question no training example labelled
        "off_rule": off_rule(pipeline),
        # the aha moment: self-corrections during RL on the slip world, and during R1-Zero
        "aha": aha_windows(run_aha(pipeline), pipeline.settings.aha_every),
        "r1_zero_corrections": aha_windows(info["r1_zero"], pipeline.settings.aha_every),
        "fingerprints": {s: pipeline.fingerprint(s) for s in pipeline.stages},
        "test_problems": len(pipeline.test),
        "params": {"teacher": pipeline.model("base").num_params(),
                   "student": pipeline.model("student_base").num_params()},
    }


def off_rule(pipeline: Pipeline) -> dict:
    """{stage: off_rule.probe(...)} for the stages the probe compares (off_rule.py)."""
    questions = off_rule_questions()
    return {s: probe(pipeline.model(s), pipeline.tokenizer, questions) for s in OFF_RULE_STAGES}


def split_table(stages: dict) -> str:
    """pass@1 (k samples at T=0.6, top-p 0.95) and tokens per answer, every stage on every split."""
    head = "".join(f"{s:>17}" for s in SPLITS)
    lines = [f"pass@1 (T={PASS1_TEMPERATURE}, top-p {PASS1_TOP_P}, {PASS1_SAMPLES} samples), "
             "tokens per answer", f"{'stage':<{NAME}}{head}"]
    for name, m in stages.items():
        lines.append(f"{name:<{NAME}}" + "".join(f"{m['pass1'][s]:>9.1%} {m['tokens'][s]:>5.1f}t"
                                             for s in SPLITS))
    return "\n".join(lines)


def split_differences(stages: dict, a: str, b: str) -> dict:
    """{split: (pass@1 of a - pass@1 of b) in points, tokens of a / tokens of b}."""
    return {s: (100 * (stages[a]["pass1"][s] - stages[b]["pass1"][s]),
                stages[a]["tokens"][s] / max(1e-9, stages[b]["tokens"][s])) for s in SPLITS}


def side_by_side(stages: dict, control: str) -> dict:
    """R1 next to `control` on every split: pass@1, tokens per answer, and (once, on the test
    set) the share of T=1 samples that mix digit scripts."""
    pick = {"r1": stages["r1"], "control": stages[control]}
    return {"control": control,
            "pass1": {s: {k: m["pass1"][s] for k, m in pick.items()} for s in SPLITS},
            "tokens": {s: {k: m["tokens"][s] for k, m in pick.items()} for s in SPLITS},
            "sampled_mixing_rate": {k: m["sampled_mixing_rate"] for k, m in pick.items()}}


def fair_comparison(stages: dict) -> dict:
    """R1 against an R1-Zero whose RL drew problems of the same lengths as R1's SFT set (2-6
    operations): on `in_distribution` and `harder` both trained on such problems, and
    `unseen` (7 operations) neither did. `as_published` is the comparison the first edition
    made, against R1-Zero on RL's 2-5 operations, where only R1 had seen 6-operation problems."""
    return {**side_by_side(stages, FAIR_CONTROL), "as_published": side_by_side(stages, "r1_zero")}


def fair_table(fair: dict) -> str:
    """pass@1 of R1 against the fair control and against R1-Zero as published, per split."""
    lines = [f"{'split':<17}{'R1':>8}{'R1-Zero, 2-6 ops':>18}{'R1-Zero, 2-5 ops':>18}"]
    for s in SPLITS:
        lines.append(f"{s:<17}{fair['pass1'][s]['r1']:>8.1%}{fair['pass1'][s]['control']:>18.1%}"
                     f"{fair['as_published']['pass1'][s]['control']:>18.1%}")
    return "\n".join(lines)


def save_results(results: dict, out_dir) -> None:
    plot_r1_zero_curves(results["curves"]["r1_zero"], path=out_dir / "r1_zero_curves.png")
    plot_rollouts({s: results["rollouts"][s] for s in ("r1_zero", "r1_zero_consistency")},
                  path=out_dir / "rollouts.png")
    plot_stages(results["stages"], path=out_dir / "stages.png")
    plot_splits(results["stages"], path=out_dir / "splits.png")
    plot_fair_comparison(results["fair_comparison"], path=out_dir / "fair_comparison.png")
    plot_off_rule(results["off_rule"], path=out_dir / "off_rule.png")
    plot_aha(results["aha"], path=out_dir / "aha.png")
    write_json(out_dir / "results.json", results)
    plt.close("all")


def summary_table(results: dict, splits: bool = True) -> str:
    """The CLI's report: the greedy table, the pass@1 table (unless `splits` is False: the
    notebook prints it in a section of its own), the aha run and R1-Zero's two curves."""
    lines = [f"preset {results['preset']} on {results['device']}: {results['seconds']:.0f} s, "
             f"{results['grpo_steps_per_second']:.2f} GRPO steps/s, "
             f"{results['test_problems']} held-out problems (greedy)", "",
             f"{'stage':<{NAME}} {'accuracy':>8} {'format':>7} {'tokens':>7} {'mixing':>7} "
             f"{'mixing@T=1':>10}"]
    for name, m in results["stages"].items():
        lines.append(f"{name:<{NAME}} {m['accuracy']:>8.1%} {m['format_rate']:>7.1%} "
                     f"{m['mean_response_tokens']:>7.1f} {m['mixing_rate']:>7.1%} "
                     f"{m['sampled_mixing_rate']:>10.1%}")
    if splits:
        lines += ["", split_table(results["stages"]), "",
                  "R1 against R1-Zero on the same problem lengths (2-6 operations, fair) and as "
                  "published (R1-Zero on 2-5), pass@1", fair_table(results["fair_comparison"])]
    a = aha_summary(results["aha"])
    lines += ["", f"the aha moment (RL on the slip world), first 10 steps -> last 10: productive "
              f"self-corrections {a['productive_correction_rate_first']:.1%} -> "
              f"{a['productive_correction_rate_last']:.1%}, fixing nothing "
              f"{a['superficial_correction_rate_first']:.1%} -> {a['superficial_correction_rate_last']:.1%}, "
              f"accuracy {a['accuracy_first']:.1%} -> "
              f"{a['accuracy_last']:.1%}, length {a['mean_response_tokens_first']:.1f} -> "
              f"{a['mean_response_tokens_last']:.1f} tokens (rising over "
              f"{a['length_rising_points']} points in a row)"]
    c = results["curves"]["r1_zero"]
    lines += ["", f"R1-Zero during RL: accuracy {c['accuracy'][0]:.1%} -> {c['accuracy'][-1]:.1%}, "
              f"length {c['mean_response_tokens'][0]:.1f} -> {c['mean_response_tokens'][-1]:.1f} "
              f"tokens ({c['mean_response_tokens'][-1] / max(1e-9, c['mean_response_tokens'][0]):.1f}x)"]
    return "\n".join(lines)
