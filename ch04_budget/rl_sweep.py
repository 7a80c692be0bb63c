"""TinyZero at toy scale: how small can pure RL go?

The same pure-RL recipe (chapter 2's R1-Zero GRPO: accuracy + format rewards, same steps and
learning rate) is applied to pretrained models of several sizes. RL only amplifies what a
model can already sometimes do, so below some size it has nothing to amplify: TinyZero's 0.5B
model "guesses a solution and stops" while 1.5B learns to search.

Chapter 2 already trained two points (the student and the base, each with its R1-Zero run);
this module adds sizes in between with the same recipe.
"""

from __future__ import annotations

import copy
import dataclasses
import time

from ch01_what_is_reasoning.experiments import pretrain_base
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer
from ch02_r1_pipeline.tasks import evaluate, rl_prompts
from ch03_four_methods.compute import training_flops
from ch03_four_methods.training_costs import spent_flops
from course.runtime import ModelShape


def pure_rl(model, tokenizer, test, config: GRPOConfig, progress: bool = False) -> dict:
    """R1-Zero's recipe (its stage's GRPOConfig: rewards, steps, learning rate) on a copy of
    `model`: greedy held-out accuracy before and after, and what it cost."""
    before = evaluate(model, tokenizer, test)
    trainer = GRPOTrainer(copy.deepcopy(model).train(), tokenizer, rl_prompts, config)
    start = time.perf_counter()
    trainer.train(progress=progress, desc=f"pure RL ({model.num_params():,} params)")
    seconds = time.perf_counter() - start
    after = evaluate(trainer.model.eval(), tokenizer, test)
    return {"params": model.num_params(), "accuracy_before": before["accuracy"],
            "accuracy_after": after["accuracy"], "tokens_before": before["mean_response_tokens"],
            "tokens_after": after["mean_response_tokens"], "rl_seconds": seconds,
            "rl_flops": spent_flops(trainer.spent()),
            # the rollouts' tokens (prompts and generated), as this key has always meant
            "rl_tokens": trainer.spent()["prompt_tokens"] + trainer.spent()["generated_tokens"]}


def pretrained(preset, shape: ModelShape, steps: int, device, checkpoint=None, progress: bool = False):
    """A base model of another shape, pretrained as chapter 1's base is but for `steps` steps;
    loaded from `checkpoint` when today's settings made it. Returns (model, info)."""
    sized = dataclasses.replace(preset, name=f"{preset.name}-{shape.n_layer}x{shape.n_embd}",
                                n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd,
                                pretrain_steps=steps)
    model, _, info = pretrain_base(sized, device, checkpoint, progress=progress,
                                   name=f"base {shape.n_layer}x{shape.n_embd}")
    info["pretrain_flops"] = training_flops(model.num_params(), info["tokens"])
    return model, info
