"""The runner of the R1 recipe (recipe.py): a `Pipeline` runs or loads each stage by its kind.

`KINDS` maps a kind to the function that runs it (pretrain, grpo, sft, rejection_sampling).
`Pipeline.run` trains a stage's inputs first, scores what it made on the held-out set and the
five splits, and saves it. Every stage saves its output with its recipe (settings, world, the
fingerprints of its inputs) and is reused only when today's recipe matches; otherwise it is
retrained and one line says why (`r1_sft: retraining — cold_start changed`). GRPO stages also
save their trainer every few steps and resume mid-run after a crash. The data stages' sets are
saved and read back by stage_data.py.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import random
import time
from pathlib import Path

import torch
from datasets import concatenate_datasets

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
from course.overrides import valid_keys
from course.runtime import (
    CheckpointError,
    Preset,
    atomic_save,
    get_preset,
    load_state,
    pick_device,
    runs_dir,
    seed_everything,
    seeded_name,
    write_json,
)

from .aha import correction_rates
from .grpo import GRPOTrainer
from .recipe import DATA_KINDS, SETTINGS, Stage, apply_overrides, stages_of_kind, students_rewards
from .sft import cold_start_traces, knowledge_examples, rejection_sample, sft, to_dataset
from .splits import eval_splits, evaluate_splits, signature
from .stage_data import data_hash, save_data, saved_data, saved_recipe
from .tasks import RL_OPS, evaluate, held_out_problems, random_train_problem, rl_prompts

__all__ = ["Pipeline", "open_pipeline", "KINDS", "run_pretrain", "run_grpo", "run_sft",
           "run_rejection_sampling"]


def open_pipeline(preset: str | None = None, root=None, progress: bool = True,
                  overrides: dict | None = None):
    """What every chapter's `run_chapter` starts with: pick the device (printed once), resolve
    the preset ('auto' -> the cpu preset's settings), open the stages and seed everything with
    the course seed (`overrides={"seed": N}`, 0 by default)."""
    device = pick_device()
    pipeline = Pipeline(get_preset(preset, device), device, root, progress, overrides=overrides)
    seed_everything(pipeline.settings.seed)
    return pipeline


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
        self.splits = eval_splits(self.test)     # in_distribution, harder, easy, knowledge, unseen
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
        if stage.kind == "grpo" and tuple(stage.ops) != RL_OPS:   # (RL's own: the first edition's recipe)
            recipe_["prompt_ops"] = list(stage.ops)
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
        sampled scores on the test set, and the five splits. True if anything was measured."""
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
        seed = self.settings.seed
        if ev.get("splits", {}).get("signature") != signature(self.splits, seed=seed):
            ev["splits"] = evaluate_splits(model, self.tokenizer, self.splits, seed=seed,
                                           progress=self.progress, desc=f"{name}: scoring 5 splits")
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
                           generator=torch.Generator().manual_seed(self.settings.seed))
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
                if what_changed(saved_recipe(self, stage), recipe_) is not None \
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
    prompts = functools.partial(rl_prompts, ops=tuple(stage.ops))
    trainer = GRPOTrainer(pipeline.copy_of(stage.inputs[0]), pipeline.tokenizer, prompts, cfg,
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
        # five splits are scored), this file is the only copy of the finished training.
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
        rng = random.Random(seeded_name(f"rejection-sampling-{name}", cfg.seed))
        problems = [random_train_problem(rng, ops=cfg.ops) for _ in range(cfg.prompts)]
        sampled = rejection_sample(teacher, pipeline.tokenizer, problems, k=cfg.k,
                                   temperature=cfg.temperature,
                                   require_consistent=cfg.require_consistent, seed=cfg.seed,
                                   progress=pipeline.progress)
        reasoning = to_dataset(sampled.pop("kept")[: cfg.max_examples or None], "reasoning")
        knowledge = to_dataset(knowledge_examples(cfg.knowledge_examples, seed=cfg.seed), "knowledge")
        data = concatenate_datasets([reasoning, knowledge]).shuffle(seed=cfg.seed)
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


# kind -> the function that runs a stage of that kind. A new method is one more entry here
# (and rows of that kind in `recipe`).
KINDS = {"pretrain": run_pretrain, "grpo": run_grpo, "sft": run_sft,
         "rejection_sampling": run_rejection_sampling}
