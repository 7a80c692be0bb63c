"""The chapter's plots. Each returns a matplotlib Figure (and saves it when given a path)."""

from __future__ import annotations

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "widget", "ipympl")):
    matplotlib.use("Agg")  # headless (CLI, CI); notebooks keep their inline backend
import matplotlib.pyplot as plt

STYLE_LABEL = {"direct": "direct answer", "step_by_step": "step by step"}
STYLE_COLOR = {"direct": "tab:orange", "step_by_step": "tab:blue"}


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=80)
    return fig


def plot_loss(history: list[dict], title: str = "pretraining loss", path=None):
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history])
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title=title, yscale="log")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_by_style(curves: dict, xlabel: str, title: str, path=None, logx: bool = False):
    """curves: {style: {x: accuracy}}."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for style, points in curves.items():
        xs = sorted(points, key=float)
        ax.plot([float(x) for x in xs], [points[x] for x in xs], "o-",
                label=STYLE_LABEL.get(style, style), color=STYLE_COLOR.get(style))
    ax.set(xlabel=xlabel, ylabel="accuracy (held-out)", title=title, ylim=(-0.02, 1.02))
    xs = sorted({float(x) for points in curves.values() for x in points})
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.minorticks_off()  # a log axis would add its own labels between ours
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, path)


def plot_costs(cost: dict, overthinking: dict, knowledge: dict, path=None):
    """Three panels: when reasoning does not pay."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    styles = list(cost)
    labels = [STYLE_LABEL[s] for s in styles]
    colors = [STYLE_COLOR[s] for s in styles]
    ax = axes[0]
    ax.bar(labels, [cost[s]["tokens"] for s in styles], color=colors)
    for i, s in enumerate(styles):
        ax.text(i, cost[s]["tokens"], f"{cost[s]['ms']:.0f} ms", ha="center", va="bottom")
    ax.set(title="(a) cost per answer, hardest level", ylabel="tokens (bar), ms (label)")
    ax.set_ylim(0, 1.15 * max(cost[s]["tokens"] for s in styles))
    ax = axes[1]
    names = ["seen facts", "unseen facts"]
    width = 0.38
    for j, s in enumerate(styles):
        vals = [knowledge[f"seen_accuracy_{s}"], knowledge[f"unseen_accuracy_{s}"]]
        ax.bar([i + (j - 0.5) * width for i in range(2)], vals, width, color=colors[j],
               label=labels[j])
    ax.set_xticks(range(2), names)
    ax.axhline(knowledge["chance_accuracy"], color="gray", ls="--", lw=1, label="chance")
    ax.set(title="(b) knowledge questions", ylabel="accuracy", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.bar(labels, [overthinking[s]["tokens"] for s in styles], color=colors)
    for i, s in enumerate(styles):
        ax.text(i, overthinking[s]["tokens"], f"acc {overthinking[s]['accuracy']:.1%}",
                ha="center", va="bottom")
    ax.set(title="(c) easy questions (1 operation)", ylabel="tokens per answer")
    ax.set_ylim(0, 1.15 * max(overthinking[s]["tokens"] for s in styles))
    return _finish(fig, path)
