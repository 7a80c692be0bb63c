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
from math import comb, isnan

from ch01_what_is_reasoning.verifier import verify


def majority_vote(answers: list[int | None]) -> int | None:
    """The most common answer; ties go to the one seen first. None (no answer) never votes,
    nor does a float NaN (it equals nothing, not even itself, so it cannot gather votes)."""
    votes = Counter()
    for a in answers:
        if a is None or (isinstance(a, float) and isnan(a)):
            continue
        try:
            votes[a] += 1
        except TypeError:  # unhashable: a list or dict is not an answer
            raise TypeError(f"answers must be numbers or None (e.g. verify(c).answer), got "
                            f"{type(a).__name__} {a!r:.60}") from None
    if not votes:
        return None
    # Counter keeps first-seen order and max() returns the first maximum: ties -> first seen.
    return max(votes, key=votes.__getitem__)


def best_of_n(completions: list[str], scores: list[float]) -> int:
    """The index of the best-scored completion.

    Ties (common with a rule-based scorer: many samples score 1.0) go to the completion whose
    answer has the most votes among all completions, then to the first one. A NaN score (a
    scorer that failed) counts as the worst score: it is never chosen over a number, and when
    every score is NaN they all tie, so the tie rule above picks.
    """
    if not completions or len(completions) != len(scores):
        raise ValueError(f"need as many scores as completions, at least one: got {len(completions)} "
                         f"completions and {len(scores)} scores")
    ranks = []  # (is a number, score): every NaN ranks below every number, even -inf
    for i, s in enumerate(scores):
        try:
            s = float(s)
        except (TypeError, ValueError):
            raise TypeError(f"score {i} is {s!r:.60}: scores must be numbers") from None
        ranks.append((0, 0.0) if isnan(s) else (1, s))  # NaN compares False to everything
    answers = [verify(c).answer for c in completions]
    votes = Counter(a for a in answers if a is not None)
    best = max(ranks)
    tied = [i for i, r in enumerate(ranks) if r == best]
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
