"""Answer styles and scoring, on a tiny random model (behaviour, not accuracy)."""

from __future__ import annotations

import pytest
from helpers import make_model

from ch01_what_is_reasoning.arithmetic import ANSWER, END_THINK, THINK, sample_problems
from ch01_what_is_reasoning.evaluation import STYLE_PREFIX, Answers, answer, answer_problems
from ch01_what_is_reasoning.verifier import verify


@pytest.fixture
def model(tok):
    return make_model(tok.vocab_size, block_size=48, n_layer=1, n_embd=16, seed=3, scale=5.0)


@pytest.mark.parametrize("style", ["direct", "step_by_step", "free"])
def test_completions_start_with_the_style_prefix(model, tok, style):
    problems = sample_problems(5, 2, split="test", seed=0)
    a = answer_problems(model, tok, problems, style, max_new_tokens=10)
    assert isinstance(a, Answers)
    assert a.prompts == [p.prompt() for p in problems]
    assert len(a.completions) == len(a.verdicts) == len(a.tokens) == 5
    for c, v, p in zip(a.completions, a.verdicts, problems):
        assert c.startswith(STYLE_PREFIX[style])
        assert v == verify(c, p.answer)
    for c, n in zip(a.completions, a.tokens):
        assert n >= len(tok.encode(c))
    assert 0.0 <= a.accuracy <= 1.0 and 0.0 <= a.format_rate <= 1.0
    assert a.mean_tokens == sum(a.tokens) / 5


def test_step_by_step_forbids_closing_think_at_once(model, tok, monkeypatch):
    from ch01_what_is_reasoning import evaluation

    calls = []
    real = evaluation.generate
    monkeypatch.setattr(evaluation, "generate",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    prompts = ["1+1?", "2*3?", "9-4?"]
    a = answer(model, tok, prompts, [2, 6, 5], "step_by_step", max_new_tokens=3)
    assert calls[-1]["forbid_first"] == [tok.token_id(END_THINK)]
    for c in a.completions:
        ids = tok.encode(c)
        assert ids[0] == tok.token_id(THINK)
        if len(ids) > 1:
            assert ids[1] != tok.token_id(END_THINK)
    for style in ("direct", "free"):
        answer(model, tok, prompts, [2, 6, 5], style, max_new_tokens=2)
        assert not calls[-1]["forbid_first"]


def test_forced_prefix_is_part_of_the_prompt(model, tok, monkeypatch):
    from ch01_what_is_reasoning import evaluation

    seen = []
    real = evaluation.generate
    monkeypatch.setattr(evaluation, "generate",
                        lambda m, ids, **k: seen.append(ids) or real(m, ids, **k))
    answer(model, tok, ["1+1?"], [2], "direct", max_new_tokens=2)
    assert seen[-1] == [tok.encode("1+1?" + ANSWER, bos=True)]


def test_rates_count_verdicts(tok):
    a = Answers(["a", "b"], [f"{THINK}{END_THINK}{ANSWER}3</answer>", f"{ANSWER}4</answer>"],
                [verify(f"{THINK}{END_THINK}{ANSWER}3</answer>", 3),
                 verify(f"{ANSWER}4</answer>", 5)], [5, 4], 0.1)
    assert a.accuracy == 0.5
    assert a.format_rate == 0.5
    assert a.answer_rate == 1.0
    assert a.mean_tokens == 4.5


def test_errors(model, tok):
    with pytest.raises(ValueError, match="unknown style"):
        answer(model, tok, ["1+1?"], [2], "chain_of_thought")
    with pytest.raises(ValueError, match="expected answers"):
        answer(model, tok, ["1+1?", "2+2?"], [2], "direct")
