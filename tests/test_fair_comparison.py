"""benchmarks/fair_comparison.py: R1 against the fair control over seeds. It reads what the
pipeline measured (a tiny dry run here), and the committed study backs chapter 2's fair asserts
on every seed it lists."""

import importlib.util
import shutil

import pytest

from ch02_r1_pipeline.runner import open_pipeline
from ch02_r1_pipeline.splits import SPLITS
from course.effects import STUDY, committed_study


def _benchmark():
    spec = importlib.util.spec_from_file_location("fair_comparison", "benchmarks/fair_comparison.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_reads_each_seeds_three_models_and_their_differences(tiny_ch02_runs, tmp_path):
    shutil.copytree(tiny_ch02_runs, tmp_path / "seed0")
    table = _benchmark().main(["--preset", "tiny", "--seeds", "0", "--root", str(tmp_path)])
    assert (tmp_path / "fair_comparison.json").exists() and table["seeds"] == [0]
    pipeline = open_pipeline("tiny", tmp_path / "seed0", progress=False)
    run = table["runs"][0]
    for key, stage in (("r1", "r1"), ("control", "r1_zero_same_problems"), ("r1_zero", "r1_zero")):
        ev = pipeline.run(stage)["eval"]
        assert run[key]["pass1"] == ev["splits"]["pass1"] and run[key]["tokens"] == ev["splits"]["tokens"]
        assert run[key]["sampled_mixing_rate"] == ev["sampled"]["mixing_rate"]
    for split in SPLITS:
        assert table["summary"][split]["r1_minus_control"] == [
            pytest.approx(100 * (run["r1"]["pass1"][split] - run["control"]["pass1"][split]))]


def test_the_committed_study_backs_chapter_2s_fair_asserts_on_every_seed():
    """The notebook asserts, at equal problems, what holds on all five seeds: the control gains
    10+ points over R1-Zero on 6 operations, R1 mixes scripts at most a fifth as often and spends
    at most half the tokens on one-operation questions. (R1's accuracy against the control on
    6 operations flips with the seed, so the notebook reports it and asserts nothing on it.)"""
    study = committed_study(STUDY.parent / "fair_comparison.json")
    assert len(study["seeds"]) >= 5 and 0 in study["seeds"]
    assert study["summary"] == _benchmark().summarize(study["runs"])
    for seed, run in study["runs"].items():
        r1, control, r1_zero = run["r1"], run["control"], run["r1_zero"]
        assert control["pass1"]["harder"] >= r1_zero["pass1"]["harder"] + 0.10, seed
        assert r1["sampled_mixing_rate"] <= control["sampled_mixing_rate"] / 5, seed
        assert r1["tokens"]["easy"] <= 0.5 * control["tokens"]["easy"], seed
