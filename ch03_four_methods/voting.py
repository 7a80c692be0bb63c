"""Turning N samples into one answer: majority vote, best-of-N, and pass@k.

- majority vote (self-consistency, Wang et al. 2022): sample N reasoning paths, answer with
  the most common final answer. Needs no verifier, only answers that can be compared.
- best-of-N: score every sample (here with the step verifier) and keep the best one.
- pass@k: the chance that at least one of k samples is right. It is not a way to *answer*
  (it needs the answer key to know which sample to pick); it is the ceiling the two above
  could reach with a perfect selector.
"""

from __future__ import annotations

from collections import Counter
from math import comb

from ch01_what_is_reasoning.verifier import verify


def majority_vote(answers: list[int | None]) -> int | None:
    """The most common answer; ties go to the one seen first. None (no answer) never votes."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None
    # Counter keeps first-seen order and max() returns the first maximum: ties -> first seen.
    return max(votes, key=votes.__getitem__)


def best_of_n(completions: list[str], scores: list[float]) -> int:
    """The index of the best-scored completion.

    Ties (common with a rule-based scorer: many samples score 1.0) go to the completion whose
    answer has the most votes among all completions, then to the first one.
    """
    if not completions or len(completions) != len(scores):
        raise ValueError(f"need as many scores as completions, at least one: got {len(completions)} "
                         f"completions and {len(scores)} scores")
    answers = [verify(c).answer for c in completions]
    votes = Counter(a for a in answers if a is not None)
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s == best]
    return max(tied, key=lambda i: votes.get(answers[i], 0))  # max() keeps the first on ties


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c are correct (Chen et al. 2021):

        pass@k = 1 - C(n-c, k) / C(n, k)

    the chance that k samples drawn without replacement from the n include a correct one.
    Averaging this over problems has less variance than checking only the first k samples.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:  # every draw of k samples must include a correct one
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)  # exact integers: no overflow, no rounding drift
