"""The step verifier: right traces pass, each kind of wrong step is caught where it happens,
and no text makes it raise or evaluate anything."""

from __future__ import annotations

import builtins
import inspect
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning.arithmetic import (
    ANSWER,
    END_ANSWER,
    END_THINK,
    THINK,
    WAIT,
    Problem,
    random_problem,
    step_by_step_completion,
    to_script,
)
from ch03_four_methods.step_verifier import StepCheck, check_steps, parse_chain, step_score

T, ET, A, EA = THINK, END_THINK, ANSWER, END_ANSWER


def completion(parts: list[str], answer: str) -> str:
    return f"{T}{' = '.join(parts)}{ET}{A}{answer}{EA}"


def problems(n: int, seed: int = 0):
    rng = random.Random(seed)
    for i in range(n):
        yield random_problem(rng, rng.randint(1, 6), ("latin", "persian")[i % 2]), rng


@pytest.mark.parametrize("kw", [{}, {"correction": True}, {"mixed": True}])
def test_chapter_one_traces_are_valid(kw):
    for problem, rng in problems(300):
        c = check_steps(problem.prompt(), step_by_step_completion(problem, rng, **kw))
        assert c.valid and c.first_error is None and c.error is None, (problem.prompt(), c)
        assert c.n_steps == c.n_valid == problem.n_ops + 1
        assert c.score == 1.0 and c.answer_consistent and c.well_formed


def test_worked_example():
    c = check_steps("(3+4)*2-5?", f"{T}(3+4)*2-5 = 7*2-5 = 14-5 = 9{ET}{A}9{EA}")
    assert c == StepCheck(n_steps=4, n_valid=4, first_error=None, valid=True, score=1.0,
                          well_formed=True, answer_consistent=True, error=None)
    persian = to_script("(3+4)*2-5?", "persian")
    assert check_steps(persian, to_script(f"{T}(3+4)*2-5 = 7*2-5 = 14-5 = 9{ET}{A}9{EA}",
                                          "persian")).valid


def test_a_correction_is_not_an_error_but_an_uncorrected_slip_is():
    prompt = "(3+4)*2-5?"
    assert check_steps(prompt, completion(["(3+4)*2-5", f"8*2-5{WAIT}7*2-5", "14-5", "9"], "9")).valid
    slip = check_steps(prompt, completion(["(3+4)*2-5", "8*2-5", "14-5", "9"], "9"))
    assert not slip.valid and slip.first_error == 1


def test_one_wrong_value_at_step_k_is_the_first_error():
    for problem, rng in problems(200, seed=1):
        k = rng.randint(1, problem.n_ops)
        parts = problem.rewrites()
        right = problem.values()[k]
        wrong = right + rng.choice([-2, -1, 1, 2]) if right > 2 else right + 1
        parts[k] = Problem(wrong, problem.steps[k:], problem.script).expression()
        answer = to_script(str(problem.answer), problem.script)
        c = check_steps(problem.prompt(), completion(parts, answer))
        assert not c.valid and c.first_error == k, (parts, c)
        assert "value" in c.error
        assert c.n_valid < c.n_steps and c.score < 1.0


def test_step_zero_must_copy_the_prompt():
    c = check_steps("(3+4)*2-5?", completion(["(3+5)*2-5", "8*2-5", "16-5", "11"], "11"))
    assert not c.valid and c.first_error == 0
    assert check_steps("(3+4)*2-5?", completion(["3+4*2-5", "7*2-5", "14-5", "9"], "9")).first_error == 0


def test_skipped_step_is_invalid_even_though_the_value_is_right():
    c = check_steps("(3+4)*2-5?", completion(["(3+4)*2-5", "14-5", "9"], "9"))
    assert not c.valid and c.first_error == 1 and "skipped" in c.error


def test_miscopied_rest_is_invalid_even_though_the_value_is_right():
    c = check_steps("(3+4)*2-5?", completion(["(3+4)*2-5", "7*2-5", "15-6", "9"], "9"))
    assert not c.valid and c.first_error == 2


def test_answer_must_be_the_last_rewrite():
    c = check_steps("(3+4)*2-5?", completion(["(3+4)*2-5", "7*2-5", "14-5", "9"], "8"))
    assert not c.valid and not c.answer_consistent
    assert c.n_valid == c.n_steps == 4 and c.first_error == 4 and c.score == 4 / 5


def test_no_credit_after_the_first_error():
    """Steps that follow correctly from a wrong step earn nothing: the trace that drops '-5'
    and stays consistent (wrong answer) must not outrank the one that puts it back (right)."""
    prompt = "(3+4)*2-5?"
    stays_wrong = check_steps(prompt, completion(["(3+4)*2", "7*2", "14"], "14"))
    puts_it_back = check_steps(prompt, completion(["(3+4)*2", "7*2-5", "14-5", "9"], "9"))
    assert stays_wrong.first_error == puts_it_back.first_error == 0
    assert stays_wrong.score == puts_it_back.score == 0.0
    late = check_steps(prompt, completion(["(3+4)*2-5", "7*2-5", "15-5", "10"], "10"))
    early = check_steps(prompt, completion(["(3+4)*2-5", "8*2-5", "16-5", "11"], "11"))
    assert late.first_error == 2 and early.first_error == 1
    assert late.score == 2 / 5 and early.score == 1 / 5


def test_a_trace_that_stops_early_is_invalid():
    c = check_steps("(3+4)*2-5?", completion(["(3+4)*2-5", "7*2-5"], "9"))
    assert not c.valid and not c.answer_consistent and c.first_error == 2


def test_direct_answers_and_malformed_text_score_zero():
    assert check_steps("(3+4)*2-5?", f"{T}{ET}{A}9{EA}").score == 0.0
    right = completion(["(3+4)*2-5", "7*2-5", "14-5", "9"], "9")
    malformed = check_steps("(3+4)*2-5?", right + " and more")
    assert not malformed.valid and malformed.score == 0.0 and not malformed.well_formed
    assert check_steps("(3+4)*2-5?", "9").score == 0.0


def test_verifier_does_not_take_the_expected_answer():
    assert list(inspect.signature(check_steps).parameters) == ["prompt", "completion"]
    assert list(inspect.signature(step_score).parameters) == ["prompt", "completion"]


def test_parse_chain_accepts_only_standard_expressions():
    assert parse_chain("(3+4)*2-5") == Problem(3, (("+", 4), ("*", 2), ("-", 5)))
    assert parse_chain("۱۴-۵") == Problem(14, (("-", 5),))
    for text in ["", "3+4*2", "((3+4))*2", "07", "3 +4", "3+", "+3", "(3+4", "3²", "3/4", "x"]:
        assert parse_chain(text) is None, text


def test_never_evaluates_text_as_code():
    calls = []
    original = builtins.eval
    builtins.eval = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        c = check_steps("__import__('os')?", f"{T}__import__('os').system('false') = 0{ET}{A}0{EA}")
    finally:
        builtins.eval = original
    assert not calls and not c.valid


pieces = st.one_of(
    st.sampled_from([T, ET, A, EA, " = ", WAIT, "(", ")", "+", "-", "*", "?", " ", "wait"]),
    st.text(alphabet="0123456789۰۱۲۳۴۵۶۷۸۹", max_size=4),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=24), st.one_of(st.text(max_size=20), st.lists(pieces, max_size=8)))
def test_fuzz_never_raises(parts, prompt):
    prompt = prompt if isinstance(prompt, str) else "".join(prompt)
    c = check_steps(prompt, "".join(parts))
    assert 0.0 <= c.score <= 1.0 and 0 <= c.n_valid <= c.n_steps
    assert c.valid == (c.well_formed and c.first_error is None)
    if c.valid:
        assert c.score == 1.0 and c.answer_consistent


@pytest.mark.parametrize("value", [None, 15, b"x", ["x"], object()])
def test_non_string_input_does_not_raise(value):
    assert isinstance(check_steps(value, value), StepCheck)


@pytest.mark.parametrize("garbage", [
    T + "1+1 = " * 300_000 + ET + A + "2" + EA,
    T + "9" * 2_000_000 + ET + A + "9" + EA,
    (T + " = " + WAIT) * 200_000,
    T + "(" * 1_000_000 + ET,
], ids=["many-steps", "one-huge-number", "waits-and-equals", "open-parentheses"])
def test_megabytes_of_garbage_return(garbage):
    c = check_steps("1+1?", garbage)
    assert not c.valid and c.score < 0.01
