"""Chapter 1's experiment exercises: change one setting, predict, run, compare.

- 1.5 `temperature_run`: the cached base model, greedy vs sampling at a temperature;
- 1.6 `top_p_run`: the same model sampled at T=1, with and without a top-p filter;
- 1.7 `pretraining_run`: a base model pretrained for fewer steps
  (`override(preset, {"pretrain_steps": n})`), against the chapter's, direct vs step by step.

Nothing here writes to runs/ch01: the base model is only loaded (trained and saved there, with
the chapter's own settings, only if it is missing), and the short-trained model of 1.7 stays in memory.
Each runner returns plain numbers: `curves` to plot (`plot_run` draws them; `baseline` names
the curves of the default setting, drawn dashed), `before` (the number the prediction is about,
at the default setting), `after` (the same at the student's setting) and `measured`
("higher", "lower" or "about the same").
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from course.exercises import direction
from course.overrides import override
from course.runtime import Preset, get_preset, runs_dir

from .arithmetic import sample_problems
from .chapter import LEVELS
from .evaluation import Answers, answer_problems
from .experiments import STYLES, accuracy_by_operations, pretrain_base
from .plots import STYLE_COLOR, plt

# How far a measured number must move to count as "higher" or "lower": about two standard
# errors of a difference between two accuracies near 0.9 on 500 problems (sampling, 1.5-1.6);
# 1.7's number is a difference of two accuracies on 300 problems, so it gets more room.
SAMPLING_TOLERANCE = 0.03
PRETRAIN_TOLERANCE = 0.05
PRETRAIN_STEPS_LIMIT = 1000   # ~100 s on a 2-core CPU; the chapter's model took 3000
STYLE_NAME = {"direct": "direct", "step_by_step": "step by step"}


def load_base(device, progress: bool = True):
    """The chapter's base model from runs/ch01/base.pt, read only: (model, tokenizer).

    It uses the chapter notebook's own preset, so it loads exactly the model the chapter
    trained (and trains and saves that same model, taking minutes, only if it is missing)."""
    model, tokenizer, info = pretrain_base(get_preset("auto", device), device,
                                           runs_dir("ch01") / "base.pt", progress=progress)
    if progress:
        print("base model:", "loaded from runs/ch01/base.pt" if info["loaded"] else "trained now",
              f"({model.num_params():,} parameters)")
    return model, tokenizer


def sampled_completions(model, tokenizer, problems, style: str, *, temperature: float,
                        top_p: float | None = None, seed: int = 0) -> list[str]:
    """One completion per problem in `style`, sampled at `temperature` with an optional top-p
    filter and a generator seeded with `seed`: evaluation.answer's completions."""
    return _sampled(model, tokenizer, problems, style, temperature, top_p, seed).completions


def sampled_accuracy(model, tokenizer, problems, style: str, *, temperature: float,
                     top_p: float | None = None, seed: int = 0) -> float:
    """The verifier's accuracy on `sampled_completions`."""
    return _sampled(model, tokenizer, problems, style, temperature, top_p, seed).accuracy


def _sampled(model, tokenizer, problems, style, temperature, top_p, seed) -> Answers:
    return answer_problems(model, tokenizer, problems, style, temperature=temperature,
                           top_p=top_p, generator=torch.Generator().manual_seed(seed))


def _curves(model, tokenizer, settings: dict, styles, levels, n_problems: int, seed: int,
            progress: bool, desc: str) -> dict:
    """{label: {n_ops: accuracy}} for each label's (style, temperature, top_p). Every setting
    sees the same problems and the same random seed per level, so only the setting differs."""
    problems = {n: sample_problems(n_problems, n, split="test", seed=seed + 1) for n in levels}
    jobs = [(label, style, n) for label, (style, _, _) in settings.items() if style in styles
            for n in levels]
    curves = {label: {} for label, (style, _, _) in settings.items() if style in styles}
    for label, style, n in tqdm(jobs, desc=desc, disable=not progress, leave=False):
        _, temperature, top_p = settings[label]
        curves[label][n] = sampled_accuracy(model, tokenizer, problems[n], style,
                                            temperature=temperature, top_p=top_p, seed=seed + n)
    return curves


def temperature_run(model, tokenizer, temperature: float, levels=LEVELS, n_problems: int = 500,
                    seed: int = 0, progress: bool = True) -> dict:
    """Exercise 1.5: accuracy by number of operations, greedy vs sampling at `temperature`.

    The prediction is about step-by-step accuracy at the hardest level: `before` is greedy,
    `after` is at `temperature`."""
    if not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"TEMPERATURE must be a number >= 0 (0 is greedy), got {temperature!r}")
    settings = {}
    for style in STYLES:
        settings[f"{STYLE_NAME[style]}, greedy"] = (style, 0.0, None)
        settings[f"{STYLE_NAME[style]}, T={temperature:g}"] = (style, float(temperature), None)
    curves = _curves(model, tokenizer, settings, STYLES, levels, n_problems, seed, progress,
                     f"greedy vs T={temperature:g}")
    hardest = max(levels)
    before = curves["step by step, greedy"][hardest]
    after = curves[f"step by step, T={temperature:g}"][hardest]
    if progress:
        for style in STYLES:
            print(f"{STYLE_NAME[style]:>12}, {hardest} operations: greedy "
                  f"{curves[f'{STYLE_NAME[style]}, greedy'][hardest]:.1%}, T={temperature:g} "
                  f"{curves[f'{STYLE_NAME[style]}, T={temperature:g}'][hardest]:.1%}")
    return {"curves": curves, "baseline": [label for label in curves if label.endswith("greedy")],
            "before": before, "after": after,
            "measured": direction(before, after, SAMPLING_TOLERANCE)}


def top_p_run(model, tokenizer, top_p: float, temperature: float = 1.0, levels=LEVELS,
              n_problems: int = 500, seed: int = 0, progress: bool = True) -> dict:
    """Exercise 1.6: step-by-step accuracy at `temperature` (1.0) without (top_p = 1) and with
    the top-p filter; greedy decoding is drawn too, as a reference line.

    The prediction is about the hardest level: `before` is top_p = 1, `after` is `top_p`."""
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"TOP_P must be a number in (0, 1] (1 keeps every token), got {top_p!r}")
    t = f"T={temperature:g}"
    settings = {"greedy": ("step_by_step", 0.0, None),
                f"{t}, top_p=1": ("step_by_step", temperature, None),
                f"{t}, top_p={top_p:g}": ("step_by_step", temperature, float(top_p))}
    curves = _curves(model, tokenizer, settings, ("step_by_step",), levels, n_problems, seed,
                     progress, f"top_p=1 vs {top_p:g}")
    hardest = max(levels)
    before, after = curves[f"{t}, top_p=1"][hardest], curves[f"{t}, top_p={top_p:g}"][hardest]
    if progress:
        print(f"step by step at {t}, {hardest} operations: top_p=1 {before:.1%}, "
              f"top_p={top_p:g} {after:.1%} (greedy {curves['greedy'][hardest]:.1%})")
    return {"curves": curves, "baseline": ["greedy", f"{t}, top_p=1"], "before": before,
            "after": after, "measured": direction(before, after, SAMPLING_TOLERANCE)}


def pretraining_run(model, tokenizer, preset: Preset, device, pretrain_steps: int,
                    levels=LEVELS, n_problems: int = 300, progress: bool = True) -> dict:
    """Exercise 1.7: a base model pretrained for `pretrain_steps` steps instead of the preset's
    (`override(preset, {"pretrain_steps": ...})`: same corpus, shape and seed, the learning-rate
    schedule fitted to the shorter run), kept in memory, against `model`, the chapter's base.

    The prediction is about the advantage of thinking at the hardest level, step-by-step
    accuracy minus direct accuracy: `before` for `model`, `after` for the short-trained one."""
    if (not isinstance(pretrain_steps, int) or isinstance(pretrain_steps, bool)
            or not 1 <= pretrain_steps <= PRETRAIN_STEPS_LIMIT):
        raise ValueError(f"PRETRAIN_STEPS must be a whole number from 1 to {PRETRAIN_STEPS_LIMIT} "
                         f"(the more steps, the longer the run), got {pretrain_steps!r}")
    if pretrain_steps == preset.pretrain_steps:
        raise ValueError(f"PRETRAIN_STEPS={pretrain_steps} is the chapter's own setting: pick fewer")
    short_preset = override(preset, {"pretrain_steps": pretrain_steps})
    short_model, _, _ = pretrain_base(short_preset, device, checkpoint=None, progress=progress,
                                      name=f"a {pretrain_steps}-step base")
    accuracy = {}
    for name, m in ((preset.pretrain_steps, model), (pretrain_steps, short_model)):
        accuracy[name] = accuracy_by_operations(m, tokenizer, levels, n_problems, progress=False)
    curves = {f"{STYLE_NAME[style]}, {steps} steps": accuracy[steps][style]
              for steps in accuracy for style in STYLES}
    hardest = max(levels)
    gap = {steps: a["step_by_step"][hardest] - a["direct"][hardest] for steps, a in accuracy.items()}
    before, after = gap[preset.pretrain_steps], gap[pretrain_steps]
    if progress:
        easiest = min(levels)
        for steps, a in accuracy.items():
            print(f"{steps:>5} pretraining steps: {easiest} operation{'s' * (easiest != 1)} direct "
                  f"{a['direct'][easiest]:.1%}, step by step {a['step_by_step'][easiest]:.1%}; "
                  f"{hardest} operations direct {a['direct'][hardest]:.1%}, step by step "
                  f"{a['step_by_step'][hardest]:.1%} (thinking adds {gap[steps]:+.1%})")
    return {"curves": curves,
            "baseline": [label for label in curves if label.endswith(f" {preset.pretrain_steps} steps")],
            "before": before, "after": after,
            "measured": direction(before, after, PRETRAIN_TOLERANCE)}


def plot_run(run: dict, xlabel: str, title: str):
    """A runner's curves: colour by answer style (orange direct, blue step by step, grey
    greedy in 1.6), the default setting's curves dashed, the legend beside the axes."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, points in run["curves"].items():
        style = next((s for s, name in STYLE_NAME.items() if label.startswith(name)), "step_by_step")
        color = "tab:gray" if label == "greedy" else STYLE_COLOR[style]
        dashed = label in run.get("baseline", ())
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], "--" if dashed else "-", marker="o", color=color,
                markerfacecolor="white" if dashed else color, label=label)
    ax.set(xlabel=xlabel, ylabel="accuracy (held-out)", title=title, ylim=(-0.02, 1.02))
    ax.set_xticks(sorted({x for points in run["curves"].values() for x in points}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig
