"""Chapter 2's plots. Each returns a matplotlib Figure (and saves it when given a path)."""

from __future__ import annotations

from ch01_what_is_reasoning.plots import _finish, plt

STAGE_LABEL = {"base": "base", "r1_zero": "R1-Zero", "r1_zero_consistency": "R1-Zero\n+consist.",
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
    """Held-out accuracy of every stage, with the share of answers that think."""
    names = [s for s in STAGE_LABEL if s in stages]
    fig, ax = plt.subplots(figsize=(11, 3.4))
    acc = [stages[s]["accuracy"] for s in names]
    bars = ax.bar([STAGE_LABEL[s] for s in names], acc,
                  color=["tab:gray" if "student" in s or s == "distill" else "tab:blue"
                         for s in names])
    for bar, s in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(),
                f"{100 * stages[s]['accuracy']:.1f}\n{stages[s]['mean_response_tokens']:.0f} tok",
                ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="accuracy (held-out, greedy; labels in %)", ylim=(0, 1.2),
           title="every stage of the pipeline on the same test set (blue: teacher size, "
                 "gray: student)")
    ax.tick_params(axis="x", labelsize=8)
    return _finish(fig, path)


def plot_splits(stages: dict, path=None):
    """pass@1 (top row, in points) and tokens per answer (bottom row) of every stage, one column
    per split. Values are written on the bars with one decimal, so 99.7 and 99.8 stay apart."""
    splits = list(next(iter(stages.values()))["pass1"])
    names = [s for s in STAGE_LABEL if s in stages][::-1]
    labels = [STAGE_LABEL[s].replace("\n", " ") for s in names]
    colors = ["tab:gray" if "student" in s or s == "distill" else "tab:blue" for s in names]
    fig, axes = plt.subplots(2, len(splits), figsize=(3.2 * len(splits), 7), sharey=True)
    for col, split in enumerate(splits):
        for row, (key, scale, unit) in enumerate((("pass1", 100, "pass@1 (points)"),
                                                  ("tokens", 1, "tokens per answer"))):
            ax = axes[row][col]
            values = [scale * stages[s][key][split] for s in names]
            ax.barh(labels, values, color=colors)
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.1f}", va="center", fontsize=7)
            ax.set_xlim(0, max(values + [1]) * 1.25)
            ax.set(xlabel=unit, title=split.replace("_", " ") if row == 0 else None)
            ax.tick_params(axis="y", labelsize=8)
            ax.grid(alpha=0.3, axis="x")
    fig.suptitle("every stage on four splits (T=0.6, top-p 0.95; blue: teacher size, gray: student)")
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
    """The aha moment's three curves, side by side: self-corrections (all, and productive
    ones), response length and accuracy, each a mean over the RL samples of a few steps."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    axes[0].plot(aha["step"], aha["self_correction_rate"], "o-", label="writes ' wait '")
    axes[0].plot(aha["step"], aha["productive_correction_rate"], "o-",
                 label="' wait ' fixes a wrong step")
    axes[0].set(ylabel="share of samples", title="self-corrections", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=8)
    axes[1].plot(aha["step"], aha["mean_response_tokens"], "o-", color="tab:green")
    axes[1].set(ylabel="tokens the model wrote", title="response length", ylim=(0, None))
    axes[2].plot(aha["step"], aha["accuracy"], "o-", color="tab:blue")
    axes[2].set(ylabel="share correct", title="accuracy", ylim=(-0.02, 1.02))
    for ax in axes:
        ax.set(xlabel="GRPO step")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} (T=1 samples, mean per point)")
    return _finish(fig, path)
