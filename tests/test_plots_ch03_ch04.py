"""The plots of chapters 3 and 4 on small hand-made results: string or int keys, every new
keyword optional, a Figure back and a file when given a path, and readable axes."""

import matplotlib

matplotlib.use("Agg")

from ch03_four_methods.plots import _sci, plot_budget, plot_methods, plot_o1_vs_r1  # noqa: E402
from ch04_budget.plots import plot_costs, plot_data_efficiency, plot_journey, usd  # noqa: E402

ROWS = [dict(method=m, model=mo, strategy="greedy", accuracy=a, train_flops=t,
             inference_flops_per_problem=i, params=1)
        for m, mo, a, t, i in (("none", "base", 0.4, 3.0e13, 3e7), ("pure RL", "r1_zero", 0.997, 3.1e13, 1e8),
                               ("SFT + RL", "r1", 0.99, 3.7e13, 1e8))]


def test_dollars_and_flops_read_as_words():
    assert [usd(v) for v in (5.576e6, 294e3, 450, 30, 1e-4, 0.045, 0)] == \
        ["$5.6M", "$294K", "$450", "$30", "$0.0001", "$0.045", "$0"]
    assert _sci(3.0e13) == "3.0e13" and _sci(0) == "0"


def test_chapter_3_plots_draw_and_save(tmp_path):
    curve = {b: {"accuracy": a, "mean_thinking_tokens": b * 0.7} for b, a in ((0, 0.4), (8, 0.1), (64, 0.9))}
    fig = plot_budget({"base": {str(k): v for k, v in curve.items()}, "r1": curve, "other": curve},
                      path=tmp_path / "b.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) == 3 and "R1" in labels
    colors = {line.get_color() for line in fig.axes[0].lines}
    assert len(colors) == 3
    fig = plot_methods(ROWS, path=tmp_path / "m.png")
    assert fig.axes[0].get_xlim()[1] <= 1.05
    results = {"methods": ROWS, "test_problems": 10,
               "scaling": {"best_of_n_verifier": {"1": 0.4, "4": 0.9}},
               "scaling_flops_per_problem": {1: 3e7, 4: 1.2e8},
               "o1_vs_r1": {"reference_n": 4, "base_inference_flops_per_problem": 1.2e8,
                            "r1_zero_inference_flops_per_problem": 1e8, "break_even_problems": 5e4}}
    fig = plot_o1_vs_r1(results, path=tmp_path / "o.png")
    fig.canvas.draw()
    assert fig.axes[0].xaxis.get_offset_text().get_text() == ""
    colors = [line.get_color() for line in fig.axes[0].lines]
    assert len(set(colors)) == len(colors) == 4
    for name in ("b.png", "m.png", "o.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_chapter_4_plots_draw_and_save(tmp_path):
    rows = [dict(run="ch01 base", flops=3e13, usd=4e-5, usd_wall=0.01),
            dict(run="rest", flops=0, usd=0, usd_wall=0.001)]
    fig = plot_costs(rows, path=tmp_path / "c.png")
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert ticks and all(t.startswith("$") and "e" not in t for t in ticks), ticks
    eff, t = {"100": 0.08, "3000": 0.45}, {"n_traces": 300, "targeted": 0.14, "random": 0.15}
    plot_data_efficiency(eff, t, path=tmp_path / "d0.png")
    fig = plot_data_efficiency(eff, t, path=tmp_path / "d.png", baseline=0.175)
    labels = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert any("student before distillation" in x for x in labels)
    journey = {n: {"accuracy": 0.9, "recovery_rate": 0.2} for n in ("base", "shortcut", "journey")}
    plot_journey(journey, path=tmp_path / "j0.png")
    for n in journey:
        journey[n]["wait_rate"] = 0.1
    fig = plot_journey(journey, path=tmp_path / "j.png")
    assert len(fig.axes[0].patches) == 9
    for name in ("c.png", "d0.png", "d.png", "j0.png", "j.png"):
        assert (tmp_path / name).stat().st_size > 0
