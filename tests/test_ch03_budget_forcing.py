"""Budget forcing: the ceiling cuts thinking at the budget, the floor forces ' wait ', and the
token accounting charges everything the model wrote or was made to read."""

from __future__ import annotations

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.arithmetic import ANSWER, END_THINK, THINK, WAIT, Problem
from ch03_four_methods.budget_forcing import ANSWER_TOKENS, answer_with_budget, budget_curve

PROBLEMS = [Problem(3, (("+", 4),)), Problem(12, (("-", 5),)), Problem(2, (("*", 3), ("+", 1)))]


class Favours(torch.nn.Module):
    """A tiny GPT whose logits strongly favour one token everywhere: a model that always
    closes its thinking at once (`</think>`), or one that never stops writing ('1')."""

    def __init__(self, vocab_size: int, token: int, block_size: int = 64):
        super().__init__()
        self.gpt = make_model(vocab_size, block_size=block_size)
        self.config = self.gpt.config
        self.token = token

    def new_cache(self):
        return self.gpt.new_cache()

    def forward(self, idx, key_mask=None, cache=None):
        logits = self.gpt(idx, key_mask, cache).clone()
        logits[..., self.token] += 100.0
        return logits


def test_budget_zero_answers_straight_after_an_empty_think_block(tok, tiny_model):
    run = answer_with_budget(tiny_model, tok, PROBLEMS, 0)
    assert all(c.startswith(THINK + END_THINK + ANSWER) for c in run.completions)
    assert run.thinking_tokens == [0, 0, 0] and run.mean_thinking_tokens == 0
    assert run.waits == [0, 0, 0] and 0.0 <= run.accuracy <= 1.0
    assert all(4 <= t <= 3 + ANSWER_TOKENS for t in run.tokens)   # <think></think><answer> + answer


@pytest.mark.parametrize("budget", [1, 3, 7, 12])
def test_thinking_never_exceeds_the_budget(tok, tiny_model, budget):
    run = answer_with_budget(tiny_model, tok, PROBLEMS, budget, temperature=1.0,
                             generator=torch.Generator().manual_seed(budget))
    assert all(0 <= t <= budget for t in run.thinking_tokens)
    never_stops = Favours(tok.vocab_size, tok.encode("1")[0])
    run = answer_with_budget(never_stops, tok, PROBLEMS, budget)
    assert run.thinking_tokens == [budget] * len(PROBLEMS)     # cut exactly at the budget
    assert all(c.startswith(THINK + "1" * budget + END_THINK + ANSWER) for c in run.completions)


def test_a_budget_beyond_the_context_is_capped_without_error(tok):
    never_stops = Favours(tok.vocab_size, tok.encode("1")[0], block_size=32)
    run = answer_with_budget(never_stops, tok, PROBLEMS, 1000)
    assert all(len(tok.encode(p + THINK, bos=True)) + t + 2 + ANSWER_TOKENS <= 32
               for p, t in zip(run.prompts, run.thinking_tokens))


@pytest.mark.parametrize("min_thinking, max_waits, expected_waits", [
    (0, 0, 0), (1, 1, 1), (10, 5, 2), (100, 3, 3),
])
def test_waits_are_forced_while_the_model_stops_too_early(tok, min_thinking, max_waits, expected_waits):
    stops_at_once = Favours(tok.vocab_size, tok.token_id(END_THINK))
    run = answer_with_budget(stops_at_once, tok, PROBLEMS, 200 if min_thinking == 100 else 30,
                             min_thinking=min_thinking, max_waits=max_waits)
    assert run.waits == [expected_waits] * len(PROBLEMS)
    thinking = WAIT * expected_waits
    assert all(c.startswith(THINK + thinking + END_THINK + ANSWER) for c in run.completions)
    assert run.thinking_tokens == [len(WAIT) * expected_waits] * len(PROBLEMS)
    # The model never writes the end token, so the answer runs to ANSWER_TOKENS: every forced
    # and written token is charged: <think>, the waits, </think><answer>, the answer.
    assert run.tokens == [1 + len(WAIT) * expected_waits + 2 + ANSWER_TOKENS] * len(PROBLEMS)


def test_must_think_forbids_closing_the_thinking_at_once(tok):
    stops_at_once = Favours(tok.vocab_size, tok.token_id(END_THINK))
    assert answer_with_budget(stops_at_once, tok, PROBLEMS, 10).thinking_tokens == [0, 0, 0]
    run = answer_with_budget(stops_at_once, tok, PROBLEMS, 10, must_think=True)
    # One forced token of thinking, then the model closes it as it always wants to.
    assert run.thinking_tokens == [1, 1, 1]
    assert all(not c.startswith(THINK + END_THINK) for c in run.completions)
    # Budget 0 still means no thinking at all.
    assert answer_with_budget(stops_at_once, tok, PROBLEMS, 0, must_think=True).thinking_tokens == [0] * 3


def test_a_wait_is_forced_only_when_there_is_room_after_it(tok):
    stops_at_once = Favours(tok.vocab_size, tok.token_id(END_THINK))
    run = answer_with_budget(stops_at_once, tok, PROBLEMS, 10, min_thinking=10, max_waits=5)
    assert run.waits == [1] * 3 and run.thinking_tokens == [len(WAIT)] * 3   # a second would hit 12


def test_results_are_deterministic_with_a_seeded_generator(tok, tiny_model):
    def run(seed):
        return answer_with_budget(tiny_model, tok, PROBLEMS, 8, temperature=1.0,
                                  generator=torch.Generator().manual_seed(seed))
    a, b = run(3), run(3)
    assert a.completions == b.completions and a.tokens == b.tokens
    assert a.thinking_tokens == b.thinking_tokens


def test_budget_curve_has_one_entry_per_budget(tok, tiny_model):
    curve = budget_curve(tiny_model, tok, PROBLEMS, [0, 2, 6])
    assert list(curve) == [0, 2, 6]
    for budget, row in curve.items():
        assert set(row) == {"accuracy", "mean_thinking_tokens", "mean_tokens"}
        assert 0 <= row["accuracy"] <= 1 and row["mean_thinking_tokens"] <= budget
        assert row["mean_tokens"] >= row["mean_thinking_tokens"] + 3
    assert curve[0]["mean_thinking_tokens"] == 0


def test_budget_curve_caps_the_floor_at_each_budget(tok):
    stops_at_once = Favours(tok.vocab_size, tok.token_id(END_THINK))
    curve = budget_curve(stops_at_once, tok, PROBLEMS, [0, 20], min_thinking=20, max_waits=10)
    assert curve[0]["mean_thinking_tokens"] == 0
    assert curve[20]["mean_thinking_tokens"] == 3 * len(WAIT)   # a 4th wait would leave no room


@pytest.mark.parametrize("kw, message", [
    (dict(budget=-1), "budget must be"),
    (dict(budget=2.5), "budget must be"),
    (dict(budget=4, min_thinking=8, max_waits=1), "above budget"),
    (dict(budget=4, max_waits=-1), "max_waits must be"),
    (dict(budget=8, min_thinking=4), "max_waits"),
])
def test_invalid_arguments_raise_helpful_errors(tok, tiny_model, kw, message):
    with pytest.raises(ValueError, match=message):
        answer_with_budget(tiny_model, tok, PROBLEMS, **kw)


def test_budget_curve_rejects_bad_budgets_before_running(tok, tiny_model):
    with pytest.raises(ValueError, match="empty"):
        budget_curve(tiny_model, tok, PROBLEMS, [])
    with pytest.raises(ValueError, match="budget must be"):
        budget_curve(tiny_model, tok, PROBLEMS, [4, -1])
