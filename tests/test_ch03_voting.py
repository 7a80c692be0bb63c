"""Majority vote, best-of-N and pass@k on examples worked out by hand."""

from __future__ import annotations

from math import comb

import pytest

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
from ch03_four_methods.voting import best_of_n, majority_vote, pass_at_k


def done(answer: int) -> str:
    return f"{THINK}x{END_THINK}{ANSWER}{answer}{END_ANSWER}"


def test_majority_vote():
    assert majority_vote([3, 5, 5, 3, 5]) == 5
    assert majority_vote([None, None, 7, None]) == 7     # no answer never votes
    assert majority_vote([None, 4, None, 4, 9]) == 4
    assert majority_vote([]) is None and majority_vote([None, None]) is None


def test_majority_vote_ties_go_to_the_first_seen():
    assert majority_vote([2, 8, 8, 2]) == 2
    assert majority_vote([8, 2, 2, 8]) == 8
    assert majority_vote([None, 6, 1]) == 6


def test_best_of_n_takes_the_highest_score():
    assert best_of_n([done(1), done(2), done(3)], [0.2, 0.9, 0.5]) == 1


def test_best_of_n_ties_go_to_the_majority_answer_then_the_first():
    completions = [done(4), done(7), done(7), done(4), done(7)]
    assert best_of_n(completions, [1.0, 1.0, 0.0, 1.0, 0.0]) == 1   # 7 has 3 votes, 4 has 2
    assert best_of_n([done(4), done(7)], [1.0, 1.0]) == 0            # a full tie: the first
    assert best_of_n(["junk", done(5)], [0.5, 0.5]) == 1             # no answer, no votes


def test_best_of_n_rejects_mismatched_input():
    with pytest.raises(ValueError):
        best_of_n([], [])
    with pytest.raises(ValueError):
        best_of_n([done(1)], [0.1, 0.2])


@pytest.mark.parametrize("n,c", [(1, 0), (1, 1), (5, 2), (16, 3), (10, 10)])
def test_pass_at_1_is_the_share_correct(n, c):
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_pass_at_k_edges_and_a_hand_computed_value():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0           # n - c = 2 < k = 3: any 3 include a correct one
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)   # 1 - C(3,2)/C(5,2)
    assert pass_at_k(200, 7, 50) == pytest.approx(1 - comb(193, 50) / comb(200, 50))


def test_pass_at_k_grows_with_k():
    values = [pass_at_k(16, 3, k) for k in range(1, 17)]
    assert all(a <= b for a, b in zip(values, values[1:])) and values[-1] == 1.0


@pytest.mark.parametrize("n,c,k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
