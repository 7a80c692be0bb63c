"""The R1 recipe as data: a table of stages, and a pipeline that runs a stage by its kind.

    base (chapter 1) -> r1_zero                       GRPO: accuracy + format
                     -> r1_zero_consistency           the same + consistency (the ablation)
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
settings (a typed dataclass) and, for GRPO, its reward weights. `KINDS` maps a kind to the
function that runs it, so a new method (say PPO) is a new trainer plus a `KINDS` entry and a
table row. Chapters 3 and 4 read the graph, the teacher and the RL stages from this table.

Every stage saves its output with its recipe (settings, world, the fingerprints of its inputs)
and is reused only when today's recipe matches; otherwise it is retrained and one line says
why (`r1_sft: retraining — cold_start changed`). GRPO stages also save their trainer every
few steps and resume mid-run after a crash.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from datasets import concatenate_datasets, load_from_disk

from ch01_what_is_reasoning.experiments import pretrain_base, pretrain_recipe
from ch01_what_is_reasoning.model import GPT
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.training import spent
from course.cache import (
    fingerprint,
    load_cached,
    plain,
    save_cached,
    say_retraining,
    set_aside,
    what_changed,
)
from course.locks import writer_lock
from course.overrides import OverrideError, SettingError, override, valid_keys
from course.runtime import (
    CheckpointError,
    ModelShape,
    Preset,
    atomic_save,
    get_preset,
    load_state,
    pick_device,
    runs_dir,
    seed_everything,
    write_json,
)
from course.setting_ranges import check_settings

from .aha import correction_rates
from .grpo import GRPOConfig, GRPOTrainer
from .rewards import ACCURACY_FORMAT, COURSE_REWARDS, REWARDS, WITH_CONSISTENCY
from .sft import (
    RejectionConfig,
    SFTConfig,
    cold_start_traces,
    knowledge_examples,
    rejection_sample,
    sft,
    to_dataset,
)
from .splits import eval_splits, evaluate_splits, signature
from .tasks import RL_OPS, evaluate, held_out_problems, random_train_problem, rl_prompts

__all__ = ["ACCURACY_FORMAT", "WITH_CONSISTENCY", "Stage", "Settings", "SETTINGS", "KINDS",
           "recipe", "Pipeline", "open_pipeline"]


@dataclass(frozen=True)
class Stage:
    """One row of the recipe."""

    name: str
    kind: str                       # a key of KINDS
    inputs: tuple = ()              # the stages whose output it needs (model first, then data)
    settings: object = None         # Preset, GRPOConfig, SFTConfig or RejectionConfig
    curve: bool = False             # GRPO: score a held-out subset every few steps
    paper: bool = True              # a stage of the R1 paper (False: the course's ablation)


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
# kept so that every number the notebooks quote reproduces.
RL_SEEDS = {"r1_zero": 7, "r1_zero_consistency": 19, "r1_reasoning_rl": 15, "r1": 2, "student_rl": 10}


def recipe(preset: Preset, s: Settings) -> dict[str, Stage]:
    """The R1 recipe at this preset's sizes: {name: Stage}, in the order the stages run."""
    def rl(name, steps, weights, lr=None):
        return dataclasses.replace(s.rl, steps=steps, reward_weights=dict(weights),
                                   seed=RL_SEEDS[name], lr=s.rl.lr if lr is None else lr)

    student = dataclasses.replace(preset, name=f"{preset.name}-student", n_layer=s.student.n_layer,
                                  n_head=s.student.n_head, n_embd=s.student.n_embd,
                                  pretrain_steps=s.student_pretrain_steps)
    sft_cfg = SFTConfig(steps=s.sft_steps, lr=s.sft_lr, batch_size=s.sft_batch)
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
                              max_examples=s.cold_start_traces)),
        Stage("cold_start", "sft", ("base", "cold_start_data"),
              dataclasses.replace(sft_cfg, steps=s.cold_start_steps,
                                  examples=s.cold_start_program_traces)),
        Stage("r1_reasoning_rl", "grpo", ("cold_start",),
              rl("r1_reasoning_rl", s.reasoning_rl_steps, WITH_CONSISTENCY, s.later_rl_lr)),
        Stage("rejection_sampling", "rejection_sampling", ("r1_reasoning_rl",), s.rejection),
        Stage("r1_sft", "sft", ("base", "rejection_sampling"), sft_cfg),
        Stage("r1", "grpo", ("r1_sft",), rl("r1", s.final_rl_steps, WITH_CONSISTENCY, s.later_rl_lr)),
        Stage("student_base", "pretrain", (), student, paper=False),
        Stage("distill", "sft", ("student_base", "rejection_sampling"),
              dataclasses.replace(sft_cfg, steps=s.distill_steps, lr=s.distill_lr)),
        Stage("student_rl", "grpo", ("student_base",),
              rl("student_rl", s.student_rl_steps, ACCURACY_FORMAT), curve=True, paper=False),
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


def open_pipeline(preset: str | None = None, root=None, progress: bool = True, seed: int = 0,
                  overrides: dict | None = None):
    """What every chapter's `run_chapter` starts with: pick the device (printed once), seed
    everything, resolve the preset ('auto' -> the cpu preset's settings) and open the stages."""
    device = pick_device()
    seed_everything(seed)
    return Pipeline(get_preset(preset, device), device, root, progress, overrides=overrides)


def apply_overrides(preset: Preset, settings: Settings, overrides: dict | None):
    """Split `overrides` into the chapter-wide settings ('test_problems', 'rl.lr') and one
    stage's settings ('r1_zero.lr', 'base.n_embd'); returns (preset, settings, table)."""
    overrides = dict(overrides or {})
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
    context["model_stages"] = tuple(n for n, stage in table.items() if stage.kind not in DATA_KINDS)
    for name, stage in table.items():
        check_settings(stage.settings, f"{name}.", context)
    check_sft_data(table, preset_name)
    return preset, settings, table


# The fields of Settings.rl that the recipe sets for each RL stage itself (`recipe`'s rl()):
# set on `rl` they would do nothing, so they are refused, naming the keys that do work.
RECIPE_SETS = {
    "steps": "the recipe gives each RL stage its own steps: set r1_zero_steps (both R1-Zero runs), "
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


class Pipeline:
    """Runs (or loads) the stages; `self.info[stage]` holds what each one measured."""

    def __init__(self, preset: Preset, device, root=None, progress: bool = True,
                 overrides: dict | None = None):
        self.device, self.progress = device, progress
        self.preset, self.settings, self.stages = apply_overrides(preset, SETTINGS[preset.name],
                                                                  overrides)
        self.dir = runs_dir("ch02", root)
        self.base_path = runs_dir("ch01", root) / "base.pt"
        self.tokenizer = CharTokenizer()
        self.test = held_out_problems(self.settings.test_problems)
        self.curve_set = self.test[:: max(1, len(self.test) // self.settings.curve_problems)]
        self.splits = eval_splits(self.test)     # in_distribution, harder, easy, knowledge
        self.info: dict[str, dict] = {}
        self._models: dict[str, torch.nn.Module] = {}

    # ------------------------------------------------------------ the recipe
    def stage(self, name: str) -> Stage:
        if name not in self.stages:
            raise ValueError(f"unknown stage {name!r}: choose one of {tuple(self.stages)}")
        return self.stages[name]

    def of_kind(self, kind: str) -> tuple[str, ...]:
        return stages_of_kind(kind, self.stages)

    def model_stages(self) -> tuple[str, ...]:
        """The stages whose output is a model (not a data set)."""
        return tuple(n for n, s in self.stages.items() if s.kind not in DATA_KINDS)

    def stage_recipe(self, name: str) -> dict:
        """What stage `name` depends on: its kind and settings, the world and its inputs'
        fingerprints (so a change anywhere upstream reaches every stage after it)."""
        stage = self.stage(name)
        if stage.kind == "pretrain":   # the same recipe chapter 1 stores with its base
            return pretrain_recipe(stage.settings, self.tokenizer)
        recipe_ = {"kind": stage.kind, "settings": plain(stage.settings),
                   "inputs": {i: self.fingerprint(i) for i in stage.inputs}}
        if stage.kind == "grpo" and students_rewards(stage.settings.reward_weights):
            recipe_["rewards"] = students_rewards(stage.settings.reward_weights)
        if stage.curve:   # what the stage records as it trains (its curve), not what it trains
            recipe_["curve"] = {"every": self.settings.curve_every,
                                "problems": self.settings.curve_problems}
        return recipe_

    def fingerprint(self, name: str) -> str:
        """What the stages after `name` depend on: its model or data (how often its curve was
        measured changes its own record, not what it hands on)."""
        return fingerprint({k: v for k, v in self.stage_recipe(name).items() if k != "curve"})

    def settings_keys(self) -> list[str]:
        """Every key `overrides` / `--set` accepts."""
        keys = valid_keys(self.settings)
        for name, stage in self.stages.items():
            keys += [f"{name}.{k}" for k in valid_keys(stage.settings)]
        return keys

    # ------------------------------------------------------------ plumbing
    def path(self, stage: str) -> Path:
        """Where a stage's checkpoint lives (chapter 1 owns the base)."""
        return self.base_path if stage == "base" else self.dir / f"{stage}.pt"

    def model(self, stage: str):
        """The model a stage produced: loaded from runs/ if today's recipe made it, else trained."""
        if stage not in self._models:
            self.run(stage)
        return self._models[stage]

    def run(self, name: str) -> dict:
        """Run (or load) one stage; returns what it measured.

        One process at a time checks, trains, scores and saves a stage: all of it happens under
        the stage's writer lock (course.locks), so a second run on this folder
        waits, then loads what the first one saved. Its inputs take their own locks (the graph
        has no cycle, so two runs never wait on each other)."""
        stage = self.stage(name)
        if name in self.info:
            return self.info[name]
        recipe_ = self.stage_recipe(name)
        run_kind = KINDS[stage.kind]
        if stage.kind in DATA_KINDS:   # a data set, not a model: the kind caches (and locks) it
            self.info[name] = run_kind(self, stage, recipe_)
            return self.info[name]
        with writer_lock(self.path(name)):
            model, info = load_cached(self.path(name), recipe_, self.device, name,
                                      self.tokenizer.vocab_size, model_class=GPT)
            trained = model is None
            if trained:
                say_retraining(name, info)
                for parent in stage.inputs:   # trained before the clock starts: not this stage's time
                    self.run(parent)
                start = time.perf_counter()
                model, info = run_kind(self, stage)
                info.update(preset=self.preset.name, stage=name,
                            seconds=time.perf_counter() - start, device=str(self.device),
                            loaded=False)
            if self._score(name, model, info):
                save_cached(self.path(name), model, recipe_,
                            {k: v for k, v in info.items() if k != "loaded"})
            if trained:   # only now is the trainer's state no longer the only copy of the work
                self.state_path(name).unlink(missing_ok=True)
        self._models[name], self.info[name] = model.eval(), info
        return info

    def test_signature(self) -> dict:
        """What `info["eval"]` was measured on: the number of held-out problems and a hash of
        their prompts (a changed `test_problems` changes it)."""
        prompts = "\n".join(p.prompt() for p in self.test)
        return {"problems": len(self.test),
                "sha256": hashlib.sha256(prompts.encode()).hexdigest()[:16]}

    def _score(self, name: str, model, info: dict) -> bool:
        """Measure what `info["eval"]` lacks or measured on other problems: the greedy and
        sampled scores on the test set, and the four splits. True if anything was measured."""
        ev = dict(info.get("eval") or {})
        test = self.test_signature()
        # An evaluation saved before the signature was recorded: the test set is fixed by its
        # size (held_out_problems(n)), so one of the same size was measured on these problems.
        saved = ev.get("test", test if ev.get("n_problems") == len(self.test) else None)
        measured = False
        if saved != test:
            splits = ev.get("splits")
            ev = {**self._evaluate(model), **({"splits": splits} if splits else {})}
            measured = True
        ev["test"] = test
        if ev.get("splits", {}).get("signature") != signature(self.splits):
            ev["splits"] = evaluate_splits(model, self.tokenizer, self.splits,
                                           progress=self.progress, desc=f"{name}: scoring 4 splits")
            measured = True
        info["eval"] = ev
        return measured

    def run_all(self) -> dict:
        for name in self.stages:
            self.run(name)
        return self.info

    def _evaluate(self, model) -> dict:
        result = evaluate(model, self.tokenizer, self.test)
        # R1-Zero sampled its traces at temperature 1: mixing shows there even when greedy
        # decoding (always the most likely digit) hides it.
        sampled = evaluate(model, self.tokenizer, self.test, temperature=1.0,
                           generator=torch.Generator().manual_seed(0))
        result["sampled"] = sampled
        return result

    def copy_of(self, stage: str):
        return copy.deepcopy(self.model(stage)).train()

    # ------------------------------------------------------------ data
    def data_dir(self, stage: str = "rejection_sampling") -> Path:
        return self.dir / f"{stage}_data"

    def state_path(self, stage: str) -> Path:
        """Where a GRPO stage keeps its trainer's state until its checkpoint is saved."""
        return self.dir / f"{stage}.state.pt"

    def sft_data(self, stage: str = "rejection_sampling"):
        """The R1 SFT set (a `datasets.Dataset` in memory: prompt, completion, kind), as this
        pipeline's recipe of `stage` makes it. It is read under the stage's writer lock and
        checked against its recipe file and content hash: data that another run on this folder
        has replaced since (made by another recipe) is made again, never trained on."""
        self.run(stage)
        recipe_ = self.stage_recipe(stage)
        with writer_lock(self.data_dir(stage)):
            meta, data = saved_data(self, stage, recipe_)
            if meta is None:
                if what_changed(_saved_recipe(self, stage), recipe_) is not None \
                        and self.data_dir(stage).exists():
                    print(f"{stage}: another run on this runs folder replaced "
                          f"{self.data_dir(stage).name} with data of another recipe; making "
                          f"this run's again")
                else:
                    say_retraining(stage, data)
                self.info.pop(stage, None)
                self.run(stage)   # the lock is ours already (it is reentrant)
                meta, data = saved_data(self, stage, recipe_)
                if meta is None:
                    raise RuntimeError(f"{stage}: its data was made again but cannot be read "
                                       f"back ({data})")
        return data

    def sft_pairs(self, stage: str = "rejection_sampling"):
        data = self.sft_data(stage)
        return list(zip(data["prompt"], data["completion"]))


# ---------------------------------------------------------------- the stage kinds
def run_pretrain(pipeline: Pipeline, stage: Stage):
    model, _, info = pretrain_base(stage.settings, pipeline.device, None, progress=pipeline.progress,
                                   name=stage.name)
    return model, {k: v for k, v in info.items() if k not in ("loaded", "recipe")}


def run_grpo(pipeline: Pipeline, stage: Stage):
    cfg, name = stage.settings, stage.name
    # every step's log also counts the self-corrections (the aha moment, results.json's curves)
    trainer = GRPOTrainer(pipeline.copy_of(stage.inputs[0]), pipeline.tokenizer, rl_prompts, cfg,
                          text_stats=[correction_rates])
    state_path, points = pipeline.state_path(name), []
    fp = pipeline.fingerprint(name)
    if state_path.exists():   # a run that was interrupted: resume it if the recipe is the same
        try:
            state = load_state(state_path)
            if state.get("fingerprint") == fp:
                trainer.load_state_dict(state["trainer"])
                points = state["curve"]
        except CheckpointError as err:
            print(f"{name}: not resuming — cannot use {state_path.name}: {err.reason} "
                  f"(moved to {set_aside(state_path).name})")
    every = pipeline.settings.curve_every

    def measure():
        if stage.curve:
            points.append({"step": trainer.step,
                           **evaluate(trainer.model, pipeline.tokenizer, pipeline.curve_set)})

    def after_step(trainer, stats):
        if trainer.step % every == 0 or trainer.step == cfg.steps:
            measure()
        # The last step is saved too: until Pipeline.run has saved the checkpoint (after the
        # four splits are scored), this file is the only copy of the finished training.
        if trainer.step % pipeline.settings.save_every == 0 or trainer.step == cfg.steps:
            atomic_save({"fingerprint": fp, "trainer": trainer.state_dict(), "curve": points},
                        state_path)

    if not points:
        measure()
    trainer.train(cfg.steps - trainer.step, progress=pipeline.progress, desc=name,
                  callback=after_step)
    # the state file is deleted by Pipeline.run, once the checkpoint is saved
    return trainer.model, {"history": trainer.history, "curve": points,
                           "reward_weights": cfg.reward_weights, "config": dataclasses.asdict(cfg),
                           "spent": trainer.spent()}


def run_sft(pipeline: Pipeline, stage: Stage):
    cfg, trained_on = stage.settings, {}
    if cfg.examples > 0:                  # program-written worked solutions (the cold start)
        pairs = cold_start_traces(cfg.examples, seed=cfg.seed)
    elif len(stage.inputs) > 1:           # data written by an earlier stage
        data = pipeline.sft_data(stage.inputs[1])   # in memory, checked against its recipe
        pairs = list(zip(data["prompt"], data["completion"]))
        trained_on = {"data": {"stage": stage.inputs[1], "content_sha256": data_hash(data)}}
        if not pairs:
            raise ValueError(f"SFT stage {stage.name!r}: {stage.inputs[1]!r} kept no example (its "
                             f"teacher wrote no correct, well-formed, one-script trace): train the "
                             f"teacher longer, or set {stage.name}.examples > 0 for program-written "
                             f"traces")
    else:
        raise ValueError(f"SFT stage {stage.name!r} has no data: give it a data stage as its second "
                         f"input, or set {stage.name}.examples > 0 for program-written traces")
    model = pipeline.copy_of(stage.inputs[0])
    result = sft(model, pairs, pipeline.tokenizer, steps=cfg.steps, batch_size=cfg.batch_size,
                 lr=cfg.lr, seed=cfg.seed, desc=stage.name, progress=pipeline.progress)
    return model, {"history": result.history, "tokens": result.tokens, "examples": len(pairs),
                   "spent": spent(model.num_params(), trained_tokens=result.tokens), **trained_on}


def run_rejection_sampling(pipeline: Pipeline, stage: Stage, recipe_: dict) -> dict:
    """Sample the teacher (the stage's input), keep what is right and clean, add the knowledge
    set, and save it as a `datasets.Dataset` next to a JSON file with the recipe and a hash of
    the data's content. Checked, made and saved under the data's writer lock; the data is
    written first (to a temporary folder, renamed into place), its recipe last."""
    cfg, name = stage.settings, stage.name
    meta_path, data_dir = pipeline.dir / f"{name}.json", pipeline.data_dir(name)
    with writer_lock(data_dir):
        meta, reason = saved_data(pipeline, name, recipe_)
        if meta is not None:
            return {**meta, "loaded": True}
        say_retraining(name, reason)
        teacher_name = stage.inputs[0]
        teacher = pipeline.model(teacher_name)
        start = time.perf_counter()
        rng = random.Random(f"rejection-sampling-{name}")
        problems = [random_train_problem(rng, ops=cfg.ops) for _ in range(cfg.prompts)]
        sampled = rejection_sample(teacher, pipeline.tokenizer, problems, k=cfg.k,
                                   temperature=cfg.temperature,
                                   require_consistent=cfg.require_consistent,
                                   progress=pipeline.progress)
        reasoning = to_dataset(sampled.pop("kept")[: cfg.max_examples or None], "reasoning")
        knowledge = to_dataset(knowledge_examples(cfg.knowledge_examples), "knowledge")
        data = concatenate_datasets([reasoning, knowledge]).shuffle(seed=0)
        save_data(data, data_dir)
        meta = {"preset": pipeline.preset.name, **sampled, "reasoning_examples": len(reasoning),
                "knowledge_examples": len(knowledge), "seconds": time.perf_counter() - start,
                "device": str(pipeline.device), "teacher": teacher_name,
                "spent": spent(teacher.num_params(), prompt_tokens=sampled["prompt_tokens"],
                               generated_tokens=sampled["generated_tokens"]),
                "content_sha256": data_hash(data),
                "recipe": plain(recipe_), "fingerprint": fingerprint(recipe_)}
        write_json(meta_path, meta)   # last: the recipe vouches for the data saved before it
    return {**meta, "loaded": False}


DATA_COLUMNS = ("prompt", "completion", "kind")


def data_hash(data) -> str:
    """sha256 of a data set's content: its prompt, completion and kind columns, in order."""
    digest = hashlib.sha256()
    for column in DATA_COLUMNS:
        digest.update(json.dumps([column, list(data[column])], ensure_ascii=False).encode())
    return digest.hexdigest()


def save_data(data, data_dir: Path) -> None:
    """Save `data` to a temporary folder next to `data_dir`, then rename it into place: a run
    stopped at any moment leaves the old data, the new data or none, never half of one. The
    caller holds the data's writer lock (leftovers of stopped runs are cleared here)."""
    parent = data_dir.parent
    for leftover in parent.glob(f".{data_dir.name}.*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
    new = Path(tempfile.mkdtemp(dir=parent, prefix=f".{data_dir.name}.", suffix=".partial"))
    old = None
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar for a one-second save is noise
    try:
        data.save_to_disk(str(new))
        if data_dir.exists() or data_dir.is_symlink():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{data_dir.name}.", suffix=".partial"))
            data_dir.rename(old / data_dir.name)
        new.rename(data_dir)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def load_data(data_dir: Path):
    """A data stage's saved `datasets.Dataset`, read into memory. One with no rows is saved by
    `datasets` with no Arrow file, which `load_from_disk` cannot read back: built from its
    features here."""
    state = json.loads((data_dir / "state.json").read_text())
    if isinstance(state, dict) and state.get("_data_files") == []:
        info = json.loads((data_dir / "dataset_info.json").read_text())
        features = datasets.Features.from_dict(info["features"])
        return datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    return load_from_disk(str(data_dir), keep_in_memory=True)


def _set_aside_folder(path: Path) -> str:
    """Move a damaged data folder out of the way (kept as <name>.damaged); returns that name."""
    aside = path.with_name(path.name + ".damaged")
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside)
    elif aside.exists() or aside.is_symlink():
        aside.unlink()
    path.replace(aside)
    return aside.name


def _error_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _saved_recipe(pipeline: Pipeline, name: str):
    """The recipe a data stage's JSON file records (None if there is none or it is unreadable)."""
    try:
        meta = json.loads((pipeline.dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("recipe") if isinstance(meta, dict) else None


def saved_data(pipeline: Pipeline, name: str, recipe_: dict):
    """(meta, data) of data stage `name` as saved in runs/, if `recipe_` made it and the data is
    the content its JSON file records (data in memory), else (None, why not). Data whose recipe
    is missing or does not match its content, and a damaged data folder, are moved aside
    (`.damaged`; the reason says so). The caller holds the data's writer lock."""
    meta_path, data_dir = pipeline.dir / f"{name}.json", pipeline.data_dir(name)
    if not meta_path.exists() and not data_dir.exists():
        return None, "not trained yet"
    if not meta_path.exists():
        return None, (f"{data_dir.name} has no recipe ({meta_path.name} is missing: a run "
                      f"stopped before writing it) (moved to {_set_aside_folder(data_dir)})")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("recipe", {}), dict):
            raise ValueError("not a recipe file of this course")
    except (OSError, ValueError) as err:
        moved = [set_aside(meta_path).name]
        if data_dir.exists():
            moved.append(_set_aside_folder(data_dir))
        return None, (f"cannot use {meta_path.name}: it is damaged ({_error_line(err)}) "
                      f"(moved to {' and '.join(moved)})")
    reason = what_changed(meta.get("recipe"), recipe_)
    if reason is not None:
        return None, reason
    if not data_dir.exists():
        return None, (f"its data {data_dir.name} is missing (a run stopped while replacing it, "
                      f"or it was deleted) (moved {meta_path.name} to {set_aside(meta_path).name})")
    if not meta.get("content_sha256"):
        return None, (f"{meta_path.name} records no hash of its data's content (an older version "
                      f"of the course wrote it)")
    try:
        data = load_data(data_dir)
        content = data_hash(data)
    except Exception as err:   # a missing or damaged Arrow file, a foreign folder, ...
        return None, (f"cannot use {data_dir.name}: it is damaged or incomplete "
                      f"({_error_line(err)}) (moved to {_set_aside_folder(data_dir)})")
    if content != meta["content_sha256"]:
        return None, (f"cannot use {data_dir.name}: its content is not the data {meta_path.name} "
                      f"describes (a run stopped after saving new data, before its recipe) "
                      f"(moved to {_set_aside_folder(data_dir)} and {set_aside(meta_path).name})")
    return meta, data


# kind -> the function that runs a stage of that kind. A new method is one more entry here
# (and rows of that kind in `recipe`).
KINDS = {"pretrain": run_pretrain, "grpo": run_grpo, "sft": run_sft,
         "rejection_sampling": run_rejection_sampling}
# Kinds whose output is a data set: run as kind(pipeline, stage, recipe) -> info.
DATA_KINDS = {"rejection_sampling"}
