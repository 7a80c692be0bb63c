"""Chapter 3 end to end at the tiny preset (one CLI run shared by the module), and the o1-vs-R1
arithmetic and the summary on hand-made rows."""

from __future__ import annotations

import pytest
from helpers import run_chapter_cli

from ch02_r1_pipeline.recipe import SETTINGS as CH02_SETTINGS
from ch02_r1_pipeline.runner import open_pipeline
from ch03_four_methods.__main__ import main
from ch03_four_methods.chapter import (
    METHODS,
    SETTINGS,
    entries,
    four_methods,
    o1_vs_r1,
    summary_table,
)
from ch03_four_methods.where_they_differ import method_gap, split_entries

PLOTS = ("scaling.png", "budget_forcing.png", "methods.png", "o1_vs_r1.png", "methods_on_split.png")
CURVES = ("majority", "best_of_n_verifier", "pass_at_n")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """(runs folder, results.json as read back, what the CLI printed)."""
    root = tmp_path_factory.mktemp("runs")
    return (root, *run_chapter_cli(main, root, "ch03"))


@pytest.fixture(scope="module")
def results(cli_run):
    return cli_run[1]


def _row(results, model, strategy):
    return next(r for r in results["methods"] if r["model"] == model and r["strategy"] == strategy)


# ------------------------------------------------------------ the CLI run
def test_results_json_has_the_contract_keys(results):
    assert results["preset"] == "tiny" and results["device"] == "cpu"
    assert results["seconds"] > 0
    assert isinstance(results["methods"], list) and results["methods"]
    for row in results["methods"]:
        for key in ("method", "model", "strategy"):
            assert isinstance(row[key], str) and row[key], (row, key)
        assert 0.0 <= row["accuracy"] <= 1.0, row
        assert row["train_flops"] > 0, row
        assert row["inference_flops_per_problem"] > 0, row
    assert set(results["scaling"]) == set(CURVES)
    n = SETTINGS["tiny"].pool_size
    for name in CURVES:
        curve = results["scaling"][name]
        assert sorted(map(int, curve)) == list(range(1, n + 1)), name
        assert all(0.0 <= a <= 1.0 for a in curve.values()), name


def test_the_table_has_every_entry_and_every_method(results):
    expected = [(e.method, e.model, e.strategy) for e in entries(SETTINGS["tiny"].headline_n)]
    assert [(r["method"], r["model"], r["strategy"]) for r in results["methods"]] == expected
    assert set(METHODS) <= {r["method"] for r in results["methods"]}
    assert [r["method"] for r in results["four_methods"]] == list(METHODS)
    best = max(r["accuracy"] for r in results["methods"] if r["method"] == METHODS[0])
    assert results["four_methods"][0]["accuracy"] == best
    assert [r["model"] for r in results["four_methods"][1:]] == ["r1_zero", "r1", "distill"]
    assert all(r["strategy"] == "greedy" for r in results["four_methods"][1:])


def test_the_plots_are_written(cli_run):
    root = cli_run[0]
    for name in PLOTS:
        assert (root / "ch03" / name).stat().st_size > 0, name


def test_the_cli_prints_the_summary_table(cli_run):
    _, results, printed = cli_run
    assert "o1 vs R1" in printed and f"{results['test_problems']} held-out problems" in printed
    assert printed.rstrip().endswith(summary_table(results))   # after pick_device's "device: cpu"


def test_the_teacher_is_charged_to_the_distilled_student(results):
    distill, student_rl = _row(results, "distill", "greedy"), _row(results, "student_rl", "greedy")
    assert distill["train_flops"] > student_rl["train_flops"]
    costs = results["training_flops"]
    assert distill["train_flops"] == pytest.approx(costs["distill"]["total"])
    assert distill["train_flops"] > costs["r1_reasoning_rl"]["total"]   # the teacher, and more
    assert student_rl["train_flops"] == pytest.approx(costs["student_rl"]["total"])
    assert _row(results, "r1", "greedy")["train_flops"] > _row(results, "base", "greedy")["train_flops"]
    # every row is charged its model's total, whatever the strategy
    for row in results["methods"]:
        assert row["train_flops"] == pytest.approx(costs[row["model"]]["total"]), row


def test_pooled_rows_match_the_scaling_curves(results):
    n = SETTINGS["tiny"].headline_n
    majority = _row(results, "base", f"majority@{n}")
    verifier = _row(results, "base", f"best_of_n_verifier@{n}")
    assert majority["inference_flops_per_problem"] == verifier["inference_flops_per_problem"]
    assert majority["inference_flops_per_problem"] == pytest.approx(
        results["scaling_flops_per_problem"][str(n)])
    assert majority["accuracy"] == pytest.approx(results["scaling"]["majority"][str(n)])
    assert verifier["accuracy"] == pytest.approx(results["scaling"]["best_of_n_verifier"][str(n)])
    flops = [results["scaling_flops_per_problem"][str(k)] for k in range(1, n + 1)]
    assert flops == sorted(flops) and flops[0] < flops[-1]
    # with every sample drawn, pass@N is the oracle: no selector beats it
    for name in ("majority", "best_of_n_verifier"):
        assert results["scaling"][name][str(n)] <= results["scaling"]["pass_at_n"][str(n)] + 1e-12
    assert set(results["scaling_by_model"]) == set(SETTINGS["tiny"].pooled_models)


def test_budget_curves_and_o1_vs_r1_are_recorded(results):
    budgets = [str(b) for b in SETTINGS["tiny"].budgets]
    for model in ("base", "r1"):
        assert sorted(results["budget_forcing"][model], key=int) == budgets
    o = results["o1_vs_r1"]
    assert o["test_problems"] == results["test_problems"] == CH02_SETTINGS["tiny"].test_problems
    assert o["r1_zero_accuracy"] == _row(results, "r1_zero", "greedy")["accuracy"]
    assert o["extra_training_flops"] == pytest.approx(
        _row(results, "r1_zero", "greedy")["train_flops"] - _row(results, "base", "greedy")["train_flops"])


def test_every_row_names_its_split_and_the_harder_rows_carry_chapter_2s_pass1(cli_run):
    root, results, _ = cli_run
    assert {r["split"] for r in results["methods"]} == {"test"}
    rows = results["methods_on_split"]
    assert [(r["method"], r["model"], r["strategy"]) for r in rows] == [
        (e.method, e.model, e.strategy) for e in split_entries(SETTINGS["tiny"].headline_n)]
    assert {r["split"] for r in rows} == {"harder"}
    # as many problems as chapter 2 scored on that split: a third of its test set
    assert {r["problems"] for r in rows} == {results["split_problems"]} == {results["test_problems"] // 3}
    pipeline = open_pipeline("tiny", root, progress=False)   # chapter 2's saved stages
    for r in rows:   # the plain models' rows: chapter 2's pass@1 on the same problems
        assert ("pass1" in r) == (r["strategy"] == "greedy"), r
        if "pass1" in r:
            assert r["pass1"] == pipeline.run(r["model"])["eval"]["splits"]["pass1"]["harder"], r
    gap = results["method_gap"]
    assert set(gap["pass1"]) == {"r1_zero", "r1", "distill"}
    assert gap["points"] == pytest.approx(100 * (gap["pass1"][gap["best"]] - gap["pass1"][gap["worst"]]))


def test_o1_like_is_r1_with_best_of_n_charged_its_training_and_its_samples(results):
    n = SETTINGS["tiny"].headline_n
    o = results["o1_vs_r1"]
    assert o["split"] == "harder"
    by = {(r["model"], r["strategy"]): r for r in results["methods_on_split"]}
    for name, key in (("o1_like", ("r1", f"best_of_n_verifier@{n}")), ("r1_alone", ("r1", "greedy")),
                      ("base_best_of_n", ("base", f"best_of_n_verifier@{n}"))):
        assert o[name] == {k: by[key][k] for k in ("accuracy", "train_flops",
                                                       "inference_flops_per_problem")}, name
    # the same model: the same training bill; n samples cost more to answer than one
    assert o["o1_like"]["train_flops"] == o["r1_alone"]["train_flops"] > o["base_best_of_n"]["train_flops"]
    assert o["o1_like"]["inference_flops_per_problem"] > o["r1_alone"]["inference_flops_per_problem"]


def test_method_gap_names_the_best_and_the_worst_trained_method():
    rows = [{"model": m, "strategy": "greedy", "pass1": p} for m, p in
            (("base", 0.9), ("r1_zero", 0.30), ("r1", 0.42), ("distill", 0.12), ("student_rl", 0.0))]
    rows.append({"model": "r1", "strategy": "majority@4"})   # a sampled row has no pass@1
    gap = method_gap(rows)
    assert (gap["best"], gap["worst"]) == ("r1", "distill")
    assert gap["points"] == pytest.approx(30.0)
    assert gap["pass1"] == {"r1_zero": 0.30, "r1": 0.42, "distill": 0.12}


def test_summary_table_lists_every_row(results):
    text = summary_table(results)
    lines = text.splitlines()
    for row in results["methods"]:
        assert any(row["model"] in line and row["strategy"] in line and row["method"] in line
                   for line in lines), row
    assert "o1 vs R1" in text


# ------------------------------------------------------------ o1 vs R1 by hand
def _rows(rl_accuracy=0.5, rl_inference=20.0):
    return [
        {"model": "base", "strategy": "greedy", "accuracy": 0.2, "train_flops": 100.0,
         "inference_flops_per_problem": 10.0},
        {"model": "base", "strategy": "majority@8", "accuracy": 0.9, "train_flops": 100.0,
         "inference_flops_per_problem": 999.0},
        {"model": "r1_zero", "strategy": "greedy", "accuracy": rl_accuracy, "train_flops": 1100.0,
         "inference_flops_per_problem": rl_inference},
    ]


SCALING = {"best_of_n_verifier": {1: 0.2, 2: 0.4, 4: 0.6, 8: 0.7},
           "inference_flops_per_problem": {1: 15.0, 2: 30.0, 4: 60.0, 8: 120.0}}


def test_matched_n_is_the_smallest_n_reaching_r1_zero():
    o = o1_vs_r1(_rows(0.5), SCALING, 50)
    assert o["matched_n"] == 4 and o["reference_n"] == 4 and o["reference_accuracy"] == 0.6
    assert o["extra_training_flops"] == 1000.0
    assert o["base_inference_flops_per_problem"] == 60.0
    assert o["r1_zero_inference_flops_per_problem"] == 20.0
    assert o["break_even_problems"] == pytest.approx(1000.0 / (60.0 - 20.0))
    assert o["test_problems"] == 50 and o["r1_zero_accuracy"] == 0.5
    assert o1_vs_r1(_rows(0.4), SCALING, 50)["matched_n"] == 2        # reaching counts as matching
    assert o1_vs_r1(_rows(0.1), SCALING, 50)["matched_n"] == 1
    wobbly = {**SCALING, "best_of_n_verifier": {1: 0.6, 2: 0.4, 4: 0.5, 8: 0.7}}
    assert o1_vs_r1(_rows(0.5), wobbly, 50)["matched_n"] == 1


def test_no_matching_n_compares_with_the_largest():
    o = o1_vs_r1(_rows(0.9), SCALING, 50)
    assert o["matched_n"] is None and o["reference_n"] == 8 and o["reference_accuracy"] == 0.7
    assert o["break_even_problems"] == pytest.approx(1000.0 / (120.0 - 20.0))


def test_no_saving_means_no_break_even():
    assert o1_vs_r1(_rows(0.5, rl_inference=60.0), SCALING, 50)["break_even_problems"] is None
    assert o1_vs_r1(_rows(0.5, rl_inference=500.0), SCALING, 50)["break_even_problems"] is None


def test_four_methods_picks_the_best_inference_time_row():
    rows = [{"method": "none", "model": "base", "strategy": "greedy", "accuracy": 0.9},
            {"method": METHODS[0], "model": "base", "strategy": "cot_prompt", "accuracy": 0.3},
            {"method": METHODS[0], "model": "base", "strategy": "majority@4", "accuracy": 0.6},
            {"method": METHODS[1], "model": "r1_zero", "strategy": "greedy", "accuracy": 0.4},
            {"method": METHODS[2], "model": "r1", "strategy": "greedy", "accuracy": 0.7},
            {"method": METHODS[3], "model": "distill", "strategy": "best_of_n_verifier@4",
             "accuracy": 0.8},
            {"method": METHODS[3], "model": "distill", "strategy": "greedy", "accuracy": 0.5}]
    picked = four_methods(rows)
    assert [(r["method"], r["strategy"]) for r in picked] == [
        (METHODS[0], "majority@4"), (METHODS[1], "greedy"), (METHODS[2], "greedy"),
        (METHODS[3], "greedy")]


def test_summary_table_on_hand_made_results():
    rows = [dict(r, method="none") for r in _rows(0.9, rl_inference=500.0)]
    results = {"preset": "tiny", "device": "cpu", "seconds": 1.5, "test_problems": 50,
               "methods": rows, "o1_vs_r1": o1_vs_r1(rows, SCALING, 50)}
    text = summary_table(results)
    for r in rows:
        assert any(r["model"] in line and r["strategy"] in line for line in text.splitlines()), r
    assert "no N up to 8 matches R1-Zero" in text and "never pays for itself" in text
    results["o1_vs_r1"] = o1_vs_r1(_rows(0.5), SCALING, 50)
    text = summary_table(results)
    assert "best-of-4 on the base matches R1-Zero" in text and "after 25 questions" in text


def test_every_asserted_effect_reads_a_number_and_the_seed_study_counts_it(results, tmp_path,
                                                                          monkeypatch):
    """benchmarks/seeds.py scores chapter 3 on each seed of chapter 2's stages: its effects read
    today's results.json (a renamed key fails here) and are counted per seed."""
    import importlib.util

    from ch03_four_methods.effects import EFFECTS

    for name, effect in EFFECTS.items():
        assert isinstance(effect.value(results), (int, float)), name
    spec = importlib.util.spec_from_file_location("seeds", "benchmarks/seeds.py")
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    calls = []
    monkeypatch.setattr(seeds, "BASE_FIXED", ("ch03",))   # chapter 2's: test_ch02_pipeline.py
    monkeypatch.setattr(seeds, "run_cli",
                        lambda module, folder, sets, reuse: calls.append((module, folder.name, sets))
                        or results)
    study = seeds.study(tmp_path, [0, 3], [], None)
    assert calls == [("ch03_four_methods", "seed0", ["seed=0", "base.seed=0"]),
                     ("ch03_four_methods", "seed3", ["seed=3", "base.seed=0"])]
    assert set(study["effects"]) == set(EFFECTS)
    for name, entry in study["effects"].items():
        value = EFFECTS[name].value(results)
        assert entry["chapter"] == "ch03" and entry["values"] == [value, value]
        assert entry["holds"] == 2 * EFFECTS[name].holds(value)
