"""Chapter 3's plots. Each returns a matplotlib Figure (and saves it when given a path).

Results may come from results.json, where numeric keys are strings: every plot sorts them
as numbers.
"""

from __future__ import annotations

from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ch01_what_is_reasoning.plots import _finish, plt

SCALING_LABEL = {"majority": "majority vote", "best_of_n_verifier": "best-of-N (step verifier)",
                 "pass_at_n": "pass@N (oracle ceiling)"}
SCALING_STYLE = {"majority": "o-", "best_of_n_verifier": "s-", "pass_at_n": "k--"}


def _sci(value: float, _pos=None) -> str:
    """3.0e13 rather than a bare 3.0 next to a detached "1e13"."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _sorted(points: dict):
    keys = sorted(points, key=float)
    return [float(k) for k in keys], [points[k] for k in keys]


def plot_scaling(scaling: dict, flops: dict, references: dict | None = None, ax=None, path=None):
    """Accuracy against inference FLOPs per problem as N grows, one line per strategy.
    `references`: {label: (flops, accuracy)} single points to compare with (e.g. R1-Zero)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.5, 3.8))
    for name, curve in scaling.items():
        ns, acc = _sorted(curve)
        xs = [flops[str(int(n))] if str(int(n)) in flops else flops[int(n)] for n in ns]
        ax.plot(xs, acc, SCALING_STYLE.get(name, "o-"), label=SCALING_LABEL.get(name, name), ms=4)
        if name == "best_of_n_verifier":
            for n, x, a in zip(ns, xs, acc):
                if n in (1, 2, 4, 8, 16, 32, 64):
                    ax.annotate(f"N={n:.0f}", (x, a), textcoords="offset points", xytext=(4, -10),
                                fontsize=7)
    for label, (x, a) in (references or {}).items():
        ax.plot([x], [a], "*", ms=11, label=label)
    ax.set(xscale="log", xlabel="inference FLOPs per problem (log)", ylabel="accuracy (held-out)",
           title="inference-time scaling on the base model", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _finish(fig, path)


# Budget forcing: the two models' curves often coincide, so each gets its own colour, marker
# (open vs filled) and line style, and both stay visible where they overlap.
BUDGET_STYLE = {"base": dict(color="tab:blue", marker="o", ls="--", ms=8, mfc="none", mew=1.6,
                             lw=2.2, alpha=0.8, label="base (made to start thinking)"),
                "r1": dict(color="tab:red", marker="s", ls="-", ms=4, lw=1.3, alpha=0.9,
                           label="R1")}


def plot_budget(curves: dict, path=None):
    """Budget forcing: accuracy against the thinking budget, one line per model."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    extra = iter([dict(color=c, marker=m, ls=ls) for c, m, ls in
                  (("tab:green", "^", "-."), ("tab:purple", "D", ":"), ("tab:orange", "v", "-"))] * 9)
    for model, curve in curves.items():
        budgets, points = _sorted(curve)
        style = BUDGET_STYLE.get(model) or {**next(extra), "label": model}
        axes[0].plot(budgets, [p["accuracy"] for p in points], **style)
        axes[1].plot(budgets, [p["mean_thinking_tokens"] for p in points], **style)
    axes[0].set(xlabel="thinking budget (tokens)", ylabel="accuracy (held-out)", ylim=(0, 1.02),
                title="accuracy against allowed thinking")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[1].set(xlabel="thinking budget (tokens)", ylabel="tokens actually thought",
                title="how much of the budget is used")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _finish(fig, path)


METHOD_COLOR = {"none": "tab:gray", "inference-time scaling": "tab:orange", "pure RL": "tab:red",
                "SFT + RL": "tab:blue", "pure SFT / distillation": "tab:green",
                "SFT + RL + inference-time scaling": "tab:purple"}


def plot_methods(rows: list[dict], path=None, title: str = "accuracy (color: method)"):
    """Every row of the comparison: accuracy, and what it cost to train and to answer."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(rows) + 2.0), sharey=True)
    labels = [f"{r['model']} · {r['strategy']}" for r in rows]
    colors = METHOD_COLOR
    y = range(len(rows))[::-1]
    axes[0].barh(list(y), [r["accuracy"] for r in rows],
                 color=[colors.get(r["method"], "tab:purple") for r in rows])
    for yi, r in zip(y, rows):
        # Long bars carry their value inside (the axis ends at 100%), short ones just past the end.
        inside = r["accuracy"] > 0.85
        axes[0].text(r["accuracy"] + (-0.01 if inside else 0.01), yi, f"{r['accuracy']:.1%}",
                     va="center", ha="right" if inside else "left", fontsize=8,
                     color="white" if inside else "black", fontweight="bold" if inside else None)
    axes[0].set(yticks=list(y), yticklabels=labels, xlim=(0, 1.0), xlabel="accuracy (held-out)",
                title=title)
    axes[0].xaxis.set_major_formatter(PercentFormatter(1.0))
    axes[1].barh([yi + 0.2 for yi in y], [r["train_flops"] for r in rows], height=0.4,
                 label="training FLOPs (total)", color="tab:brown")
    axes[1].barh([yi - 0.2 for yi in y], [r["inference_flops_per_problem"] * 1000 for r in rows],
                 height=0.4, label="inference FLOPs for 1,000 problems", color="tab:cyan")
    axes[1].set(xscale="log", xlabel="FLOPs (log)", title="compute")
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    # Both legends below their axes, clear of the bars.
    used = [m for m in colors if any(r["method"] == m for r in rows)] or list(colors)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[m]) for m in used]
    axes[0].legend(handles, used, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                   ncol=3, frameon=False)
    axes[1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                   frameon=False)
    return _finish(fig, path)


def plot_o1_vs_r1(results: dict, path=None):
    """Left: accuracy against total compute (training + answering the test set) for 'spend it at
    inference' (the base with best-of-N) and 'spend it on training' (R1-Zero, R1, greedy).
    Right: total compute as more questions are answered; R1-Zero's line crosses best-of-N's at
    the break-even point."""
    o, n_problems = results["o1_vs_r1"], results["test_problems"]
    rows = {r["model"]: r for r in results["methods"] if r["strategy"] == "greedy"}
    base_train = rows["base"]["train_flops"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ns, acc = _sorted(results["scaling"]["best_of_n_verifier"])
    flops = results["scaling_flops_per_problem"]
    per_n = [flops[str(int(n))] if str(int(n)) in flops else flops[int(n)] for n in ns]
    totals = [base_train + n_problems * f for f in per_n]
    axes[0].plot(totals, acc, "s-", color="tab:orange", label="at inference: base, best-of-N")
    for n, x, a in zip(ns, totals, acc):
        axes[0].annotate(f"N={n:.0f}", (x, a), textcoords="offset points", xytext=(4, -10),
                         fontsize=7, color="tab:orange")
    for model, marker, color in (("base", "o", "tab:gray"), ("r1_zero", "*", "tab:red"),
                                 ("r1", "D", "tab:blue")):
        r = rows[model]
        axes[0].plot([r["train_flops"] + n_problems * r["inference_flops_per_problem"]],
                     [r["accuracy"]], marker, ms=13 if marker == "*" else 9, color=color,
                     ls="none", label=f"on training: {model} (greedy)")
    # Linear x: pretraining dominates every total, so they span a narrow range. Each tick
    # carries its own exponent (3.0e13), with no detached offset text.
    axes[0].xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    axes[0].xaxis.set_major_formatter(FuncFormatter(_sci))
    axes[0].set(xlabel=f"total FLOPs: training + answering {n_problems} problems",
                ylabel="accuracy (held-out)", title="spend compute on training or at inference?",
                ylim=(0, 1.02))
    axes[0].legend(fontsize=8, loc="lower right")
    n_ref = o["reference_n"]
    questions = [10 ** k for k in range(1, 8)]
    axes[1].plot(questions, [base_train + q * o["base_inference_flops_per_problem"] for q in questions],
                 "-", color="tab:orange", label=f"base, best-of-{n_ref}")
    axes[1].plot(questions, [rows["r1_zero"]["train_flops"] + q * o["r1_zero_inference_flops_per_problem"]
                             for q in questions], "-", color="tab:red", label="R1-Zero, greedy")
    if o["break_even_problems"]:
        axes[1].axvline(o["break_even_problems"], color="k", ls=":", lw=1,
                        label=f"break-even: {o['break_even_problems']:,.0f} questions")
    axes[1].set(xscale="log", yscale="log", xlabel="questions answered (log)",
                ylabel="total FLOPs (log)", title="when does training pay off?")
    axes[1].legend(fontsize=8, loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _finish(fig, path)
