"""Inference-time scaling: accuracy as a function of the number of samples N.

Sample a pool of N_max completions per problem once, then read every curve off the same pool:
the first N samples give majority vote and verifier best-of-N at N, and all N_max samples
give the unbiased pass@N. Sampling once keeps the curves comparable (same samples) and cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.evaluation import answer
from ch01_what_is_reasoning.training import PROGRESS_SECONDS
from ch01_what_is_reasoning.verifier import verify

from .step_verifier import step_score
from .voting import best_of_n, majority_vote, pass_at_k

DEFAULT_NS = (1, 2, 4, 8, 16)


@dataclass
class SamplePool:
    prompts: list[str]
    expected: list[int]
    completions: list[list[str]]   # completions[i][j]: sample j of problem i
    tokens: list[list[int]]        # generated tokens of that sample, end token included
    seconds: float

    @property
    def n_samples(self) -> int:
        return len(self.completions[0]) if self.completions else 0

    @property
    def total_tokens(self) -> int:
        return sum(map(sum, self.tokens))


def sample_pool(model, tokenizer, problems, n: int, *, temperature: float = 1.0, seed: int = 0,
                max_new_tokens: int | None = None, batch_size: int = 512,
                progress: bool = False) -> SamplePool:
    """`n` free-style samples per problem, in `n` rounds over all problems.

    Round j gives sample j of every problem, so the first N samples of the pool are what a run
    with N samples would have drawn. One seeded generator drives every round: same seed, same
    pool.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    prompts, expected = [p.prompt() for p in problems], [p.answer for p in problems]
    generator = torch.Generator().manual_seed(seed)
    completions = [[] for _ in problems]
    tokens = [[] for _ in problems]
    start = time.perf_counter()
    for _ in tqdm(range(n), desc="sampling", disable=not progress, leave=False,
                  mininterval=PROGRESS_SECONDS):
        out = answer(model, tokenizer, prompts, expected, "free", temperature=temperature,
                     max_new_tokens=max_new_tokens, generator=generator, batch_size=batch_size)
        for i, (c, t) in enumerate(zip(out.completions, out.tokens)):
            completions[i].append(c)
            tokens[i].append(t)
    return SamplePool(prompts, expected, completions, tokens, time.perf_counter() - start)


def scaling_curves(prompts: list[str], pool: list[list[str]], expected: list[int],
                   ns=DEFAULT_NS, scorer=step_score, progress: bool = False) -> dict[str, dict[int, float]]:
    """Accuracy at each N in `ns` for majority vote, verifier best-of-N and pass@N.

    `scorer(prompt, completion)` ranks samples for best-of-N; it never sees `expected`, which
    is used only to grade the chosen answer.
    """
    if not len(prompts) == len(pool) == len(expected):
        raise ValueError(f"{len(prompts)} prompts, {len(pool)} pools, {len(expected)} answers")
    n_max = min((len(samples) for samples in pool), default=0)
    if any(not 1 <= n <= n_max for n in ns):
        raise ValueError(f"every N must be in 1..{n_max} (the smallest pool), got {list(ns)}")
    sums = {name: dict.fromkeys(ns, 0.0) for name in ("majority", "best_of_n_verifier", "pass_at_n")}
    rows = zip(prompts, pool, expected)
    for prompt, samples, truth in tqdm(rows, total=len(pool), desc="scoring", disable=not progress,
                                       leave=False, mininterval=PROGRESS_SECONDS):
        answers = [verify(c).answer for c in samples]   # parsed and scored once, sliced per N
        scores = [scorer(prompt, c) for c in samples]
        n_correct = sum(a == truth for a in answers)
        for n in ns:
            sums["majority"][n] += majority_vote(answers[:n]) == truth
            sums["best_of_n_verifier"][n] += answers[best_of_n(samples[:n], scores[:n])] == truth
            sums["pass_at_n"][n] += pass_at_k(len(samples), n_correct, n)
    return {name: {n: total / max(1, len(pool)) for n, total in by_n.items()}
            for name, by_n in sums.items()}
