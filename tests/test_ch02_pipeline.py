"""The pipeline at the tiny preset: stages chain, cache, resume, and the CLI's contract."""

import json

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import is_held_out
from ch02_r1_pipeline import recipe as recipe_module
from ch02_r1_pipeline import runner as runner_module
from ch02_r1_pipeline.__main__ import main
from ch02_r1_pipeline.chapter import HEADLINE_STAGES, METRICS
from ch02_r1_pipeline.grpo import GRPOTrainer
from ch02_r1_pipeline.inspector import inspect_rewards
from ch02_r1_pipeline.off_rule import OFF_RULE_STAGES
from ch02_r1_pipeline.recipe import STAGES
from ch02_r1_pipeline.runner import Pipeline
from ch02_r1_pipeline.splits import SPLITS
from ch02_r1_pipeline.tasks import PERSIAN_SHARE, TEST_OPS, held_out_problems
from course.runtime import get_preset


def _pipeline(root):
    return Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    main(["--preset", "tiny", "--runs", str(root), "--quiet"])
    return root


def test_results_json_has_the_contract_keys(cli_run):
    results = json.loads((cli_run / "ch02" / "results.json").read_text())
    assert results["preset"] == "tiny" and results["device"] == "cpu"
    assert results["seconds"] > 0
    for stage in HEADLINE_STAGES:
        for key in METRICS:
            assert key in results[stage], (stage, key)
        for key in ("accuracy", "format_rate", "mixing_rate"):
            assert 0.0 <= results[stage][key] <= 1.0
    curve = results["curves"]["r1_zero"]
    assert curve["step"][0] == 0 and curve["step"][-1] == recipe_module.SETTINGS["tiny"].r1_zero_steps
    assert len(curve["accuracy"]) == len(curve["mean_response_tokens"]) == len(curve["step"])
    for name in ("r1_zero_curves.png", "rollouts.png", "stages.png", "splits.png",
                 "fair_comparison.png", "off_rule.png"):
        assert (cli_run / "ch02" / name).stat().st_size > 0
    # the off-rule probe: every compared stage on both kinds of unlabelled question
    off = results["off_rule"]
    assert sorted(off) == sorted(OFF_RULE_STAGES)
    for kinds in off.values():
        assert sorted(kinds) == ["bare_number", "unseen_fact"]
        for m in kinds.values():
            assert 0.0 <= m["thinking_rate"] <= 1.0
            assert m["thinking_pays"] == pytest.approx(m["accuracy"]["think"] - m["accuracy"]["direct"])


def test_fair_comparison_sets_r1_beside_the_control_on_every_split(cli_run):
    results = json.loads((cli_run / "ch02" / "results.json").read_text())
    fair, stages = results["fair_comparison"], results["stages"]
    assert fair["control"] == "r1_zero_same_problems" and fair["as_published"]["control"] == "r1_zero"
    for comparison in (fair, fair["as_published"]):
        assert sorted(comparison["pass1"]) == sorted(SPLITS)
        for split in SPLITS:
            for key in ("pass1", "tokens"):
                assert comparison[key][split] == {"r1": stages["r1"][key][split],
                                                  "control": stages[comparison["control"]][key][split]}
        assert comparison["sampled_mixing_rate"]["control"] == \
            stages[comparison["control"]]["sampled_mixing_rate"]
    # and the aha run reports the waits that fix nothing next to the productive ones
    aha = results["aha"]
    assert len(aha["superficial_correction_rate"]) == len(aha["productive_correction_rate"])


def test_every_stage_is_scored_on_the_five_splits(cli_run):
    results = json.loads((cli_run / "ch02" / "results.json").read_text())
    for stage, m in results["stages"].items():
        for key in ("pass1", "tokens", "greedy_by_split"):
            assert sorted(m[key]) == sorted(SPLITS), (stage, key)
        assert all(0.0 <= v <= 1.0 for v in m["pass1"].values()), (stage, m["pass1"])
        assert all(v > 0 for v in m["tokens"].values()), (stage, m["tokens"])


def test_every_stage_saved_its_output(cli_run):
    for stage in STAGES:
        if stage == "base":
            assert (cli_run / "ch01" / "base.pt").exists()
        elif recipe_module.recipe(get_preset("tiny"), recipe_module.SETTINGS["tiny"])[stage].kind \
                in recipe_module.DATA_KINDS:
            assert (cli_run / "ch02" / f"{stage}.json").exists()
            assert (cli_run / "ch02" / f"{stage}_data").is_dir()
        else:
            assert (cli_run / "ch02" / f"{stage}.pt").exists()
    assert not list((cli_run / "ch02").glob("*.state.pt"))  # finished runs leave no state


def test_finished_stages_are_loaded_not_retrained(cli_run, monkeypatch):
    def fail(*a, **kw):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr(GRPOTrainer, "train_step", fail)
    monkeypatch.setattr(runner_module, "sft", fail)
    monkeypatch.setattr(runner_module, "pretrain_base", fail)
    p = _pipeline(cli_run)
    for stage in ("r1_zero", "r1", "distill"):
        assert p.run(stage)["loaded"] is True
    monkeypatch.undo()
    # ... unless base must be loaded too (it comes from chapter 1's folder), which is fine.


def test_a_grpo_stage_resumed_after_a_crash_continues_identically(tmp_path, monkeypatch):
    straight = _pipeline(tmp_path / "a")
    straight.run("r1_zero")
    expected = _params(straight.model("r1_zero"))

    crashing = _pipeline(tmp_path / "b")
    crashing.run("base")
    real_step = GRPOTrainer.train_step

    def crash_after_two(self):
        if self.step == 2:
            raise KeyboardInterrupt("simulated crash")
        return real_step(self)

    monkeypatch.setattr(GRPOTrainer, "train_step", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        crashing.run("r1_zero")
    assert (tmp_path / "b" / "ch02" / "r1_zero.state.pt").exists()
    monkeypatch.setattr(GRPOTrainer, "train_step", real_step)

    resumed = _pipeline(tmp_path / "b")
    info = resumed.run("r1_zero")
    assert info["loaded"] is False
    assert [h["step"] for h in info["history"]] == [0, 1, 2]
    assert torch.equal(_params(resumed.model("r1_zero")), expected)
    assert [p["step"] for p in info["curve"]] == [p["step"] for p in straight.info["r1_zero"]["curve"]]


def test_unknown_stage_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown stage"):
        _pipeline(tmp_path).run("r2")


def test_test_set_is_held_out_balanced_and_fixed():
    problems = held_out_problems(600)
    assert len(problems) == 600 and all(is_held_out(p) for p in problems)
    assert {p.n_ops for p in problems} == set(TEST_OPS)
    persian = sum(p.script == "persian" for p in problems) / len(problems)
    assert abs(persian - PERSIAN_SHARE) < 0.01
    assert [p.prompt() for p in held_out_problems(600)] == [p.prompt() for p in problems]


def test_reward_inspector_scores_a_mixed_trace():
    out = inspect_rewards("(۳+۴)*۲?", "<think>(۳+۴)*۲ = 7*2 = ۱۴</think><answer>۱۴</answer>")
    assert out["expected"] == 14 and out["accuracy"] == 1.0 and out["format"] == 1.0
    assert out["mixed_scripts"] and 0 < out["consistency"] < 1
    assert out["R1 total"] > out["R1-Zero total"] == 1.1


def test_results_json_has_the_aha_curves(cli_run):
    results = json.loads((cli_run / "ch02" / "results.json").read_text())
    settings = recipe_module.SETTINGS["tiny"]
    for key in ("aha", "r1_zero_corrections"):
        curves = results[key]
        for name in ("step", "accuracy", "mean_response_tokens", "self_correction_rate",
                     "productive_correction_rate"):
            assert len(curves[name]) == len(curves["step"]) > 0, (key, name)
        assert all(0.0 <= v <= 1.0 for v in curves["productive_correction_rate"])
        assert all(p <= s for p, s in zip(curves["productive_correction_rate"],
                                          curves["self_correction_rate"]))
    assert results["aha"]["step"] == list(range(0, settings.aha_rl.steps, settings.aha_every))
    assert (cli_run / "ch02" / "aha.png").stat().st_size > 0
    assert results["cold_start_data"]["teacher"] == "r1_zero"


def test_the_aha_run_is_cached_and_retrained_when_its_settings_change(cli_run, tmp_path, monkeypatch):
    from ch02_r1_pipeline.slip_world import run_aha

    def fail(*a, **kw):
        raise AssertionError("the aha run was trained again")

    monkeypatch.setattr(GRPOTrainer, "train_step", fail)
    assert run_aha(_pipeline(cli_run))["loaded"] is True
    monkeypatch.undo()
    changed = Pipeline(get_preset("tiny"), torch.device("cpu"), cli_run, progress=False,
                       overrides={"aha_rl.lr": 3e-4})
    info = run_aha(changed)
    assert info["loaded"] is False and len(info["history"]) == changed.settings.aha_rl.steps


def test_every_asserted_effect_reads_a_number_and_the_study_counts_it(cli_run, tmp_path, monkeypatch):
    """benchmarks/seeds.py's effects read today's results.json (a renamed key fails here), and
    the study counts, per effect, the seeds on which the notebook's threshold holds."""
    import importlib.util

    from ch02_r1_pipeline.effects import EFFECTS
    from course.effects import spread_lines

    results = json.loads((cli_run / "ch02" / "results.json").read_text())
    for name, effect in EFFECTS.items():
        value = effect.value(results)
        assert value is None or isinstance(value, (int, float)), name
    spec = importlib.util.spec_from_file_location("seeds", "benchmarks/seeds.py")
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    calls = []
    monkeypatch.setattr(seeds, "BASE_FIXED", ("ch02",))   # chapter 3's: test_ch03_chapter.py
    monkeypatch.setattr(seeds, "run_cli", lambda module, folder, sets, reuse: calls.append(sets) or results)
    study = seeds.study(tmp_path, [0, 7], [], None)
    assert calls == [["seed=0", "base.seed=0"], ["seed=7", "base.seed=0"]]
    assert study["seeds"] == [0, 7] and study["base_seeds"] == []
    assert set(study["effects"]) == set(EFFECTS)   # chapter 1's need seeds that retrain the base
    for name, entry in study["effects"].items():
        value = EFFECTS[name].value(results)
        assert entry["values"] == [value, value]
        assert entry["holds"] == 2 * EFFECTS[name].holds(value)
    json.dumps(study, allow_nan=False)             # the committed table is plain JSON
    lines = spread_lines(EFFECTS, results, study)
    assert len(lines) == 2 + len(EFFECTS) and all(" of 2" in line for line in lines[1:-1])
    held = sum(EFFECTS[name].holds(EFFECTS[name].value(results)) for name in EFFECTS)
    assert lines[-1] == f"{held} of {len(EFFECTS)} checks hold on every seed"
