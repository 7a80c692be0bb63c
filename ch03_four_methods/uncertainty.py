"""How sure is a measured accuracy? Its interval, its spread over seeds, and how many problems it
takes to tell two methods apart.

An accuracy on n problems is a count of successes, so it carries the noise of a coin tossed n
times; a sampled answer adds the noise of the sampler's seed. "A Sober Look at Progress in
Language Model Reasoning" (Hochlehnert et al., 2025) found that seeds, hardware and evaluation
settings move published reasoning scores by several points, often more than the gains claimed.
"""

from __future__ import annotations

import math
from statistics import NormalDist, mean, pstdev

import torch

from ch01_what_is_reasoning.evaluation import answer_problems

from .voting import majority_vote


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The range of true accuracies under which `correct` of `n` is unsurprising (Wilson, 1927).
    Unlike p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and does not shrink to nothing at 0 or 1."""
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n > 0, got correct={correct!r}, n={n!r}")
    z = _z(confidence)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 or n correct the bound is exactly 0 or 1; floating point would leave a crumb.
    return (0.0 if correct == 0 else centre - half), (1.0 if correct == n else centre + half)


def problems_to_detect(difference: float, accuracy: float, confidence: float = 0.95,
                       power: float = 0.8) -> int:
    """Problems each of two methods must answer (different problems, one answer each) for a
    two-sided test at `confidence` to notice a true `difference` in accuracy, `power` of the
    time, around `accuracy` (the normal approximation for two proportions)."""
    if not 0 < difference < 1 or not 0 < accuracy < 1:
        raise ValueError(f"difference and accuracy must be in (0, 1), got {difference!r}, {accuracy!r}")
    z_power = NormalDist().inv_cdf(power)
    variance = 2 * accuracy * (1 - accuracy)
    return math.ceil((_z(confidence) + z_power) ** 2 * variance / difference ** 2)


def sampled_accuracies(model, tokenizer, problems, seed: int, votes: int,
                       temperature: float = 1.0) -> dict:
    """One sampler seed: `votes` free answers per problem at `temperature`. Returns the accuracy
    of the first sample alone (pass@1) and of the majority over all `votes` samples."""
    repeated = [p for p in problems for _ in range(votes)]
    answers = answer_problems(model, tokenizer, repeated, "free", temperature=temperature,
                              generator=torch.Generator().manual_seed(seed))
    first = right = 0
    for i, problem in enumerate(problems):
        group = answers.verdicts[i * votes:(i + 1) * votes]
        first += group[0].correct
        right += majority_vote([v.answer for v in group]) == problem.answer
    return {"pass1": first / len(problems), f"majority@{votes}": right / len(problems)}


def seed_spread(values: list[float]) -> dict:
    """Mean, population standard deviation, min and max of one number measured under several seeds."""
    return {"mean": mean(values), "std": pstdev(values), "min": min(values), "max": max(values)}
