"""Chapter 3's 'how sure are we' tools: the Wilson interval, the sample size a difference needs,
one seed's sampled accuracies."""

from __future__ import annotations

import math
import random

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import sample_problems
from ch01_what_is_reasoning.evaluation import Answers
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.verifier import verify
from ch03_four_methods import uncertainty
from ch03_four_methods.uncertainty import (
    problems_to_detect,
    sampled_accuracies,
    seed_spread,
    wilson_interval,
)


@pytest.mark.parametrize("correct, n, low, high", [
    (0, 10, 0.0, 0.2775),      # published values of the Wilson score interval at 95%
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval_matches_published_values(correct, n, low, high):
    got = wilson_interval(correct, n)
    assert got == pytest.approx((low, high), abs=5e-4)


def test_wilson_interval_contains_the_estimate_narrows_with_n_and_is_symmetric():
    for n in (20, 200, 2000):
        for k in (0, n // 7, n // 2, n - 1, n):
            low, high = wilson_interval(k, n)
            assert 0 <= low <= k / n <= high <= 1
            mirror = wilson_interval(n - k, n)
            assert (low, high) == pytest.approx((1 - mirror[1], 1 - mirror[0]))
    widths = [wilson_interval(n * 4 // 5, n)[1] - wilson_interval(n * 4 // 5, n)[0] for n in (200, 600)]
    assert widths[0] / widths[1] == pytest.approx(math.sqrt(3), rel=0.05)   # width ~ 1/sqrt(n)
    assert wilson_interval(160, 200, 0.99)[1] > wilson_interval(160, 200, 0.95)[1]


@pytest.mark.parametrize("args", [(5, 0), (-1, 10), (11, 10)])
def test_wilson_interval_refuses_impossible_counts(args):
    with pytest.raises(ValueError, match="correct"):
        wilson_interval(*args)


def test_problems_to_detect_matches_the_textbook_formula():
    # (1.96 + 0.8416)^2 * 2 * 0.5 * 0.5 / 0.1^2 = 392.4: 393 problems per method.
    assert problems_to_detect(0.10, 0.5) == 393
    assert problems_to_detect(0.03, 0.8) > problems_to_detect(0.03, 0.95)   # less noise near 1
    assert problems_to_detect(0.03, 0.8) > 4 * problems_to_detect(0.06, 0.8) - 4
    with pytest.raises(ValueError):
        problems_to_detect(0.0, 0.5)


def test_that_many_problems_detect_the_difference_about_as_often_as_promised():
    """Simulate the promise: two methods 10 points apart, each on n problems, a two-sided z-test
    at 95%: the difference is found in about 80% of the trials."""
    n, rng, trials, found = problems_to_detect(0.10, 0.55), random.Random(0), 2000, 0
    for _ in range(trials):
        a = sum(rng.random() < 0.60 for _ in range(n)) / n
        b = sum(rng.random() < 0.50 for _ in range(n)) / n
        pooled = (a + b) / 2
        found += abs(a - b) / math.sqrt(2 * pooled * (1 - pooled) / n) > 1.96
    assert 0.75 < found / trials < 0.85


def test_sampled_accuracies_votes_per_problem(monkeypatch):
    problems = sample_problems(3, 2, split="test", seed=0)
    right = [p.answer for p in problems]
    # Per problem, 3 samples: [right, wrong, wrong], [wrong, right, right], [no answer, no answer, right].
    texts = [f"<answer>{right[0]}</answer>", "<answer>999</answer>", "<answer>998</answer>",
             "<answer>997</answer>", f"<answer>{right[1]}</answer>", f"<answer>{right[1]}</answer>",
             "no answer", "none", f"<answer>{right[2]}</answer>"]
    expected = [a for a in right for _ in range(3)]

    def fake(model, tokenizer, repeated, style, **kw):
        assert [p.answer for p in repeated] == expected and style == "free"
        return Answers([""] * 9, texts, [verify(t, e) for t, e in zip(texts, expected)], [1] * 9, 0.0)

    monkeypatch.setattr(uncertainty, "answer_problems", fake)
    got = sampled_accuracies(None, None, problems, seed=0, votes=3)
    # pass@1: only the first problem's first sample is right. Majority: problem 1 is a three-way
    # tie won by the first seen (right), problem 2 right by 2 votes, problem 3 right (the only answer).
    assert got == {"pass1": pytest.approx(1 / 3), "majority@3": pytest.approx(1.0)}


def test_sampled_accuracies_on_a_real_model_is_seeded():
    tok = CharTokenizer()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16)).eval()
    problems = sample_problems(6, 2, split="test", seed=1)
    one = sampled_accuracies(model, tok, problems, seed=3, votes=1)
    assert one["pass1"] == one["majority@1"]
    assert sampled_accuracies(model, tok, problems, seed=4, votes=2) == \
        sampled_accuracies(model, tok, problems, seed=4, votes=2)


def test_seed_spread():
    s = seed_spread([0.80, 0.82, 0.84])
    assert s == pytest.approx({"mean": 0.82, "std": math.sqrt(0.0008 / 3), "min": 0.80, "max": 0.84})
