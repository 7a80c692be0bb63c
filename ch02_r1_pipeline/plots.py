"""Chapter 2's plots. Each returns a matplotlib Figure (and saves it when given a path)."""

from __future__ import annotations

from matplotlib.ticker import PercentFormatter

from ch01_what_is_reasoning.plots import _finish, plt

STAGE_LABEL = {"base": "base", "r1_zero": "R1-Zero", "r1_zero_consistency": "R1-Zero\n+consist.",
               "r1_zero_same_problems": "R1-Zero\n2-6 ops",
               "cold_start": "cold\nstart", "r1_reasoning_rl": "reasoning\nRL",
               "r1_sft": "R1 SFT", "r1": "R1", "student_base": "student\nbase",
               "distill": "student\ndistilled", "student_rl": "student\npure RL"}


def plot_r1_zero_curves(curve: dict, path=None):
    """The paper's two R1-Zero curves: held-out accuracy and response length during RL."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].plot(curve["step"], curve["accuracy"], "o-", color="tab:blue")
    axes[0].set(xlabel="GRPO step", ylabel="accuracy (held-out, greedy)",
                title="R1-Zero: accuracy during RL", ylim=(-0.02, 1.02))
    axes[1].plot(curve["step"], curve["mean_response_tokens"], "o-", color="tab:green")
    axes[1].set(xlabel="GRPO step", ylabel="tokens per response",
                title="R1-Zero: response length during RL", ylim=(0, None))
    for ax in axes:
        ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_rollouts(logs: dict, window: int = 10, path=None):
    """What RL's own samples (temperature 1) look like over training, per run: the share
    that mixes digit scripts, and the share with a 'wait' self-correction."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, log in logs.items():
        for ax, key in zip(axes, ("mixing_rate", "wait_rate")):
            ax.plot(log["step"], _smooth(log[key], window), label=STAGE_LABEL.get(name, name))
    axes[0].set(title="language mixing in RL samples", ylabel="share of samples (smoothed)")
    axes[1].set(title="'wait' self-corrections in RL samples", ylabel="share of samples (smoothed)")
    for ax in axes:
        ax.set(xlabel="GRPO step", ylim=(0, None))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_stages(stages: dict, path=None):
    """Held-out accuracy of every stage (greedy) and its tokens per answer, one bar each. The axis
    ends at 100%, and each value is written inside its bar, so stages near the ceiling stay apart."""
    names = [s for s in STAGE_LABEL if s in stages][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(names) + 1.2))
    acc = [100 * stages[s]["accuracy"] for s in names]
    ax.barh([STAGE_LABEL[s].replace("\n", " ") for s in names], acc, color=_colors(names))
    for y, (value, s) in enumerate(zip(acc, names)):
        _label(ax, y, value, f"{value:.1f}%, {stages[s]['mean_response_tokens']:.0f} tokens")
    ax.set(xlabel="accuracy on the held-out test set, greedy (%)", xlim=(0, 100),
           title="every stage on the same test set (blue: teacher size, gray: student)")
    ax.grid(alpha=0.3, axis="x")
    return _finish(fig, path)


def _colors(names):
    return ["tab:gray" if "student" in s or s == "distill" else "tab:blue" for s in names]


def _label(ax, y, value, text, right=100.0):
    """Write `text` inside the bar's end when the bar is long, after it when it is short."""
    inside = value > 0.45 * right
    ax.text(value, y, f"{text} " if inside else f" {text}", va="center", fontsize=8,
            ha="right" if inside else "left", color="white" if inside else "black")


def plot_splits(stages: dict, path=None):
    """pass@1 (top row, 0-100%) and tokens per answer (bottom row) of every stage, one column
    per split. Values are written on the bars with one decimal, so 99.7 and 99.8 stay apart."""
    splits = list(next(iter(stages.values()))["pass1"])
    names = [s for s in STAGE_LABEL if s in stages][::-1]
    labels = [STAGE_LABEL[s].replace("\n", " ") for s in names]
    fig, axes = plt.subplots(2, len(splits), figsize=(3.2 * len(splits), 7), sharey=True)
    for col, split in enumerate(splits):
        for row, (key, scale, unit) in enumerate((("pass1", 100, "pass@1 (%)"),
                                                  ("tokens", 1, "tokens per answer"))):
            ax = axes[row][col]
            values = [scale * stages[s][key][split] for s in names]
            right = 100.0 if key == "pass1" else max(values + [1]) * 1.05
            ax.barh(labels, values, color=_colors(names))
            for y, v in enumerate(values):
                _label(ax, y, v, f"{v:.1f}", right)
            ax.set_xlim(0, right)
            ax.set(xlabel=unit, title=split.replace("_", " ") if row == 0 else None)
            ax.tick_params(axis="y", labelsize=9)
            ax.grid(alpha=0.3, axis="x")
    fig.suptitle("every stage on five splits (T=0.6, top-p 0.95; blue: teacher size, gray: student)")
    return _finish(fig, path)


def _smooth(values, window):
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_aha(aha: dict, path=None, title: str = "RL on the slip world"):
    """The aha moment's three curves, side by side: self-corrections (every 'wait', the ones that
    fix a wrong step and the ones that fix nothing), response length and accuracy, each a mean
    over the RL samples of a few steps. Each axis is scaled to its curves, so a rate of a few
    percent is not drawn flat against 100%."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    rates = (("self_correction_rate", "writes 'wait'", "tab:gray"),
             ("superficial_correction_rate", "'wait', fixes nothing", "tab:orange"),
             ("productive_correction_rate", "'wait', fixes a slip", "tab:red"))
    for key, label, color in rates:
        if key in aha:   # each curve named at its end: no legend over the lines
            axes[0].plot(aha["step"], aha[key], "o-", color=color, markersize=3)
            axes[0].text(aha["step"][-1], aha[key][-1], f"  {label}", color=color, fontsize=8,
                         va="center")
    top = max(max(aha[key]) for key, _, _ in rates if key in aha)
    axes[0].set(ylabel="share of samples", title="self-corrections",
                ylim=(0, min(1.0, max(0.01, top) * 1.15)), xlim=(None, aha["step"][-1] * 1.6))
    axes[0].set_xticks([t for t in axes[0].get_xticks() if 0 <= t <= aha["step"][-1]])
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes[1].plot(aha["step"], aha["mean_response_tokens"], "o-", color="tab:green", markersize=3)
    axes[1].set(ylabel="tokens the model wrote", title="response length", ylim=(0, None))
    axes[2].plot(aha["step"], aha["accuracy"], "o-", color="tab:blue", markersize=3)
    axes[2].set(ylabel="share correct", title="accuracy", ylim=(0, max(0.01, max(aha["accuracy"])) * 1.15))
    axes[2].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    for ax in axes:
        ax.set(xlabel="GRPO step")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} (T=1 samples, mean per point)")
    return _finish(fig, path)


def plot_fair_comparison(fair: dict, path=None):
    """pass@1 of R1, of the fair control (R1-Zero on R1's problem lengths) and of R1-Zero as
    published, one group of bars per split; tokens per answer on the right."""
    splits = list(fair["pass1"])
    runs = (("r1", fair, "R1", "tab:blue"),
            ("control", fair, "R1-Zero on R1's lengths (2-6 ops): fair", "tab:red"),
            ("control", fair["as_published"], "R1-Zero as published (2-5 ops)", "tab:pink"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    width = 0.8 / len(runs)
    for i, (key, comparison, label, color) in enumerate(runs):
        xs = [j + (i - 1) * width for j in range(len(splits))]
        for ax, metric, scale in ((axes[0], "pass1", 100), (axes[1], "tokens", 1)):
            values = [scale * comparison[metric][s][key] for s in splits]
            ax.bar(xs, values, width, color=color, label=label)
            if metric == "pass1":
                for x, v in zip(xs, values):
                    ax.text(x, v + 1, f"{v:.0f}", ha="center", fontsize=6)
    labels = [s.replace("_", "\n") for s in splits]
    axes[0].set(ylabel="pass@1 (%)", ylim=(0, 110), title="accuracy (T=0.6, 4 samples)")
    axes[1].set(ylabel="tokens per answer", title="tokens per answer")
    for ax in axes:
        ax.set_xticks(range(len(splits)), labels)
        ax.grid(alpha=0.3, axis="y")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))   # room below for the shared legend
    if path is not None:
        fig.savefig(path, dpi=80)
    return fig


def plot_off_rule(off_rule: dict, path=None):
    """Off the rule (off_rule.py), one group of bars per kind of question: how often each stage
    thinks when it may choose (left), and what thinking would pay it (right: accuracy forced to
    think minus accuracy forced to answer directly, in points)."""
    stages, kinds = list(off_rule), list(next(iter(off_rule.values())))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    width = 0.8 / len(stages)
    panels = ((axes[0], lambda m: 100 * m["thinking_rate"], "{:.0f}%"),
              (axes[1], lambda m: 100 * m["thinking_pays"], "{:+.0f}"))
    for i, stage in enumerate(stages):
        xs = [j + (i - (len(stages) - 1) / 2) * width for j in range(len(kinds))]
        label = STAGE_LABEL.get(stage, stage).replace("\n", " ")
        for ax, value, fmt in panels:
            values = [value(off_rule[stage][k]) for k in kinds]
            ax.bar(xs, values, width, color=f"C{i}", label=label)
            for x, v in zip(xs, values):
                ax.text(x, v + (2 if v >= 0 else -7), fmt.format(v), ha="center", fontsize=7)
    axes[0].set(ylabel="answers that think (%)", ylim=(0, 130),
                title="the choice: how often it thinks when free to")
    axes[1].axhline(0, color="black", lw=0.8)
    axes[1].set(ylabel="points", ylim=(-70, 30),
                title="what thinking would pay: forced to think - forced direct")
    for ax in axes:
        ax.set_xticks(range(len(kinds)), [k.replace("_", " ") for k in kinds])
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8, loc="upper center", ncol=len(stages), frameon=False)
    return _finish(fig, path)
