"""The course-wide seed (`--set seed=N`): it reaches every stage's random source and every
fingerprint, seed 0 keeps the first edition's streams, and `base.seed` alone keeps the base."""

import dataclasses

import pytest
import torch

from ch01_what_is_reasoning.chapter import run_chapter as run_chapter_1
from ch02_r1_pipeline.recipe import RL_SEEDS, SEED_STRIDE
from ch02_r1_pipeline.runner import open_pipeline
from ch03_four_methods import chapter as chapter_3
from ch04_budget import chapter as chapter_4
from course.overrides import OverrideError, SettingError
from course.runtime import seeded_name


def _pipeline(root, **overrides):
    return open_pipeline("tiny", root, progress=False, overrides=overrides)


def _seeds(pipeline) -> dict:
    """{stage: the seed its settings carry}."""
    return {name: stage.settings.seed for name, stage in pipeline.stages.items()}


def test_seed_0_keeps_the_first_editions_seeds(tmp_path):
    pipeline = _pipeline(tmp_path)
    seeds = _seeds(pipeline)
    assert {name: seeds[name] for name in RL_SEEDS} == RL_SEEDS
    assert {seed for name, seed in seeds.items() if name not in RL_SEEDS} == {0}
    assert seeded_name("rejection-sampling-r1", 0) == "rejection-sampling-r1"


def test_a_course_seed_reaches_every_stage_and_every_fingerprint(tmp_path):
    zero, three = _pipeline(tmp_path / "a"), _pipeline(tmp_path / "b", seed=3)
    seeds = _seeds(three)
    assert {name: seeds[name] for name in RL_SEEDS} == {
        name: seed + 3 * SEED_STRIDE for name, seed in RL_SEEDS.items()}
    assert {seed for name, seed in seeds.items() if name not in RL_SEEDS} == {3}
    assert three.preset.seed == 3 and three.settings.seed == 3
    for name in zero.stages:
        assert zero.fingerprint(name) != three.fingerprint(name), name
    # no two RL stages share a prompt stream, under either seed
    assert len({seeds[n] for n in RL_SEEDS}) == len(RL_SEEDS)
    assert set(seeds[n] for n in RL_SEEDS).isdisjoint(RL_SEEDS.values())


def test_base_seed_keeps_the_base_and_reseeds_the_rest(tmp_path):
    """The seed study's 'base fixed': --set seed=3 --set base.seed=0."""
    zero = _pipeline(tmp_path / "a")
    fixed = _pipeline(tmp_path / "b", seed=3, **{"base.seed": 0})
    assert fixed.fingerprint("base") == zero.fingerprint("base")
    assert fixed.settings.seed == 3
    for name in zero.stages:
        if name != "base":
            assert fixed.fingerprint(name) != zero.fingerprint(name), name


@pytest.mark.parametrize("bad", [-1, 2**40, 1.5, "one"])
def test_a_bad_seed_is_refused_before_any_work(tmp_path, bad):
    with pytest.raises((OverrideError, SettingError), match="seed"):
        _pipeline(tmp_path, seed=bad)
    with pytest.raises((OverrideError, SettingError), match="seed"):
        run_chapter_1("tiny", tmp_path, progress=False, overrides={"seed": bad})


def test_chapter_1_pretrains_another_base_under_another_seed(tmp_path):
    zero = run_chapter_1("tiny", tmp_path / "a", progress=False)
    one = run_chapter_1("tiny", tmp_path / "b", progress=False, overrides={"seed": 1})
    assert (zero["seed"], one["seed"]) == (0, 1)
    # same settings, another corpus order, initialisation and batches: another loss curve
    assert zero["tokens_per_second"] > 0 and one["tokens_per_second"] > 0
    saved = {k: torch.load(tmp_path / k / "ch01" / "base.pt", weights_only=True)
             for k in ("a", "b")}
    assert saved["a"]["extra"]["recipe"]["settings"]["seed"] == 0
    assert saved["b"]["extra"]["recipe"]["settings"]["seed"] == 1
    assert [h["loss"] for h in saved["a"]["extra"]["history"]] != \
        [h["loss"] for h in saved["b"]["extra"]["history"]]


def test_chapters_3_and_4_hand_the_seed_to_chapter_2_and_use_it(tmp_path):
    pipeline, settings = chapter_3.open_chapter("tiny", tmp_path, False, {"seed": 2})
    assert pipeline.settings.seed == 2 and pipeline.preset.seed == 2
    assert chapter_3.make_harness(pipeline, settings, {}).seed == 2
    sweep = chapter_4.sweep_config(_pipeline(tmp_path, seed=2))
    assert sweep.seed == 2 * SEED_STRIDE
    assert chapter_4.sweep_config(_pipeline(tmp_path)).seed == 0
    assert dataclasses.replace(sweep, seed=0) == chapter_4.sweep_config(_pipeline(tmp_path))
