"""Every setting is checked against its declared range before any work: a bad value is one
line naming its key, its range and the value (exit code 2 on the command line), never a
traceback, a mid-run crash or a NaN model that "succeeds". Nothing here trains."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning.__main__ import main as ch01_main
from ch01_what_is_reasoning.arithmetic import random_problem, step_by_step_completion
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch02_r1_pipeline import grpo_loss
from ch02_r1_pipeline.__main__ import main as ch02_main
from ch02_r1_pipeline.grpo import GRPOConfig
from ch02_r1_pipeline.recipe import SETTINGS, Settings, apply_overrides, recipe
from ch02_r1_pipeline.runner import Pipeline
from ch02_r1_pipeline.sft import RejectionConfig, SFTConfig
from ch03_four_methods import chapter as ch03
from ch03_four_methods.__main__ import main as ch03_main
from ch04_budget import chapter as ch04
from ch04_budget.__main__ import main as ch04_main
from course.overrides import OverrideError, override
from course.runtime import PRESETS, ModelShape, Preset, get_preset
from course.setting_ranges import (
    LOSS_TYPES,
    WORLD_OPS,
    SettingError,
    check_settings,
    range_of,
)

REPO = Path(__file__).resolve().parents[1]
TINY = get_preset("tiny")
CPU = torch.device("cpu")
MODEL_STAGES = tuple(n for n, s in recipe(TINY, SETTINGS["tiny"]).items()
                     if s.kind != "rejection_sampling")


def _dataclasses_in(obj, seen: set) -> None:
    """Every dataclass type reachable from `obj` (fields, tuples of shapes, stage settings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        seen.add(type(obj))
        for f in dataclasses.fields(obj):
            _dataclasses_in(getattr(obj, f.name), seen)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _dataclasses_in(item, seen)


def _every_settings_class() -> set:
    seen: set = set()
    for name in PRESETS:
        _dataclasses_in(PRESETS[name], seen)
        _dataclasses_in(SETTINGS[name], seen)
        _dataclasses_in(ch03.SETTINGS[name], seen)
        _dataclasses_in(ch04.SETTINGS[name], seen)
        for stage in recipe(PRESETS[name], SETTINGS[name]).values():
            _dataclasses_in(stage.settings, seen)
    return seen


# --- 1. the table covers every field --------------------------------------------------------

def test_every_field_of_every_settings_dataclass_has_a_declared_range():
    classes = _every_settings_class()
    assert {Preset, ModelShape, Settings, GRPOConfig, SFTConfig, RejectionConfig,
            ch03.Settings, ch04.Settings} <= classes
    missing = []
    for cls in classes:
        for f in dataclasses.fields(cls):
            try:
                range_of(cls, f.name)
            except LookupError:
                missing.append(f"{cls.__module__}.{cls.__name__}.{f.name}")
    assert not missing, f"no declared range (add them to setting_ranges.RANGES): {missing}"


def test_a_field_without_a_range_is_a_programming_error_not_a_pass():
    @dataclasses.dataclass
    class NewSettings:
        brand_new_knob: int = 3

    with pytest.raises(LookupError, match="NewSettings.brand_new_knob has no declared range"):
        check_settings(NewSettings())


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_presets_own_settings_are_in_range(preset):
    check_settings(PRESETS[preset])
    apply_overrides(PRESETS[preset], SETTINGS[preset], {})   # chapter 2: Settings and every stage
    context = {"model_stages": MODEL_STAGES}
    check_settings(ch03.SETTINGS[preset], context=context)
    check_settings(ch04.SETTINGS[preset], context=context)


def test_the_tables_copies_of_the_worlds_limits_are_right():
    assert LOSS_TYPES == grpo_loss.LOSS_TYPES
    tok, rng = CharTokenizer(), random.Random(0)

    def longest(n_ops):   # prompt + worked solution, in tokens, of 300 random problems
        return max(len(tok.encode(p.prompt() + step_by_step_completion(p, rng), bos=True))
                   for p in (random_problem(rng, n_ops) for _ in range(300)))

    block = 128   # the context every model of the course has (experiments.base_config)
    assert longest(WORLD_OPS.stop - 1) <= block + 1 < longest(WORLD_OPS.stop)


# --- 2. coerce: no NaN or infinity ever becomes a setting -------------------------------------

@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400, "nan", "-inf"])
def test_a_non_finite_float_is_refused_by_the_override_itself(value):
    with pytest.raises(SettingError, match=r"^lr must be a finite number, got") as err:
        override(TINY, lr=value)
    assert err.value.key == "lr"
    with pytest.raises(SettingError, match=r"^rl\.reward_weights\.accuracy must be a finite number"):
        override(SETTINGS["tiny"], {"rl.reward_weights.accuracy": value})


def test_grpo_configs_own_check_is_a_setting_error_named_by_its_key():
    with pytest.raises(SettingError, match=r"^temperature must be a finite number >= 0\.001"):
        GRPOConfig(temperature=0.0)
    assert issubclass(SettingError, ValueError) and issubclass(SettingError, OverrideError)
    with pytest.raises(SettingError, match=r"^rl\.group_size must be a whole number >= 2"):
        override(SETTINGS["tiny"], {"rl.group_size": 1})
    with pytest.raises(SettingError, match=r"^aha_rl\.lr must be a finite number > 0, got -1$"):
        override(SETTINGS["tiny"], {"aha_rl.lr": -1.0})
    GRPOConfig(reward_weights={"shorter": 1.0})   # names are the trainer's business, not the config's


# --- 3 and 4. the listed cases, through the real command lines --------------------------------

CH01, CH02 = "python -m ch01_what_is_reasoning", "python -m ch02_r1_pipeline"
CH03, CH04 = "python -m ch03_four_methods", "python -m ch04_budget"
RL_STAGES = ("(RL stages: r1_zero, r1_zero_consistency, r1_reasoning_rl, r1, student_rl, "
             "r1_zero_same_problems)")
STAGES = ("base, r1_zero, r1_zero_consistency, cold_start, r1_reasoning_rl, r1_sft, r1, "
          "student_base, distill, student_rl, r1_zero_same_problems")

CASES = [
    (ch01_main, CH01, "lr=1e999", "lr must be a finite number, got inf"),
    (ch01_main, CH01, "lr=-1", "lr must be a finite number > 0, got -1"),
    (ch01_main, CH01, "batch_size=0", "batch_size must be a whole number >= 1, got 0"),
    (ch01_main, CH01, "pretrain_steps=-5", "pretrain_steps must be a whole number >= 0, got -5"),
    (ch01_main, CH01, "n_head=3", "n_embd must be a multiple of n_head (each head reads n_embd / "
                                  "n_head dimensions), got n_embd=32 and n_head=3"),
    (ch01_main, CH01, "sample_efficiency_sizes=()", "sample_efficiency_sizes must be a non-empty "
                                                    "tuple of whole numbers >= 1 (training examples "
                                                    "per run), got ()"),
    (ch02_main, CH02, "r1_zero.reward_weights.accuracy=1e999",
     "r1_zero.reward_weights.accuracy must be a finite number, got inf"),
    (ch02_main, CH02, "r1.lr=-1", "r1.lr must be a finite number > 0, got -1"),
    (ch02_main, CH02, "sft_batch=0", "sft_batch must be a whole number >= 1, got 0"),
    (ch02_main, CH02, "base.batch_size=0", "base.batch_size must be a whole number >= 1, got 0"),
    (ch02_main, CH02, "curve_every=0",
     "curve_every must be a whole number >= 1 (steps between two of them), got 0"),
    (ch02_main, CH02, "save_every=0",
     "save_every must be a whole number >= 1 (steps between two of them), got 0"),
    (ch02_main, CH02, "aha_every=0",
     "aha_every must be a whole number >= 1 (steps between two of them), got 0"),
    (ch02_main, CH02, "curve_problems=0", "curve_problems must be a whole number >= 1, got 0"),
    (ch02_main, CH02, "rejection_sampling.ops=()", "rejection_sampling.ops must be a non-empty "
                                                   "tuple of whole numbers in 1..6 (operations per "
                                                   "problem), got ()"),
    (ch02_main, CH02, "test_problems=0", "test_problems must be a whole number in 1..10000 "
                                         "(held-out problems every stage is scored on), got 0"),
    (ch02_main, CH02, "r1_sft.steps=-3", "r1_sft.steps must be a whole number >= 0, got -3"),
    (ch02_main, CH02, "cold_start.examples=0",
     "cold_start.examples or cold_start_data.knowledge_examples must be >= 1 at the tiny preset, "
     "got 0 and 0: cold_start would train on cold_start_data alone, the correct traces of "
     "r1_zero, and the tiny preset's r1_zero (a few steps of a tiny model) writes none "
     "(cold_start_program_traces sets cold_start.examples)"),
    (ch02_main, CH02, "rl.steps=100",
     "rl.steps does nothing: the recipe gives each RL stage its own steps: set r1_zero_steps "
     "(every R1-Zero run), reasoning_rl_steps, final_rl_steps or student_rl_steps, or one "
     f"stage's as <stage>.steps, e.g. r1_zero.steps=100 {RL_STAGES}"),
    (ch02_main, CH02, "rl.seed=7",
     "rl.seed does nothing: the recipe seeds each RL stage's prompts itself: set one stage's as "
     f"<stage>.seed, e.g. r1_zero.seed=7 {RL_STAGES}"),
    (ch02_main, CH02, "rl.reward_weights.accuracy=2.0",
     "rl.reward_weights.accuracy does nothing: the recipe gives each RL stage its own reward "
     "weights: set one stage's as <stage>.reward_weights.<reward>, e.g. "
     f"r1_zero.reward_weights.accuracy=2.0 {RL_STAGES}"),
    (ch02_main, CH02, "r1_zero.temperature=0", "r1_zero.temperature must be a finite number >= "
                                               "0.001 (GRPO samples its rollouts: 0 is not "
                                               "sampling), got 0"),
    (ch02_main, CH02, "r1_zero.reward_weights.acuracy=1.0",
     "r1_zero.reward_weights must name rewards the pipeline knows (accuracy, consistency, "
     "format), got 'acuracy'"),
    (ch03_main, CH03, "headline_n=5", "headline_n must be at most pool_size (its votes read the "
                                      "pool's samples), got headline_n=5 and pool_size=4"),
    (ch03_main, CH03, "budgets=()", "budgets must be a non-empty tuple of whole numbers >= 0 "
                                    "(thinking budgets in tokens), got ()"),
    (ch03_main, CH03, "pooled_models=('distill',)", "pooled_models must be a non-empty tuple of "
                                                    "model stages that includes 'base' "
                                                    f"({STAGES}), got ('distill',)"),
    (ch03_main, CH03, "r1_zero.lr=-1", "r1_zero.lr must be a finite number > 0, got -1"),
    (ch04_main, CH04, "teacher=rejection_sampling", "teacher must be 'worked solutions' or a "
                                                    f"model stage of chapter 2 ({STAGES}), got "
                                                    "'rejection_sampling'"),
    (ch04_main, CH04, "trace_counts=(4,30)", "trace_counts must each be at most teacher_problems "
                                             "(one trace per problem at most), got "
                                             "trace_counts=(4, 30) and teacher_problems=24"),
    (ch04_main, CH04, "sweep_shapes=((1,3,32),)",
     "sweep_shapes[0].n_embd must be a multiple of sweep_shapes[0].n_head (each head reads "
     "n_embd / n_head dimensions), got n_embd=32 and n_head=3"),
    (ch04_main, CH04, "journey_corrections=-1", "journey_corrections must be a finite number in "
                                                "[0, 100] (corrected traces per problem), got -1"),
    (ch04_main, CH04, "r1_sft.steps=-3", "r1_sft.steps must be a whole number >= 0, got -3"),
]


@pytest.mark.parametrize("main, prog, setting, message", CASES,
                         ids=[f"{c[1].split()[-1][:4]}:{c[2]}" for c in CASES])
def test_each_case_is_one_line_on_the_command_line_and_nothing_trains(tmp_path, capsys, main,
                                                                       prog, setting, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "tiny", "--runs", str(tmp_path), "--quiet", "--set", setting])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"{prog}: error: {message}"]
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("module, setting, message", [
    ("ch01_what_is_reasoning", "lr=1e999", "lr must be a finite number, got inf"),
    ("ch02_r1_pipeline", "r1.lr=-1", "r1.lr must be a finite number > 0, got -1"),
])
def test_a_real_process_prints_one_line_and_exits_2(tmp_path, module, setting, message):
    env = {**os.environ, "COURSE_DEVICE": "cpu"}
    run = subprocess.run([sys.executable, "-m", module, "--preset", "tiny", "--runs", str(tmp_path),
                          "--quiet", "--set", setting], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=300)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [f"python -m {module}: error: {message}"]
    assert not list(tmp_path.rglob("*.pt"))


# --- 5. the property: any value of a setting's type is refused by name or lies in its range ----

def _leaves(obj, prefix: str = ""):
    """(dotted key, kind) of every number, tuple and reward weight of a settings dataclass."""
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{key}.")
        elif isinstance(value, bool) or isinstance(value, str):
            continue
        elif isinstance(value, int):
            yield key, "int"
        elif isinstance(value, float):
            yield key, "float"
        elif isinstance(value, tuple) and not any(dataclasses.is_dataclass(v) for v in value):
            yield key, "tuple"
        elif isinstance(value, dict):
            yield from ((f"{key}.{name}", "float") for name in value)


KEYS = sorted({*_leaves(SETTINGS["tiny"]),
               *((f"{name}.{key}", kind) for name, stage in recipe(TINY, SETTINGS["tiny"]).items()
                 for key, kind in _leaves(stage.settings))})
EDGE = {"int": [0, -1, 1, 2, 3, 7, 10**12, -(10**12), 2**64],
        "float": [0.0, -0.0, -1.0, 1.0, 2.0, 1e-3, 5e-324, 1e308, -1e308, math.nan, math.inf,
                  -math.inf, 0, 3, 10**400],
        "tuple": [(), (0,), (1,), (2, 3), (7,), (-1, 2), (1.5,), (math.nan,), (10**12,)]}
VALUES = {
    "int": st.one_of(st.sampled_from(EDGE["int"]), st.integers(-10, 100)),
    "float": st.one_of(st.sampled_from(EDGE["float"]),
                       st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
    "tuple": st.one_of(st.sampled_from(EDGE["tuple"]),
                       st.lists(st.integers(-3, 10), max_size=4).map(tuple)),
}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranges")
    yield root
    assert not list(root.rglob("*.pt")), "building a pipeline trained something"


def _read_back(pipeline: Pipeline, key: str):
    """(the value now at `key`, its declared range) in the built pipeline."""
    head, _, rest = key.partition(".")
    if head in pipeline.stages and rest:
        obj, path = pipeline.stages[head].settings, rest.split(".")
    else:
        obj, path = pipeline.settings, key.split(".")
    for name in path[:-1]:
        owner, obj = obj, getattr(obj, name)
    if isinstance(obj, dict):   # a reward weight
        return obj[path[-1]], range_of(owner, path[-2]).entries
    return getattr(obj, path[-1]), range_of(obj, path[-1])


def _build_or_refuse(root, key: str, value) -> None:
    try:
        pipeline = Pipeline(TINY, CPU, root, progress=False, overrides={key: value})
    except SettingError as err:
        assert key in str(err), f"{key}={value!r} refused without naming it: {err}"
        assert "\n" not in str(err)
        return
    got, declared = _read_back(pipeline, key)
    assert declared.test(got, {}), f"{key}={value!r} accepted outside its range: {got!r}"
    assert got == (tuple(value) if isinstance(value, tuple) else value)


def test_every_key_at_every_edge_value_is_refused_by_name_or_in_range(runs_root):
    assert len(KEYS) > 100
    for key, kind in KEYS:
        for value in EDGE[kind]:
            _build_or_refuse(runs_root, key, value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(KEYS).flatmap(lambda kv: st.tuples(st.just(kv[0]), VALUES[kv[1]])))
def test_any_value_of_a_settings_type_is_refused_by_name_or_in_range(runs_root, case):
    _build_or_refuse(runs_root, *case)


@pytest.mark.parametrize("chapter", [ch03, ch04], ids=["ch03", "ch04"])
def test_chapters_3_and_4_own_settings_too(chapter):
    context = {"model_stages": MODEL_STAGES}
    for key, kind in _leaves(chapter.SETTINGS["tiny"]):
        for value in EDGE[kind]:
            try:
                s = override(chapter.SETTINGS["tiny"], {key: value})
                check_settings(s, context=context)
            except SettingError as err:
                assert key in str(err), f"{key}={value!r}: {err}"
                continue
            got = getattr(s, key)
            assert range_of(s, key).test(got, context), f"{key}={value!r} accepted: {got!r}"
