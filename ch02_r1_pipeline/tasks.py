"""What chapter 2 trains on and tests on: RL prompts from the training split, and one fixed
held-out test set that every stage of the pipeline is scored on (greedy, free style: the
model decides itself whether to think)."""

from __future__ import annotations

import random

from ch01_what_is_reasoning.arithmetic import is_held_out, random_problem, sample_problems
from ch01_what_is_reasoning.evaluation import answer_problems

from .rewards import consistency_reward, is_mixed

RL_OPS = (2, 3, 4, 5)         # RL prompts: problems where thinking can pay
TEST_OPS = (3, 4, 5)          # the test set: problems where direct answers mostly fail
PERSIAN_SHARE = 0.3           # as in the pretraining corpus


def random_train_problem(rng: random.Random, ops=RL_OPS):
    """A training-split problem (never a held-out one), in Persian digits 30% of the time."""
    while True:
        script = "persian" if rng.random() < PERSIAN_SHARE else "latin"
        problem = random_problem(rng, rng.choice(ops), script)
        if not is_held_out(problem):
            return problem


def rl_prompts(rng: random.Random, n: int, ops=RL_OPS) -> list[tuple[str, int]]:
    """`n` (prompt, answer) pairs for GRPO of `ops` operations: the `sample_prompts` the
    trainer asks for."""
    return [(p.prompt(), p.answer) for p in (random_train_problem(rng, ops) for _ in range(n))]


def held_out_problems(n: int, seed: int = 3) -> list:
    """`n` held-out problems, split evenly over TEST_OPS, PERSIAN_SHARE of them in Persian."""
    problems = []
    for i, n_ops in enumerate(TEST_OPS):
        count = n // len(TEST_OPS) + (i < n % len(TEST_OPS))
        level = sample_problems(count, n_ops, split="test", seed=seed)
        n_persian = round(count * PERSIAN_SHARE)
        problems += [p.with_script("persian") for p in level[:n_persian]] + level[n_persian:]
    return problems


def evaluate(model, tokenizer, problems, **kw) -> dict:
    """Greedy, free style. Fractions in [0, 1]; `mixing_rate` = share of all answers whose
    thinking mixes the two digit scripts."""
    a = answer_problems(model, tokenizer, problems, "free", **kw)
    prompts = [p.prompt() for p in problems]
    return {"accuracy": a.accuracy, "format_rate": a.format_rate,
            "mean_response_tokens": a.mean_tokens,
            "mixing_rate": sum(map(is_mixed, a.completions)) / max(1, len(problems)),
            "consistency": sum(consistency_reward(a.completions, prompts=prompts))
            / max(1, len(problems)),
            "thinking_rate": sum(bool(v.thinking) for v in a.verdicts) / max(1, len(problems)),
            "n_problems": len(problems)}
