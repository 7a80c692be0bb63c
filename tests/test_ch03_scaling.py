"""Scaling curves on a hand-made pool with known answers, sampling, and compute accounting."""

from __future__ import annotations

import pytest

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK, sample_problems
from ch03_four_methods.compute import count_params, inference_flops, training_flops
from ch03_four_methods.scaling import SamplePool, sample_pool, scaling_curves


def worked(parts: list[str], answer: int) -> str:
    return f"{THINK}{' = '.join(parts)}{END_THINK}{ANSWER}{answer}{END_ANSWER}"


RIGHT = worked(["(3+4)*2-5", "7*2-5", "14-5", "9"], 9)      # a valid trace, answer 9
SLIP = worked(["(3+4)*2-5", "8*2-5", "16-5", "11"], 11)     # a wrong step, answer 11
GUESS = f"{THINK}{END_THINK}{ANSWER}9{END_ANSWER}"           # right answer, no work shown
JUNK = "no idea"


def test_majority_beats_pass_at_1_when_the_right_answer_is_the_plurality():
    prompts = ["(3+4)*2-5?"] * 2
    pool = [[SLIP, GUESS, RIGHT, JUNK], [GUESS, SLIP, JUNK, GUESS]]
    curves = scaling_curves(prompts, pool, [9, 9], ns=[1, 2, 4])
    assert curves["pass_at_n"][1] == pytest.approx((2 / 4 + 2 / 4) / 2)
    assert curves["majority"][1] == pytest.approx(0.5)    # first samples: SLIP (11), GUESS (9)
    assert curves["majority"][4] == 1.0                   # 9 is the plurality in both
    assert curves["majority"][4] > curves["pass_at_n"][1]
    assert curves["pass_at_n"][4] == 1.0


def test_verifier_best_of_n_picks_the_valid_trace_against_a_wrong_majority():
    pool = [[SLIP, SLIP, SLIP, RIGHT]]           # the majority answer (11) is wrong
    curves = scaling_curves(["(3+4)*2-5?"], pool, [9], ns=[1, 2, 4])
    assert curves["majority"] == {1: 0.0, 2: 0.0, 4: 0.0}
    assert curves["best_of_n_verifier"] == {1: 0.0, 2: 0.0, 4: 1.0}
    assert curves["pass_at_n"][1] == pytest.approx(0.25) and curves["pass_at_n"][4] == 1.0


def test_best_of_n_is_only_as_good_as_its_scorer():
    pool = [[GUESS, SLIP, RIGHT]]
    curves = scaling_curves(["(3+4)*2-5?"], pool, [9], ns=[3], scorer=lambda p, c: float(c == SLIP))
    assert curves["best_of_n_verifier"][3] == 0.0        # a scorer that likes the slip picks it
    assert scaling_curves(["(3+4)*2-5?"], pool, [9], ns=[3])["best_of_n_verifier"][3] == 1.0


def test_scaling_curves_rejects_n_beyond_the_pool():
    with pytest.raises(ValueError):
        scaling_curves(["1+1?"], [[JUNK, JUNK]], [2], ns=[1, 4])


def test_sample_pool_shapes_and_determinism(tok, tiny_model):
    probs = sample_problems(3, 1, split="test", seed=0)
    kw = dict(temperature=1.0, max_new_tokens=8, batch_size=2)
    pool = sample_pool(tiny_model, tok, probs, 4, seed=5, **kw)
    assert isinstance(pool, SamplePool) and pool.n_samples == 4
    assert pool.prompts == [p.prompt() for p in probs] and pool.expected == [p.answer for p in probs]
    assert [len(c) for c in pool.completions] == [4, 4, 4] and [len(t) for t in pool.tokens] == [4, 4, 4]
    assert all(1 <= t <= 9 for row in pool.tokens for t in row)   # up to 8 generated + the end token
    again = sample_pool(tiny_model, tok, probs, 4, seed=5, **kw)
    assert again.completions == pool.completions and again.tokens == pool.tokens
    other = sample_pool(tiny_model, tok, probs, 4, seed=6, **kw)
    assert other.completions != pool.completions
    curves = scaling_curves(pool.prompts, pool.completions, pool.expected, ns=[1, 2, 4])
    assert all(0.0 <= acc <= 1.0 for by_n in curves.values() for acc in by_n.values())


def test_compute_accounting(tiny_model):
    n = count_params(tiny_model)
    assert n == sum(p.numel() for p in tiny_model.parameters())
    assert training_flops(n, 1000) == 6 * n * 1000 == 3 * inference_flops(n, 1000)
    assert inference_flops(10, 0) == 0
