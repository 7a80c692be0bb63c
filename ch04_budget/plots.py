"""Chapter 4's plots. Each returns a matplotlib Figure (and saves it when given a path).
Numeric keys may be strings (results.json): they are sorted as numbers."""

from __future__ import annotations

import math

from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from ch01_what_is_reasoning.plots import _finish, plt

from .costs import PUBLISHED


def usd(value: float, _pos=None) -> str:
    """Readable dollars: $5.6M, $294K, $450, $30, $0.045, $0.0001."""
    if value <= 0:
        return "$0"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K"), (1.0, "")):
        if value >= scale * 0.9995:
            x = value / scale
            digits = f"{x:.0f}" if x >= 99.5 else f"{float(f'{x:.2g}'):g}"
            return f"${digits}{suffix}"
    decimals = -math.floor(math.log10(value)) + 1   # two significant digits
    return f"${value:.{decimals}f}".rstrip("0").rstrip(".")


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
        axes[1].text(value, y, f" {usd(value)}", va="center", fontsize=8)
    axes[1].set(xscale="log", xlabel="US dollars (log)", title="what reasoning models cost")
    positive = [v for v in bars.values() if v > 0]
    if positive:   # room for the value written after the longest bar
        axes[1].set_xlim(min(positive) / 3, max(positive) * 40)
    axes[1].xaxis.set_major_locator(LogLocator(base=10, numticks=6))
    axes[1].xaxis.set_major_formatter(FuncFormatter(usd))
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    axes[1].tick_params(axis="y", labelsize=8)
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    return _finish(fig, path)


def plot_data_efficiency(curve: dict, targeted: dict, path=None, baseline: float | None = None):
    """Student accuracy against the number of distillation traces (random ones), the hardest
    traces' point, and, when `baseline` is given, the student's accuracy before distillation as
    a horizontal line (below it, SFT on few traces made the student worse than none)."""
    ns = sorted(curve, key=float)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([float(n) for n in ns], [curve[n] for n in ns], "o-", label="random traces")
    ax.plot([targeted["n_traces"]], [targeted["targeted"]], "r*", ms=12,
            label=f"{targeted['n_traces']} hardest traces")
    if baseline is not None:
        ax.axhline(baseline, color="tab:gray", ls="--", lw=1.2,
                   label=f"student before distillation ({baseline:.1%})")
    ax.set(xscale="log", xlabel="teacher traces used for SFT (log)", ylabel="accuracy (held-out)",
           title="distilled student: accuracy against data", ylim=(0, 1.02))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
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
    """Per model (base, shortcut, journey): clean accuracy, recovery from a planted wrong step
    and, when measured, how often it wrote ' wait ' after that step."""
    names = [n for n in ("base", "shortcut", "journey") if n in journey]
    keys = [("accuracy", "clean accuracy", "tab:blue"),
            ("recovery_rate", "recovery from a planted wrong step", "tab:orange")]
    if names and all("wait_rate" in journey[n] for n in names):
        keys.append(("wait_rate", "wrote ' wait ' after the planted step", "tab:green"))
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    x = range(len(names))
    for k, (key, label, color) in enumerate(keys):
        dx = (k - (len(keys) - 1) / 2) * width
        ax.bar([i + dx for i in x], [journey[n][key] for n in names], width, label=label,
               color=color)
        for i, n in enumerate(names):
            ax.text(i + dx, journey[n][key], f"{journey[n][key]:.0%}", ha="center", va="bottom",
                    fontsize=8)
    ax.set(xticks=list(x), xticklabels=names, ylim=(0, 1.1), ylabel="share of test problems",
           title="journey vs shortcut learning")
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3, axis="y")
    # Below the axes: inside, any corner sits over one of the bars.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    return _finish(fig, path)
