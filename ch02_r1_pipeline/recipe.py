"""The R1 recipe as data: a table of stages, each with its kind, inputs and typed settings.

    base (chapter 1) -> r1_zero                       GRPO: accuracy + format
                     -> r1_zero_consistency           the same + consistency (the ablation)
                     -> r1_zero_same_problems         R1-Zero on R1's SFT problems (2-6 ops):
                                                       the fair control R1 is compared with
                     -> cold_start_data               R1-Zero's own samples: correct, well-formed,
                                                       one script (rejection sampling)
    base ----------------> cold_start                    SFT on those few hundred clean traces
                        -> r1_reasoning_rl            GRPO: accuracy + format + consistency
                           -> rejection_sampling      correct, consistent traces (2-6 ops,
                                                       broader than RL's 2-5) + knowledge
    base ----------------> r1_sft                     SFT on that data (R1 starts from V3-Base)
                           -> r1                      final GRPO
    student_base --------> distill                    SFT of a smaller model on the same data
    student_base --------> student_rl                 the small model with pure RL instead

Each stage is a `Stage`: its kind (pretrain, grpo, sft, rejection_sampling), its inputs, its
settings (a typed dataclass) and, for GRPO, its reward weights. `Settings` holds every stage's
sizes per preset (`SETTINGS`), `recipe` turns them into the table, and `apply_overrides` changes
it by `--set` keys, refusing, before any training, what would do nothing or leave a stage with no
data. runner.py runs a stage by its kind (`KINDS`), so a new method (say PPO) is a new trainer
plus a `KINDS` entry and a table row. Chapters 3 and 4 read the graph, the teacher and the RL
stages from this table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from dataclasses import dataclass, field

from course.overrides import OverrideError, SettingError, override
from course.runtime import ModelShape, Preset, get_preset
from course.setting_ranges import check_settings

from .grpo import GRPOConfig
from .rewards import ACCURACY_FORMAT, COURSE_REWARDS, REWARDS, WITH_CONSISTENCY
from .sft import RejectionConfig, SFTConfig
from .tasks import RL_OPS

__all__ = ["ACCURACY_FORMAT", "WITH_CONSISTENCY", "Stage", "Settings", "SETTINGS", "RL_SEEDS",
           "STAGES", "DATA_KINDS", "recipe", "stages_of_kind", "apply_overrides"]


@dataclass(frozen=True)
class Stage:
    """One row of the recipe."""

    name: str
    kind: str                       # a key of KINDS
    inputs: tuple = ()              # the stages whose output it needs (model first, then data)
    settings: object = None         # Preset, GRPOConfig, SFTConfig or RejectionConfig
    curve: bool = False             # GRPO: score a held-out subset every few steps
    paper: bool = True              # a stage of the R1 paper (False: the course's ablation)
    ops: tuple = RL_OPS             # GRPO: the operation counts of its prompts' problems


R1_SFT_OPS = (*RL_OPS, 6)        # the problems R1's rejection sampling writes traces for


@dataclass(frozen=True)
class Settings:
    """Sizes and step counts of every stage, per preset. `recipe` turns them into the table;
    `--set stage.key=value` then changes one stage's settings."""

    test_problems: int = 600          # held-out, scored greedily after every stage
    curve_problems: int = 150         # the subset scored during R1-Zero's RL (its curves)
    curve_every: int = 5
    save_every: int = 10              # GRPO trainer checkpoints (resume after a crash)
    rl: GRPOConfig = field(default_factory=lambda: GRPOConfig(lr=1e-4, group_size=8,
                                                              prompts_per_step=8, temperature=1.0))
    r1_zero_steps: int = 60
    cold_start_traces: int = 300      # R1-Zero's samples kept for the cold start (of 2x as many)
    cold_start_program_traces: int = 0  # > 0: the ablation: SFT on that many program-written
                                        # traces instead of R1-Zero's (`--set
                                        # cold_start.examples=300` does the same for one run)
    cold_start_steps: int = 150
    reasoning_rl_steps: int = 50
    later_rl_lr: float = 2e-5         # RL after SFT: the model already reasons; a big step
                                      # at temperature 1 mostly adds noise (measured: 1e-4
                                      # took the cold-start model from 99.8% to 95.5%)
    # R1's SFT set is broader than its RL prompts (the paper widens the prompts at rejection
    # sampling beyond those RL could score with rules): training problems of 2-6 operations,
    # RL's 2-5 and one longer. Measured on a 2-core AMD EPYC: with RL's 2-5, R1
    # scored 40.5% pass@1 on the harder split against R1-Zero's 59.9%.
    rejection: RejectionConfig = field(default_factory=lambda: RejectionConfig(ops=R1_SFT_OPS))
    sft_steps: int = 600
    sft_batch: int = 16
    sft_lr: float = 3e-4
    final_rl_steps: int = 40
    student: ModelShape = ModelShape(2, 4, 64)   # the distillation student
    student_pretrain_steps: int = 1500
    distill_steps: int = 6000         # the student learns to copy long traces late: measured
    distill_lr: float = 2e-3          # 19% after 2000 steps at 1e-3, 41% at 4000, 53% at 2e-3;
                                      # on R1's 2-6 operation set (AMD EPYC): 23% after 4000
                                      # steps, 25% at 3e-3, 33% after 6000
    student_rl_steps: int = 60
    # the aha moment in miniature (slip_world.py): R1-Zero's RL on prompts with a planted slip
    aha_rl: GRPOConfig = field(default_factory=lambda: GRPOConfig(
        steps=100, lr=1e-4, group_size=8, prompts_per_step=8, temperature=1.0,
        max_new_tokens=80, seed=3))
    aha_every: int = 5                # steps per point of the aha curves
    # The seed of every stage here and of its evaluation draws (RL prompts, samples, SFT batches,
    # rejection sampling). `--set seed=N` sets it and the base's together; add `--set
    # base.seed=0` to keep the base and reseed only this chapter's stages (benchmarks/seeds.py).
    seed: int = 0


SETTINGS = {
    # Unit tests: every stage runs in seconds, nothing is learned.
    "tiny": Settings(test_problems=12, curve_problems=6, curve_every=2, save_every=2,
                     rl=GRPOConfig(lr=1e-4, group_size=2, prompts_per_step=2, temperature=1.0,
                                   max_new_tokens=16),
                     # a 3-step R1-Zero of a 1-layer model writes no right answer to keep:
                     # the tiny cold start is program-written
                     r1_zero_steps=3, cold_start_traces=8, cold_start_program_traces=8,
                     cold_start_steps=3,
                     reasoning_rl_steps=2, rejection=RejectionConfig(prompts=8, k=2,
                                                                     knowledge_examples=4),
                     sft_steps=3, sft_batch=4, final_rl_steps=2, student=ModelShape(1, 1, 16),
                     student_pretrain_steps=5, distill_steps=3, student_rl_steps=2,
                     aha_rl=GRPOConfig(steps=4, group_size=2, prompts_per_step=2,
                                       max_new_tokens=16), aha_every=2),
    "cpu": Settings(),
    "gpu": Settings(test_problems=2000, curve_problems=400, r1_zero_steps=300,
                    reasoning_rl_steps=150,
                    rejection=RejectionConfig(prompts=4000, k=4, knowledge_examples=1500,
                                              ops=R1_SFT_OPS),
                    sft_steps=2000, final_rl_steps=100, student=ModelShape(2, 4, 96),
                    student_pretrain_steps=4000, distill_steps=6000, student_rl_steps=300,
                    rl=GRPOConfig(lr=1e-4, group_size=16, prompts_per_step=16, temperature=1.0)),
}


# Each RL stage draws its own stream of prompts and samples, from its own seed. Any distinct
# seeds would do; these are the ones the first edition used (the length of the stage's name),
# kept so that every number the notebooks quote reproduces. Course seed N adds N x SEED_STRIDE.
RL_SEEDS = {"r1_zero": 7, "r1_zero_consistency": 19, "r1_reasoning_rl": 15, "r1": 2, "student_rl": 10,
            "r1_zero_same_problems": 21}
SEED_STRIDE = 1000


def rl_seed(name: str, seed: int) -> int:
    """The RL seed of stage `name` (a key of RL_SEEDS) under the course seed `seed`: seed 0
    gives the first edition's seeds. (The aha run moves its own `aha_rl.seed` by the same
    stride: slip_world.run_aha.)"""
    return RL_SEEDS[name] + SEED_STRIDE * seed


def recipe(preset: Preset, s: Settings) -> dict[str, Stage]:
    """The R1 recipe at this preset's sizes: {name: Stage}, in the order the stages run."""
    def rl(name, steps, weights, lr=None):
        return dataclasses.replace(s.rl, steps=steps, reward_weights=dict(weights),
                                   seed=rl_seed(name, s.seed), lr=s.rl.lr if lr is None else lr)

    student = dataclasses.replace(preset, name=f"{preset.name}-student", n_layer=s.student.n_layer,
                                  n_head=s.student.n_head, n_embd=s.student.n_embd,
                                  pretrain_steps=s.student_pretrain_steps, seed=s.seed)
    sft_cfg = SFTConfig(steps=s.sft_steps, lr=s.sft_lr, batch_size=s.sft_batch, seed=s.seed)
    rows = [
        Stage("base", "pretrain", (), preset),
        Stage("r1_zero", "grpo", ("base",), rl("r1_zero", s.r1_zero_steps, ACCURACY_FORMAT),
              curve=True),
        Stage("r1_zero_consistency", "grpo", ("base",),
              rl("r1_zero_consistency", s.r1_zero_steps, WITH_CONSISTENCY), curve=True, paper=False),
        # R1-Zero's own samples seed R1's cold start (as in the paper); program-written traces
        # are the ablation (cold_start.examples > 0).
        Stage("cold_start_data", "rejection_sampling", ("r1_zero",),
              RejectionConfig(prompts=2 * s.cold_start_traces, k=1, knowledge_examples=0,
                              max_examples=s.cold_start_traces, seed=s.seed)),
        Stage("cold_start", "sft", ("base", "cold_start_data"),
              dataclasses.replace(sft_cfg, steps=s.cold_start_steps,
                                  examples=s.cold_start_program_traces)),
        Stage("r1_reasoning_rl", "grpo", ("cold_start",),
              rl("r1_reasoning_rl", s.reasoning_rl_steps, WITH_CONSISTENCY, s.later_rl_lr)),
        Stage("rejection_sampling", "rejection_sampling", ("r1_reasoning_rl",),
              dataclasses.replace(s.rejection, seed=s.seed)),
        Stage("r1_sft", "sft", ("base", "rejection_sampling"), sft_cfg),
        Stage("r1", "grpo", ("r1_sft",), rl("r1", s.final_rl_steps, WITH_CONSISTENCY, s.later_rl_lr)),
        Stage("student_base", "pretrain", (), student, paper=False),
        Stage("distill", "sft", ("student_base", "rejection_sampling"),
              dataclasses.replace(sft_cfg, steps=s.distill_steps, lr=s.distill_lr)),
        Stage("student_rl", "grpo", ("student_base",),
              rl("student_rl", s.student_rl_steps, ACCURACY_FORMAT), curve=True, paper=False),
        # The fair control: R1-Zero's RL on prompts of the lengths R1's SFT set covers (2-6
        # operations, RL's 2-5 and 6), so that R1 and R1-Zero have seen problems of the same
        # kinds when chapter.fair_comparison sets them side by side. Last, so that every stage
        # above runs exactly as it did before the control was added.
        Stage("r1_zero_same_problems", "grpo", ("base",),
              rl("r1_zero_same_problems", s.r1_zero_steps, ACCURACY_FORMAT), paper=False,
              ops=tuple(s.rejection.ops)),
    ]
    return {stage.name: stage for stage in rows}


# The table of the cpu preset: the graph chapters 3 and 4 read (names, kinds, inputs).
STAGES = tuple(recipe(get_preset("cpu"), SETTINGS["cpu"]))


def stages_of_kind(kind: str, table: dict[str, Stage] | None = None) -> tuple[str, ...]:
    table = recipe(get_preset("cpu"), SETTINGS["cpu"]) if table is None else table
    return tuple(name for name, stage in table.items() if stage.kind == kind)


def students_rewards(weights: dict) -> dict:
    """{name: a hash of its code} for the weighted rewards that are not the course's own (a
    student's function put into REWARDS): a changed body under the same name changes the
    recipe, so the stages it trained are retrained, not reused."""
    out = {}
    for name in sorted(weights):
        function = REWARDS.get(name)
        if function is None or function is COURSE_REWARDS.get(name):
            continue
        try:
            code = inspect.getsource(function)
        except (OSError, TypeError):   # no source (built in a string, say): its compiled code
            code_object = getattr(function, "__code__", None)
            code = repr((code_object.co_code, code_object.co_consts) if code_object else function)
        out[name] = hashlib.sha256(code.encode()).hexdigest()[:16]
    return out


def apply_overrides(preset: Preset, settings: Settings, overrides: dict | None):
    """Split `overrides` into the chapter-wide settings ('test_problems', 'rl.lr') and one
    stage's settings ('r1_zero.lr', 'base.n_embd'); returns (preset, settings, table)."""
    overrides = dict(overrides or {})
    if "seed" in overrides:   # the course-wide seed: the base's too (unless base.seed says otherwise)
        try:
            preset = override(preset, {"seed": overrides["seed"]})
        except OverrideError as err:
            raise OverrideError(f"seed: {err}") from None
    stage_names = set(recipe(preset, settings))
    per_stage = {}
    for key in list(overrides):
        head, _, rest = key.partition(".")
        if head in stage_names and rest:
            per_stage.setdefault(head, {})[rest] = overrides.pop(key)
    preset_name = preset.name
    try:
        preset = override(preset, per_stage.pop("base", {}))
    except SettingError as err:
        raise err.under("base.") from None
    except OverrideError as err:
        raise OverrideError(f"stage base: {err}") from None
    rl_stages = [n for n, stage in recipe(preset, settings).items() if stage.kind == "grpo"]
    refuse_what_the_recipe_sets(overrides, settings, rl_stages)
    try:
        settings = override(settings, overrides)
    except SettingError:
        raise
    except OverrideError as err:
        raise OverrideError(f"{err}; or a stage's setting as <stage>.<key>, stages: "
                            f"{', '.join(sorted(stage_names))}") from None
    # Every setting in its range (setting_ranges.py) before anything is built from them, and
    # every stage's below: a bad value fails here, before the first stage trains.
    context = {"rewards": tuple(REWARDS)}
    check_settings(preset, "base.", context)
    check_settings(settings, "", context)
    table = recipe(preset, settings)
    for name, changes in per_stage.items():
        try:
            table[name] = dataclasses.replace(table[name], settings=override(table[name].settings, changes))
        except SettingError as err:
            raise err.under(f"{name}.") from None
        except OverrideError as err:
            raise OverrideError(f"stage {name}: {err}") from None
    if "r1_zero_same_problems" in table:   # the control follows R1's SFT problems, however set
        table["r1_zero_same_problems"] = dataclasses.replace(
            table["r1_zero_same_problems"], ops=tuple(table["rejection_sampling"].settings.ops))
    context["model_stages"] = tuple(n for n, stage in table.items() if stage.kind not in DATA_KINDS)
    for name, stage in table.items():
        check_settings(stage.settings, f"{name}.", context)
    check_sft_data(table, preset_name)
    return preset, settings, table


# The fields of Settings.rl that the recipe sets for each RL stage itself (`recipe`'s rl()):
# set on `rl` they would do nothing, so they are refused, naming the keys that do work.
RECIPE_SETS = {
    "steps": "the recipe gives each RL stage its own steps: set r1_zero_steps (every R1-Zero run), "
             "reasoning_rl_steps, final_rl_steps or student_rl_steps, or one stage's as "
             "<stage>.steps, e.g. r1_zero.steps={value}",
    "seed": "the recipe seeds each RL stage's prompts itself: set one stage's as <stage>.seed, "
            "e.g. r1_zero.seed={value}",
    "reward_weights": "the recipe gives each RL stage its own reward weights: set one stage's as "
                      "<stage>.reward_weights.<reward>, e.g. r1_zero.{example}",
}


def refuse_what_the_recipe_sets(overrides: dict, settings: Settings, rl_stages) -> None:
    """SettingError for an override of `rl.steps`, `rl.seed` or `rl.reward_weights` (directly,
    or inside a whole new `rl`): the recipe overwrites them, so they would silently do nothing."""
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head != "rl":
            continue
        if rest:
            touched = {rest.partition(".")[0]: (rest, value)}
        elif isinstance(value, dict):
            touched = {k.partition(".")[0]: (k, v) for k, v in value.items()}
        else:   # a whole GRPOConfig or tuple: refused where it differs from today's
            try:
                new = override(settings, {key: value}).rl
            except OverrideError:
                continue   # the override itself reports what is wrong with it
            touched = {f: (f, getattr(new, f)) for f in RECIPE_SETS
                       if getattr(new, f) != getattr(settings.rl, f)}
        for name, (sub, v) in touched.items():
            if name in RECIPE_SETS:
                weight = sub.partition(".")[2]
                example = (f"reward_weights.{weight}={v!r}" if weight
                           else "reward_weights.accuracy=2.0")
                raise SettingError(f"rl.{sub} does nothing: "
                                   + RECIPE_SETS[name].format(value=v, example=example)
                                   + f" (RL stages: {', '.join(rl_stages)})", f"rl.{sub}")


# Presets whose RL stages are too short to write a correct trace (the tiny one of the unit
# tests): rejection sampling of them keeps nothing.
NO_CORRECT_TRACES = {"tiny"}
# The chapter-wide setting that sets a stage's key in `recipe`, where there is one.
SET_BY = {"cold_start.examples": "cold_start_program_traces",
          "rejection_sampling.knowledge_examples": "rejection.knowledge_examples"}


def check_sft_data(table: dict[str, Stage], preset_name: str) -> None:
    """SettingError, before any training, for an SFT stage that would have no data: one with
    examples=0 and no data stage, or (at a preset whose teachers write nothing correct) whose
    data stage would keep nothing and adds no knowledge examples either. (An empty data set
    cannot even be saved and read back: `datasets` fails loading a folder of zero rows.)"""
    for name, stage in table.items():
        if stage.kind != "sft" or stage.settings.examples > 0:
            continue
        if len(stage.inputs) < 2:
            raise SettingError(f"{name}.examples must be >= 1 ({name} has no data stage to train "
                               f"on; > 0 trains on program-written traces), got 0", f"{name}.examples")
        data = table[stage.inputs[1]]
        if (data.kind == "rejection_sampling" and data.settings.knowledge_examples == 0
                and preset_name in NO_CORRECT_TRACES):
            keys = [f"{name}.examples", f"{data.name}.knowledge_examples"]
            hint = "; ".join(f"{SET_BY[k]} sets {k}" for k in keys if k in SET_BY)
            raise SettingError(
                f"{keys[0]} or {keys[1]} must be >= 1 at the {preset_name} preset, got 0 and 0: "
                f"{name} would train on {data.name} alone, the correct traces of "
                f"{data.inputs[0]}, and the {preset_name} preset's {data.inputs[0]} (a few steps of a "
                f"tiny model) writes none" + (f" ({hint})" if hint else ""), keys[0])


# Kinds whose output is a data set, not a model (runner.py runs them as
# kind(pipeline, stage, recipe) -> info).
DATA_KINDS = {"rejection_sampling"}
