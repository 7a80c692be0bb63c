"""Try it: turn N, pick a model and a strategy, see accuracy and what N samples cost.

Everything is read from chapter 3's results (the sample pools were drawn once), so moving the
slider costs nothing. Keys may be ints (results in memory) or strings (read from results.json).
"""

from __future__ import annotations

from .plots import SCALING_LABEL, SCALING_STYLE

STRATEGIES = ("majority", "best_of_n_verifier", "pass_at_n")


def _at(points: dict, n: int):
    """points[n], whether the keys are ints or strings."""
    return points[n] if n in points else points[str(n)]


def _ns(points: dict) -> list[int]:
    return sorted(int(k) for k in points)


def scaling_point(results: dict, model: str, strategy: str, n: int) -> tuple[float, float]:
    """(accuracy, inference FLOPs per problem) of `strategy` with `n` samples from `model`."""
    by_model = results["scaling_by_model"]
    if model not in by_model:
        raise ValueError(f"no sample pool for {model!r}: choose one of {sorted(by_model)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {STRATEGIES}")
    curves = by_model[model]
    if n not in _ns(curves[strategy]):
        raise ValueError(f"n must be one of the pool's sizes 1..{max(_ns(curves[strategy]))}, got {n!r}")
    return _at(curves[strategy], n), _at(curves["inference_flops_per_problem"], n)


def scaling_explorer(results: dict):
    """An ipywidgets panel around `scaling_point`, with the curve and the current N marked."""
    import ipywidgets as w
    from IPython.display import display

    from ch01_what_is_reasoning.plots import plt

    by_model = results["scaling_by_model"]
    pool = min(max(_ns(curves["majority"])) for curves in by_model.values())
    n = w.IntSlider(value=min(8, pool), min=1, max=pool, description="N")
    model = w.Dropdown(options=list(by_model), description="model")
    strategy = w.Dropdown(options=[(SCALING_LABEL[s], s) for s in STRATEGIES],
                          value="best_of_n_verifier", description="strategy")
    text, output = w.HTML(), w.Output()

    def show(_=None):
        acc, flops = scaling_point(results, model.value, strategy.value, n.value)
        one = scaling_point(results, model.value, strategy.value, 1)[1]
        text.value = (f"<b>{model.value}</b>, {SCALING_LABEL[strategy.value]}, N = {n.value}: "
                      f"accuracy <b>{acc:.1%}</b>, {flops:.2e} inference FLOPs per problem "
                      f"({flops / one:.1f}x one sample)")
        curves = by_model[model.value]
        ns = _ns(curves["inference_flops_per_problem"])
        xs = [_at(curves["inference_flops_per_problem"], k) for k in ns]
        fig, ax = plt.subplots(figsize=(5.5, 3))
        for name in STRATEGIES:
            ax.plot(xs, [_at(curves[name], k) for k in ns], SCALING_STYLE[name], ms=3,
                    label=SCALING_LABEL[name], alpha=1.0 if name == strategy.value else 0.25)
        ax.plot([flops], [acc], "r*", ms=14, label=f"N = {n.value}")
        ax.set(xscale="log", xlabel="inference FLOPs per problem (log)", ylabel="accuracy",
               ylim=(0, 1.02), title=f"{model.value}: accuracy against N samples")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        output.clear_output(wait=True)
        with output:
            display(fig)
        plt.close(fig)

    for widget in (n, model, strategy):
        widget.observe(show, "value")
    show()
    return w.VBox([w.HBox([model, strategy]), n, text, output])
