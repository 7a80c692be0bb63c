"""The R1 recipe as named stages. Each stage loads its input checkpoint, trains, scores the
result on the held-out test set and saves it (atomically) to runs/ch02/<stage>.pt; a stage
whose checkpoint exists is loaded instead of trained, so a rerun resumes where it stopped.
GRPO stages also save their trainer every few steps and resume mid-run after a crash.

    base (chapter 1) -> r1_zero                       GRPO: accuracy + format
                     -> r1_zero_consistency           the same + consistency (the ablation)
                     -> cold_start                    SFT on a few hundred clean traces
                        -> r1_reasoning_rl            GRPO: accuracy + format + consistency
                           -> rejection_sampling      correct, consistent traces + knowledge
    base ----------------> r1_sft                     SFT on that data (R1 starts from V3-Base)
                           -> r1                      final GRPO
    student_base --------> distill                    SFT of a smaller model on the same data
    student_base --------> student_rl                 the small model with pure RL instead
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from datasets import concatenate_datasets, load_from_disk

from ch01_what_is_reasoning.experiments import pretrain_base
from ch01_what_is_reasoning.runtime import (
    Preset,
    atomic_save,
    get_preset,
    load_checkpoint,
    pick_device,
    runs_dir,
    save_checkpoint,
    seed_everything,
)
from ch01_what_is_reasoning.tokenizer import CharTokenizer

from .grpo import GRPOConfig, GRPOTrainer
from .sft import cold_start_traces, knowledge_examples, rejection_sample, sft, to_dataset
from .tasks import evaluate, held_out_problems, random_train_problem, rl_prompts

STAGES = ("base", "r1_zero", "r1_zero_consistency", "cold_start", "r1_reasoning_rl",
          "rejection_sampling", "r1_sft", "r1", "student_base", "distill", "student_rl")
MODEL_STAGES = tuple(s for s in STAGES if s != "rejection_sampling")

ACCURACY_FORMAT = {"accuracy": 1.0, "format": 0.1}
WITH_CONSISTENCY = {"accuracy": 1.0, "format": 0.1, "consistency": 2.0}


@dataclass
class Settings:
    """Sizes and step counts of every stage, per preset."""

    test_problems: int = 600          # held-out, scored greedily after every stage
    curve_problems: int = 150         # the subset scored during R1-Zero's RL (its curves)
    curve_every: int = 5
    save_every: int = 10              # GRPO trainer checkpoints (resume after a crash)
    rl: dict = field(default_factory=lambda: {"lr": 1e-4, "group_size": 8,
                                              "prompts_per_step": 8, "temperature": 1.0})
    r1_zero_steps: int = 60
    cold_start_traces: int = 300
    cold_start_steps: int = 150
    reasoning_rl_steps: int = 50
    later_rl_lr: float = 2e-5         # RL after SFT: the model already reasons; a big step
                                      # at temperature 1 mostly adds noise (measured: 1e-4
                                      # took the cold-start model from 99.8% to 95.5%)
    rejection_prompts: int = 1000
    rejection_k: int = 2
    knowledge_examples: int = 400
    sft_steps: int = 600
    sft_batch: int = 16
    sft_lr: float = 3e-4               # gentle: SFT of a pretrained model, not training anew
    final_rl_steps: int = 40
    student: tuple = (2, 4, 64)       # n_layer, n_head, n_embd of the distillation student
    student_pretrain_steps: int = 1500
    distill_steps: int = 4000         # the student learns to copy long traces late: measured
    distill_lr: float = 2e-3          # 19% after 2000 steps at 1e-3, 41% at 4000, 53% at 2e-3
    student_rl_steps: int = 60


SETTINGS = {
    # Unit tests: every stage runs in seconds, nothing is learned.
    "tiny": Settings(test_problems=12, curve_problems=6, curve_every=2, save_every=2,
                     rl={"lr": 1e-4, "group_size": 2, "prompts_per_step": 2, "temperature": 1.0,
                         "max_new_tokens": 16},
                     r1_zero_steps=3, cold_start_traces=8, cold_start_steps=3,
                     reasoning_rl_steps=2, rejection_prompts=8, rejection_k=2,
                     knowledge_examples=4, sft_steps=3, sft_batch=4, final_rl_steps=2,
                     student=(1, 1, 16), student_pretrain_steps=5, distill_steps=3,
                     student_rl_steps=2),
    "cpu": Settings(),
    "gpu": Settings(test_problems=2000, curve_problems=400, r1_zero_steps=300,
                    reasoning_rl_steps=150, rejection_prompts=4000, rejection_k=4,
                    knowledge_examples=1500, sft_steps=2000, final_rl_steps=100,
                    student=(2, 4, 96), student_pretrain_steps=4000, distill_steps=6000,
                    student_rl_steps=300,
                    rl={"lr": 1e-4, "group_size": 16, "prompts_per_step": 16,
                        "temperature": 1.0}),
}


def open_pipeline(preset: str | None = None, root=None, progress: bool = True, seed: int = 0):
    """What every chapter's `run_chapter` starts with: pick the device (printed once), seed
    everything, resolve the preset ('auto' -> gpu on CUDA, else cpu) and open the stages."""
    device = pick_device()
    seed_everything(seed)
    return Pipeline(get_preset(preset, device), device, root, progress)


class Pipeline:
    """Runs (or loads) the stages; `self.info[stage]` holds what each one measured."""

    def __init__(self, preset: Preset, device, root=None, progress: bool = True):
        self.preset, self.device, self.progress = preset, device, progress
        self.settings = SETTINGS[preset.name]
        self.dir = runs_dir("ch02", root)
        self.base_path = runs_dir("ch01", root) / "base.pt"
        self.tokenizer = CharTokenizer()
        self.test = held_out_problems(self.settings.test_problems)
        self.curve_set = self.test[:: max(1, len(self.test) // self.settings.curve_problems)]
        self.info: dict[str, dict] = {}
        self._models: dict[str, torch.nn.Module] = {}

    # ------------------------------------------------------------ plumbing
    def path(self, stage: str) -> Path:
        return self.dir / f"{stage}.pt"

    def model(self, stage: str):
        """The model a stage produced: loaded from runs/ch02 if it is there, else trained."""
        if stage not in self._models:
            self.run(stage)
        return self._models[stage]

    def run(self, stage: str) -> dict:
        """Run (or load) one stage; returns what it measured."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}: choose one of {STAGES}")
        if stage in self.info:
            return self.info[stage]
        if stage == "rejection_sampling":
            self.info[stage] = self._rejection_sampling()
            return self.info[stage]
        if stage == "base":
            model, _, info = pretrain_base(self.preset, self.device, self.base_path,
                                           progress=self.progress)
            info = {**info, "eval": self._evaluate(model)}
        else:
            model, info = self._load(stage)
            if model is None:
                start = time.perf_counter()
                model, info = getattr(self, f"_{stage}")()
                info.update(preset=self.preset.name, stage=stage,
                            seconds=time.perf_counter() - start, eval=self._evaluate(model))
                save_checkpoint(self.path(stage), model, info)
                info["loaded"] = False
        self._models[stage], self.info[stage] = model.eval(), info
        return info

    def run_all(self) -> dict:
        for stage in STAGES:
            self.run(stage)
        return self.info

    def _load(self, stage):
        path = self.path(stage)
        if path.exists():
            model, info = load_checkpoint(path, self.device)
            if info.get("preset") == self.preset.name:
                return model, {**info, "loaded": True}
        return None, None

    def _evaluate(self, model) -> dict:
        result = evaluate(model, self.tokenizer, self.test)
        # R1-Zero sampled its traces at temperature 1: mixing shows there even when greedy
        # decoding (always the most likely digit) hides it.
        sampled = evaluate(model, self.tokenizer, self.test, temperature=1.0,
                           generator=torch.Generator().manual_seed(0))
        result["sampled"] = sampled
        return result

    def _copy(self, stage: str):
        return copy.deepcopy(self.model(stage)).train()

    # ------------------------------------------------------------ RL stages
    def _grpo(self, stage: str, start: str, weights: dict, steps: int, curve: bool = False,
              lr: float | None = None):
        rl = {**self.settings.rl, **({"lr": lr} if lr else {})}
        cfg = GRPOConfig(steps=steps, reward_weights=weights, seed=len(stage), **rl)
        trainer = GRPOTrainer(self._copy(start), self.tokenizer, rl_prompts, cfg)
        state_path, points = self.dir / f"{stage}.state.pt", []
        if state_path.exists():
            state = torch.load(state_path, map_location="cpu", weights_only=False)
            if state["preset"] == self.preset.name:
                trainer.load_state_dict(state["trainer"])
                points = state["curve"]
        every = self.settings.curve_every

        def measure():
            if curve:
                points.append({"step": trainer.step,
                               **evaluate(trainer.model, self.tokenizer, self.curve_set)})

        def after_step(trainer, stats):
            if trainer.step % every == 0 or trainer.step == steps:
                measure()
            if trainer.step % self.settings.save_every == 0 and trainer.step < steps:
                atomic_save({"preset": self.preset.name, "trainer": trainer.state_dict(),
                             "curve": points}, state_path)

        if not points:
            measure()
        trainer.train(steps - trainer.step, progress=self.progress, desc=stage,
                      callback=after_step)
        state_path.unlink(missing_ok=True)
        return trainer.model, {"history": trainer.history, "curve": points,
                               "reward_weights": weights, "config": dataclasses.asdict(cfg)}

    def _r1_zero(self):
        return self._grpo("r1_zero", "base", ACCURACY_FORMAT, self.settings.r1_zero_steps,
                          curve=True)

    def _r1_zero_consistency(self):
        return self._grpo("r1_zero_consistency", "base", WITH_CONSISTENCY,
                          self.settings.r1_zero_steps, curve=True)

    def _r1_reasoning_rl(self):
        return self._grpo("r1_reasoning_rl", "cold_start", WITH_CONSISTENCY,
                          self.settings.reasoning_rl_steps, lr=self.settings.later_rl_lr)

    def _r1(self):
        return self._grpo("r1", "r1_sft", WITH_CONSISTENCY, self.settings.final_rl_steps,
                          lr=self.settings.later_rl_lr)

    def _student_rl(self):
        return self._grpo("student_rl", "student_base", ACCURACY_FORMAT,
                          self.settings.student_rl_steps, curve=True)

    # ------------------------------------------------------------ SFT stages
    def _sft(self, start: str, pairs, steps: int, desc: str, lr: float | None = None):
        s = self.settings
        model = self._copy(start)
        result = sft(model, pairs, self.tokenizer, steps=steps, batch_size=s.sft_batch,
                     lr=lr or s.sft_lr, desc=desc, progress=self.progress)
        return model, {"history": result.history, "tokens": result.tokens,
                       "examples": len(pairs)}

    def _cold_start(self):
        s = self.settings
        return self._sft("base", cold_start_traces(s.cold_start_traces), s.cold_start_steps,
                         "cold start")

    def _r1_sft(self):
        return self._sft("base", self.sft_pairs(), self.settings.sft_steps, "R1 SFT")

    def _distill(self):
        s = self.settings
        return self._sft("student_base", self.sft_pairs(), s.distill_steps, "distillation",
                         lr=s.distill_lr)

    def _student_base(self):
        n_layer, n_head, n_embd = self.settings.student
        student = dataclasses.replace(self.preset, name=f"{self.preset.name}-student",
                                      n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                                      pretrain_steps=self.settings.student_pretrain_steps)
        model, _, info = pretrain_base(student, self.device, None, progress=self.progress)
        return model, {k: v for k, v in info.items() if k != "loaded"}

    # ------------------------------------------------------------ data
    def _data_dir(self) -> Path:
        return self.dir / "r1_sft_data"

    def _rejection_sampling(self) -> dict:
        meta_path = self.dir / "r1_sft_data.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("preset") == self.preset.name and self._data_dir().exists():
                return {**meta, "loaded": True}
        s, start = self.settings, time.perf_counter()
        teacher = self.model("r1_reasoning_rl")
        rng = random.Random("rejection-sampling")
        problems = [random_train_problem(rng) for _ in range(s.rejection_prompts)]
        sampled = rejection_sample(teacher, self.tokenizer, problems, k=s.rejection_k,
                                   progress=self.progress)
        reasoning = to_dataset(sampled.pop("kept"), "reasoning")
        knowledge = to_dataset(knowledge_examples(s.knowledge_examples), "knowledge")
        data = concatenate_datasets([reasoning, knowledge]).shuffle(seed=0)
        was_enabled = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # a bar for a one-second save is noise
        data.save_to_disk(str(self._data_dir()))
        if was_enabled:
            datasets.enable_progress_bars()
        meta = {"preset": self.preset.name, **sampled, "reasoning_examples": len(reasoning),
                "knowledge_examples": len(knowledge), "seconds": time.perf_counter() - start}
        meta_path.write_text(json.dumps(meta, indent=2))
        return {**meta, "loaded": False}

    def sft_data(self):
        """The R1 SFT set (a `datasets.Dataset`: prompt, completion, kind)."""
        self.run("rejection_sampling")
        return load_from_disk(str(self._data_dir()))

    def sft_pairs(self):
        data = self.sft_data()
        return list(zip(data["prompt"], data["completion"]))
