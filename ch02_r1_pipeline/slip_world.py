"""The aha moment in miniature: R1-Zero's RL on a world where drafts come with slips.

In this world's own traces a step is almost never wrong once the model thinks, and where it
is (at temperature 1), RL removes the slip by sharpening the step rather than by learning to
re-check it: the "wait" rate falls during R1-Zero. So this world plants the slips. Every RL
prompt arrives with its thinking already started, and the last step written there is wrong
(`(3+4)*2-5? <think>(3+4)*2-5 = 8*2-5`). The model goes on from there. Going on as if the
step were right ends in a wrong answer; writing ' wait ' and redoing the step can end in a
right one. The base does that rarely (its corpus has a few corrected traces); GRPO is
rewarded for correct answers only and can amplify it.

The rewards and the logs read the whole thinking (the planted start and the continuation);
the gradient touches only the tokens the model wrote (the planted start is prompt).
"""

from __future__ import annotations

import dataclasses
import random
import time

from ch01_what_is_reasoning.arithmetic import THINK, WAIT, trace_text
from ch01_what_is_reasoning.model import GPT
from ch01_what_is_reasoning.verifier import verify
from course.cache import load_cached, plain, save_cached, say_retraining
from course.locks import writer_lock

from .aha import correction_rates, read_corrections
from .grpo import GRPOTrainer
from .recipe import SEED_STRIDE, students_rewards
from .tasks import random_train_problem


def planted_prefix(problem, rng: random.Random) -> str:
    """The start of a thinking block whose last written step is wrong: `<think>expr = ... = wrong`."""
    if problem.n_ops < 1:
        raise ValueError("a planted error needs a problem with at least one operation")
    journey = trace_text(problem, rng, correction=True)
    return THINK + journey[: journey.index(WAIT)]


def slip_prompts(rng: random.Random, n: int) -> list[tuple[str, int]]:
    """`n` (prompt, answer) pairs: a training problem, its thinking started with a planted slip."""
    problems = [random_train_problem(rng) for _ in range(n)]
    return [(p.prompt() + planted_prefix(p, rng), p.answer) for p in problems]


def thinking_start(prompt: str) -> str:
    """The part of a prompt that is already thinking (from `<think>` on), else ''."""
    i = prompt.find(THINK)
    return prompt[i:] if i >= 0 else ""


class SlipTrainer(GRPOTrainer):
    """GRPO on prompts whose thinking has begun: rewards and logs see the planted start and
    the continuation together, so a correct answer after a ' wait ' counts as one. Each step's
    log holds its self-correction counts (aha.correction_rates), unless `text_stats` says else."""

    def __init__(self, *args, text_stats=(correction_rates,), **kwargs):
        super().__init__(*args, text_stats=text_stats, **kwargs)

    def rollouts(self, prompts: list[str]):
        prompt_ids, completion_ids, texts, finished = super().rollouts(prompts)
        self.last_prompts = [p for p in prompts for _ in range(self.config.group_size)]
        starts = [thinking_start(p) for p in self.last_prompts]
        self.last_texts = [s + t for s, t in zip(starts, texts)]
        return prompt_ids, completion_ids, self.last_texts, finished


def run_aha(pipeline) -> dict:
    """R1-Zero's RL from the base on the slip world (`pipeline.settings.aha_rl`), cached in
    runs/ch02/aha.pt with its recipe like every stage. Returns its info: the rollout `history`
    (with self-correction rates), `seconds`, `spent` and up to three `examples` from the last
    10 steps that fixed their slip with one ' wait ' and answered right."""
    if "aha" in pipeline.info:
        return pipeline.info["aha"]
    settings, path = pipeline.settings, pipeline.dir / "aha.pt"
    # the course seed moves its prompt stream like every RL stage's (seed 0: aha_rl.seed itself)
    cfg = dataclasses.replace(settings.aha_rl, seed=settings.aha_rl.seed + SEED_STRIDE * settings.seed)
    recipe = {"kind": "slip_grpo", "settings": plain(cfg),
              "inputs": {"base": pipeline.fingerprint("base")}}
    if students_rewards(cfg.reward_weights):   # a student's reward: its code, not just its name
        recipe["rewards"] = students_rewards(cfg.reward_weights)
    with writer_lock(path):   # one writer of aha.pt: a second run waits, then loads it
        model, info = load_cached(path, recipe, pipeline.device, "aha",
                                  pipeline.tokenizer.vocab_size, model_class=GPT)
        if model is not None:
            pipeline.info["aha"] = info
            return info
        say_retraining("aha", info)
        model, info = _train_aha(pipeline, cfg)
        save_cached(path, model, recipe, info)
    pipeline.info["aha"] = {**info, "loaded": False}
    return pipeline.info["aha"]


def _train_aha(pipeline, cfg):
    """run_aha's training (the caller holds aha.pt's lock): (model, info)."""
    base = pipeline.model("base")
    answers = {}

    def prompts(rng, n):   # slip_prompts, remembering each prompt's answer for the examples
        batch = slip_prompts(rng, n)
        answers.update(batch)
        return batch

    trainer = SlipTrainer(pipeline.copy_of("base"), pipeline.tokenizer, prompts, cfg)
    examples = {}

    def keep_examples(trainer, stats):
        # from the last 10 steps: traces that fixed their slip with one ' wait ' and ended
        # right, one per prompt
        if trainer.step > cfg.steps - 10:
            for p, t in zip(trainer.last_prompts, trainer.last_texts):
                read = read_corrections(t)
                if read.corrections == read.productive == 1 and verify(t, answers[p]).correct:
                    examples[p] = t

    start = time.perf_counter()
    trainer.train(progress=pipeline.progress, desc="aha (slip world)", callback=keep_examples)
    info = {"stage": "aha", "history": trainer.history, "seconds": time.perf_counter() - start,
            "spent": trainer.spent(), "config": dataclasses.asdict(cfg),
            "examples": list(examples.values())[-3:],
            "params": base.num_params()}
    return trainer.model, info
