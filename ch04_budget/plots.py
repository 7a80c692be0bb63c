"""Chapter 4's plots. Each returns a matplotlib Figure (and saves it when given a path).
Numeric keys may be strings (results.json): they are sorted as numbers."""

from __future__ import annotations

from ch01_what_is_reasoning.plots import _finish, plt

from .costs import PUBLISHED


def plot_costs(rows: list[dict], path=None):
    """Dollars per run (GPU-priced FLOPs and measured wall time) next to published costs, log scale."""
    runs = [r for r in rows if r["flops"] > 0]
    course = {"course: chapter runs at GPU prices (sum)": sum(r["usd"] for r in runs),
              "course: measured wall time (sum)": sum(r["usd_wall"] for r in rows)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * len(runs) + 2))
    axes[0].barh([r["run"] for r in runs][::-1], [r["flops"] for r in runs][::-1], color="tab:blue")
    axes[0].set(xscale="log", xlabel="FLOPs (log)", title="every run of the course")
    axes[0].tick_params(axis="y", labelsize=7)
    bars = {**PUBLISHED, **course}
    axes[1].barh(list(bars)[::-1], list(bars.values())[::-1],
                 color=["tab:gray"] * len(course) + ["tab:red"] * len(PUBLISHED))
    for y, value in enumerate(list(bars.values())[::-1]):
        axes[1].text(value, y, f" ${value:,.2g}", va="center", fontsize=8)
    axes[1].set(xscale="log", xlabel="US dollars (log)", title="what reasoning models cost")
    axes[1].tick_params(axis="y", labelsize=8)
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    return _finish(fig, path)


def plot_data_efficiency(curve: dict, targeted: dict, path=None):
    ns = sorted(curve, key=float)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([float(n) for n in ns], [curve[n] for n in ns], "o-", label="random traces")
    ax.plot([targeted["n_traces"]], [targeted["targeted"]], "r*", ms=12,
            label=f"{targeted['n_traces']} hardest traces")
    ax.set(xscale="log", xlabel="teacher traces used for SFT (log)", ylabel="accuracy (held-out)",
           title="distilled student: accuracy against data", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_rl_sweep(points: list[dict], path=None):
    """Accuracy before and after the same pure RL, by size: one pair of lines per pretraining
    length, so each line compares sizes on the same pretraining tokens."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    steps = sorted({p["pretrain_steps"] for p in points})
    for i, n in enumerate(steps):
        line = [p for p in points if p["pretrain_steps"] == n]
        params, joined = [p["params"] for p in line], len(line) > 1
        marker = "osD^v"[i % 5]
        ax.plot(params, [p["accuracy_before"] for p in line], marker=marker, color="tab:gray",
                linestyle="--" if joined else "none", label=f"{n:,} pretraining steps, before RL")
        ax.plot(params, [p["accuracy_after"] for p in line], marker=marker, color="tab:red",
                linestyle="-" if joined else "none", markersize=7,
                label=f"{n:,} pretraining steps, after the same pure RL")
    ax.set(xscale="log", xlabel="parameters (log)", ylabel="accuracy (held-out, greedy)",
           title="pure RL by model size (a line: the same pretraining tokens)", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_journey(journey: dict, path=None):
    names = [n for n in ("base", "shortcut", "journey") if n in journey]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [journey[n]["accuracy"] for n in names], 0.4,
           label="clean accuracy")
    ax.bar([i + 0.2 for i in x], [journey[n]["recovery_rate"] for n in names], 0.4,
           label="recovery from a planted wrong step")
    for i, n in enumerate(names):
        for dx, key in ((-0.2, "accuracy"), (0.2, "recovery_rate")):
            ax.text(i + dx, journey[n][key], f"{journey[n][key]:.0%}", ha="center", va="bottom",
                    fontsize=8)
    ax.set(xticks=list(x), xticklabels=names, ylim=(0, 1.15), ylabel="share of test problems",
           title="journey vs shortcut learning")
    ax.legend(fontsize=8)
    return _finish(fig, path)
